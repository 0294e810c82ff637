"""Run folders: config.json, results.jsonl, best.png, top.png, images/, noises/."""

from __future__ import annotations

import math
import platform
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from .algorithms import ProblemResult
from .describe import format_score
from .errors import InputError
from .images import is_image_batch, labelled_grid, save_png, titled_rows
from .plots import anytime_plot
from .store import append_line, atomic, load_tensors, read_image, read_lines


def versions() -> dict[str, str]:
    import diffusers

    from . import __version__

    return {"noisesearch": __version__, "torch": torch.__version__,
            "diffusers": diffusers.__version__, "python": sys.version.split()[0],
            "platform": platform.platform()}


def stamped(config: dict[str, Any]) -> dict[str, Any]:
    """config.json: a run's spec with the versions of the software and the time it was created."""
    return {**config, "versions": versions(), "created": datetime.now(UTC).isoformat()}


def record(problem: ProblemResult, has_images: bool) -> dict[str, Any]:
    """The results.jsonl line of one finished condition (``verifier_usage`` only for a verifier
    that counts its own work, e.g. a remote grader's cache hits and tokens)."""
    usage = {"verifier_usage": problem.verifier_usage} if problem.verifier_usage else {}
    return {
        "problem": problem.problem,
        "condition": problem.condition,
        "status": "done",
        "best_score": problem.best_score,
        "nfe": problem.nfe,
        "verifier_calls": problem.verifier_calls,
        "failed_candidates": problem.failed,
        **usage,
        "judges": problem.judges,
        "wall_s": round(problem.wall_s, 4),
        "recipe": problem.recipe,
        "noises": f"noises/{problem.problem}.safetensors",
        "image": f"images/{problem.problem}-best.png" if has_images else None,
        "image_shape": list(problem.best_image.shape),
        "extra": f"noises/{problem.problem}-extra.safetensors" if problem.extra else None,
        "top_scores": [finite_or_none(s) for s, _ in problem.top],
        "history": [[nfe, finite_or_none(score)] for nfe, score in problem.history],
        "lookahead": [[nfe, score] for nfe, score in problem.lookahead],
        "anytime": [[nfe, best] for nfe, best in problem.best_so_far()],
    }


def finite_or_none(score: float) -> float | None:
    """A score for JSON: a failed candidate's -inf is written as null."""
    return score if math.isfinite(score) else None


def write_problem(out: Path, problem: ProblemResult) -> dict[str, Any]:
    """One finished condition: its noises and images (each written whole, then renamed), then its
    results.jsonl line. A condition is finished exactly when its line is there."""
    (out / "noises").mkdir(exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    with atomic(out / "noises" / f"{problem.problem}.safetensors") as tmp:
        save_file({k: v.contiguous().cpu() for k, v in problem.noises.items()}, str(tmp))
    if problem.extra:  # what an algorithm keeps beyond the winner (smc: the final particles)
        with atomic(out / "noises" / f"{problem.problem}-extra.safetensors") as tmp:
            save_file({k: torch.as_tensor(v).contiguous().cpu() for k, v in problem.extra.items()}, str(tmp))
    has_images = is_image_batch(problem.best_image[None])
    if has_images:
        with atomic(out / "images" / f"{problem.problem}-best.png") as tmp:
            save_png(problem.best_image, tmp)
        top_row = [(format_score(s), img) for s, img in problem.top]
        with atomic(out / "images" / f"{problem.problem}-top.png") as tmp:
            labelled_grid([top_row]).save(tmp, format="PNG")
    else:
        with atomic(out / "images" / f"{problem.problem}-best.safetensors") as tmp:
            save_file({"sample": problem.best_image.contiguous()}, str(tmp))
    line = record(problem, has_images)
    append_line(out / "results.jsonl", line)
    return line


def write_failure(out: Path, problem: int, condition: Any, error: str) -> dict[str, Any]:
    """The results.jsonl line of a condition that failed every attempt."""
    line = {"problem": problem, "condition": condition, "status": "failed", "error": error}
    append_line(out / "results.jsonl", line)
    return line


def load_winner(out: Path, rec: dict[str, Any]) -> torch.Tensor:
    """A finished condition's winner as stored: the PNG at the sample's own size (8-bit levels),
    or the saved sample of a process without images."""
    if rec.get("image") is None:
        return load_tensors(out / "images" / f"{rec['problem']}-best.safetensors")["sample"]
    channels, height, width = rec["image_shape"]
    array = np.asarray(read_image(out / rec["image"]))
    scale = array.shape[0] // height
    pixels = torch.from_numpy(array[::scale, ::scale].copy()).permute(2, 0, 1).float() / 255
    return pixels[:channels]


def write_overview(out: Path, records: list[dict[str, Any]], max_rows: int = 16, title: str = "") -> None:
    """scaling.png (the anytime curves), best.png (the winner, or a grid of winners, each labelled
    with its condition and score) and top.png (top candidates, a row per condition, titled with
    it), from the finished conditions on disk."""
    done = sorted((r for r in records if r.get("status", "done") == "done"), key=lambda r: r["problem"])
    anytime_plot([[tuple(point) for point in r["anytime"]] for r in done], out / "scaling.png", title,
                 lookahead=any(r.get("lookahead") for r in done))
    if not done or done[0].get("image") is None:
        return
    if len(done) == 1:
        shutil.copyfile(out / done[0]["image"], out / "best.png")
    else:
        winners = [(f"{r['condition']}: {format_score(r['best_score'])}", load_winner(out, r)) for r in done]
        labelled_grid([winners[i:i + 10] for i in range(0, len(winners), 10)]).save(out / "best.png")
    rows = [read_image(out / "images" / f"{r['problem']}-top.png") for r in done[:max_rows]]
    titled_rows(rows, [f"condition {r['condition']}" for r in done[:max_rows]]).save(out / "top.png")


def read_results(out: Path) -> list[dict[str, Any]]:
    """Every complete line of results.jsonl (a last line cut short by a kill is not one)."""
    path = out / "results.jsonl"
    if not path.exists():
        raise InputError(f"{out} holds no results.jsonl; valid: a folder written by 'noisesearch search'")
    return read_lines(path)

