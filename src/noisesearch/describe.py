"""What a search prints for a reader: the verifier and its scale, what each judge's metrics mean,
and one line per condition, scores at four significant digits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def format_score(value: float) -> str:
    """A score at four significant digits: ``-2.9e-05``, not ``-0.0000``; zero is never negative."""
    return f"{value + 0.0:.4g}"


def metric_values(values: Mapping[str, float]) -> str:
    """``accuracy 1, objects 2``: each metric and its value."""
    return ", ".join(f"{name} {format_score(value)}" for name, value in values.items())


def verifier_line(name: str | None, verifier: Any) -> str | None:
    """``verifier NAME (SCALE; higher is better)``; None for a verifier without a name (a Python callable)."""
    if not name:
        return None
    scale = getattr(verifier, "scale", "")
    return f"verifier {name} ({scale + '; ' if scale else ''}higher is better)"


def judge_line(judge: Any) -> str | None:
    """``judge NAME: metric = meaning; ...``; None for a judge that does not describe its metrics."""
    metrics = getattr(judge, "metrics", {})
    if not metrics:
        return None
    return f"judge {judge.name}: " + "; ".join(f"{name} = {meaning}" for name, meaning in metrics.items())


def header_lines(verifier_name: str | None, verifier: Any, judges: Iterable[Any]) -> list[str]:
    """The lines printed once before the results: the verifier's scale, then each judge's metrics."""
    lines = [verifier_line(verifier_name, verifier), *(judge_line(j) for j in judges)]
    return [line for line in lines if line]


def condition_line(record: Mapping[str, Any]) -> str:
    """``condition C: best SCORE  nfe N  judge: metric value, ...`` for a finished condition's record."""
    judged = "  ".join(f"{judge}: {metric_values(values)}" for judge, values in record["judges"].items())
    line = f"condition {record['condition']}: best {format_score(record['best_score'])}  nfe {record['nfe']}"
    return f"{line}  {judged}" if judged else line
