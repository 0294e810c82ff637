"""Train the embedded digits diffusion model (seeded, resumable).

    python training/train_digits.py            # resumes from training/checkpoints/digits
    python training/train_digits.py --steps 8000 --seed 0

Epsilon-prediction DDPM loss (Ho et al. 2020, Eq. 14) on the 16x16 digits, with the class
label dropped to the null class with probability 0.1 so the model also learns the
unconditional score for classifier-free guidance (Ho & Salimans 2022). The EMA weights
are exported to src/noisesearch/weights/digits_unet.safetensors.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from common import Progress, noised, resume, save_checkpoint, step_generator, train_step
from safetensors.torch import save_file

from noisesearch.worlds import WEIGHTS_DIR
from noisesearch.worlds.digits.data import load_digits_16
from noisesearch.worlds.digits.model import (
    NULL_CLASS,
    SCHEDULER_CONFIG,
    UNET_CONFIG,
    build_scheduler,
    build_unet,
)

ROOT = Path(__file__).resolve().parent


def lr_at(step: int, total: int, peak: float, warmup: int = 200) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--p-uncond", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints" / "digits")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / "digits_unet.safetensors")
    args = parser.parse_args()

    torch.manual_seed(args.seed)  # parameter initialisation only; batches use keyed generators
    images, labels = load_digits_16("all")
    data = images * 2.0 - 1.0
    alphas_cumprod = build_scheduler().alphas_cumprod
    model = build_unet()
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    start = resume(args, model, ema, opt, export=None)
    progress = Progress(start, args.steps, every=50)
    for step in range(start, args.steps):
        g = step_generator(args.seed, step, "batch")
        idx = torch.randint(0, len(data), (args.batch,), generator=g)
        x0, y = data[idx], labels[idx].clone()
        drop = torch.rand(args.batch, generator=g) < args.p_uncond
        y[drop] = NULL_CLASS
        xt, t, eps = noised(x0, alphas_cumprod, g)
        loss = F.mse_loss(model(xt, t, class_labels=y).sample, eps)
        train_step(model, ema, opt, loss, lr_at(step, args.steps, args.lr), args.ema)
        progress.log(step, loss.item())
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == args.steps:
            save_checkpoint(args.checkpoints, step + 1, model, ema, opt)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(args.out))
    card = {
        "unet": {k: list(v) if isinstance(v, tuple) else v for k, v in UNET_CONFIG.items()},
        "scheduler": SCHEDULER_CONFIG,
        "training": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                     if k not in ("checkpoints", "out")},
        "data": "sklearn.datasets.load_digits, 8x8 upsampled bilinearly to 16x16, scaled to [-1, 1]",
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    args.out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
