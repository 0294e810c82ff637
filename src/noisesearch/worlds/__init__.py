"""The embedded testbeds, each a package: its data, trained networks, process, verifier, judges
and benchmark suite. The weights they load are committed under ``noisesearch/weights/``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def load_trained(net: nn.Module, name: str, trained_by: str) -> nn.Module:
    """``net`` (a freshly built module) with the weights of ``weights/<name>.safetensors`` (safetensors
    only), in eval mode without gradients; ``FileNotFoundError`` naming the script that trains it."""
    from safetensors.torch import load_file

    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; train it with {trained_by}")
    net.load_state_dict(load_file(str(path)))
    return net.eval().requires_grad_(False)
