"""The ``vqascore`` verifier: VQAScore (Lin et al. 2024, "Evaluating Text-to-Visual Generation
with Image-to-Text Generation", Sec. 3) on any local vision-language model.

    VQAScore(image, prompt) = P("Yes" | image, 'Does this figure show "{prompt}"? Please answer yes or no.')

the probability the model gives the answer "Yes" as the first token of its reply. We return
its logarithm, log P("Yes") <= 0, by default (a better-spread score for ranking candidates
that are all likely; ``output="prob"`` gives the paper's P). The model is any transformers
image-text-to-text checkpoint in a local folder (``AutoModelForImageTextToText`` and
``AutoProcessor``: Qwen2-VL, Idefics3/SmolVLM, LLaVA, ...), safetensors weights only. The
question goes through the processor's chat template (one user turn, the image then the
question, then the assistant prompt), which Lin et al.'s CLIP-FlanT5 did not have: with
chat models the answer position is the first token of the assistant's turn.

Images are converted to 8-bit RGB and given to the processor, which resizes them to what the
model expects, so the score is not differentiable. Rows are grouped by prompt (the same
tokens, so no padding) and run in micro-batches of exactly ``micro_batch`` rows
(``batching.fixed_shape_map``): a candidate's score does not depend on which candidates it was
scored with. The model runs on the run's device and, unless ``dtype`` is given, in the searched
model's dtype (``--dtype``; fp32 for the embedded models); the softmax is taken in fp32.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..batching import fixed_shape_map
from ..errors import InputError
from ..hf import quiet
from ..processes.denoiser import DTYPES
from .base import Verifier
from .image_stats import to_pil

QUESTION = 'Does this figure show "{prompt}"? Please answer yes or no.'  # Lin et al. 2024, Sec. 3
OUTPUTS = ("logprob", "prob")
FILES = ("config.json, model.safetensors (or its shards), the processor's and tokenizer's files and a chat "
         "template")


def load_vlm(folder: str | Path) -> tuple[Any, Any]:
    """(model, processor) of an image-text-to-text checkpoint folder, safetensors only;
    ``InputError`` naming what the folder must hold."""
    if not Path(folder).is_dir():
        raise InputError(f"vqascore: {str(folder)!r} is not a folder; give a local folder of a transformers "
                         f"image-text-to-text model with {FILES} (e.g. `huggingface-cli download "
                         "Qwen/Qwen2.5-VL-3B-Instruct --local-dir DIR`), then use vqascore:DIR")
    quiet()
    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(str(folder))
        model = AutoModelForImageTextToText.from_pretrained(str(folder), use_safetensors=True)
    except (OSError, ValueError, KeyError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise InputError(f"vqascore: cannot load an image-text-to-text model from {str(folder)!r} "
                         f"({type(exc).__name__}: {first}); the folder needs {FILES}") from None
    if not getattr(processor, "chat_template", None):
        raise InputError(f"vqascore: the processor in {str(folder)!r} has no chat template "
                         "(chat_template.jinja); VQAScore asks its question as a chat turn")
    return model.eval().requires_grad_(False), processor


class VQAScore(Verifier):
    """log P("Yes") (or P) of a vision-language model asked whether the image shows the prompt."""

    name = "vqascore"
    differentiable = False

    def __init__(self, checkpoint: str | Path, question: str = QUESTION, output: str = "logprob",
                 answer: str = "Yes", micro_batch: int | str = 8, dtype: str | None = None,
                 device: str = "cpu") -> None:
        if "{prompt}" not in question:
            raise InputError(f"vqascore: the question must contain {{prompt}}, got {question!r}")
        if output not in OUTPUTS:
            raise InputError(f"vqascore: unknown output {output!r}; valid: {', '.join(OUTPUTS)}")
        if dtype is not None and dtype not in DTYPES:
            raise InputError(f"vqascore: unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
        try:
            self.micro_batch = int(micro_batch)
        except ValueError:
            self.micro_batch = 0
        if self.micro_batch < 1:
            raise InputError(f"vqascore: micro_batch must be a positive integer, got {micro_batch!r}")
        self.question, self.output, self.dtype_name = question, output, dtype
        self.model, self.processor = load_vlm(checkpoint)
        tokens = self.processor.tokenizer.encode(answer, add_special_tokens=False)
        if not tokens:
            raise InputError(f"vqascore: the tokenizer gives no token for the answer {answer!r}")
        self.answer_id = tokens[0]  # the answer's first token, as Lin et al. score it
        self.device = torch.device(device)
        self.dtype = DTYPES[dtype or "fp32"]
        self.model.to(self.device, self.dtype)
        kind = 'log P("Yes"), <= 0' if output == "logprob" else 'P("Yes"), 0 to 1'
        self.scale = f"VQAScore {kind}, of {type(self.model).__name__} asked {question!r}"

    def bind(self, process: Any) -> None:
        """Run in the searched model's dtype (``--dtype``) unless ``dtype`` was given."""
        name = process.options().get("dtype") if hasattr(process, "options") else None
        if self.dtype_name is None and name in DTYPES and DTYPES[name] != self.dtype:
            self.dtype = DTYPES[name]
            self.model.to(self.dtype)

    def text(self, prompt: str) -> str:
        """The chat-formatted question about ``prompt``, ending where the answer starts."""
        messages = [{"role": "user", "content": [
            {"type": "image"}, {"type": "text", "text": self.question.replace("{prompt}", prompt)}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True)

    def answer_logprob(self, images: torch.Tensor, text: str) -> torch.Tensor:
        """log P(answer) at the position after ``text`` for each image (one chat text for all)."""
        pil = [to_pil(image).convert("RGB") for image in images]
        inputs = self.processor(text=[text] * len(images), images=pil, return_tensors="pt", padding=True)
        inputs = {k: v.to(self.device, self.dtype if v.is_floating_point() else None)
                  for k, v in inputs.items() if isinstance(v, torch.Tensor)}
        with torch.no_grad():
            logits = self.model(**inputs).logits[:, -1].float()
        return torch.log_softmax(logits, dim=-1)[:, self.answer_id].cpu()

    def _score(self, images: torch.Tensor, conditions: Sequence[Any]) -> torch.Tensor:
        prompts = [str(c) for c in conditions]
        scores = torch.empty(len(images), dtype=torch.float32)
        images = images.detach().float().cpu()
        for prompt in dict.fromkeys(prompts):  # each prompt's rows share one token sequence
            rows = torch.tensor([i for i, p in enumerate(prompts) if p == prompt])
            text = self.text(prompt)
            scores[rows] = fixed_shape_map(lambda x, text=text: self.answer_logprob(x, text), images[rows],
                                           size=self.micro_batch)
        return scores if self.output == "logprob" else scores.exp()
