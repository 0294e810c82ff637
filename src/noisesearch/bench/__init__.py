"""Benchmark sweeps: algorithms x budgets x verifiers over a suite, judged by held-out judges."""

from .cells import Cell, plan_cells
from .sweep import run_bench

__all__ = ["Cell", "plan_cells", "run_bench"]
