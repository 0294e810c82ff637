import json

import pytest

from noisesearch.cli import main

DIGITS = ["search", "--model", "digits", "--steps", "6", "--no-progress"]
D = ["search", "--model", "digits"]


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def search_and_replay(capsys, out, argv, sets):
    """Run a digits search with ``--set`` options; check that the options reached the config
    and that replay reproduces every winner; return the records."""
    code, _, stderr = run(capsys, *DIGITS, *argv, *sets, "--out", str(out))
    assert code == 0, stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    config = json.loads((out / "config.json").read_text())
    for pair in sets[1::2]:
        key, value = pair.split("=")
        assert str(config["options"][key]).lower() == value
    code, stdout, _ = run(capsys, "replay", str(out))
    assert code == 0 and f"all {len(records)} winners reproduced exactly" in stdout
    return records


@pytest.mark.parametrize("argv, names", [
    (["search", "--model", "nope", "-c", "3"], ["model 'nope'", "digits", "gmm"]),
    ([*D, "-c", "3", "--verifier", "nope"], ["verifier 'nope'", "digits-classifier"]),
    ([*D, "-c", "3", "--algorithm", "nope"], ["algorithm 'nope'", "random"]),
    ([*D, "-c", "10"], ["'10'", "0-9"]),
    ([*D, "-c", "three"], ["'three'", "0-9"]),
    ([*D, "-c", "3", "--set", "n=0"], ["n must be >= 1"]),
    ([*D, "-c", "3", "--set", "m=2"], ["no option 'm'", "n"]),
    ([*D, "-c", "3", "--budget", "5"], ["budget 5", "valid: a budget >= 25"]),
    ([*D, "-c", "3", "--sampler", "heun"], ["sampler 'heun'", "ode, sde"]),
    ([*D, "-c", "3", "--algorithm", "zero-order", "--set", "on_stall=jump"],
     ["on_stall 'jump'", "restart, stay"]),
    ([*D, "-c", "3", "--algorithm", "zero-order", "--set", "tau=1.5"], ["tau must be in (0, 1)"]),
    ([*D, "-c", "3", "--algorithm", "paths", "--budget", "50"], ["budget 50", "valid: a budget >= 195"]),
    ([*D, "-c", "3", "--algorithm", "noise-gradient", "--verifier", "compressibility"],
     ["'compressibility' is not", "digits-classifier"]),
    ([*D, "-c", "3", "--set", "search_steps=30"], ["search_steps must be in 1..24"]),
    (["search", "a red dog"], ["'dog'", "not in the shapes vocabulary", "circle"]),
    (["search", "red circle a"], ["fits no template", "a [color] SHAPE"]),
    (["search", "a circle", "--verifier", "clip:/nonexistent/clip"], ["not available", "local folder"]),
    (["search", "a circle", "--judge", "nope"], ["judge 'nope'", "shapes-oracle"]),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(capsys, tmp_path, argv, names):
    out = tmp_path / "run"
    code, stdout, stderr = run(capsys, *argv, "--out", str(out))
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for name in names:
        assert name in lines[0]
    assert not out.exists()


def test_folder_holding_another_run_is_refused_and_kept(capsys, tmp_path):
    out = tmp_path / "run"
    assert run(capsys, *DIGITS, "-c", "1", "--set", "n=2", "--out", str(out))[0] == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, _, stderr = run(capsys, *DIGITS, "-c", "2", "--set", "n=2", "--out", str(out))
    assert code == 2 and "already holds a run" in stderr and len(stderr.strip().splitlines()) == 1
    assert before == {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_same_seed_same_outputs_and_replay(capsys, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert run(capsys, *DIGITS, "3", "--set", "n=6", "--seed", "4", "--out", str(a))[0] == 0
    assert run(capsys, *DIGITS, "3", "--set", "n=6", "--seed", "4", "--out", str(b))[0] == 0
    assert run(capsys, *DIGITS, "3", "--set", "n=6", "--seed", "4", "--max-batch", "4",
               "--out", str(c))[0] == 0
    records = [json.loads((d / "results.jsonl").read_text()) for d in (a, b, c)]
    assert records[0]["best_score"] == records[1]["best_score"] == records[2]["best_score"]
    assert records[0]["nfe"] == 6 * 6 and records[0]["verifier_calls"] == 6
    assert set(records[0]) >= {"condition", "best_score", "nfe", "verifier_calls", "judges", "wall_s"}
    assert (a / "best.png").read_bytes() == (b / "best.png").read_bytes() == (c / "best.png").read_bytes()
    for name in ("config.json", "top.png", "noises/0.safetensors", "images/0-best.png"):
        assert (a / name).exists(), name
    code, stdout, _ = run(capsys, "replay", str(a))
    assert code == 0 and "reproduced exactly" in stdout


def test_replay_detects_a_tampered_record(capsys, tmp_path):
    out = tmp_path / "run"
    assert run(capsys, *DIGITS, "-c", "5", "--set", "n=2", "--out", str(out))[0] == 0
    record = json.loads((out / "results.jsonl").read_text())
    record["best_score"] += 1e-3
    (out / "results.jsonl").write_text(json.dumps(record) + "\n")
    code, stdout, stderr = run(capsys, "replay", str(out))
    assert code == 1 and "MISMATCH" in stdout and "did not reproduce" in stderr


def test_several_conditions_and_gmm(capsys, tmp_path):
    out = tmp_path / "gmm"
    code, stdout, _ = run(capsys, "search", "--model", "gmm", "-c", "0,1", "-c", "any",
                          "--verifier", "brightness", "--budget", "200", "--block", "2",
                          "--no-progress", "--out", str(out))
    assert code == 0
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [line["condition"] for line in lines] == [0, 1, -1]
    assert [line["problem"] for line in lines] == [0, 1, 2]
    assert all(line["nfe"] == 200 for line in lines)


def test_list_names_everything(capsys):
    code, stdout, _ = run(capsys, "list")
    assert code == 0
    for name in ("digits", "gmm", "digits-classifier", "brightness", "compressibility",
                 "digits-evaluator", "digits-fd", "random", "n=None", "max_batch", "suites (bench --suite)",
                 "shapes", "shapes-clip", "clip", "shapes-oracle", "shapes-dev", "shapes-vqa", "shapes-fd"):
        assert name in stdout


@pytest.mark.parametrize("algorithm, sets", [
    ("zero-order", ["--set", "n=2", "--set", "iterations=2", "--set", "on_stall=stay"]),
    ("ses", ["--set", "population=3", "--set", "iterations=2", "--set", "level=2"]),
    ("paths", ["--set", "n=1", "--set", "m=2"]),
    ("noise-gradient", ["--set", "iterations=2", "--set", "lr=0.1"]),
    ("random", ["--set", "n=3", "--set", "search_steps=3"]),
])
def test_initial_noise_algorithms_run_from_the_cli_and_replay(capsys, tmp_path, algorithm, sets):
    out = tmp_path / algorithm
    records = search_and_replay(capsys, out, ["--sampler", "ode", "-c", "4,9", "--algorithm", algorithm],
                                sets)
    assert [r["condition"] for r in records] == [4, 9]
    for r in records:
        bests = [b for _, b in r["anytime"]]
        assert bests == sorted(bests) and bests[-1] == max(s for _, s in r["history"] + r["lookahead"])
    assert (out / "scaling.png").stat().st_size > 0


def test_list_shows_every_algorithm_with_its_options_and_defaults(capsys):
    code, stdout, _ = run(capsys, "list")
    assert code == 0
    for expected in ["zero-order", "tau=0.95", "on_stall=restart", "paths", "sigma_start=0.11",
                     "delta_f=0.78", "delta_b=0.81", "m=4", "noise-gradient", "reg_weight=0.01",
                     "grad_clip=0.1", "search_steps=None"]:
        assert expected in stdout


@pytest.mark.parametrize("algorithm, sets", [
    ("eps-greedy", ["--set", "n=2", "--set", "k=2", "--set", "keep_best=true", "--set", "window_lo=0.2"]),
    ("zero-order-steps", ["--set", "n=2", "--set", "k=2", "--set", "lam=0.3"]),
    ("beam", ["--set", "b=2", "--set", "n=2"]),
    ("svdd", ["--set", "m=3"]),
    ("mcts", ["--set", "n=2", "--set", "s=2"]),
    ("smc", ["--set", "k=3", "--set", "potential=difference", "--set", "adaptive=false"]),
])
def test_trajectory_algorithms_run_from_the_cli_and_replay(capsys, tmp_path, algorithm, sets):
    out = tmp_path / algorithm
    records = search_and_replay(capsys, out, ["--sampler", "sde", "-c", "2,6", "--algorithm", algorithm],
                                sets)
    assert [r["condition"] for r in records] == [2, 6]
    for r in records:
        assert r["best_score"] == max(s for _, s in r["history"]) and r["nfe"] > 0
    if algorithm == "smc":  # the whole final particle set is kept beside the winner's noises
        from safetensors.torch import load_file

        particles = load_file(str(out / records[0]["extra"]))
        assert particles["particles"].shape == (3, 1, 16, 16) and particles["log_weights"].shape == (3,)


@pytest.mark.parametrize("argv, names", [
    (["--algorithm", "eps-greedy", "--sampler", "ode"], ["injects none", "valid: --sampler sde"]),
    (["--algorithm", "eps-greedy", "--set", "epsilon=2"], ["epsilon must be in [0, 1]"]),
    (["--algorithm", "eps-greedy", "--budget", "100"], ["spends", "valid: a budget >= "]),
    (["--algorithm", "smc", "--set", "potential=min"], ["potential 'min'", "max, sum, difference"]),
    (["--algorithm", "beam", "--set", "b=0"], ["b and n must be >= 1"]),
    (["--algorithm", "mcts", "--set", "keep_best=true"], ["no option 'keep_best'", "n, s, c"]),
])
def test_trajectory_bad_input_exits_2(capsys, tmp_path, argv, names):
    out = tmp_path / "run"
    code, _, stderr = run(capsys, *DIGITS, "-c", "3", *argv, "--out", str(out))
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for name in names:
        assert name in lines[0], lines[0]
    assert not out.exists()


def test_set_judge_scores_all_winners_of_a_search(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run(capsys, *DIGITS, "-c", "1,2,3", "--set", "n=2", "--judge", "digits-evaluator",
                               "--judge", "digits-fd", "--block", "2", "--out", str(out))
    assert code == 0, stderr
    metrics = json.loads((out / "set_judges.json").read_text())
    assert metrics["digits-fd"]["fd"] > 0 and "digits-fd on all 3 winners" in stdout
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert all(set(r["judges"]) == {"digits-evaluator"} for r in records)


@pytest.mark.parametrize("algorithm, sets, nfe", [
    ("random", ["--set", "n=3"], 3 * 4 * 2),  # guidance 3: two NFEs per step
    ("eps-greedy", ["--set", "k=2"], None),
])
def test_shapes_prompt_runs_with_the_default_model_verifier_and_judge_and_replays(capsys, tmp_path, algorithm,
                                                                                  sets, nfe):
    out = tmp_path / "shapes"
    code, stdout, stderr = run(capsys, "search", "A red circle above a blue square.", "--steps", "4",
                               "--algorithm", algorithm, *sets, "--no-progress", "--out", str(out))
    assert code == 0, stderr
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "shapes" and config["verifier"] == "shapes-clip"
    assert config["judges"] == ["shapes-oracle"]
    record = json.loads((out / "results.jsonl").read_text())
    assert record["condition"] == "a red circle above a blue square"  # the canonical prompt
    assert nfe is None or record["nfe"] == nfe
    assert set(record["judges"]["shapes-oracle"]) == {"accuracy", "objects"}
    assert (out / "best.png").exists()
    code, stdout, _ = run(capsys, "replay", str(out))
    assert code == 0 and "reproduced exactly" in stdout


def test_conditions_file_adds_one_condition_a_line(capsys, tmp_path):
    listed = tmp_path / "conditions.txt"
    listed.write_text("3\n# a comment\n\n  7  \n")
    out = tmp_path / "run"
    code, _, stderr = run(capsys, *DIGITS, "-c", "1", "--conditions-file", str(listed), "--set", "n=2",
                          "--out", str(out))
    assert code == 0, stderr
    assert json.loads((out / "config.json").read_text())["conditions"] == [1, 3, 7]
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["problem"], r["condition"], r["status"]) for r in records] == [(0, 1, "done"), (1, 3, "done"),
                                                                               (2, 7, "done")]


@pytest.mark.parametrize("argv, names", [
    (["--conditions-file", "/nonexistent/list.txt"], ["cannot read --conditions-file", "list.txt"]),
    (["--executor", "spark"], ["'spark' is not one of", "local", "ray"]),
    (["--resume"], ["--resume needs --out"]),
    (["--workers", "0"], ["--workers must be >= 1"]),
])
def test_executor_and_resume_bad_input_exits_2(capsys, tmp_path, argv, names):
    code, _, stderr = run(capsys, *DIGITS, "-c", "3", *argv)
    lines = stderr.strip().splitlines()
    assert code == 2 and len(lines) == 1, stderr
    for name in names:
        assert name in lines[0], lines[0]


@pytest.mark.parametrize("algorithm, options", [("random", {}), ("zero-order", {}), ("noise-gradient", {}),
                                                ("paths", {"m": 2}), ("eps-greedy", {"n": 2, "k": 2})])
def test_api_and_command_line_share_their_defaults(capsys, tmp_path, algorithm, options):
    """Without a budget, ns.search and the command line spend the same NFEs on the same winners."""
    import torch
    from safetensors.torch import load_file

    import noisesearch as ns

    out = tmp_path / "run"
    sets = [part for k, v in options.items() for part in ("--set", f"{k}={v}")]
    assert run(capsys, *DIGITS, "-c", "3,7", "--algorithm", algorithm, *sets, "--out", str(out))[0] == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    result = ns.search(ns.load_process("digits", steps=6), "digits-classifier", [3, 7], algorithm=algorithm,
                       **options)
    assert len(records) == len(result.problems) == 2
    if algorithm in ("random", "zero-order", "noise-gradient"):  # sized by the default budget
        assert all(16 * 6 - 6 * 2 <= p.nfe <= 16 * 6 for p in result)  # 16 generations of 6 steps
    for record, problem in zip(records, result, strict=True):
        assert problem.nfe == record["nfe"] and problem.best_score == record["best_score"]
        assert json.loads(json.dumps(problem.recipe)) == record["recipe"]
        assert problem.judges == record["judges"]
        saved = load_file(str(out / record["noises"]))
        assert saved.keys() == problem.noises.keys()
        assert all(torch.equal(saved[k], problem.noises[k].cpu()) for k in saved)
