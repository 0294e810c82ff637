"""The command line: ``noisesearch search | bench | replay | list``.

Bad input exits with code 2 and one line naming the problem and the valid choices; a
failure while computing exits with code 1 after the results already computed are on disk.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .algorithms import ALGORITHMS, load_algorithm, parse_options
from .algorithms.base import option_fields
from .errors import InputError, RunError, unknown
from .judges import DEFAULT_JUDGES, JUDGES, SetJudge, load_judge
from .processes import PROCESSES, load_process
from .runs import prepare_folder, write_config, write_overview, write_problems
from .search import judge_set
from .search import search as run_search
from .verifiers import VERIFIERS, load_verifier

DEFAULT_GENERATIONS = 16  # budget when neither --budget nor n is given


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Inference-time scaling for diffusion models: search over noise, guided by verifiers."""


def split_conditions(prompt: str | None, condition: tuple[str, ...]) -> list[str]:
    values = [] if prompt is None else [prompt]
    for c in condition:
        values += [part for part in c.split(",") if part.strip()]
    return values


def default_out(model: str, algorithm: str, seed: int) -> Path:
    base = Path("runs") / f"{model}-{algorithm}-s{seed}"
    out, k = base, 1
    while out.exists():
        k += 1
        out = Path(f"{base}-{k}")
    return out


@cli.command()
@click.argument("prompt", required=False)
@click.option("--model", default="shapes", show_default=True, help="process name (see 'list')")
@click.option("--condition", "-c", multiple=True,
              help="condition(s): a class, a prompt; repeat or comma-separate")
@click.option("--verifier", default=None, help="verifier name[:argument] [default: the model's]")
@click.option("--algorithm", default="random", show_default=True, help="search algorithm")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="algorithm option, repeatable")
@click.option("--budget", type=int, default=None, help="NFEs per condition [default: 16 generations]")
@click.option("--steps", type=int, default=None, help="sampling steps [default: the model's]")
@click.option("--sampler", default=None, help="ode | sde [default: the model's]")
@click.option("--guidance", type=float, default=None, help="classifier-free guidance weight")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--judge", "judges", multiple=True, help="held-out judge(s) [default: the model's]")
@click.option("--max-batch", type=int, default=None, help="rows per model call (memory only)")
@click.option("--block", type=int, default=64, show_default=True,
              help="conditions searched together; results are written after each block")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="run folder [default: runs/...]")
@click.option("--progress/--no-progress", default=True, show_default=True)
def search(prompt, model, condition, verifier, algorithm, sets, budget, steps, sampler, guidance,
           seed, judges, max_batch, block, out, progress) -> None:
    """Search for the noise that the verifier scores highest, per condition."""
    # everything is validated before anything is written
    if model not in PROCESSES:
        raise unknown("model", model, PROCESSES)
    if algorithm not in ALGORITHMS:
        raise unknown("algorithm", algorithm, ALGORITHMS)
    verifier = verifier or PROCESSES[model]["verifier"]
    verifier_obj = load_verifier(verifier)
    options = parse_options(ALGORITHMS[algorithm], sets)
    if max_batch is not None:
        options["max_batch"] = max_batch
    algo = load_algorithm(algorithm, **options)
    process_options = {"steps": steps, "sampler": sampler, "guidance": guidance}
    process = load_process(model, **process_options)
    values = split_conditions(prompt, condition)
    if not values:
        raise InputError(f"no condition given; pass PROMPT or --condition (model {model!r}: "
                         f"{PROCESSES[model]['summary']})")
    conditions = [process.parse_condition(v) for v in values]
    if budget is None and algo.needs_budget():
        budget = DEFAULT_GENERATIONS * process.generation_nfe
    algo.check(process, budget, verifier_obj)
    judge_names = list(judges) if judges else DEFAULT_JUDGES.get(model, [])
    judge_objs = [load_judge(j) for j in judge_names]
    sample_judges = [j for j in judge_objs if not isinstance(j, SetJudge)]
    set_judges = [j for j in judge_objs if isinstance(j, SetJudge)]  # judged once, on all winners
    if block < 1:
        raise InputError(f"--block must be >= 1, got {block}")
    out = out if out is not None else default_out(model, algorithm, seed)
    prepare_folder(out)

    write_config(out, {
        "command": "search", "model": model, "process": process.options(), "verifier": verifier,
        "algorithm": algorithm, "options": algo.options(), "budget": budget, "seed": seed,
        "conditions": conditions, "judges": judge_names, "block": block,
    })
    finished = []
    for start in range(0, len(conditions), block):
        part = conditions[start:start + block]
        result = run_search(process, verifier_obj, part, algorithm=algo, budget=budget, seed=seed,
                            judges=sample_judges, problem_ids=range(start, start + len(part)),
                            progress=progress)
        write_problems(out, result.problems)
        finished += result.problems
    write_overview(out, finished, title=f"{model}, {algorithm}, verifier {verifier}")
    metrics = judge_set(finished, set_judges)
    if metrics:
        (out / "set_judges.json").write_text(json.dumps(metrics, indent=2) + "\n")
        for name, values in metrics.items():
            click.echo(f"{name} on all {len(finished)} winners: "
                       + ", ".join(f"{k} {v:.3f}" for k, v in values.items()))
    for p in finished[:10]:
        judged = "  ".join(f"{j}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items())
                           for j, m in p.judges.items())
        click.echo(f"condition {p.condition}: best {p.best_score:.4f}  nfe {p.nfe}  {judged}")
    if len(finished) > 10:
        click.echo(f"... {len(finished) - 10} more in results.jsonl")
    click.echo(f"wrote {out}")


