"""Train the embedded ``shapes-clip`` verifier: a small transformers CLIPModel (seeded, resumable).

    python training/train_shapes_clip.py                # resumes from training/checkpoints/shapes_clip
    python training/train_shapes_clip.py --export-only  # write the weights from the last checkpoint

Contrastive loss of CLIP (Radford et al. 2021, Fig. 3: symmetric cross-entropy over the
batch's image-caption similarities) on freshly drawn scenes, with two changes for
compositional prompts:

- pairs that are in fact true (another caption of the batch that the image also shows,
  decided by ``rules.satisfies`` on the scene's objects) are masked out of the
  negatives;
- every image also gets ``--hard`` hard-negative captions, the true caption with one slot
  changed (a colour, a shape, the count, the relation, or the two objects' colours
  swapped) and checked false for the scene, scored in an extra cross-entropy term.

Images are lightly degraded (Gaussian noise, sometimes a blur) so the verifier also reads
the softer images a diffusion model draws. The model is saved as a ``from_pretrained``
folder (config, safetensors weights, tokenizer, image processor) to
src/noisesearch/weights/shapes_clip/, which the generic ``clip`` verifier loads.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import Progress, resume, save_checkpoint, step_generator, train_step
from shapes_training_data import hard_negatives

from noisesearch.verifiers.clip import features
from noisesearch.worlds.shapes.model import TEXT_CONFIG
from noisesearch.worlds.shapes.rules import satisfies
from noisesearch.worlds.shapes.scenes import draw, rng_for
from noisesearch.worlds.shapes.tokenizer import MAX_LENGTH, build_tokenizer
from noisesearch.worlds.shapes.verifier import CLIP_DIR

ROOT = Path(__file__).resolve().parent
VISION_CONFIG = dict(image_size=32, patch_size=4, hidden_size=96, intermediate_size=384,
                     num_hidden_layers=4, num_attention_heads=4)
PROCESSOR_CONFIG = dict(do_resize=True, size={"shortest_edge": 32}, do_center_crop=True,
                        crop_size={"height": 32, "width": 32}, do_normalize=True,
                        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])


def build_clip():
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(text_config=TEXT_CONFIG, vision_config=VISION_CONFIG, projection_dim=64)
    return CLIPModel(config)


def degrade(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Light Gaussian noise on every image and a 3x3 blur on about half of them."""
    blur = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    which = (torch.rand(len(x), 1, 1, 1, generator=g) < 0.5).float()
    x = which * (0.5 * x + 0.5 * blur) + (1 - which) * x
    sigma = 0.05 * torch.rand(len(x), 1, 1, 1, generator=g)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def export(ema, tokenizer, args, step: int) -> None:
    from transformers import CLIPImageProcessor

    ema.save_pretrained(str(args.out), safe_serialization=True)
    tokenizer.save_pretrained(str(args.out))
    CLIPImageProcessor(**PROCESSOR_CONFIG).save_pretrained(str(args.out))
    card = {"vision": VISION_CONFIG, "text": TEXT_CONFIG, "trained_steps": step,
            "training": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                         if k not in ("checkpoints", "out", "export_only")},
            "parameters": sum(p.numel() for p in ema.parameters())}
    (args.out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {args.out} (EMA weights after {step} steps)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--hard", type=int, default=3, help="hard-negative captions per image")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--ema", type=float, default=0.998)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the default)")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints" / "shapes_clip")
    parser.add_argument("--out", type=Path, default=CLIP_DIR)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--export-only", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    tokenizer = build_tokenizer()
    model = build_clip().to(args.device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    start = resume(args, model, ema, opt, lambda step: export(ema, tokenizer, args, step))
    if start is None:
        return

    def ids(texts):
        return tokenizer(texts, padding="max_length", max_length=MAX_LENGTH,
                         return_tensors="pt").input_ids.to(args.device)

    progress = Progress(start, args.steps, every=25)
    for step in range(start, args.steps):
        scenes = [draw((args.seed, "clip-scene", step * args.batch + j)) for j in range(args.batch)]
        rng = rng_for((args.seed, "negatives", step))
        prompts = [s[0] for s in scenes]
        captions = [p.text() for p in prompts]
        negatives = [n for p, objects, _ in scenes for n in hard_negatives(p, objects, rng, args.hard)]
        true = torch.tensor([[i == j or satisfies(scenes[i][1], prompts[j]) for j in range(args.batch)]
                             for i in range(args.batch)])
        images = torch.from_numpy(np.stack([s[2] for s in scenes])).permute(0, 3, 1, 2).float() / 255.0
        images = ((degrade(images, step_generator(args.seed, step, "degrade")) - 0.5) / 0.5).to(args.device)

        image_emb = F.normalize(features(model.get_image_features(pixel_values=images)), dim=-1)
        text_emb = F.normalize(features(model.get_text_features(input_ids=ids(captions + negatives))), dim=-1)
        scale = model.logit_scale.exp()
        logits = scale * image_emb @ text_emb[: args.batch].T
        off_target = (true & ~torch.eye(args.batch, dtype=torch.bool)).to(args.device)
        logits = logits.masked_fill(off_target, float("-inf"))
        target = torch.arange(args.batch, device=args.device)
        neg = text_emb[args.batch:].view(args.batch, args.hard, -1)
        hard_logits = scale * torch.cat([(image_emb * text_emb[: args.batch]).sum(-1, keepdim=True),
                                         torch.einsum("bd,bkd->bk", image_emb, neg)], dim=1)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2 \
            + F.cross_entropy(hard_logits, torch.zeros(args.batch, dtype=torch.long, device=args.device))
        train_step(model, ema, opt, loss, args.lr * min(1.0, (step + 1) / args.warmup), args.ema,
                   after_step=lambda: model.logit_scale.clamp_(0, 4.6052))  # scale <= 100, as CLIP
        hard_acc = (hard_logits.argmax(1) == 0).float().mean().item()
        progress.log(step, loss.item(), f" hard-negative acc {hard_acc:.2f}")
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == args.steps:
            save_checkpoint(args.checkpoints, step + 1, model, ema, opt)
    export(ema, tokenizer, args, args.steps)


if __name__ == "__main__":
    main()
