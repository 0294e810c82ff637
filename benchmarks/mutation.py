"""Mutation score of the search algorithms: do the tests notice a broken algorithm?

Runs mutmut (configured in pyproject.toml's ``[tool.mutmut]``: every module of
``src/noisesearch/algorithms/`` is mutated, and each mutant is run against the fast tests
that exercise it), then writes ``docs/mutation.md``: per module, the mutants killed, the
survivors, the survivors judged equivalent (with the reason: listed one by one in
``benchmarks/mutation_equivalents.txt``, or by one of the three classes in ``rule``) and the
score

    killed / (killed + surviving mutants that are not equivalent),

timeouts counted as killed (the mutant broke the algorithm badly enough to hang it) and
mutants no test reaches counted as survivors. Too slow for the test suite (tens of
minutes on two cores); results are cached in ``mutants/``, so a rerun checks only what
changed.

    python benchmarks/mutation.py [--max-children 2] [--no-run]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "benchmarks" / "mutation_equivalents.txt"
REPORT = ROOT / "docs" / "mutation.md"
KILLED = {"killed", "timeout"}
SURVIVED = {"survived", "no tests"}


def mutmut() -> list[str]:
    return [str(Path(sys.executable).with_name("mutmut"))]


def equivalents() -> dict[str, str]:
    """Mutant name -> why it cannot change what the algorithm computes."""
    out = {}
    for line in EQUIVALENTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            out[name] = reason.strip()
    return out


def change(name: str) -> tuple[str, str]:
    """The mutated line of ``name``: (original, mutant), stripped."""
    shown = subprocess.run([*mutmut(), "show", name], cwd=ROOT, capture_output=True, text=True).stdout
    lines = shown.splitlines()
    old = [line[1:].strip() for line in lines if line.startswith("-") and not line.startswith("---")]
    new = [line[1:].strip() for line in lines if line.startswith("+") and not line.startswith("+++")]
    return " ".join(old), " ".join(new)


STRICT = re.compile(r",?\s*strict=(True|False|None)")
STRING = re.compile(r'"[^"]*"')
NOISE_KEY = re.compile(r"noise\.(steps|states|uniform|initial|trajectories)\(|slotted\(|draws = \[")


def rule(old: str, new: str) -> str | None:
    """Why a mutated line cannot change what is computed, for the classes of mutant that never
    can; None for any other."""
    if old != new and STRICT.sub("", old).replace(", )", ")") == STRICT.sub("", new).replace(", )", ")"):
        return "zip's `strict=` only matters for sequences of unequal length; these are equal by construction"
    if re.sub(r'float\("(inf|nan)"\)', "", old, flags=re.I) == re.sub(r'float\("(inf|nan)"\)', "", new,
                                                                         flags=re.I) and old != new:
        return "float() reads 'inf' and 'nan' in any case"
    if NOISE_KEY.search(old) and STRING.sub('""', old) == STRING.sub('""', new) and old != new:
        return ("renames the purpose in a noise key: other, equally distributed draws (keys stay distinct); "
                "what a purpose is called is not part of the algorithm")
    return None


def statuses() -> dict[str, str]:
    listing = subprocess.run([*mutmut(), "results", "--all", "true"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    out = {}
    for line in listing.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name.startswith("noisesearch."):
            out[name] = status
    return out


def module_of(name: str) -> str:
    return name.split(".x")[0].removeprefix("noisesearch.algorithms.")


def report(found: dict[str, str], known: dict[str, str], command: str) -> str:
    per_module: dict[str, Counter] = defaultdict(Counter)
    kept, open_survivors = [], []
    for name, status in sorted(found.items()):
        counts = per_module[module_of(name)]
        if status in KILLED:
            counts["killed"] += 1
        elif status in SURVIVED and name in known:
            counts["equivalent"] += 1
            kept.append((name, known[name]))
        elif status in SURVIVED:
            counts["survived"] += 1
            open_survivors.append(name)
        else:
            counts[status] += 1
    total = Counter()
    for counts in per_module.values():
        total.update(counts)

    def score(c: Counter) -> str:
        judged = c["killed"] + c["survived"]
        return f"{c['killed'] / judged:.1%}" if judged else "-"

    lines = ["# Mutation score of `src/noisesearch/algorithms/`", "",
             f"`{command}` ({datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores). "
             "Every mutant of the algorithms' code is run against the tests that exercise it "
             "(pyproject.toml, `[tool.mutmut]`). Score = killed / (killed + surviving mutants "
             "that are not equivalent); timeouts count as killed, mutants no test reaches as "
             "survivors.", "",
             "| module | killed | survived | equivalent | other | score |", "|---|---|---|---|---|---|"]
    for module, c in sorted(per_module.items()):
        other = sum(v for k, v in c.items() if k not in ("killed", "survived", "equivalent"))
        lines.append(f"| {module} | {c['killed']} | {c['survived']} | {c['equivalent']} | {other} "
                     f"| {score(c)} |")
    other = sum(v for k, v in total.items() if k not in ("killed", "survived", "equivalent"))
    others = ", ".join(f"{n} {status}" for status, n in sorted(total.items())
                       if status not in ("killed", "survived", "equivalent"))
    lines += [f"| **all** | {total['killed']} | {total['survived']} | {total['equivalent']} | {other} | "
              f"**{score(total)}** |", "",
              f"`other`: {others or 'none'}. The score is over the mutants that were run; a mutant "
              "`not checked` has not been run yet (`python benchmarks/mutation.py` continues where "
              "the last run stopped).", "",
              "## Survivors kept as equivalent", "",
              "Each changes nothing an algorithm computes (`mutmut show NAME` prints the change).", ""]
    lines += [f"- `{name}`: {reason}" for name, reason in kept] or ["(none)"]
    lines += ["", "## Survivors not (yet) killed", ""]
    lines += [f"- `{name}`" for name in open_survivors] or ["(none)"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-run", action="store_true",
                        help="only rewrite the report from the cached results")
    args = parser.parse_args()
    command = "python benchmarks/mutation.py"
    if not args.no_run:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        subprocess.run([*mutmut(), "run", "--max-children", str(args.max_children)], cwd=ROOT, env=env,
                       check=False)
    found = statuses()
    known = equivalents()
    for name, status in found.items():  # classes of mutant that cannot change a result
        if status in SURVIVED and name not in known and (reason := rule(*change(name))):
            known[name] = reason
    text = report(found, known, command)
    REPORT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
