"""What a run is: the typed specs of a search (``RunSpec``, config.json) and of a bench
(``BenchSpec``, bench.json), with their defaults and validation in one place.

``RunSpec.resolve()`` is the one place where a search gets its defaults (the model's verifier
and judges, the sampler the algorithm needs, the budget of 16 generations when the options do
not fix the work), parses its conditions and is checked; it returns a ``Run``: the resolved
spec with its loaded process, verifier, algorithm and judges. ``RunSpec.build()`` loads the
parts of a spec resolved before (a worker's, replay's). The command line, ``search()``, the
workers, ``replay`` and the bench all go through it, so they share their defaults.

A config.json of any version loads (``RunSpec.from_json``): one written before 0.2.0 has no
``noise`` key and is read as it ran, with keyed-noise scheme 1 (``noise.py``) and the
``legacy`` values of algorithm options added since (``Algorithm.legacy``).

Errors name the options (`budget`, `conditions`, ...) in backticks; the command line shows
its flags instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .algorithms import ALGORITHMS, Algorithm, SearchResult, load_algorithm, parse_options
from .catalogue import (
    DEFAULT_JUDGES,
    MODELS,
    VERIFIERS,
    bind,
    load_judge,
    load_process,
    load_suite,
    load_verifier,
    model_entry,
)
from .errors import InputError, unknown
from .judges import Judge, SetJudge
from .judging import judge_winners
from .noise import NOISE_SCHEME, SCHEMES

if TYPE_CHECKING:
    from .processes import DenoisingProcess
    from .verifiers import Verifier

# what decides a search's results: a run folder is resumed only when these agree
RESULT_FIELDS = ("model", "process", "verifier", "algorithm", "options", "budget", "seed", "conditions",
                 "judges", "noise")


def upgrade(config: dict[str, Any]) -> dict[str, Any]:
    """A config.json (or bench.json) of any version as this version writes it: one written
    before 0.2.0 (no ``noise`` key) ran keyed-noise scheme 1 and, for options added since, the
    values of its algorithm's ``legacy``."""
    if "noise" in config:
        return config
    options = config.get("options")
    if isinstance(options, dict):
        options = {**legacy_options(config.get("algorithm")), **options}
    return {**config, "noise": 1, **({"options": options} if "options" in config else {})}


def check_noise(scheme: Any) -> None:
    if scheme not in SCHEMES:
        raise InputError(f"unknown noise scheme `noise={scheme}`; valid: {', '.join(map(str, SCHEMES))}")


