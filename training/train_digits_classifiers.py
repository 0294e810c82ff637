"""Train the digits verifier and the held-out digits judge (seeded; each takes about a minute).

    python training/train_digits_classifiers.py

The verifier's CNN learns from the ``verifier`` half of the digits, the judge's from the
disjoint ``judge`` half. Both see light augmentation (shifts of up to one pixel,
contrast jitter, pixel noise) so they hold up on generated digits. Each reports its
accuracy on the other half, which it never saw.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F
from common import step_generator
from safetensors.torch import save_file

from noisesearch.worlds import WEIGHTS_DIR
from noisesearch.worlds.digits.classifiers import NETS
from noisesearch.worlds.digits.data import load_digits_16


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    shifts = torch.randint(-1, 2, (n, 2), generator=g)
    padded = F.pad(x, (1, 1, 1, 1))
    out = torch.stack([
        padded[i, :, 1 + dy: 17 + dy, 1 + dx: 17 + dx] for i, (dy, dx) in enumerate(shifts.tolist())
    ])
    contrast = 0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=g)
    noise = 0.05 * torch.randn(out.shape, generator=g)
    return (out * contrast + noise).clamp(0, 1)


def train(name: str, split: str, held_out: str, steps: int, seed: int) -> dict:
    torch.manual_seed(seed)
    net = NETS[name]()
    x, y = load_digits_16(split)
    xv, yv = load_digits_16(held_out)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    net.train()
    for step in range(steps):
        g = step_generator(seed, step, name)
        idx = torch.randint(0, len(x), (64,), generator=g)
        loss = F.cross_entropy(net(augment(x[idx], g)), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    with torch.no_grad():
        acc = (net(xv).argmax(1) == yv).float().mean().item()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()},
              str(WEIGHTS_DIR / f"{name}.safetensors"))
    print(f"{name}: trained on '{split}', accuracy on held-out '{held_out}' = {acc:.4f}")
    return {"train_split": split, "held_out_split": held_out, "held_out_accuracy": acc,
            "steps": steps, "seed": seed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    card = {
        "digits_verifier": train("digits_verifier", "verifier", "judge", args.steps, args.seed),
        "digits_judge": train("digits_judge", "judge", "verifier", args.steps, args.seed + 1),
    }
    (WEIGHTS_DIR / "digits_classifiers.json").write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
