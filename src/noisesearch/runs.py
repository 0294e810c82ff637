"""Run folders: config.json, results.jsonl, best.png, top.png, images/, noises/."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from .algorithms import ProblemResult
from .errors import InputError
from .images import is_image_batch, labelled_grid, save_png
from .plots import anytime_plot


def prepare_folder(out: Path) -> None:
    """Refuse a folder that already holds anything, so no run is ever overwritten."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        what = "a run" if (out / "config.json").exists() else "other files"
        raise InputError(f"output folder {out} already holds {what}; "
                         "choose a new --out or remove it")


def versions() -> dict[str, str]:
    import diffusers

    from . import __version__

    return {"noisesearch": __version__, "torch": torch.__version__,
            "diffusers": diffusers.__version__, "python": sys.version.split()[0],
            "platform": platform.platform()}


def write_config(out: Path, config: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    full = {**config, "versions": versions(), "created": datetime.now(UTC).isoformat()}
    (out / "config.json").write_text(json.dumps(full, indent=2) + "\n")


def record(problem: ProblemResult, has_images: bool) -> dict[str, Any]:
    """The results.jsonl line of one condition."""
    return {
        "problem": problem.problem,
        "condition": problem.condition,
        "best_score": problem.best_score,
        "nfe": problem.nfe,
        "verifier_calls": problem.verifier_calls,
        "judges": problem.judges,
        "wall_s": round(problem.wall_s, 4),
        "recipe": problem.recipe,
        "noises": f"noises/{problem.problem}.safetensors",
        "image": f"images/{problem.problem}-best.png" if has_images else None,
        "extra": f"noises/{problem.problem}-extra.safetensors" if problem.extra else None,
        "top_scores": [s for s, _ in problem.top],
        "history": [[nfe, score] for nfe, score in problem.history],
        "anytime": [[nfe, best] for nfe, best in problem.best_so_far()],
    }


def write_problems(out: Path, problems: list[ProblemResult]) -> None:
    """Append finished conditions: noises, images, then their results.jsonl lines."""
    (out / "noises").mkdir(exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    lines = []
    for problem in problems:
        save_file({k: v.contiguous().cpu() for k, v in problem.noises.items()},
                  str(out / "noises" / f"{problem.problem}.safetensors"))
        if problem.extra:  # what an algorithm keeps beyond the winner (smc: the final particles)
            save_file({k: torch.as_tensor(v).contiguous().cpu() for k, v in problem.extra.items()},
                      str(out / "noises" / f"{problem.problem}-extra.safetensors"))
        has_images = is_image_batch(problem.best_image[None])
        if has_images:
            save_png(problem.best_image, out / "images" / f"{problem.problem}-best.png")
            top_row = [(f"{s:.3f}", img) for s, img in problem.top]
            labelled_grid([top_row]).save(out / "images" / f"{problem.problem}-top.png")
        else:
            save_file({"sample": problem.best_image.contiguous()},
                      str(out / "images" / f"{problem.problem}-best.safetensors"))
        lines.append(json.dumps(record(problem, has_images)))
    with open(out / "results.jsonl", "a") as f:
        f.write("".join(line + "\n" for line in lines))
        f.flush()


def write_overview(out: Path, problems: list[ProblemResult], max_rows: int = 16, title: str = "") -> None:
    """scaling.png (the anytime curves), best.png (the winner, or a grid of winners) and
    top.png (top candidates, a row per condition)."""
    anytime_plot(problems, out / "scaling.png", title)
    if not problems or not is_image_batch(problems[0].best_image[None]):
        return
    if len(problems) == 1:
        save_png(problems[0].best_image, out / "best.png")
    else:
        winners = [(f"{p.condition}: {p.best_score:.3f}", p.best_image) for p in problems]
        labelled_grid([winners[i:i + 10] for i in range(0, len(winners), 10)]).save(out / "best.png")
    rows = [[(f"{s:.3f}", img) for s, img in p.top] for p in problems[:max_rows]]
    labelled_grid(rows).save(out / "top.png")


def read_results(out: Path) -> list[dict[str, Any]]:
    path = out / "results.jsonl"
    if not path.exists():
        raise InputError(f"{out} holds no results.jsonl; valid: a folder written by 'noisesearch search'")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
