"""Benchmark sweeps: algorithms x budgets x verifiers over a suite, judged by held-out judges."""

from .cells import Cell, plan_cells
from .suites import SUITES, Suite, load_suite
from .sweep import run_bench

__all__ = ["Cell", "SUITES", "Suite", "load_suite", "plan_cells", "run_bench"]
