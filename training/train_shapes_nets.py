"""Train the shapes world's question-answering verifier or the Frechet judge's encoder (seeded, resumable).

    python training/train_shapes_nets.py --net shapes_vqa        # the shapes-vqa verifier
    python training/train_shapes_nets.py --net shapes_encoder    # the shapes-fd judge's features
    python training/train_shapes_nets.py --net shapes_vqa --export-only

Both learn from freshly drawn scenes, each network from its own keys (``(seed, "scene", index)``
with its own seed: 2 for ``shapes_vqa``, 3 for ``shapes_encoder``; the diffusion model was
trained on seed 0 and ``shapes-clip`` on seed 1), so the three share no training image. The
images are blurred and noised at random (sigma up to 1 pixel, noise std up to 0.08) so that
the networks read generated images as well as drawn ones.

- ``shapes_vqa`` (``networks.SceneQA``): binary cross-entropy on three captions per scene: its
  own (true), one with a slot changed (false; ``shapes_training_data.hard_negatives``) and the
  caption of another scene in the batch (labelled by ``rules.satisfies``).
- ``shapes_encoder`` (``networks.SceneEncoder``): cross-entropy of the count of every (shape,
  colour) plus binary cross-entropy of which 4x4 cells hold an object's centre.

The EMA weights go to ``src/noisesearch/weights/<net>.safetensors`` and the held-out accuracy
(fresh scenes of another key, and for ``shapes_vqa`` the agreement with the labelled generated
images of ``tests/data/shapes_labelled*``) to ``weights/shapes_networks.json``.
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
from safetensors.torch import save_file
from shapes_label_sample import read_labelled
from shapes_training_data import hard_negatives

from noisesearch.worlds.shapes.networks import CARD, GRID, KINDS, MAX_COUNT, NETS
from noisesearch.worlds.shapes.rules import satisfies
from noisesearch.worlds.shapes.scenes import SIZE, draw, rng_for

ROOT = Path(__file__).resolve().parent
SEEDS = {"shapes_vqa": 2, "shapes_encoder": 3}
LABELLED = [ROOT.parent / "tests" / "data" / name for name in ("shapes_labelled", "shapes_labelled_heldout")]


def scenes(seed: int, purpose: str, indices: range) -> tuple[list, list, torch.Tensor]:
    """(prompts, objects, images in [0, 1] (N, 3, 32, 32)) of the scenes ``(seed, purpose, index)``."""
    prompts, objects, images = [], [], []
    for index in indices:
        prompt, objs, image = draw((seed, purpose, int(index)))
        prompts.append(prompt)
        objects.append(objs)
        images.append(image)
    return prompts, objects, torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0


def degrade(images: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A Gaussian blur of random width (sigma in [0, 1] pixels) and noise of random std (up to 0.08)."""
    sigma = torch.rand(len(images), generator=g).clamp(min=1e-3)
    offsets = torch.arange(-2, 3, dtype=torch.float32)
    kernel = torch.exp(-offsets[None] ** 2 / (2 * sigma[:, None] ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)  # (B, 5)
    c = images.shape[1]
    x = images.reshape(1, -1, SIZE, SIZE)
    weights = kernel.repeat_interleave(c, 0)
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate"), weights.view(-1, 1, 1, 5), groups=x.shape[1])
    x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode="replicate"), weights.view(-1, 1, 5, 1), groups=x.shape[1])
    std = 0.08 * torch.rand(len(images), generator=g)
    noise = torch.randn(images.shape, generator=g) * std.view(-1, 1, 1, 1)
    return (x.view_as(images) + noise).clamp(0, 1)


def qa_batch(seed: int, purpose: str, indices: range,
             step_seed: int) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """(images, captions, labels): three captions per scene (rows 3k to 3k + 2 are scene k's): its
    own, a hard negative and another scene's caption."""
    prompts, objects, images = scenes(seed, purpose, indices)
    rng = rng_for((seed, purpose, "captions", step_seed))
    captions, labels = [], []
    for k, (prompt, objs) in enumerate(zip(prompts, objects, strict=True)):
        other = prompts[(k + 1 + int(rng.integers(len(prompts) - 1))) % len(prompts)]
        captions += [prompt.text(), hard_negatives(prompt, objs, rng, 1)[0], other.text()]
        labels += [1.0, 0.0, float(satisfies(objs, other))]
    return images, captions, torch.tensor(labels)


