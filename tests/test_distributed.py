"""Runs on a local Ray (2 CPUs, small object store, no dashboard) equal local runs; workers and
drivers killed mid-run lose and repeat nothing."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
import ray

from noisesearch.bench import run_bench
from noisesearch.cli import main
from noisesearch.search_run import search_to_folder
from noisesearch.spec import BenchSpec, RunSpec

CONDITIONS = [3, 1, 4, 1, 5, 9, 2, 6]
SPEC = RunSpec("digits", {"steps": 6}, verifier="digits-classifier", algorithm="random", options={"n": 3},
               seed=5, conditions=CONDITIONS, judges=["digits-evaluator"])


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, object_store_memory=80 * 2**20, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    search_to_folder(out, SPEC, executor="local", progress=False)
    return out


def records(out):
    """results.jsonl by problem, without the wall time (the only field that depends on the machine)."""
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    problems = [r["problem"] for r in lines]
    assert sorted(problems) == list(range(len(CONDITIONS))), problems  # each exactly once
    return {r["problem"]: {k: v for k, v in r.items() if k != "wall_s"} for r in lines}


def files(out):
    """Every noise and image file of the run, by name, as bytes."""
    return {f"{d}/{f.name}": f.read_bytes() for d in ("noises", "images")
            for f in sorted((out / d).iterdir())}


def test_ray_run_equals_local_run(local_ray, local_run, tmp_path):
    out = tmp_path / "ray"
    search_to_folder(out, SPEC, executor="ray", workers=2, block=3, progress=False)
    assert records(out) == records(local_run)
    assert files(out) == files(local_run)
    assert all(r["status"] == "done" for r in records(out).values())


def kill_when_written(out, actors, after_lines=1):
    """Kill every worker (Ray restarts them) once ``after_lines`` results are on disk."""
    def watch():
        path = out / "results.jsonl"
        deadline = time.time() + 120
        while time.time() < deadline:
            if path.exists() and path.read_text().count("\n") >= after_lines:
                for actor in actors:
                    ray.kill(actor, no_restart=False)
                killed.append(path.read_text().count("\n"))
                return
            time.sleep(0.05)

    killed = []
    threading.Thread(target=watch, daemon=True).start()
    return killed


def test_killed_workers_are_restarted_and_every_condition_is_written_once(local_ray, local_run, tmp_path):
    out = tmp_path / "ray"
    killed = []
    search_to_folder(out, SPEC, executor="ray", workers=2, block=1, progress=False,
                     on_started=lambda actors: killed.append(kill_when_written(out, actors)))
    assert killed[0] and killed[0][0] < len(CONDITIONS)  # the workers died mid-run
    assert records(out) == records(local_run)
    assert files(out) == files(local_run)


def test_sigkill_of_the_driver_then_resume_completes_the_run(local_ray, local_run, tmp_path):
    out = tmp_path / "run"
    argv = ["search", "--model", "digits", "--steps", "6", "-c", ",".join(map(str, CONDITIONS)),
            "--set", "n=3", "--seed", "5", "--judge", "digits-evaluator", "--no-progress", "--out", str(out)]
    # a small object store for the driver's own Ray (2% of memory, at least Ray's 75 MiB floor)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_DEFAULT_OBJECT_STORE_MEMORY_PROPORTION": "0.02"}
    # the driver, and every process it started, killed at once
    ray_options = ["--executor", "ray", "--workers", "2"]
    command = [sys.executable, "-m", "noisesearch", *argv, *ray_options, "--block", "1"]
    driver = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    path, deadline = out / "results.jsonl", time.time() + 180
    while time.time() < deadline and not (path.exists() and path.read_text().count("\n") >= 2):
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    kept = path.read_text().count("\n")
    assert 2 <= kept < len(CONDITIONS)
    assert main([*argv, *ray_options, "--resume"]) == 0
    assert records(out) == records(local_run)
    assert files(out) == files(local_run)


def test_resume_refuses_another_run_and_skips_finished_conditions(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["search", "--model", "digits", "--steps", "6", "-c", "3,1", "--set", "n=3", "--seed", "5",
            "--judge", "digits-evaluator", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    before = (out / "results.jsonl").read_text()
    assert main([*argv, "--resume"]) == 0  # nothing left to do
    assert (out / "results.jsonl").read_text() == before
    capsys.readouterr()
    assert main([*argv[:-2], "--seed", "6", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "differs in seed" in err[0]
    assert main(argv) == 2
    assert "pass --resume to continue it" in capsys.readouterr().err


def test_a_line_cut_short_by_a_kill_is_redone(local_run, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_bytes((local_run / "config.json").read_bytes())
    lines = (local_run / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("".join(lines[:3]) + lines[3][:40])  # killed while appending
    (out / "noises").mkdir()
    (out / "images").mkdir()
    for d in ("noises", "images"):
        for f in (local_run / d).iterdir():
            if int(f.name.split("-")[0].split(".")[0]) < 3:
                (out / d / f.name).write_bytes(f.read_bytes())
    search_to_folder(out, SPEC, resume=True, progress=False)
    assert records(out) == records(local_run)
    assert files(out) == files(local_run)


def test_bench_on_ray_equals_local_bench(local_ray, tmp_path):
    config = BenchSpec("digits", ["random", "eps-greedy"], [1, 2], limit=3, process={"steps": 4}).resolve()
    local = run_bench(config, tmp_path / "local", max_batch=64, progress=False)
    remote = run_bench(config, tmp_path / "ray", max_batch=64, progress=False, executor="ray", workers=2)

    def strip(record):
        return {k: ([{f: v for f, v in row.items() if f != "wall_s"} for row in v] if k == "rows" else v)
                for k, v in record.items() if k not in ("wall_s", "totals")}

    assert [strip(r) for r in remote] == [strip(r) for r in local]
    statuses = [r["status"] for r in local]
    assert "failed" not in statuses and statuses.count("done") >= 4


def test_an_allocated_run_on_ray_equals_the_local_one(local_ray, tmp_path):
    """A run-wide budget is searched as one shard wherever it runs: same allocation, same winners."""
    spec = replace(SPEC, options={"allocate": "halving"}, budget=36)
    search_to_folder(tmp_path / "local", spec, executor="local", progress=False)
    search_to_folder(tmp_path / "ray", spec, executor="ray", workers=2, block=3, progress=False)
    assert records(tmp_path / "ray") == records(tmp_path / "local")
    assert files(tmp_path / "ray") == files(tmp_path / "local")
    spent = [r["nfe"] for r in records(tmp_path / "local").values()]
    assert sum(spent) <= 36 * len(CONDITIONS) and len(set(spent)) > 1
