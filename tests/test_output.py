"""What a search shows a reader: the printed lines, the labelled images, the plot legend, file modes."""

import contextlib
import io
import json
import os
import re
import stat

import numpy as np
import pytest
import torch
from PIL import Image, ImageFont
from safetensors.torch import save_file

from noisesearch.catalogue import JUDGES, load_judge, load_verifier
from noisesearch.cli import main
from noisesearch.describe import condition_line, format_score, header_lines
from noisesearch.images import fit_text, labelled_grid, titled_rows
from noisesearch.judges import SetJudge
from noisesearch.plots import mean_label
from noisesearch.store import atomic
from noisesearch.verifiers import CallableVerifier

UMASK = 0o027  # not the usual 0o022, so a mode that is right only by chance shows


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A small digits search with a per-sample and a set judge, run under ``UMASK``: (folder, stdout)."""
    out = tmp_path_factory.mktemp("output") / "run"
    stdout = io.StringIO()
    previous = os.umask(UMASK)
    try:
        with contextlib.redirect_stdout(stdout):
            code = main(["search", "--model", "digits", "--steps", "6", "--no-progress", "-c", "1,2",
                         "--set", "n=3", "--judge", "digits-evaluator", "--judge", "digits-fd",
                         "--out", str(out)])
        (out.parent / "plain").write_text("an ordinary file")
    finally:
        os.umask(previous)
    assert code == 0
    return out, stdout.getvalue()


def test_search_names_the_verifier_and_its_scale_once(digits_run):
    _, stdout = digits_run
    lines = stdout.splitlines()
    assert lines[0] == "verifier digits-classifier (log p(target class), <= 0; higher is better)"
    assert sum("log p(target class)" in line for line in lines) == 1


def test_judge_metrics_are_explained_once_before_the_conditions(digits_run):
    _, stdout = digits_run
    lines = stdout.splitlines()
    evaluator = [k for k, line in enumerate(lines) if line.startswith("judge digits-evaluator: ")]
    fd = [k for k, line in enumerate(lines) if line.startswith("judge digits-fd: fd = ")]
    first_condition = next(k for k, line in enumerate(lines) if line.startswith("condition "))
    assert len(evaluator) == 1 and len(fd) == 1 and max(evaluator[0], fd[0]) < first_condition
    assert "target_prob = " in lines[evaluator[0]] and "accuracy = " in lines[evaluator[0]]


def test_small_scores_keep_their_digits(digits_run):
    out, stdout = digits_run
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert "0.0000" not in stdout
    for record in records:
        shown = re.search(rf"^condition {record['condition']}: best (\S+)  nfe", stdout, re.M).group(1)
        assert float(shown) == pytest.approx(record["best_score"], rel=1e-3)


@pytest.mark.parametrize("value, shown", [(-2.9e-05, "-2.9e-05"), (-0.0, "0"), (1.104349, "1.104"),
                                          (-123456.0, "-1.235e+05"), (0.5, "0.5")])
def test_format_score(value, shown):
    assert format_score(value) == shown


def test_condition_line():
    record = {"condition": 3, "best_score": -2.9e-05, "nfe": 24,
              "judges": {"shapes-oracle": {"accuracy": 1.0, "objects": 2.0}}}
    assert condition_line(record) == ("condition 3: best -2.9e-05  nfe 24  "
                                      "shapes-oracle: accuracy 1, objects 2")
    assert condition_line({**record, "judges": {}}) == "condition 3: best -2.9e-05  nfe 24"


def test_a_callable_verifier_adds_no_line():
    verifier = CallableVerifier(lambda images, conditions: images.flatten(1).mean(1))
    assert header_lines(None, verifier, []) == []


@pytest.mark.parametrize("name, scale", [
    ("digits-classifier", "log p(target class), <= 0"),
    ("digits-classifier:prob", "p(target class), 0 to 1"),
    ("shapes-clip", "CLIPScore 2.5*max(cos, 0), 0 to 2.5"),
    ("brightness", "mean pixel value, 0 to 1"),
    ("compressibility:80", "negative JPEG size in kB at quality 80, <= 0"),
    ("ensemble:brightness+compressibility", "mean rank"),
    ("ensemble:0.7*brightness+0.3*compressibility", "weighted sum 0.7*brightness + 0.3*compressibility"),
])
def test_verifiers_state_their_scale(name, scale):
    assert scale in load_verifier(name).scale
    assert header_lines(name, load_verifier(name), [])[0].startswith(f"verifier {name} ({scale}")


@pytest.mark.parametrize("name", sorted(JUDGES))
def test_judges_describe_exactly_the_metrics_they_return(name):
    judge = load_judge(name)
    if name.startswith("digits"):
        images, conditions = torch.rand(3, 1, 16, 16), [1, 2, 3]
    else:
        images, conditions = torch.rand(3, 3, 32, 32), ["a red circle", "a blue square", "a circle"]
    returned = (judge.evaluate_set(images, conditions) if isinstance(judge, SetJudge)
                else judge.evaluate(images, conditions))
    assert set(judge.metrics) == set(returned) and all(judge.metrics.values())


def test_long_labels_stay_inside_their_tile():
    font = ImageFont.load_default()
    label = "a red circle above a blue square beside a green triangle below a yellow star: 1.104"
    lines = fit_text(label, font, 92, 3)
    assert len(lines) == 3 and lines[-1].endswith("\u2026")
    assert all(font.getlength(line) <= 92 for line in lines)
    assert all(font.getlength(line) <= 40 for line in fit_text("unbrokenwordwiderthanatile", font, 40, 9))

    tile, image = 96, torch.full((3, 8, 8), 0.5)
    grid = np.asarray(labelled_grid([[(label, image), ("", image)]], tile=tile))
    labels = grid[4 + tile:]  # the label band under the tiles
    assert (labels[:, :4 + tile] < 128).any()  # the long label is written ...
    assert (labels[:, 4 + tile:] == 255).all()  # ... and nothing of it beyond its own tile


def test_titled_rows_write_each_title_left_of_its_row():
    rows = [Image.new("RGB", (50, 40), "gray"), Image.new("RGB", (30, 40), "gray")]
    sheet = np.asarray(titled_rows(rows, ["condition 1", "condition a red circle above a blue square"],
                                   max_width=100))
    assert sheet.shape[:2] == (80, 150)
    margin = sheet[:, :100]
    assert (margin[:40] < 128).any() and (margin[40:] < 128).any()  # ink in both rows' margins
    assert (sheet[:, 100:130] == 128).all()  # the rows sit right of the margin


def test_top_sheet_labels_each_condition(digits_run):
    out, _ = digits_run
    sheet = np.asarray(Image.open(out / "top.png").convert("RGB"))
    row = Image.open(out / "images" / "0-top.png")
    assert sheet.shape[0] == 2 * row.height and sheet.shape[1] > row.width
    margin = sheet[:, :sheet.shape[1] - row.width]
    assert (margin[:row.height] < 128).any() and (margin[row.height:] < 128).any()


def test_legend_grammar():
    assert mean_label(1) == "mean over 1 condition"
    assert mean_label(2) == "mean over 2 conditions"


def test_every_file_of_a_run_has_an_ordinary_file_mode(digits_run):
    out, _ = digits_run
    ordinary = mode(out.parent / "plain")
    assert ordinary == 0o666 & ~UMASK
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files)
    assert {p.relative_to(out).as_posix(): mode(p) for p in files} == {
        p.relative_to(out).as_posix(): ordinary for p in files}


def test_atomic_gives_safetensors_an_ordinary_file_mode(tmp_path):
    previous = os.umask(UMASK)
    try:
        with atomic(tmp_path / "noise.safetensors") as tmp:
            save_file({"x": torch.zeros(2)}, str(tmp))
        (tmp_path / "plain").write_text("x")
    finally:
        os.umask(previous)
    assert mode(tmp_path / "noise.safetensors") == mode(tmp_path / "plain") == 0o640


def test_a_failed_atomic_write_leaves_nothing(tmp_path):
    with pytest.raises(ValueError), atomic(tmp_path / "x.json") as tmp:
        tmp.write_text("half")
        raise ValueError("failed")
    assert list(tmp_path.iterdir()) == []