def encoder_targets(objects: list) -> tuple[torch.Tensor, torch.Tensor]:
    """(counts (N, kinds), occupancy (N, GRID * GRID)) of the scenes' objects."""
    counts = torch.zeros(len(objects), len(KINDS), dtype=torch.long)
    cells = torch.zeros(len(objects), GRID * GRID)
    for row, objs in enumerate(objects):
        for o in objs:
            counts[row, KINDS.index((o.shape, o.color))] += 1
            cell = min(int(o.cy * GRID / SIZE), GRID - 1) * GRID + min(int(o.cx * GRID / SIZE), GRID - 1)
            cells[row, cell] = 1.0
    return counts.clamp(max=MAX_COUNT), cells


def loss_of(net_name: str, model, seed: int, purpose: str, indices: range, g: torch.Generator,
            step_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, per-example correctness) on the scenes ``indices``."""
    if net_name == "shapes_vqa":
        images, captions, labels = qa_batch(seed, purpose, indices, step_seed)
        logits = model.answer(model.see(degrade(images, g)).repeat_interleave(3, 0), captions)
        return F.binary_cross_entropy_with_logits(logits, labels), ((logits > 0).float() == labels).float()
    _, objects, images = scenes(seed, purpose, indices)
    counts, cells = encoder_targets(objects)
    count_logits, cell_logits = model(degrade(images, g))
    loss = F.cross_entropy(count_logits.reshape(-1, MAX_COUNT + 1), counts.reshape(-1)) \
        + F.binary_cross_entropy_with_logits(cell_logits, cells)
    exact = (count_logits.argmax(-1) == counts).all(1) & ((cell_logits > 0).float() == cells).all(1)
    return loss, exact.float()


@torch.no_grad()
def labelled_agreement(model) -> dict[str, float]:
    """shapes_vqa's agreement (P > 0.5) with the labels given by eye to generated images."""
    out = {}
    for folder in LABELLED:
        images, prompts, labels = read_labelled(folder)
        said = model(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255, prompts) > 0
        out[folder.name] = float((said == torch.tensor(labels)).float().mean())
    return out


def export(ema, args, step: int) -> None:
    out = Path(args.out)
    save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, str(out / f"{args.net}.safetensors"))
    _, correct = loss_of(args.net, ema.eval(), SEEDS[args.net], "held-out", range(2048),
                         step_generator(SEEDS[args.net], 0, "held-out"), 0)
    record = {
        "network": NETS[args.net].__name__,
        "train_scenes": f"(seed {SEEDS[args.net]}, 'scene', index), {step} steps x {args.batch}",
        "held_out": "2048 fresh scenes (seed, 'held-out', index), degraded as in training",
        "held_out_accuracy": round(float(correct.mean()), 4),
        "steps": step,
        "training": {k: v for k, v in vars(args).items() if k not in ("checkpoints", "out", "export_only")},
        "parameters": sum(p.numel() for p in ema.parameters()),
    }
    if args.net == "shapes_vqa":
        record["labelled_generated_agreement"] = {k: round(v, 4) for k, v in labelled_agreement(ema).items()}
    card_file = out / CARD.name
    card = json.loads(card_file.read_text()) if card_file.exists() else {}
    card[args.net] = record
    card_file.write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {out / (args.net + '.safetensors')}: {json.dumps(record)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", required=True, choices=sorted(NETS))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--ema", type=float, default=0.998)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--checkpoints", type=Path)
    parser.add_argument("--out", type=Path, default=CARD.parent)
    parser.add_argument("--export-only", action="store_true", help="export the last checkpoint's EMA weights")
    args = parser.parse_args()
    args.checkpoints = args.checkpoints or ROOT / "checkpoints" / args.net
    seed = SEEDS[args.net]

    torch.manual_seed(seed)  # parameter initialisation only; batches use keyed generators
    model = NETS[args.net]()
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    start = resume(args, model, ema, opt, lambda step: export(ema, args, step))
    if start is None:
        return
    progress = Progress(start, args.steps, every=50)
    for step in range(start, args.steps):
        model.train()
        indices = range(step * args.batch, (step + 1) * args.batch)
        g = step_generator(seed, step, "degrade")
        loss, correct = loss_of(args.net, model, seed, "scene", indices, g, step)
        train_step(model, ema, opt, loss, args.lr * min(1.0, (step + 1) / args.warmup), args.ema)
        progress.log(step, loss.item(), f" acc {correct.mean():.3f}")
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == args.steps:
            save_checkpoint(args.checkpoints, step + 1, model, ema, opt)
    export(ema, args, args.steps)


if __name__ == "__main__":
    main()
