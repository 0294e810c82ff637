"""Spectral Evolution Search over the initial noise (SES; "Spectral Evolution Search: Efficient
Inference-Time Scaling for Reward-Aligned Image Generation", ICML 2026, arXiv 2602.03208).

The sample is decided mostly by the low frequencies of the initial noise, so SES searches
those alone, with the cross-entropy method (CEM), and keeps the high frequencies fixed:

1. Per condition, a base noise x_T ~ N(0, I) (key ``"ses-base"``) is split by a discrete
   wavelet transform (``pywt.wavedecn``, ``level`` levels) into its low band (the
   approximation coefficients) and its high bands (the details), which stay fixed.
2. The low band has a Gaussian N(mu, diag(sigma^2)), mu = 0 and sigma = 1 at the start.
3. Each iteration draws ``population`` low bands c = mu + sigma * eps, rebuilds each noise
   by the inverse transform from c and the base's high bands, generates and scores it.
4. The elites, the best ``round(elite_fraction * population)`` (at least 1) candidates of
   every iteration so far (not of the last population alone, as in textbook CEM), refit mu
   to their mean and sigma^2 to their unbiased variance plus 1e-7 (one elite: sigma stays).
5. Repeat from 3; the result is the best candidate seen over all iterations.

The steps and defaults (population 10, 5 elites, the Haar wavelet ``db1``, 4 levels, mu = 0
and sigma^2 = 1 at the start, the elites drawn from every candidate so far, the 1e-7
variance floor, the best candidate as the result) follow the authors' implementation,
``ses_search`` in DiffSynth-Studio (``diffsynth/utils/ses``), whose pipelines score 50
candidates per image on 10-step previews by default (``enable_ses=True``). Here candidates
are scored on cheap previews with ``search_steps`` (the winner is then regenerated at full
steps; None: the process's own steps, since step counts differ between processes).

Deviations, each for a reason:

- The transform is periodic (``mode="periodization"``, the authors' code uses ``symmetric``;
  both give the same coefficients for the Haar wavelet on even sizes) and ``level`` is
  lowered to as many halvings as every transformed axis takes evenly: then the transform is
  orthogonal for any orthogonal wavelet, so the low band of x ~ N(0, I) is itself N(0, I),
  independent of the high bands. eps is therefore the low band of a keyed N(0, I) draw (the
  candidate's own trajectory's x_T), and every candidate of the first iteration is exactly
  an N(0, I) noise. Later ones follow the searched Gaussian, as in the paper (no
  renormalisation: it would change the distribution CEM fits).
- The transformed axes are the last two of a sample of three or more dimensions (channels,
  [frames,] height, width: each channel's plane, ``wavedec2`` per channel), the first of a
  two-dimensional one (packed latents: positions, channels; FLUX's positions are patches in
  raster order, so its low band mixes neighbours along rows only) and the only axis of a
  vector (the analytic mixtures). Level 4 suits the paper's latents (64 to 128 wide: a 4x4
  to 8x8 low band); a 16x16 sample keeps one coefficient, so small processes want fewer.
- On a stochastic sampler a candidate's step noises are those of its own keyed trajectory
  ``("ses", iteration, member)``, as random search keys its candidates'; only x_T is searched.
- The budget (NFEs per condition) decides the number of iterations when ``iterations`` is
  None; a last iteration the budget cannot fully pay scores as many candidates as it can.
  ``extra`` keeps each condition's final mu and sigma.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..lazy import torch
from ..noise import Noises
from .base import InitialNoiseSearch, Plan

if TYPE_CHECKING:
    from .context import SearchContext

MODE = "periodization"  # pywt's periodic extension: orthogonal when every axis halves evenly
VARIANCE_FLOOR = 1e-7  # added to the elites' variance (the authors' code)

# the high bands of a batch of noises: pywt's detail dictionaries, coarsest first
Details = list[dict[str, Any]]


def spatial_axes(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The axes of a sample of ``shape`` the transform runs over, counted from the end."""
    if len(shape) == 1:
        return (-1,)
    if len(shape) == 2:
        return (-2,)
    return (-2, -1)


def fitting_level(shape: tuple[int, ...], level: int) -> int:
    """``level``, or fewer: as many halvings as every transformed axis of ``shape`` takes evenly."""
    sizes = [shape[axis] for axis in spatial_axes(shape)]
    return min(level, *((n & -n).bit_length() - 1 for n in sizes))


def dwt(x: torch.Tensor, wavelet: str, level: int) -> tuple[torch.Tensor, Details]:
    """Rows ``x`` (B, *shape) split into their low band (float64 on the CPU) and high bands."""
    import pywt

    array = x.detach().to("cpu", torch.float64).numpy()
    with warnings.catch_warnings():  # a short filter's "boundary effects": periodic, so exact
        warnings.filterwarnings("ignore", message="Level value", category=UserWarning)
        low, *high = pywt.wavedecn(array, wavelet, mode=MODE, level=level, axes=spatial_axes(x.shape[1:]))
    return torch.from_numpy(low), high


def idwt(low: torch.Tensor, high: Details, wavelet: str, like: torch.Tensor) -> torch.Tensor:
    """The rows rebuilt from their low and high bands, in the dtype and on the device of ``like``."""
    import pywt

    array = pywt.waverecn([low.numpy(), *high], wavelet, mode=MODE, axes=spatial_axes(like.shape[1:]))
    return torch.from_numpy(array).to(like.device, like.dtype)