def devices() -> list[str]:
    """The devices this machine offers: cpu, cuda and cuda:N per GPU, mps."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += ["cuda", *(f"cuda:{k}" for k in range(torch.cuda.device_count()))]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def check_device(device: str) -> None:
    """``InputError`` unless ``device`` names a device of this machine."""
    valid = devices()
    if device not in valid:
        raise InputError(f"`device={device}` is not available here; valid: {', '.join(valid)}")


def check_numbers(options: dict[str, Any], infinite: bool = False) -> None:
    """``InputError`` for an option that is NaN, or infinite unless ``infinite`` (an algorithm's
    window may be unbounded: its own checks bound the rest)."""
    for name, value in options.items():
        if isinstance(value, float) and (math.isnan(value) or (not infinite and math.isinf(value))):
            valid = "a number" if infinite else "a finite number"
            raise InputError(f"`{name}={value}` is not {valid}; valid: {valid}")


def legacy_options(algorithm: Any) -> dict[str, Any]:
    """The options that reproduce a run of ``algorithm`` (a name) written by 0.1.0."""
    cls = ALGORITHMS.get(algorithm) if isinstance(algorithm, str) else None
    return dict(cls.legacy) if cls is not None else {}


def method_parts(method: str) -> tuple[str, dict[str, Any]]:
    """A bench method, an algorithm's name with options after ``;`` (``random;allocate=halving``,
    ``smc;k=8``), as (name, typed options); ``InputError`` for an unknown name or option."""
    name, *pairs = [part.strip() for part in method.split(";")]
    if name not in ALGORITHMS:
        raise unknown("algorithm", name, ALGORITHMS)
    return name, parse_options(ALGORITHMS[name], [p for p in pairs if p])


@dataclass
class RunSpec:
    """A search: config.json holds it (resolved), with its keys in this order."""

    model: str  # a process name, or name:argument (``sd:DIR``)
    process: dict[str, Any] = field(default_factory=dict)  # the process's options (steps, sampler, ...)
    verifier: str | None = None  # default: the model's; None in a resolved spec: a Python callable
    algorithm: str = "random"
    options: dict[str, Any] = field(default_factory=dict)  # the algorithm's
    budget: int | None = None  # NFEs per condition; default: ``algorithm.default_budget(process)``
    seed: int = 0
    conditions: list[Any] = field(default_factory=list)
    judges: list[str] | None = None  # default: the model's
    device: str = "cpu"
    noise: int = NOISE_SCHEME  # the keyed-noise scheme (noise.py); 1 in a config.json of 0.1.0

    def to_json(self) -> dict[str, Any]:
        return {"command": "search", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSpec:
        """The spec in a config.json of any version (``upgrade``; other keys it lacks take their
        defaults)."""
        data = upgrade(data)
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def differences(self, held: dict[str, Any]) -> list[str]:
        """The fields deciding results in which the spec ``held`` (a config.json) differs from this one."""
        held, mine = upgrade(held), self.to_json()
        return [k for k in RESULT_FIELDS if comparable(held, k) != comparable(mine, k)]

    def continuing(self, held: dict[str, Any]) -> RunSpec:
        """This spec as the continuation of the run in ``held`` (its config.json), when nothing
        here names a noise scheme (the command line's ``--resume``): with the run's scheme and,
        for a run written before 0.2.0, the ``legacy`` values of the options not given here."""
        if "noise" in held:
            return replace(self, noise=held["noise"])
        return replace(self, noise=1, options={**legacy_options(self.algorithm), **self.options})

    def resolve(self, process: DenoisingProcess | None = None, verifier: Verifier | None = None,
                algorithm: Algorithm | None = None, judges: Sequence[Judge | SetJudge] | None = None) -> Run:
        """The spec with every default applied, its conditions parsed, checked, and its parts loaded;
        ``InputError`` for anything that cannot run, before anything is computed.

        Parts passed in are used instead of loading the ones the spec names.
        """
        if process is None:
            model_entry(self.model)  # an unknown model is named before anything is loaded
        check_noise(self.noise)
        check_device(self.device)
        check_numbers(self.process)
        check_numbers(self.options, infinite=True)
        algorithm = load_algorithm(self.algorithm if algorithm is None else algorithm, **self.options)
        verifier_name = self.verifier
        if verifier is None:
            verifier_name = verifier_name or model_entry(self.model)[2]["verifier"]
            verifier = load_verifier(verifier_name, device=self.device)
        if process is None:
            options = dict(self.process)
            if options.get("sampler") is None and algorithm.sampler is not None:
                options["sampler"] = algorithm.sampler
            process = load_process(self.model, device=self.device, **options)
        verifier = bind(verifier, process)
        name = self.model.partition(":")[0]
        if not self.conditions:
            about = f" (model {self.model!r}: {MODELS[name]['summary']})" if name in MODELS else ""
            raise InputError(f"no condition given; pass `conditions`{about}")
        conditions = [process.parse_condition(c) for c in self.conditions]
        for c in conditions:  # a verifier that reads conditions itself (classifier:) checks them now
            getattr(verifier, "target", lambda c: c)(c)
        budget = self.budget if self.budget is not None else algorithm.default_budget(process)
        if algorithm.needs_gradients and not verifier.differentiable:  # name the verifiers that are
            names = [n for n, entry in VERIFIERS.items() if entry.get("differentiable")]
            raise InputError(f"{algorithm.name} needs a differentiable verifier; {verifier.name!r} is not; "
                             f"valid: {', '.join(names)} or a callable marked differentiable")
        algorithm.check(process, verifier=verifier, budget=budget)
        if judges is None:
            judge_names = list(self.judges) if self.judges is not None else DEFAULT_JUDGES.get(name, [])
            judges = [load_judge(j) for j in judge_names]
        else:
            judge_names = [j.name for j in judges]
        spec = replace(self, process=process.options(), verifier=verifier_name, algorithm=algorithm.name,
                       options=algorithm.options(), budget=budget, conditions=conditions, judges=judge_names)
        return Run.of(spec, process, verifier, algorithm, judges)

    def build(self) -> Run:
        """The parts of a resolved spec, loaded as it names them (no defaults, no checks)."""
        process = load_process(self.model, device=self.device, **self.process)
        verifier = bind(load_verifier(self.verifier, device=self.device), process)
        algorithm = load_algorithm(self.algorithm, **self.options)
        return Run.of(self, process, verifier, algorithm, [load_judge(j) for j in self.judges or []])


def comparable(config: dict[str, Any], key: str) -> Any:
    value = json.loads(json.dumps(config.get(key)))
    if key == "options" and isinstance(value, dict):
        value.pop("max_batch", None)  # memory only: results do not depend on it
    return value


@dataclass
class Run:
    """A resolved spec and its loaded parts."""

    spec: RunSpec
    process: DenoisingProcess
    verifier: Verifier
    algorithm: Algorithm
    judges: list[Judge]  # judged per winner
    set_judges: list[SetJudge]  # judged on all winners together

    @classmethod
    def of(cls, spec: RunSpec, process: DenoisingProcess, verifier: Verifier, algorithm: Algorithm,
           judges: Sequence[Judge | SetJudge]) -> Run:
        return cls(spec, process, verifier, algorithm, [j for j in judges if not isinstance(j, SetJudge)],
                   [j for j in judges if isinstance(j, SetJudge)])

    def search(self, conditions: Sequence[Any] | None = None, problem_ids: Sequence[int] | None = None,
               progress: bool = False, judge_set: bool = True) -> SearchResult:
        """Search ``conditions`` (default: the spec's) and judge the winners (the set judges too,
        unless ``judge_set`` is False: then the caller judges the whole set)."""
        conditions = self.spec.conditions if conditions is None else conditions
        result = self.algorithm.run(self.process, self.verifier, conditions, budget=self.spec.budget,
                                    seed=self.spec.seed, problem_ids=problem_ids, progress=progress,
                                    noise=self.spec.noise)
        judge_winners(result, [*self.judges, *(self.set_judges if judge_set else [])])
        return result


@dataclass
class BenchSpec:
    """A bench: everything that decides its results (bench.json holds it, resolved); a folder
    is resumed only with the same spec."""

    suite: str
    algorithms: list[str]
    budgets: list[int]  # in generations of the suite's process
    verifiers: list[str] | None = None  # default: the suite's
    judges: list[str] | None = None  # default: the suite's
    limit: int | None = None  # only the suite's first conditions
    seed: int = 0
    process: dict[str, Any] = field(default_factory=dict)  # the suite's process options, overridden
    noise: int = NOISE_SCHEME  # the keyed-noise scheme (noise.py); 1 in a bench.json of 0.1.0

    def resolve(self) -> BenchSpec:
        """The spec with the suite's defaults applied and every name checked; ``InputError`` otherwise."""
        suite = load_suite(self.suite)
        for method in self.algorithms:
            name, options = method_parts(method)
            load_algorithm(name, **options)  # options that cannot go together are named now
        if not self.algorithms:
            raise InputError(f"no algorithm given; valid: {', '.join(ALGORITHMS)}")
        if not self.budgets or any(b < 1 for b in self.budgets):
            raise InputError(f"budgets are whole generations >= 1, got {self.budgets}")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"`limit` must be >= 1, got {self.limit}")
        check_noise(self.noise)
        check_numbers(self.process)
        options = {**suite.process, **{k: v for k, v in self.process.items() if v is not None}}
        spec = BenchSpec(self.suite, list(self.algorithms), sorted(set(self.budgets)),
                         list(self.verifiers or [suite.verifier]),
                         list(suite.judges if self.judges is None else self.judges), self.limit, self.seed,
                         options, self.noise)
        for name in spec.verifiers:
            load_verifier(name)
        for name in spec.judges:
            load_judge(name)
        load_process(suite.model, **options)
        return spec

    def differences(self, held: dict[str, Any]) -> list[str]:
        """The fields in which the spec ``held`` (a bench.json) differs from this one."""
        held, wanted = upgrade(held), asdict(self)
        return sorted(k for k in wanted if held.get(k) != wanted[k])

    def options(self, algorithm: str, options: dict[str, Any]) -> dict[str, Any]:
        """A cell's algorithm options: a bench begun by 0.1.0 (scheme 1) takes the ``legacy``
        values of the options not given."""
        return {**legacy_options(algorithm), **options} if self.noise == 1 else dict(options)

    def run_spec(self, verifier: str, algorithm: str, options: dict[str, Any], budget: int | None = None,
                 device: str = "cpu") -> RunSpec:
        """The search of one cell over every condition."""
        return RunSpec(load_suite(self.suite).model, dict(self.process), verifier, algorithm,
                       self.options(algorithm, options), budget, self.seed, self.conditions(),
                       list(self.judges or []), device, self.noise)

    def command(self, out: Path | str) -> str:
        """The ``noisesearch bench`` command line that runs (or resumes) this bench."""
        suite = load_suite(self.suite)
        parts = ["noisesearch bench", f"--suite {self.suite}", f"--algorithms {','.join(self.algorithms)}",
                 f"--budgets {','.join(map(str, self.budgets))}",
                 f"--verifier {','.join(self.verifiers or [])}",
                 f"--judges {','.join(self.judges)}" if self.judges else "--judges ''"]
        if self.limit is not None:
            parts.append(f"--limit {self.limit}")
        parts += [f"--{k} {v}" for k, v in self.process.items() if k in ("steps", "sampler", "guidance")
                  and suite.process.get(k) != v]
        if self.seed:
            parts.append(f"--seed {self.seed}")
        return " ".join([*parts, f"--out {out}"])

    def conditions(self) -> list[Any]:
        conditions = load_suite(self.suite).conditions
        return conditions[:self.limit] if self.limit is not None else list(conditions)