def split_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_budgets(value: str) -> list[int]:
    try:
        return [int(part) for part in split_list(value)]
    except ValueError:
        raise InputError("--budgets takes whole generations separated by commas, e.g. 1,2,4; "
                         f"got {value!r}") from None


@cli.command()
@click.option("--suite", default="digits", show_default=True, help="conditions and process (see 'list')")
@click.option("--algorithms", default="random,zero-order,paths,eps-greedy,beam,smc", show_default=True,
              help="comma-separated algorithm names")
@click.option("--budgets", default="1,2,4,8,16,32", show_default=True,
              help="comma-separated budgets in generations' worth of NFEs")
@click.option("--verifier", "verifiers", default=None,
              help="search verifier(s), comma-separated; several give the hacking matrix "
                   "[default: the suite's]")
@click.option("--judges", default=None, help="held-out judges, comma-separated [default: the suite's]")
@click.option("--limit", type=int, default=None, help="only the suite's first N conditions")
@click.option("--steps", type=int, default=None, help="sampling steps [default: the suite's]")
@click.option("--sampler", default=None, help="ode | sde [default: the suite's]")
@click.option("--guidance", type=float, default=None, help="guidance weight [default: the suite's]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-batch", type=int, default=512, show_default=True,
              help="rows per model call (memory only)")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="bench folder; rerunning with the same arguments resumes it")
@click.option("--progress/--no-progress", default=True, show_default=True)
def bench(suite, algorithms, budgets, verifiers, judges, limit, steps, sampler, guidance, seed, max_batch,
          out, progress) -> None:
    """Sweep algorithms x budgets x verifiers over a suite; judge, tabulate, plot and report."""
    from .bench import resolve, run_bench

    config = resolve(suite, split_list(algorithms), parse_budgets(budgets),
                     split_list(verifiers), split_list(judges), limit, seed,
                     {"steps": steps, "sampler": sampler, "guidance": guidance})
    if max_batch < 1:
        raise InputError(f"--max-batch must be >= 1, got {max_batch}")
    records = run_bench(config, out, max_batch=max_batch, progress=progress)
    skipped = [r for r in records if r["status"] != "done"]
    click.echo(f"{len(records)} cells ({len(skipped)} did not fit their budget); wrote {out}/summary.md, "
               f"results.csv, scaling.png, report.html")


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
def replay(folder: Path) -> None:
    """Regenerate each winner from its saved noises and check its score and image."""
    from .replay import replay as replay_run

    results = replay_run(folder)
    for r in results:
        image = {None: "", True: ", image identical", False: ", IMAGE DIFFERS"}[r.image_identical]
        verdict = "reproduced" if r.ok else "MISMATCH"
        click.echo(f"condition {r.condition}: score {r.score!r} (recorded {r.recorded!r}){image}: {verdict}")
    if not all(r.ok for r in results):
        raise RunError(f"{sum(not r.ok for r in results)} of {len(results)} winners did not reproduce")
    click.echo(f"all {len(results)} winners reproduced exactly")


@cli.command(name="list")
def list_() -> None:
    """Models, samplers, verifiers, judges and algorithms, with their options."""
    click.echo("models (--model; samplers: ode = DDIM eta=0, sde = DDIM eta=1):")
    for name, entry in PROCESSES.items():
        opts = ", ".join(f"{k}={v}" for k, v in entry["options"].items())
        click.echo(f"  {name:<20} {entry['summary']}\n  {'':<20} options: {opts}")
    click.echo("verifiers (--verifier; also any Python callable from the API):")
    for name, entry in VERIFIERS.items():
        click.echo(f"  {name:<20} {entry['summary']}")
    from .bench import SUITES

    click.echo("suites (bench --suite):")
    for name, suite in SUITES.items():
        click.echo(f"  {name:<20} {suite.summary}; verifier {suite.verifier}, judges "
                   f"{', '.join(suite.judges) or 'none'}")
    click.echo("judges (--judge; never seen by the search):")
    for name, entry in JUDGES.items():
        click.echo(f"  {name:<20} {entry['summary']}")
    click.echo("algorithms (--algorithm, options with --set KEY=VALUE):")
    for name, cls in ALGORITHMS.items():
        opts = ", ".join(f"{f.name}={f.default}" for f in option_fields(cls))
        click.echo(f"  {name:<20} {cls.summary}\n  {'':<20} options: {opts}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for bad input, 1 for a failed computation)."""
    try:
        cli.main(args=argv, prog_name="noisesearch", standalone_mode=False)
    except getattr(click.exceptions, "NoArgsIsHelpError", ()) as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except InputError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 1
    except (RunError, FileNotFoundError) as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
