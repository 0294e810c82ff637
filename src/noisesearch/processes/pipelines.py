"""What the diffusers pipeline adapters share: loading a pipeline (safetensors only, one clear
line when it is not available offline), the pipeline's defaults, dtypes, and packing several
conditioning tensors into one row per condition (the form algorithms index and batch)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..hf import quiet

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def torch_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise InputError(f"unknown dtype {name!r}; valid: {', '.join(DTYPES)}")
    return DTYPES[name]


def load_pipeline(cls_name: str, source: str | Path, dtype: torch.dtype, **kwargs: Any):
    """A diffusers pipeline from a folder or hub id, safetensors weights only.

    ``InputError`` saying what to download and where, when it is not available offline.
    """
    quiet()
    import diffusers
    from diffusers.pipelines import pipeline_utils

    cls = getattr(diffusers, cls_name)
    local = Path(str(source)).is_dir()
    dtype_key = "dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype"  # renamed in 0.36
    try:
        return cls.from_pretrained(str(source), use_safetensors=True, local_files_only=local,
                                   **{dtype_key: dtype}, **kwargs)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        what = "the folder does not hold it" if local else "its weights are not available offline"
        raise InputError(
            f"cannot load {cls_name} from {str(source)!r}: {what} ({type(exc).__name__}: {first}); "
            f"download it where a network is available (`huggingface-cli download {source} --local-dir DIR`, "
            "safetensors weights) and pass the folder instead"
        ) from None


def call_default(pipeline, name: str) -> Any:
    """The default of an argument of the pipeline's ``__call__`` (its steps, its guidance)."""
    return inspect.signature(type(pipeline).__call__).parameters[name].default


def pack(*tensors: torch.Tensor) -> torch.Tensor:
    """Per-row tensors (B, ...) flattened and joined into one (B, N) tensor."""
    return torch.cat([t.flatten(1) for t in tensors], dim=1)


def unpack(packed: torch.Tensor, shapes: Sequence[tuple[int, ...]]) -> list[torch.Tensor]:
    """The tensors ``pack`` joined, each (B, *shape)."""
    out, start = [], 0
    for shape in shapes:
        size = int(torch.Size(shape).numel())
        out.append(packed[:, start:start + size].reshape(len(packed), *shape))
        start += size
    return out
