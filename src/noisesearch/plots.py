"""Plots of a run: the anytime curve, best score so far against NFEs spent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def mean_label(count: int) -> str:
    """The legend of the mean curve: ``mean over 1 condition``, ``mean over 2 conditions``."""
    return f"mean over {count} condition{'' if count == 1 else 's'}"


def anytime_plot(curves: Sequence[Sequence[tuple[int, float]]], path: Path, title: str = "",
                 max_lines: int = 20, lookahead: bool = False) -> None:
    """``scaling.png``: each condition's best verifier score so far against NFEs (log x), and their mean.

    ``curves``: per condition, (NFEs spent, best score so far) after each scored candidate;
    ``lookahead``: the curves include the look-ahead scores of a trajectory search (x0_hat of
    unfinished states), which the y label then says."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    curves = [c for c in curves if c]
    if not curves:
        return
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for curve in curves[:max_lines]:
        nfe, best = zip(*curve, strict=True)
        ax.step(nfe, best, where="post", color="tab:blue", alpha=0.25, linewidth=1)
    ends = [c[-1] for c in curves]
    if len({n for n, _ in ends}) > 1:  # conditions spent different NFEs (adaptive compute): mark each end
        ax.scatter([n for n, _ in ends], [b for _, b in ends], s=12, color="tab:blue", alpha=0.6,
                   label="where a condition stopped")
    # mean over conditions on a common grid of NFEs (each curve held flat after its last point)
    grid = np.unique(np.concatenate([[n for n, _ in c] for c in curves]))
    values = [np.interp(grid, [n for n, _ in c], [b for _, b in c], left=np.nan) for c in curves]
    held = [np.where(grid > c[-1][0], c[-1][1], v) for c, v in zip(curves, values, strict=True)]
    ax.step(grid, np.nanmean(np.stack(held), axis=0), where="post", color="tab:red", linewidth=2,
            label=mean_label(len(curves)))
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("NFEs spent per condition")
    note = "\n(x̂0 look-aheads, then finished samples)" if lookahead else ""
    ax.set_ylabel("best verifier score so far" + note)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
