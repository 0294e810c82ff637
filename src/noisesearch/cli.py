"""The command line: ``noisesearch search | bench | replay | list``.

Bad input exits with code 2 and one line naming the problem and the valid choices; a
failure while computing exits with code 1 after the results already computed are on disk.
The help, ``list`` and these checks load no model library: the commands import what computes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
from pathlib import Path

import click

from .algorithms import ALGORITHMS, parse_options
from .algorithms.base import option_fields
from .catalogue import JUDGES, MODELS, SUITES, VERIFIERS, model_entry
from .driver import check_sizes
from .errors import InputError, RunError, unknown
from .executors import EXECUTORS
from .spec import BenchSpec, RunSpec
from .store import read_json
from .threads import use_threads

# the flags of the options that library errors name (in backticks)
FLAGS = {"model": "--model", "budget": "--budget", "budgets": "--budgets", "sampler": "--sampler",
         "max_batch": "--max-batch", "block": "--block", "workers": "--workers", "limit": "--limit",
         "out": "--out", "resume": "--resume", "device": "--device", "steps": "--steps",
         "guidance": "--guidance", "height": "--height", "width": "--width", "dtype": "--dtype",
         "seed": "--seed", "threads": "--threads", "compile": "--compile",
         "conditions": "PROMPT, --condition or --conditions-file"}


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


def parse_model_options(pairs: tuple[str, ...]) -> dict[str, int | float | str]:
    """``("max_sequence_length=256",)`` to ``{"max_sequence_length": 256}`` (numbers as numbers)."""
    options: dict[str, int | float | str] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--model-option takes KEY=VALUE, got {pair!r}")
        value: int | float | str = raw.strip()
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                continue
        options[key.strip().replace("-", "_")] = value
    return options


def read_conditions_file(path: Path) -> list[str]:
    """One condition a line; blank lines and lines starting with '#' are skipped."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read --conditions-file {path}: {exc.strerror or exc}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def executor_options(f):
    """--executor, --workers, --ray-address, --device, --dtype, --compile and --threads, shared by
    search and bench."""
    f = click.option("--threads", type=int, default=None,
                     help="intra-op threads of this process [default: $OMP_NUM_THREADS, else the cores "
                          "it owns: its CPU affinity, capped by a container's CPU quota]")(f)
    f = click.option("--compile", "compiled", is_flag=True, default=None,
                     help="torch.compile the denoiser's network (static shapes: compiled once per run)")(f)
    f = click.option("--dtype", default=None,
                     help="fp32 | fp16 | bf16: the precision the network runs in; states, noise and "
                          "verifiers stay in fp32 [default: fp32]")(f)
    f = click.option("--device", default="cpu", show_default=True,
                     help="where the model and CLIP verifiers run: cpu, cuda, cuda:N (on Ray: each "
                          "worker's own GPU)")(f)
    f = click.option("--ray-address", default=None,
                     help="Ray cluster to join, e.g. 'auto' (the one 'ray start' started here) or "
                          "HOST:PORT [default: $RAY_ADDRESS, else a cluster started here, else a new local "
                          "Ray]")(f)
    f = click.option("--workers", type=int, default=None,
                     help="Ray workers [default: one per GPU, else one per CPU]")(f)
    f = click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
                     help="local: this process; ray: Ray actors, each loading the models once")(f)
    return f


@cli.command()
@click.argument("prompt", required=False)
@click.option("--model", default="shapes", show_default=True, help="process name (see 'list')")
@click.option("--condition", "-c", multiple=True,
              help="condition(s): a class, a prompt; repeat or comma-separate")
@click.option("--conditions-file", type=click.Path(path_type=Path), default=None,
              help="more conditions, one a line (a class or a prompt)")
@click.option("--verifier", default=None, help="verifier name[:argument] [default: the model's]")
@click.option("--algorithm", default="random", show_default=True, help="search algorithm")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="algorithm option, repeatable")
@click.option("--budget", type=int, default=None, help="NFEs per condition [default: 16 generations]")
@click.option("--budget-total", type=int, default=None,
              help="NFEs for the whole run, spread over the conditions where the verifier says there is "
                   "most to gain (allocate=halving; instead of --budget)")
@click.option("--stop-at", type=float, default=None,
              help="stop a condition once its verifier score reaches this (algorithms that search in rounds)")
@click.option("--patience", type=float, default=None,
              help="stop a condition once its best score has not risen over this share of its budget")
@click.option("--steps", type=int, default=None, help="sampling steps [default: the model's]")
@click.option("--sampler", default=None,
              help="ode | sde [default: the model's; sde for the trajectory searches]")
