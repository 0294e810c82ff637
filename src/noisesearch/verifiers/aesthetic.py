"""The ``aesthetic`` verifier: the LAION aesthetic predictor v2 (Schuhmann et al. 2022,
github.com/christophschuhmann/improved-aesthetic-predictor), as used for aesthetic rewards by
DDPO and by Ma et al. 2025.

    aesthetic(image) = MLP(E_image / |E_image|)

an MLP (Linear(d, 1024), Dropout(0.2), Linear(1024, 128), Dropout(0.2), Linear(128, 64),
Dropout(0.1), Linear(64, 16), Linear(16, 1); dropout is the identity at inference) over the
L2-normalised CLIP image embedding (ViT-L/14 for the released weights, d = 768), predicting a
1-10 rating. The prompt is ignored. ``FOLDER`` holds the CLIP checkpoint in ``FOLDER/clip/``
and the MLP in ``FOLDER/mlp.safetensors`` under the original ``nn.Sequential`` names
(``layers.0``, ``layers.2``, ``layers.4``, ``layers.6``, ``layers.7``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..batching import fixed_shape_map
from ..errors import InputError
from .clip import CLIPImageVerifier

LAYOUT = ("FOLDER/clip/ (a transformers CLIP checkpoint: config.json, model.safetensors, "
          "preprocessor_config.json; openai/clip-vit-large-patch14 for the released MLP) and "
          "FOLDER/mlp.safetensors (the MLP's state dict, keys layers.0/2/4/6/7.weight and .bias; convert "
          "the original sac+logos+ava1-l14-linearMSE.pth yourself, e.g. "
          "safetensors.torch.save_file(torch.load(PTH, weights_only=True), 'mlp.safetensors'))")


def layout_error(problem: str) -> InputError:
    return InputError(f"aesthetic: {problem}; aesthetic:FOLDER needs {LAYOUT}")


class AestheticMLP(nn.Module):
    """The predictor's MLP, named as the original (``self.layers``, an ``nn.Sequential``)."""

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_size, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
            nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class AestheticScore(CLIPImageVerifier):
    """The predicted aesthetic rating of each image."""

    name = "aesthetic"
    scale = "predicted aesthetic rating, about 1 to 10"

    def __init__(self, folder: str | Path, micro_batch: int = 64, device: str = "cpu") -> None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(folder)
        missing = [p for p in ("clip/config.json", "mlp.safetensors") if not (folder / p).is_file()]
        if missing:
            raise layout_error(f"{str(folder)!r} lacks {' and '.join(missing)}")
        super().__init__(folder / "clip", "aesthetic", micro_batch=micro_batch, device=device, text=False,
                         usage="aesthetic:FOLDER")
        path = folder / "mlp.safetensors"
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise layout_error(f"{str(path)!r} is not a safetensors file ({exc})") from None
        self.mlp = AestheticMLP(self.model.config.projection_dim)
        expected = {k: tuple(v.shape) for k, v in self.mlp.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in state.items()}
        if found != expected:
            wrong = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
            width = self.model.config.projection_dim
            raise layout_error(f"{str(path)!r} does not fit CLIP embeddings of size {width}: keys "
                               f"{', '.join(wrong[:4])} are missing, extra or of another shape")
        self.mlp.load_state_dict(state)
        self.mlp.eval().requires_grad_(False).to(self.device)

    def rating(self, images: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.image_features(images))[:, 0]

    def _score(self, images, conditions):
        return fixed_shape_map(self.rating, images, size=self.micro_batch).cpu()
