"""A local search killed at any moment resumes to exactly the run it would have been: the
conditions of a shard are written as soon as it finishes, and a folder holding only its
config.json resumes from the start."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from noisesearch.cli import main

CONDITIONS = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]
ARGV = ["search", "--model", "digits", "--steps", "6", "-c", ",".join(map(str, CONDITIONS)), "--set", "n=4",
        "--seed", "7", "--judge", "digits-evaluator", "--no-progress"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    assert main([*ARGV, "--out", str(out)]) == 0
    return out


def records(out):
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["problem"] for r in lines) == list(range(len(CONDITIONS)))  # each exactly once
    return {r["problem"]: {k: v for k, v in r.items() if k != "wall_s"} for r in lines}


def files(out):
    return {f"{d}/{f.name}": f.read_bytes() for d in ("noises", "images")
            for f in sorted((out / d).iterdir())}


def kill_when(out, ready):
    """Start the search in a subprocess and SIGKILL it as soon as ``ready()`` holds."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-m", "noisesearch", *ARGV, "--out", str(out)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and child.poll() is None and not ready():
        time.sleep(0.01)
    assert child.poll() is None, "the search ended before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()


def written(out):
    path = out / "results.jsonl"
    return path.read_text().count("\n") if path.exists() else 0


def test_killed_after_its_first_conditions_resumes_to_the_same_run(tmp_path, uninterrupted):
    out = tmp_path / "run"
    kill_when(out, lambda: written(out) >= 1)
    assert 1 <= written(out) < len(CONDITIONS)  # conditions are on disk before the run ends
    assert main([*ARGV, "--out", str(out), "--resume"]) == 0
    assert records(out) == records(uninterrupted)
    assert files(out) == files(uninterrupted)


def test_killed_before_any_condition_resumes_from_its_config(tmp_path, uninterrupted):
    out = tmp_path / "run"
    kill_when(out, lambda: (out / "config.json").exists())
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]
    assert main([*ARGV, "--out", str(out), "--resume"]) == 0
    assert records(out) == records(uninterrupted)
    assert files(out) == files(uninterrupted)