def select_details(high: Details, rows: list[int]) -> Details:
    """The high bands of rows ``rows``."""
    return [{name: band[rows] for name, band in level.items()} for level in high]


def check_wavelet(wavelet: str) -> None:
    """``InputError`` unless ``wavelet`` names an orthogonal discrete wavelet of PyWavelets."""
    import pywt

    if wavelet not in pywt.wavelist(kind="discrete") or not pywt.Wavelet(wavelet).orthogonal:
        raise InputError(f"wavelet {wavelet!r} is not an orthogonal discrete wavelet; valid: db1 (Haar) to "
                         "db38, sym2 to sym20, coif1 to coif17")


@dataclass
class SES(InitialNoiseSearch):
    """CEM over the low-frequency wavelet band of the initial noise, high bands fixed."""

    name = "ses"
    summary = "spectral evolution search: CEM over the noise's low wavelet band (arXiv 2602.03208)"
    rounds = True
    population: int = 10  # candidates per iteration
    elite_fraction: float = 0.5  # share of the population kept as elites (5 of 10)
    iterations: int | None = None  # default: as many as the budget pays for
    wavelet: str = "db1"  # an orthogonal PyWavelets wavelet (db1: Haar)
    level: int = 4  # decomposition levels (fewer where the noise's size does not halve evenly)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.population < 1:
            raise InputError(f"population must be >= 1, got {self.population}")
        if not 0 < self.elite_fraction <= 1:
            raise InputError(f"elite_fraction must be in (0, 1], got {self.elite_fraction}")
        if self.iterations is not None and self.iterations < 1:
            raise InputError(f"iterations must be >= 1 or None, got {self.iterations}")
        if self.level < 1:
            raise InputError(f"level must be >= 1, got {self.level}")
        check_wavelet(self.wavelet)

    @property
    def elites(self) -> int:
        """How many candidates the Gaussian is refitted to."""
        return max(1, int(self.elite_fraction * self.population + 0.5))

    def plan(self, process, budget):
        return self.iterations_plan(process, budget, self.iterations and self.iterations * self.population)

    def round_nfe(self, process):
        return self.population * self.search_process(process).generation_nfe

    def search(self, ctx: SearchContext, plan: Plan) -> dict[str, torch.Tensor]:
        cost = ctx.process.generation_nfe
        level = fitting_level(ctx.process.sample_shape, self.level)
        base = ctx.noise.initial([(p, ("ses-base",)) for p in range(ctx.n_problems)])
        base_low, base_high = dwt(base, self.wavelet, level)
        mean, std = torch.zeros_like(base_low), torch.ones_like(base_low)
        elites: list[list[tuple[float, torch.Tensor]]] = [[] for _ in range(ctx.n_problems)]
        iteration = 0
        while self.iterations is None or iteration < self.iterations:
            # (problem, member): as many members as each problem may pay for
            affordable = ctx.affordable(cost, limit=self.population)
            rows = [(p, j) for p, units in affordable.items() for j in range(units)]
            if not rows:
                break
            noises, lows = self.candidates(ctx, base_high, mean, std, rows, iteration, level)
            problems = torch.tensor([p for p, _ in rows])
            images, scores = ctx.generate(noises, problems)
            ctx.offer(problems, scores, images, noises,
                      [{"iteration": iteration, "member": j} for _, j in rows])
            self.refit(mean, std, elites, lows, scores, [p for p, _ in rows])
            iteration += 1
        return {"mean": mean, "std": std}

    def candidates(self, ctx: SearchContext, base_high: Details, mean: torch.Tensor, std: torch.Tensor,
                   rows: list[tuple[int, int]], iteration: int, level: int) -> tuple[Noises, torch.Tensor]:
        """The rows' noises, x_T rebuilt from a low band mu + sigma eps and the base's high
        bands, and their low bands; eps is the low band of the row's own keyed x_T."""
        noises, _ = ctx.noise.trajectories([(p, ("ses", iteration, j)) for p, j in rows])
        eps, _ = dwt(noises["x_T"], self.wavelet, level)
        problems = [p for p, _ in rows]
        lows = mean[problems] + std[problems] * eps
        noises["x_T"] = idwt(lows, select_details(base_high, problems), self.wavelet, noises["x_T"])
        return noises, lows

    def refit(self, mean: torch.Tensor, std: torch.Tensor, elites: list[list[tuple[float, torch.Tensor]]],
              lows: torch.Tensor, scores: torch.Tensor, problems: list[int]) -> None:
        """Each problem's elites <- its best candidates so far; mu, sigma <- their mean and
        standard deviation (unbiased variance plus the floor; one elite keeps sigma)."""
        for p in sorted(set(problems)):
            scored = [(float(scores[row]), lows[row]) for row, q in enumerate(problems) if q == p]
            # ties: the earlier candidate ranks first (the sort is stable)
            elites[p] = sorted(elites[p] + scored, key=lambda e: -e[0])[:self.elites]
            kept = torch.stack([low for _, low in elites[p]])
            mean[p] = kept.mean(0)
            if len(kept) > 1:
                std[p] = (kept.var(0, unbiased=True) + VARIANCE_FLOOR).sqrt()
