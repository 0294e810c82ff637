"""Train the embedded shapes text-to-image model (seeded, resumable).

    python training/train_shapes.py                 # resumes from training/checkpoints/shapes
    python training/train_shapes.py --steps 6000 --seed 0
    python training/train_shapes.py --export-only   # write the weights from the last checkpoint

The UNet and the text encoder are trained jointly with the epsilon-prediction DDPM loss
(Ho et al. 2020, Eq. 14) on freshly drawn scenes (``shapes_training_data.draw_batch``; scene
``(seed, "scene", step * batch + j)``, so every step sees new scenes and a resumed run the
same ones). The caption is replaced by "" with probability 0.1, so the model also learns
the unconditional score for classifier-free guidance (Ho & Salimans 2022). It trains on a GPU when one is
available (``--device``). The learning
rate is constant after a warm-up, so a run can be extended with a larger ``--steps``. The
EMA weights are exported to src/noisesearch/weights/shapes/.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch
import torch.nn.functional as F
from common import Progress, noised, resume, save_checkpoint, step_generator, train_step
from shapes_training_data import draw_batch

from noisesearch.worlds.shapes.model import (
    MODEL_DIR,
    SCHEDULER_CONFIG,
    TEXT_CONFIG,
    UNET_CONFIG,
    build_model,
    build_scheduler,
    save_model,
)

ROOT = Path(__file__).resolve().parent


def export(ema, args, step: int) -> None:
    card = {
        "unet": {k: list(v) if isinstance(v, tuple) else v for k, v in UNET_CONFIG.items()},
        "text_encoder": TEXT_CONFIG,
        "scheduler": SCHEDULER_CONFIG,
        "training": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                     if k not in ("checkpoints", "out", "export_only")} | {"trained_steps": step},
        "data": "noisesearch.worlds.shapes.scenes (seed, 'scene', index), images scaled to [-1, 1]",
        "parameters": sum(p.numel() for p in ema.parameters()),
    }
    save_model(ema, args.out, card)
    print(f"wrote {args.out} (EMA weights after {step} steps)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--p-uncond", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints" / "shapes")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--export-only", action="store_true", help="export the last checkpoint's EMA weights")
    args = parser.parse_args()

    torch.manual_seed(args.seed)  # parameter initialisation only; batches use keyed generators
    alphas_cumprod = build_scheduler().alphas_cumprod.to(args.device)
    model = build_model().to(args.device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    start = resume(args, model, ema, opt, lambda step: export(ema, args, step))
    if start is None:
        return
    progress = Progress(start, args.steps, every=25)
    for step in range(start, args.steps):
        captions, images = draw_batch(args.seed, range(step * args.batch, (step + 1) * args.batch))
        x0 = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0).to(args.device)
        g = step_generator(args.seed, step, "noise")
        drop = torch.rand(args.batch, generator=g) < args.p_uncond
        captions = ["" if d else c for c, d in zip(captions, drop.tolist(), strict=True)]
        xt, t, eps = noised(x0, alphas_cumprod, g)
        loss = F.mse_loss(model.unet(xt, t, model.embed(captions)).sample, eps)
        train_step(model, ema, opt, loss, args.lr * min(1.0, (step + 1) / args.warmup), args.ema)
        progress.log(step, loss.item())
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == args.steps:
            save_checkpoint(args.checkpoints, step + 1, model, ema, opt)
    export(ema, args, args.steps)


if __name__ == "__main__":
    main()
