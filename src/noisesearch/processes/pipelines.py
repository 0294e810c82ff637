"""What the diffusers pipeline adapters share: loading a pipeline (safetensors only, one clear
line when it is not available offline), placing its components (``offload``: only the
denoiser stays on the device; the text encoders and the VAE come to it for their phase and
go back to the CPU), prompts, encoding and decoding, the pipeline's defaults, dtypes, and
packing several conditioning tensors into one row per condition (the form algorithms index
and batch)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..batching import fixed_shape_map
from ..errors import InputError
from ..hf import quiet
from .denoiser import Denoiser, torch_dtype


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


def pipeline_steps(pipe, steps: int | None) -> int:
    """``steps``, or the pipeline's default number of inference steps."""
    return int(call_default(pipe, "num_inference_steps") if steps is None else steps)


class PipelineDenoiser(Denoiser):
    """A diffusers pipeline's components as a denoiser: subclasses set ``pipeline_class``, say which
    component denoises (``denoiser_name``) and how prompts condition it (``conditioning``)."""

    pipeline_class: str
    denoiser_name: str = "unet"

    def open_pipeline(self, source: Any, device: str, dtype: str, offload: bool, **load_options: Any):
        """Load (or take) the pipeline and place it; returns it. Its modules run in ``dtype``; the
        search state stays in float32 (``Denoiser.dtype``)."""
        self.net_dtype, self.dtype_name, self.offload = torch_dtype(dtype), dtype, bool(offload)
        if isinstance(source, str | Path):
            pipe = load_pipeline(self.pipeline_class, source, self.net_dtype, **load_options)
        else:  # an already loaded pipeline object, in the dtype asked for
            pipe = source
            if getattr(pipe, self.denoiser_name).dtype != self.net_dtype:
                pipe = pipe.to(dtype=self.net_dtype)
        self.device = torch.device(device)
        self.pipe = pipe.to("cpu" if self.offload else self.device)
        getattr(pipe, self.denoiser_name).to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        return pipe

    @contextmanager
    def phase(self, *modules: torch.nn.Module | None) -> Iterator[None]:
        """With ``offload``, the modules on the device for the block and back on the CPU after it."""
        present = [m for m in modules if m is not None]
        if self.offload:
            for module in present:
                module.to(self.device)
        try:
            yield
        finally:
            if self.offload:
                for module in present:
                    module.to("cpu")

    def text_encoders(self) -> list[torch.nn.Module | None]:
        names = ("text_encoder", "text_encoder_2", "text_encoder_3")
        return [getattr(self.pipe, name, None) for name in names]

    def parse_condition(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise InputError(f"{self.name} conditions are prompts, got {value!r}")
        return value

    def conditioning(self, conditions: list) -> tuple[torch.Tensor, torch.Tensor]:
        """(the conditions' conditioning, the unconditional one), packed one row per condition."""
        raise NotImplementedError

    def conditions_and_null(self, conditions: list) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad(), self.phase(*self.text_encoders()):
            return self.conditioning(conditions)

    def encode(self, conditions: Sequence[Any]) -> torch.Tensor:
        return self.conditions_and_null([self.parse_condition(c) for c in conditions])[0]

    def vae_encode(self, images: torch.Tensor) -> torch.Tensor:
        """The VAE encoder's mean latents of images in [0, 1], in micro-batches."""
        vae = self.pipe.vae
        with torch.no_grad(), self.phase(vae):
            return fixed_shape_map(lambda x: vae.encode(x).latent_dist.mean,
                                   (images * 2 - 1).to(self.device, self.net_dtype),
                                   size=self.micro_batch).to(self.dtype)

    def vae_decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] from latents scaled as the VAE expects, in micro-batches."""
        vae = self.pipe.vae
        with self.phase(vae):
            images = fixed_shape_map(lambda z: vae.decode(z, return_dict=False)[0], latents,
                                     size=self.micro_batch)
        return (images.float() / 2 + 0.5).clamp(0, 1)
