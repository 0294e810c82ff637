"""Benchmark sweeps: algorithms x budgets x verifiers over a suite, judged by held-out judges."""

from .cells import Cell, plan_cells
from .sweep import BenchConfig, resolve, run_bench

__all__ = ["BenchConfig", "Cell", "plan_cells", "resolve", "run_bench"]
