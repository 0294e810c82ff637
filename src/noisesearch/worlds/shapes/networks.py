"""Two small networks of the shapes world, trained on drawn scenes (``training/train_shapes_nets.py``)
and independent of ``shapes-clip`` and of each other:

- ``SceneQA``, the ``shapes-vqa`` verifier's: does this image show this prompt? A CNN over the
  image whose feature maps a bidirectional GRU reading of the prompt modulates (FiLM, Perez et
  al. 2018, Eq. 1-2), pooled to one logit and trained with binary cross-entropy against the
  prompt and captions with one slot changed. Another architecture and objective than the
  contrastive dual encoder of ``shapes-clip``.
- ``SceneEncoder``, the ``shapes-fd`` judge's: a max-pooled CNN trained to count every
  (shape, colour) in a scene and to say which cells of a 4x4 grid hold an object; its
  128-d penultimate layer is the feature space of the Frechet distance. No search sees it.

Both take images in [0, 1], (B, 3, 32, 32).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import WEIGHTS_DIR, load_trained
from .prompts import COLORS, SHAPES, canonical_words, prompt_words
from .tokenizer import MAX_LENGTH, PAD_ID, UNK_ID, vocabulary

CARD = WEIGHTS_DIR / "shapes_networks.json"
GRID = 4  # SceneEncoder's occupancy grid: GRID x GRID cells
MAX_COUNT = 4  # the most objects of one kind a scene holds
KINDS = [(shape, color) for shape in SHAPES for color in COLORS]  # SceneEncoder's count heads


def token_ids(prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (B, MAX_LENGTH), lengths (B,)): the canonical words of each prompt as vocabulary ids,
    padded with ``PAD_ID`` (no [BOS]/[EOS]: the GRU reads the words alone)."""
    vocab = vocabulary()
    ids = torch.full((len(prompts), MAX_LENGTH), PAD_ID, dtype=torch.long)
    lengths = torch.ones(len(prompts), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        words = [vocab.get(w, UNK_ID) for w in canonical_words(prompt_words(prompt))][:MAX_LENGTH]
        ids[row, :len(words)] = torch.tensor(words, dtype=torch.long)
        lengths[row] = max(len(words), 1)
    return ids, lengths


def coordinates(x: torch.Tensor) -> torch.Tensor:
    """``x`` with two channels more: the column and row of every pixel, in [-1, 1]."""
    b, _, h, w = x.shape
    ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
    xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
    return torch.cat([x, xs, ys], dim=1)


class SceneQA(nn.Module):
    """logit P(prompt holds | image): CNN features of the image and its pixel coordinates at 8x8,
    two FiLM-modulated convolutions, mean and max pooling, an MLP."""

    def __init__(self, words: int = 64, width: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(vocabulary()), words, padding_idx=PAD_ID)
        self.reader = nn.GRU(words, words, batch_first=True, bidirectional=True)
        question = 2 * words
        self.stem = nn.Sequential(
            nn.Conv2d(5, 32, 3, padding=1), nn.SiLU(),
            nn.Conv2d(32, width, 3, stride=2, padding=1), nn.SiLU(),  # 16x16
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.SiLU(),  # 8x8
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width + 2, width, 3, padding=1), nn.GroupNorm(8, width))
            for _ in range(2))
        self.films = nn.ModuleList(nn.Linear(question, 2 * width) for _ in range(2))
        self.head = nn.Sequential(nn.Linear(2 * width + question, 128), nn.SiLU(), nn.Linear(128, 1))

    def read(self, prompts: list[str], device: torch.device) -> torch.Tensor:
        """The prompt's reading: the GRU's last states, both directions (B, 2 * words)."""
        ids, lengths = token_ids(prompts)
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids.to(device)), lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, last = self.reader(packed)
        return torch.cat([last[0], last[1]], dim=1)

    def see(self, images: torch.Tensor) -> torch.Tensor:
        """The image's 8x8 feature maps (B, width, 8, 8), before any question."""
        return self.stem(coordinates(images * 2 - 1))

    def answer(self, seen: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        """Logits (B,) for feature maps from ``see`` and one prompt per row."""
        q = self.read(prompts, seen.device)
        h = seen
        for block, film in zip(self.blocks, self.films, strict=True):
            gamma, beta = film(q).chunk(2, dim=1)  # FiLM: gamma * h + beta per channel
            h = h + torch.relu((1 + gamma)[:, :, None, None] * block(coordinates(h)) + beta[:, :, None, None])
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3)), q], dim=1)
        return self.head(pooled)[:, 0]

    def forward(self, images: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        return self.answer(self.see(images), prompts)


class SceneEncoder(nn.Module):
    """Max-pooled CNN: counts per (shape, colour) and a 4x4 occupancy grid from 128-d features."""

    features_dim = 128

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 16x16
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8x8
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4x4
            nn.Flatten(), nn.Linear(128 * 4 * 4, self.features_dim), nn.ReLU(),
        )
        self.counts = nn.Linear(self.features_dim, len(KINDS) * (MAX_COUNT + 1))
        self.cells = nn.Linear(self.features_dim, GRID * GRID)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The 128-d features (B, 128) of images in [0, 1]."""
        return self.features(images - 0.5)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(count logits (B, kinds, MAX_COUNT + 1), occupancy logits (B, GRID * GRID))."""
        f = self.embed(images)
        return self.counts(f).view(len(f), len(KINDS), MAX_COUNT + 1), self.cells(f)


NETS = {"shapes_vqa": SceneQA, "shapes_encoder": SceneEncoder}


def load_net(name: str) -> nn.Module:
    """A trained network from ``weights/<name>.safetensors`` (safetensors only)."""
    return load_trained(NETS[name](), name, f"training/train_shapes_nets.py --net {name}")

