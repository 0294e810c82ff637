"""noisesearch bench: the sweep, its tables and report, resuming after a kill."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import torch

import noisesearch as ns
from noisesearch.bench.tables import mean_ci
from noisesearch.cli import main
from noisesearch.judges.frechet import frechet_distance

SMALL = ["bench", "--suite", "digits", "--limit", "3", "--steps", "4", "--no-progress"]


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def csv_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_bench_writes_results_summary_plot_and_report(capsys, tmp_path):
    out = tmp_path / "bench"
    code, stdout, stderr = run(capsys, *SMALL, "--budgets", "1,8", "--algorithms", "random,beam",
                               "--verifier", "digits-classifier,brightness", "--out", str(out))
    assert code == 0, stderr
    cells = [json.loads(p.read_text()) for p in sorted((out / "cells").glob("*.json"))]
    # no-search, more-steps at 8, and random/beam x budgets 1, 8 x two verifiers
    assert len(cells) == 2 + 2 * 2 * 2
    done = [c for c in cells if c["status"] == "done"]
    skipped = [c for c in cells if c["status"] == "skipped"]
    assert {(c["method"], c["budget"]) for c in skipped} == {("beam", 1)}  # 1 generation cannot pay for it
    rows = csv_rows(out / "results.csv")
    assert len(rows) == 3 * len(done)
    keys = Counter((r["method"], r["budget"], r["verifier"], r["condition"]) for r in rows)
    assert set(keys.values()) == {1}
    for row in rows:  # every row carries the ledger's counts and every judge's and verifier's scores
        assert int(row["nfe"]) > 0 and int(row["verifier_calls"]) > 0
        for column in ("digits-evaluator:target_prob", "digits-evaluator:accuracy",
                       "score:digits-classifier", "score:brightness"):
            assert row[column] != ""
    for c in done:  # the budget is respected and is what the ledger counted
        if c["method"] in ("random", "beam"):
            assert all(r["nfe"] <= c["budget"] * 4 for r in c["rows"])
    more = next(c for c in cells if c["method"] == "more-steps")
    assert more["steps"] == 32 and all(r["nfe"] == 32 for r in more["rows"])
    summary = (out / "summary.md").read_text()
    assert "Ranking at matched NFEs" in summary and "Verifier hacking" in summary
    assert "± " in summary and "digits-fd:fd" in summary
    assert "| spent |" in summary  # the NFEs each cell spent, as a percent of the budget it was sized to
    for c in done:
        if c["method"] in ("random", "beam"):
            mean = sum(r["nfe"] for r in c["rows"]) / len(c["rows"])
            assert mean <= c["budget_nfe"]  # a size option's granularity may leave some unspent: shown
            assert f"| {100 * mean / c['budget_nfe']:.0f}% |" in summary
    assert (out / "scaling.png").stat().st_size > 0
    report = (out / "report.html").read_text()
    assert report.count("<img ") == 1 + 3 * 3  # the plot, and 3 conditions x (no search + 2 winners)
    assert "src=\"data:image/png;base64," in report and "http" not in report.replace("http-equiv", "")


def test_rerun_with_other_arguments_is_refused_and_nothing_changes(capsys, tmp_path):
    out = tmp_path / "bench"
    assert run(capsys, *SMALL, "--budgets", "1", "--algorithms", "random", "--out", str(out))[0] == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, _, stderr = run(capsys, *SMALL, "--budgets", "1,2", "--algorithms", "random", "--out", str(out))
    assert code == 2 and "holds another bench" in stderr and "budgets" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert before == {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}


@pytest.mark.parametrize("argv, names", [
    (["--suite", "cifar"], ["suite 'cifar'", "digits", "gmm"]),
    (["--algorithms", "random,nope"], ["algorithm 'nope'", "eps-greedy"]),
    (["--budgets", "1,x"], ["--budgets", "'1,x'"]),
    (["--budgets", "0"], ["budgets are whole generations >= 1"]),
    (["--judges", "nope"], ["judge 'nope'", "digits-fd"]),
    (["--verifier", "nope"], ["verifier 'nope'", "brightness"]),
])
def test_bench_bad_input_exits_2(capsys, tmp_path, argv, names):
    out = tmp_path / "bench"
    code, _, stderr = run(capsys, "bench", *argv, "--out", str(out))
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    for name in names:
        assert name in stderr, stderr
    assert not out.exists()


def test_bench_killed_midway_resumes_with_every_cell_exactly_once(capsys, tmp_path):
    out = tmp_path / "bench"
    argv = [*SMALL, "--limit", "2", "--budgets", "1,2,4,8", "--algorithms", "random,zero-order,svdd",
            "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-m", "noisesearch", *argv], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cells_dir = out / "cells"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if cells_dir.exists() and len(list(cells_dir.glob("*.json"))) >= 2:
            break
        time.sleep(0.02)
    assert child.poll() is None, "the bench ended before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    finished_before = {p.name: p.read_bytes() for p in cells_dir.glob("*.json")}
    total = 1 + 3 + 3 * 4  # no-search, more-steps at 2, 4, 8, and 3 algorithms x 4 budgets
    assert 2 <= len(finished_before) < total
    code, _, stderr = run(capsys, *argv)
    assert code == 0, stderr
    finished_after = {p.name: p.read_bytes() for p in cells_dir.glob("*.json")}
    assert len(finished_after) == total
    for name, content in finished_before.items():  # finished cells were kept, not redone
        assert finished_after[name] == content
    rows = csv_rows(out / "results.csv")
    keys = Counter((r["method"], r["budget"], r["verifier"], r["condition"]) for r in rows)
    done = sum(json.loads(c)["status"] == "done" for c in finished_after.values())
    assert len(rows) == 2 * done and set(keys.values()) == {1}


def test_frechet_distance_of_gaussians():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(20000, 3, generator=gen, dtype=torch.float64)
    assert frechet_distance(a, b) < 0.01
    shift = torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64)
    assert abs(frechet_distance(a + shift, b) - 5.0) < 0.05
    # N(0, 4I) against N(0, I) in 3-D: 3 (4 + 1 - 2 * 2) = 3
    assert abs(frechet_distance(2 * a, b) - 3.0) < 0.1


def test_mean_ci_matches_the_normal_interval():
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and abs(half - 1.959964 * (1.6666667 / 4) ** 0.5) < 1e-6


@pytest.mark.parametrize("algorithm, option", [("eps-greedy", "k"), ("beam", "b"), ("svdd", "m"),
                                               ("smc", "k")])
def test_at_budget_takes_the_largest_size_that_fits(algorithm, option):
    process = ns.load_process("gmm", steps=10, sampler="sde")
    base = ns.load_algorithm(algorithm)
    budget = 40 * process.generation_nfe
    sized = base.at_budget(process, budget)
    assert sized.plan(process, None).nfe <= budget
    bigger = ns.load_algorithm(algorithm, **{option: getattr(sized, option) + 1})
    assert bigger.plan(process, None).nfe > budget


def test_shapes_bench_reports_oracle_accuracy_per_category(capsys, tmp_path):
    out = tmp_path / "shapes"
    code, _, stderr = run(capsys, "bench", "--suite", "shapes", "--limit", "6", "--steps", "3",
                          "--budgets", "2", "--algorithms", "random", "--no-progress", "--out", str(out))
    assert code == 0, stderr
    rows = csv_rows(out / "results.csv")
    assert {r["method"] for r in rows} == {"no-search", "more-steps", "random"}
    assert all(r["shapes-oracle:accuracy"] in ("0.0", "1.0") for r in rows)
    summary = (out / "summary.md").read_text()
    table = summary.split("`shapes-oracle:accuracy` per category")[1].split("###")[0]
    header = next(line for line in table.splitlines() if line.startswith("| method"))
    for name in ("single_object", "two_object", "counting", "colors", "position", "color_attr", "overall"):
        assert name in header
    assert "per category" in (out / "report.html").read_text()
