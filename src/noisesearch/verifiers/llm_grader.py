"""The ``llm-grader`` verifier: a multimodal LLM grades each image against its prompt, the
"VLM grader" of Ma et al. 2025 ("Inference-Time Scaling for Diffusion Models beyond Scaling
Denoising Steps", Sec. 3.1 and Appendix), over any OpenAI-compatible endpoint (vLLM, Ollama,
SGLang, OpenAI, Gemini's OpenAI-compatible API) through the ``openai`` client.

One request per image: a system message with the rubric, then the prompt and the image as a
base64 PNG data URL. The rubric asks for a 0-10 score of each of the paper's aspects (accuracy
to the prompt, originality, visual quality, consistency, emotional or thematic resonance) and an
overall score, as a JSON object; the verifier's score is ``overall`` or the chosen ``aspect``.
Deviations from the paper: the rubric is our own wording; answers are asked for in JSON mode at
temperature 0; and the paper's grader (Gemini) is replaced by whatever model the endpoint serves.

The key is read from an environment variable (``key_env``, default ``OPENAI_API_KEY``) and is
never written (the spec names only the variable) nor shown (errors have it replaced by ``***``).

- ``workers`` requests are in flight at most (threads); each has ``timeout`` seconds.
- A 429, 5xx, timeout or lost connection is retried ``retries`` times with exponential backoff
  (0.5 s, 1 s, 2 s, ... at most 30 s), waiting the server's ``Retry-After`` instead when it gives
  one; then ``RunError`` in one line. Other 4xx (a bad key, an unknown model) fail at once.
- An answer that is not the JSON asked for is asked again (up to ``retries`` times), then scored
  NaN: the search counts the candidate as failed and never chooses it.
- Verdicts are cached on disk (sqlite, ``cache`` folder) keyed by model, rubric, prompt and
  the PNG's bytes, so reruns, ``--resume`` and replays do not pay twice; failures are not cached.
- Per row, ``take_usage`` reports cache hits and misses, requests, retries, malformed answers,
  request seconds and the tokens the server reports; searches add them to the ledger.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError, RunError
from .base import Verifier
from .image_stats import to_pil
from .optional import require

ASPECTS = ("accuracy", "originality", "visual_quality", "consistency", "emotional_resonance", "overall")
RUBRIC = """You grade images made by a text-to-image model. You are given the prompt and one image.
Score the image from 0 (worst) to 10 (best) on each aspect:
- accuracy: does the image show everything the prompt asks for (objects, counts, colours, positions, text)?
- originality: is the rendering of the prompt creative and not generic?
- visual_quality: is the image sharp, well composed and free of artefacts?
- consistency: are the parts of the image coherent with each other (lighting, perspective, anatomy)?
- emotional_resonance: does the image convey the mood or theme the prompt suggests?
- overall: your overall judgement of the image for this prompt, weighing accuracy most.
Answer with one JSON object and nothing else, e.g.
{"accuracy": {"score": 7, "reason": "..."}, "originality": {"score": 5, "reason": "..."},
 "visual_quality": {"score": 6, "reason": "..."}, "consistency": {"score": 8, "reason": "..."},
 "emotional_resonance": {"score": 4, "reason": "..."}, "overall": {"score": 7, "reason": "..."}}"""
RUBRIC_ID = hashlib.sha256(RUBRIC.encode()).hexdigest()[:16]
RETRYABLE = {408, 409, 429, 500, 502, 503, 504}
MAX_BACKOFF_S = 30.0


def default_cache() -> Path:
    """``$NOISESEARCH_CACHE/llm-grader``, else ``noisesearch/llm-grader`` in ``$XDG_CACHE_HOME``
    or ``~/.cache``."""
    if os.environ.get("NOISESEARCH_CACHE"):
        return Path(os.environ["NOISESEARCH_CACHE"]).expanduser() / "llm-grader"
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "noisesearch" / "llm-grader"


def png_bytes(image: torch.Tensor) -> bytes:
    """The image as 8-bit PNG bytes (what is sent, and what the cache is keyed by)."""
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG")
    return buffer.getvalue()


def parse_verdict(text: str) -> dict[str, float]:
    """Each aspect's score from an answer (a JSON object, possibly in a code fence; an aspect is
    ``{"score": n}`` or ``n``); ``ValueError`` when it is not one or a score is missing."""
    match = re.search(r"\{.*\}", text or "", re.DOTALL)
    if match is None:
        raise ValueError("no JSON object in the answer")
    data = json.loads(match.group(0))
    scores = {}
    for aspect in ASPECTS:
        value = data.get(aspect) if isinstance(data, dict) else None
        value = value.get("score") if isinstance(value, dict) else value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"no numeric score for {aspect!r}")
        scores[aspect] = float(value)
    return scores


class VerdictCache:
    """Verdicts on disk, one sqlite table keyed by a hash of (model, rubric, prompt, image bytes).
    Used from the calling thread only; several processes may share the file."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "verdicts.sqlite"
        with self.connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, model TEXT, verdict TEXT)")

    def connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    @staticmethod
    def key(model: str, prompt: str, png: bytes) -> str:
        parts = json.dumps([model, RUBRIC_ID, prompt]).encode() + b"\0" + png
        return hashlib.sha256(parts).hexdigest()

    def get(self, keys: list[str]) -> dict[str, dict[str, float]]:
        with self.connect() as db:
            rows = db.execute(f"SELECT key, verdict FROM verdicts WHERE key IN ({','.join('?' * len(keys))})",
                              keys).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def put(self, items: dict[str, dict[str, float]], model: str) -> None:
        with self.connect() as db:
            db.executemany("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?)",
                           [(k, model, json.dumps(v)) for k, v in items.items()])


