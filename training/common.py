"""Seeded, resumable training helpers shared by the training scripts.

Checkpoints hold model, EMA and optimizer tensors in safetensors files (never pickles),
plus a JSON file with the step, so a killed run resumes from its last checkpoint. Every
batch is drawn from a generator keyed by (seed, step): a resumed run sees exactly the
batches an uninterrupted one would have.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from noisesearch.noise import keyed_generator


def step_generator(seed: int, step: int, purpose: str) -> torch.Generator:
    return keyed_generator((seed, purpose, step))


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    flat = {}
    for index, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            flat[f"{index}.{name}"] = torch.as_tensor(value).clone()
    return flat


def load_optimizer_tensors(opt: torch.optim.Optimizer, flat: dict[str, torch.Tensor]) -> None:
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    sd["state"] = state
    opt.load_state_dict(sd)


def save_checkpoint(folder: Path, step: int, model, ema, opt) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "tmp"
    tmp.mkdir(exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
    save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(tmp / "ema.safetensors"))
    save_file(optimizer_tensors(opt), str(tmp / "optimizer.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"step": step}))
    for name in ("model.safetensors", "ema.safetensors", "optimizer.safetensors", "state.json"):
        (tmp / name).replace(folder / name)


def load_checkpoint(folder: Path, model, ema, opt) -> int:
    """Restore the last checkpoint in ``folder``; returns its step (0 when there is none)."""
    state_file = folder / "state.json"
    if not state_file.exists():
        return 0
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    ema.load_state_dict(load_file(str(folder / "ema.safetensors")))
    load_optimizer_tensors(opt, load_file(str(folder / "optimizer.safetensors")))
    return json.loads(state_file.read_text())["step"]


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)
