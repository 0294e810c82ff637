"""Bad options and damaged files: exit 2 and one line naming the option or the file; nothing
written, nothing lost; a damaged result is computed again on resuming."""

import json
import shutil

import pytest

from noisesearch.cli import main

SEARCH = ["search", "--model", "digits", "--steps", "6", "-c", "3,1,4", "--set", "n=2", "--seed", "2",
          "--no-progress"]
BENCH = ["bench", "--suite", "digits", "--limit", "2", "--steps", "4", "--budgets", "1,2", "--algorithms",
         "random", "--no-progress"]


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "run"
    assert main([*SEARCH, "--out", str(out)]) == 0
    return out


@pytest.fixture
def copy(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def lines(out):
    return (out / "results.jsonl").read_text().splitlines(keepends=True)


def without_time(out):
    return sorted(({k: v for k, v in json.loads(x).items() if k != "wall_s"} for x in lines(out)),
                  key=lambda r: r["problem"])


@pytest.mark.parametrize("option", [["--device", "cuda"], ["--device", "cuda:7"], ["--device", "tpu"],
                                    ["--guidance", "nan"], ["--guidance", "inf"], ["--set", "epsilon=nan"]])
def test_bad_device_or_float_writes_nothing(capsys, tmp_path, option):
    argv = [*SEARCH[:-5], "--algorithm", "eps-greedy", *option, "--out", str(tmp_path / "run")]
    code, _, err = run(capsys, *argv)
    assert code == 2
    line = one_line(err)
    assert option[-1] in line and ("valid: cpu" in line or "is not a" in line), line
    assert not (tmp_path / "run").exists()


def test_an_unbounded_window_is_a_valid_option():
    from noisesearch.spec import RunSpec

    spec = RunSpec("gmm", {"steps": 6}, "brightness", "eps-greedy", {"window_hi": float("inf"), "k": 1},
                   conditions=[0]).resolve()
    assert spec.spec.options["window_hi"] == float("inf")


@pytest.mark.parametrize("option, said", [(["--device", "cuda:7"], "--device cuda:7 is not available"),
                                          (["--guidance", "inf"], "--guidance inf is not a finite number")])
def test_bench_with_a_missing_device_or_infinite_guidance_writes_nothing(capsys, tmp_path, option, said):
    code, _, err = run(capsys, *BENCH, *option, "--out", str(tmp_path / "bench"))
    assert code == 2 and said in one_line(err)
    assert not (tmp_path / "bench").exists()


def test_damaged_config_is_named(capsys, copy):
    (copy / "config.json").write_text('{"model": "dig')
    for argv in (["replay", str(copy)], [*SEARCH, "--out", str(copy), "--resume"]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and f"{copy / 'config.json'} is damaged" in one_line(err)


def test_damaged_results_line_is_named_and_recomputed_on_resume(capsys, caplog, copy, finished):
    text = lines(copy)
    (copy / "results.jsonl").write_text(text[0] + text[1][:30] + "}\n" + text[2])
    code, _, err = run(capsys, "replay", str(copy))
    assert code == 2 and f"{copy / 'results.jsonl'} line 2 is damaged" in one_line(err)
    code, _, err = run(capsys, *SEARCH, "--out", str(copy), "--resume")
    assert code == 0, err
    assert "results.jsonl: line 2 damaged" in caplog.text  # the warning names what is computed again
    assert without_time(copy) == without_time(finished)


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_damaged_noises_are_reported_per_condition_and_recomputed(capsys, copy, finished, damage):
    noises = copy / "noises" / "1.safetensors"
    if damage == "missing":
        noises.unlink()
    else:
        noises.write_bytes(noises.read_bytes()[:50])
    code, out, err = run(capsys, "replay", str(copy))
    assert code == 1
    shown = out.strip().splitlines()
    assert len(shown) == 3 and "condition 3:" in shown[0] and "reproduced" in shown[0]
    assert "NOT REPLAYED" in shown[1] and str(noises) in shown[1] and "reproduced" in shown[2]
    assert "2 of the run's 3 conditions reproduced" in one_line(err)
    assert run(capsys, *SEARCH, "--out", str(copy), "--resume")[0] == 0
    assert noises.read_bytes() == (finished / "noises" / "1.safetensors").read_bytes()
    assert without_time(copy) == without_time(finished)


def test_replay_of_an_incomplete_run_fails_and_names_what_is_missing(capsys, copy):
    text = lines(copy)
    (copy / "results.jsonl").write_text(text[0] + text[1][:40])  # cut mid-line by a kill
    code, out, err = run(capsys, "replay", str(copy))
    assert code == 1 and out.count("reproduced") == 1
    line = one_line(err)
    assert "1 of the run's 3 conditions reproduced" in line and "2 have no results line" in line


def test_replay_of_a_run_whose_conditions_failed_fails(capsys, copy):
    failed = [json.dumps({"problem": p, "condition": c, "status": "failed", "error": "RunError: NaN"}) + "\n"
              for p, c in enumerate([3, 1, 4])]
    (copy / "results.jsonl").write_text("".join(failed))
    code, _, err = run(capsys, "replay", str(copy))
    assert code == 1 and "0 of the run's 3 conditions reproduced" in one_line(err)
    assert "3 failed in the search" in err


def cells_without_time(out):
    """The bench's cells, winners as bytes and records without their wall times."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "wall_s"}
        return [strip(v) for v in value] if isinstance(value, list) else value

    return {p.name: p.read_bytes() if p.suffix == ".safetensors" else strip(json.loads(p.read_text()))
            for p in (out / "cells").iterdir()}


@pytest.mark.parametrize("damage", ["empty json", "truncated json", "truncated safetensors"])
def test_damaged_bench_cell_is_computed_again(capsys, caplog, tmp_path, damage):
    out = tmp_path / "bench"
    assert run(capsys, *BENCH, "--out", str(out))[0] == 0
    cell = sorted((out / "cells").glob("random-*.json"))[0]
    original = cells_without_time(out)
    target = cell if "json" in damage else cell.with_suffix(".safetensors")
    target.write_bytes(b"" if damage == "empty json" else target.read_bytes()[:len(target.read_bytes()) // 2])
    (out / "report.html").unlink()
    code, _, err = run(capsys, *BENCH, "--out", str(out))
    assert code == 0, err
    assert f"cell {cell.stem} is damaged" in caplog.text  # the warning names the cell computed again
    assert cells_without_time(out) == original
    assert (out / "report.html").exists()