@dataclass
class Attempts:
    """What one image's request cost."""

    verdict: dict[str, float] | None = None  # None: no well-formed answer
    requests: int = 0
    retries: int = 0  # of requests that failed (429, 5xx, timeout)
    malformed: int = 0
    seconds: float = 0.0
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})


class LLMGrader(Verifier):
    """Ma et al. 2025's grader: a multimodal LLM's 0-10 verdict on each image for its prompt."""

    name = "llm-grader"
    differentiable = False

    def __init__(self, model: str, base_url: str, aspect: str = "overall", key_env: str = "OPENAI_API_KEY",
                 cache: str | Path | None = None, workers: int | str = 8, timeout: float | str = 60,
                 retries: int | str = 4, max_tokens: int | str = 1024, temperature: float | str = 0) -> None:
        if aspect not in ASPECTS:
            raise InputError(f"llm-grader: unknown aspect {aspect!r}; valid: {', '.join(ASPECTS)}")
        if not re.match(r"https?://", base_url):
            raise InputError(f"llm-grader: the base URL must start with http:// or https://, got "
                             f"{base_url!r}; use llm-grader:MODEL@BASE_URL")
        try:
            self.workers, self.retries, self.max_tokens = int(workers), int(retries), int(max_tokens)
            self.timeout, self.temperature = float(timeout), float(temperature)
        except ValueError as exc:
            raise InputError(f"llm-grader: workers, retries and max_tokens take integers, timeout and "
                             f"temperature numbers ({exc})") from None
        if self.workers < 1 or self.retries < 0 or self.timeout <= 0:
            raise InputError("llm-grader: needs workers >= 1, retries >= 0 and timeout > 0")
        openai = require("openai", "openai", "llm-grader", install="pip install 'noisesearch[vlm]'")
        self._key = os.environ.get(key_env, "")
        if not self._key:
            raise InputError(f"llm-grader: set the environment variable {key_env} to the endpoint's API key "
                             "(a local server without keys takes any value, e.g. EMPTY)")
        self.model, self.base_url, self.aspect = model, base_url.rstrip("/"), aspect
        self.openai = openai
        self.client = openai.OpenAI(base_url=self.base_url, api_key=self._key, timeout=self.timeout,
                                    max_retries=0)  # retried here, to honour Retry-After and count
        off = cache is not None and str(cache).lower() in ("off", "none")
        self.cache = None if off else VerdictCache(Path(cache).expanduser() if cache else default_cache())
        self.scale = f"{model}'s 0-10 grade of {aspect} (Ma et al. 2025's rubric), 0 to 10"
        self._pool: ThreadPoolExecutor | None = None
        self._usage: dict[str, torch.Tensor] = {}
        self._lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0

    @classmethod
    def parse(cls, argument: str, **options: Any) -> LLMGrader:
        """The grader of ``MODEL@BASE_URL`` (the URL starts at the first ``@http``)."""
        match = re.match(r"(.+?)@(https?://.+)$", argument)
        if match is None:
            raise InputError(f"llm-grader takes MODEL@BASE_URL (e.g. llm-grader:Qwen/Qwen2.5-VL-7B-Instruct"
                             f"@http://localhost:8000/v1), got {argument!r}")
        return cls(match.group(1), match.group(2), **options)

    def redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def messages(self, prompt: str, png: bytes) -> list[dict[str, Any]]:
        url = "data:image/png;base64," + base64.b64encode(png).decode()
        return [{"role": "system", "content": RUBRIC},
                {"role": "user", "content": [{"type": "text", "text": f"Prompt: {prompt}"},
                                             {"type": "image_url", "image_url": {"url": url}}]}]

    def wait_s(self, exc: Exception, attempt: int) -> float:
        """The server's Retry-After (seconds) when it sent one, else exponential backoff."""
        response = getattr(exc, "response", None)
        header = response.headers.get("retry-after") if response is not None else None
        try:
            return max(0.0, float(header))
        except (TypeError, ValueError):
            return min(MAX_BACKOFF_S, 0.5 * 2 ** attempt)

    def request(self, prompt: str, png: bytes) -> Attempts:
        """One image's verdict: retried on transient errors and malformed answers."""
        out, failures = Attempts(), 0
        while True:
            start = time.perf_counter()
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                out.requests += 1
                response = self.client.chat.completions.create(
                    model=self.model, messages=self.messages(prompt, png), max_tokens=self.max_tokens,
                    temperature=self.temperature, response_format={"type": "json_object"})
            except (self.openai.APIConnectionError, self.openai.APIStatusError) as exc:  # timeouts too
                status = getattr(exc, "status_code", None)
                if status is not None and status not in RETRYABLE:
                    raise RunError(self.redact(f"llm-grader: {self.base_url} answered {status} for model "
                                               f"{self.model!r}: {exc}")) from None
                if failures >= self.retries:
                    what = f"HTTP {status}" if status is not None else type(exc).__name__
                    raise RunError(self.redact(f"llm-grader: {self.base_url} failed {failures + 1} times for "
                                               f"model {self.model!r} (last: {what}); check the server, or "
                                               "raise timeout= or retries=")) from None
                time.sleep(self.wait_s(exc, failures))
                failures += 1
                out.retries += 1
                continue
            finally:
                out.seconds += time.perf_counter() - start
                with self._lock:
                    self.in_flight -= 1
            usage = getattr(response, "usage", None)
            for name in out.tokens:
                out.tokens[name] += int(getattr(usage, name, 0) or 0)
            try:
                out.verdict = parse_verdict(response.choices[0].message.content or "")
                return out
            except (ValueError, IndexError, AttributeError):
                out.malformed += 1
                if out.malformed > self.retries:
                    return out

    def _score(self, images: torch.Tensor, conditions: Sequence[Any]) -> torch.Tensor:
        prompts = [str(c) for c in conditions]
        pngs = [png_bytes(image) for image in images]
        keys = [VerdictCache.key(self.model, p, png) for p, png in zip(prompts, pngs, strict=True)]
        cached = self.cache.get(keys) if self.cache is not None else {}
        todo = [i for i, k in enumerate(keys) if k not in cached]
        if todo and self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="llm-grader")
        results = dict(zip(todo, self._pool.map(lambda i: self.request(prompts[i], pngs[i]), todo)
                           if todo else [], strict=True))
        fresh = {keys[i]: r.verdict for i, r in results.items() if r.verdict is not None}
        if self.cache is not None and fresh:
            self.cache.put(fresh, self.model)
        verdicts = [cached.get(k) or fresh.get(k) for k in keys]
        scores = torch.tensor([v[self.aspect] if v is not None else float("nan") for v in verdicts])
        empty = Attempts()
        rows = [results.get(i, empty) for i in range(len(keys))]
        self._usage = {
            "cache_hits": torch.tensor([float(k in cached) for k in keys]),
            "cache_misses": torch.tensor([float(k not in cached) for k in keys]),
            "requests": torch.tensor([float(r.requests) for r in rows]),
            "retries": torch.tensor([float(r.retries) for r in rows]),
            "malformed": torch.tensor([float(r.malformed) for r in rows]),
            "request_s": torch.tensor([r.seconds for r in rows], dtype=torch.float64),
            **{name: torch.tensor([float(r.tokens[name]) for r in rows]) for name in empty.tokens},
        }
        return scores

    def take_usage(self) -> dict[str, torch.Tensor]:
        usage, self._usage = self._usage, {}
        return usage