@click.option("--guidance", type=float, default=None, help="classifier-free guidance weight")
@click.option("--height", type=int, default=None, help="image height of a pipeline model [default: its own]")
@click.option("--width", type=int, default=None, help="image width of a pipeline model [default: its own]")
@click.option("--offload", is_flag=True, default=None,
              help="pipeline models: keep only the denoiser on the device; text encoders and VAE visit it")
@click.option("--model-option", "model_options", multiple=True, metavar="KEY=VALUE",
              help="any other model option (see 'list'), e.g. max_sequence_length=256")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--judge", "judges", multiple=True, help="held-out judge(s) [default: the model's]")
@click.option("--max-batch", type=int, default=None, help="rows per model call (memory only)")
@click.option("--block", type=int, default=None,
              help="conditions per shard, searched together by one worker [default: 4 locally, about "
                   "4 shards per Ray worker]")
@executor_options
@click.option("--resume", is_flag=True, help="continue the run in --out, computing only what it lacks")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="run folder [default: runs/...]")
@click.option("--progress/--no-progress", default=True, show_default=True)
def search(prompt, model, condition, conditions_file, verifier, algorithm, sets, budget, budget_total,
           stop_at, patience, steps, sampler, guidance, height, width, offload, model_options, seed, judges,
           max_batch, block, executor, workers, ray_address, device, dtype, compiled, threads, resume, out,
           progress) -> None:
    """Search for the noise that the verifier scores highest, per condition."""
    # everything is validated before anything is written
    if algorithm not in ALGORITHMS:
        raise unknown("algorithm", algorithm, ALGORITHMS)
    options = parse_options(ALGORITHMS[algorithm], sets)
    if max_batch is not None:
        options["max_batch"] = max_batch
    conditions = split_conditions(prompt, condition)
    if conditions_file is not None:
        conditions += read_conditions_file(conditions_file)
    options.update({k: v for k, v in (("stop_at", stop_at), ("patience", patience)) if v is not None})
    if budget_total is not None:
        budget = run_wide_budget(budget_total, budget, len(conditions))
        options["allocate"] = "halving"
    process = {"steps": steps, "sampler": sampler, "guidance": guidance, "height": height, "width": width,
               "dtype": dtype, "offload": offload, "compile": compiled, **parse_model_options(model_options)}
    check_sizes(threads=threads)
    spec = RunSpec(model, process, verifier, algorithm, options, budget, seed, conditions,
                   list(judges) or None, device)
    check_sizes(block=block, workers=workers)
    if resume and out is None:
        raise InputError("--resume needs --out, the folder of the run to continue")
    if resume and (out / "config.json").exists():  # its noise scheme (a run of 0.1.0: scheme 1)
        spec = spec.continuing(read_json(out / "config.json"))
    run = spec.resolve()
    use_threads(threads)
    from .search_run import judge_stored_set, search_to_folder

    out = out if out is not None else default_out(model_entry(model)[0], algorithm, seed)
    records = search_to_folder(out, run, executor=executor, workers=workers, address=ray_address,
                               block=block, resume=resume, progress=progress)
    done = sorted((r for r in records if r["status"] == "done"), key=lambda r: r["problem"])
    failed = sorted((r for r in records if r["status"] != "done"), key=lambda r: r["problem"])
    from .describe import condition_line, header_lines, metric_values

    for line in header_lines(run.spec.verifier, run.verifier, [*run.judges, *run.set_judges]):
        click.echo(line)
    for name, values in judge_stored_set(out, records, run.set_judges).items():
        click.echo(f"{name} on all {len(done)} winners: {metric_values(values)}")
    for r in done[:10]:
        click.echo(condition_line(r))
    if len(done) > 10:
        click.echo(f"... {len(done) - 10} more in results.jsonl")
    click.echo(f"wrote {out}")
    if failed:
        raise RunError(f"{len(failed)} of {len(records)} conditions failed (recorded in results.jsonl); "
                       f"condition {failed[0]['condition']}: {failed[0]['error']}")


