"""Seeded, resumable training helpers shared by the training scripts.

Checkpoints hold model, EMA and optimizer tensors in safetensors files (never pickles),
plus a JSON file with the step, so a killed run resumes from its last checkpoint. Every
batch is drawn from a generator keyed by (seed, step): a resumed run sees exactly the
batches an uninterrupted one would have.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from noisesearch.noise import keyed_generator


def step_generator(seed: int, step: int, purpose: str) -> torch.Generator:
    # a torch generator, as noise scheme 1 (noise.py): the batches the committed weights were
    # trained on stay the same (its 32-bit seeds only ever serve a few thousand steps)
    return keyed_generator((seed, purpose, step))


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    flat = {}
    for index, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            flat[f"{index}.{name}"] = torch.as_tensor(value).detach().cpu().clone()
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
    for name, module in (("model", model), ("ema", ema)):
        tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        save_file(tensors, str(tmp / f"{name}.safetensors"))
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


def noised(x0: torch.Tensor, alphas_cumprod: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(x_t, t, eps): a uniform training timestep per row and the forward process
    x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps (Ho et al. 2020, Eq. 4), drawn from ``g``."""
    t = torch.randint(0, len(alphas_cumprod), (len(x0),), generator=g).to(x0.device)
    eps = torch.randn(x0.shape, generator=g).to(x0.device)
    ab = alphas_cumprod.to(x0.device)[t].view(-1, *[1] * (x0.ndim - 1))
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t, eps


def train_step(model: torch.nn.Module, ema: torch.nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor,
               lr: float, ema_decay: float, max_grad_norm: float = 1.0, after_step=None) -> None:
    """One optimiser step at learning rate ``lr`` with gradient clipping, ``after_step()`` (e.g.
    a clamp of a parameter), then the EMA update."""
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    opt.step()
    if after_step is not None:
        with torch.no_grad():
            after_step()
    ema_update(ema, model, ema_decay)


def resume(args, model, ema, opt, export) -> int | None:
    """The step to start from (the last checkpoint's, or 0); with ``--export-only``, calls
    ``export(step)`` on the last checkpoint instead and returns None."""
    start = load_checkpoint(args.checkpoints, model, ema, opt)
    if getattr(args, "export_only", False):
        if not start:
            raise SystemExit(f"no checkpoint in {args.checkpoints}")
        export(start)
        return None
    if start:
        print(f"resumed from step {start}")
    return start


class Progress:
    """Prints the step, a running loss, the rate and the time left every ``every`` steps."""

    def __init__(self, start: int, total: int, every: int) -> None:
        self.start, self.total, self.every = start, total, every
        self.t0 = time.time()
        self.running = None

    def log(self, step: int, loss: float, extra: str = "") -> None:
        self.running = loss if self.running is None else 0.98 * self.running + 0.02 * loss
        if (step + 1) % self.every == 0:
            rate = (step + 1 - self.start) / (time.time() - self.t0)
            eta = (self.total - step - 1) / rate
            print(f"step {step + 1}/{self.total} loss {self.running:.4f}{extra} {rate:.2f} it/s "
                  f"eta {eta / 60:.1f} min", flush=True)