def run_wide_budget(total: int, budget: int | None, n_conditions: int) -> int:
    """The per-condition average of ``--budget-total`` (the allocator spends that times the
    number of conditions); ``InputError`` with ``--budget`` or below one NFE per condition."""
    if budget is not None:
        raise InputError("--budget and --budget-total both set; valid: one of them (--budget-total is "
                         "the whole run's, spread over the conditions)")
    if n_conditions and total < n_conditions:
        raise InputError(f"--budget-total {total} is less than one NFE for each of the {n_conditions} "
                         "conditions; valid: a larger total")
    return total // max(n_conditions, 1)


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
@executor_options
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="bench folder; rerunning with the same arguments resumes it")
@click.option("--progress/--no-progress", default=True, show_default=True)
def bench(suite, algorithms, budgets, verifiers, judges, limit, steps, sampler, guidance, seed, max_batch,
          executor, workers, ray_address, device, dtype, compiled, threads, out, progress) -> None:
    """Sweep algorithms x budgets x verifiers over a suite; judge, tabulate, plot and report."""
    process = {"steps": steps, "sampler": sampler, "guidance": guidance, "dtype": dtype, "compile": compiled}
    check_sizes(threads=threads)
    spec = BenchSpec(suite, split_list(algorithms), parse_budgets(budgets), split_list(verifiers),
                     split_list(judges), limit, seed, process)
    if (out / "bench.json").exists():  # resumed with its noise scheme (a bench of 0.1.0: scheme 1)
        spec = dataclasses.replace(spec, noise=read_json(out / "bench.json").get("noise", 1))
    resolved = spec.resolve()
    use_threads(threads)
    from .bench import run_bench

    records = run_bench(resolved, out, max_batch=max_batch, progress=progress, executor=executor,
                        workers=workers, address=ray_address, device=device)
    skipped = [r for r in records if r["status"] == "skipped"]
    failed = [r for r in records if r["status"] == "failed"]
    click.echo(f"{len(records)} cells ({len(skipped)} did not fit their budget); wrote {out}/summary.md, "
               f"results.csv, scaling.png, report.html")
    if failed:
        raise RunError(f"{len(failed)} of {len(records)} cells failed (recorded in cells/); "
                       f"{failed[0]['cell']}: {failed[0]['reason']}")


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
def replay(folder: Path) -> None:
    """Regenerate each winner from its saved noises and check its score and image."""
    from .replay import replay as replay_run

    def show(r) -> None:
        if r.error is not None:
            click.echo(f"condition {r.condition}: NOT REPLAYED: {r.error}")
            return
        image = {None: "", True: ", image identical", False: ", IMAGE DIFFERS"}[r.image_identical]
        verdict = "reproduced" if r.ok else "MISMATCH"
        click.echo(f"condition {r.condition}: score {r.score!r} (recorded {r.recorded!r}){image}: {verdict}")

    report = replay_run(folder, on_result=show)
    ok = sum(r.ok for r in report.replayed)
    if report.complete:
        click.echo(f"all {report.conditions} conditions replayed: all {ok} winners reproduced exactly")
        return
    parts = [f"{len(report.replayed) - ok} winners did not reproduce or could not be regenerated"] \
        if ok < len(report.replayed) else []
    if report.failed:
        parts.append(f"{len(report.failed)} failed in the search (no winner)")
    if report.missing:
        shown = ", ".join(map(str, report.missing[:10])) + (", ..." if len(report.missing) > 10 else "")
        parts.append(f"{len(report.missing)} have no results line (problems {shown}; --resume the search)")
    raise RunError(f"{ok} of the run's {report.conditions} conditions reproduced; " + "; ".join(parts))


@cli.command(name="list")
def list_() -> None:
    """Models, samplers, verifiers, judges and algorithms, with their options."""
    click.echo("models (--model; samplers: ode = DDIM eta=0, the Euler step for flow models; sde = DDIM "
               "eta=1, the flow posterior for flow models):")
    for name, entry in MODELS.items():
        opts = ", ".join(f"{k}={v}" for k, v in entry["options"].items())
        click.echo(f"  {name:<20} {entry['summary']}\n  {'':<20} options: {opts}")
    click.echo("verifiers (--verifier; also any Python callable from the API):")
    for name, entry in VERIFIERS.items():
        click.echo(f"  {name:<20} {entry['summary']}")
        if "options" in entry:
            opts = ", ".join(f"{k}={v}" for k, v in entry["options"].items())
            click.echo(f"  {'':<20} options (;KEY=VALUE after the argument): {opts}")
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


def as_flags(message: str) -> str:
    """A library error as the command line says it: each option named in backticks becomes its flag,
    `name=value` becomes ``--name value`` (``--set name=value`` for an algorithm's option)."""
    def flag(match: re.Match) -> str:
        name, value = match[1], match[2]
        if name in FLAGS:
            return FLAGS[name] if value is None else f"{FLAGS[name]} {value}"
        return match[0] if value is None else f"--set {name}={value}"

    return re.sub(r"`([a-z_]+)(?:=([^`]*))?`", flag, message)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for bad input, 1 for a failed computation)."""
    # OpenMP threads that wait sleep rather than spin: two searches sharing the cores then each
    # take about twice as long as alone, not five times (docs/speed.md); read when torch loads
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING)
    try:
        cli.main(args=argv, prog_name="noisesearch", standalone_mode=False)
    except getattr(click.exceptions, "NoArgsIsHelpError", ()) as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except InputError as exc:
        click.echo(f"error: {as_flags(str(exc))}", err=True)
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
