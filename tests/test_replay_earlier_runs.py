"""Run folders written by noisesearch 0.1.0: they replay exactly, and the same run today
writes the same results.

``tests/data/runs_0.1.0/`` holds searches written by version 0.1.0 (config.json,
results.jsonl, the winners' noises and images, smc's final particles and weights): random
search with and without cheap search steps, eps-greedy's zero-order variant and smc on
digits, and search over paths on the Gaussian mixture (its winners follow a path with
re-noisings). Replaying regenerates every winner from its noises alone and must give the
recorded score and, for images, the recorded PNG bytes. Running the spec of config.json
again must give the same records (but wall time), noises and PNG bytes.
"""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from noisesearch.replay import replay
from noisesearch.search_run import search_to_folder
from noisesearch.spec import RunSpec

RUNS = Path(__file__).parent / "data" / "runs_0.1.0"
NAMES = ["digits-random", "digits-random-search-steps", "digits-zero-order-steps", "digits-smc", "gmm-paths"]


def records(folder: Path) -> list[dict]:
    """results.jsonl by problem, without what 0.2.0 records differently: the wall time, and the
    NFEs of the anytime record (each candidate at the NFEs it cost, look-aheads added); the
    candidates' scores, in order, stay."""
    lines = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    for line in lines:
        del line["wall_s"]
        line["history"] = [score for _, score in line["history"]]
        line.pop("lookahead", None)
        line.pop("anytime", None)
    return sorted(lines, key=lambda r: r["problem"])


@pytest.mark.parametrize("name", NAMES)
def test_run_folders_of_version_0_1_0_replay_exactly(name):
    report = replay(RUNS / name)
    assert report.complete and report.conditions == len(report.replayed)
    replayed = report.replayed
    assert len(replayed) >= 2
    for r in replayed:
        assert r.score == r.recorded, (r.condition, r.score, r.recorded)
        assert r.image_identical is (None if name.startswith("gmm") else True)
        assert r.ok


@pytest.mark.parametrize("name", NAMES)
def test_the_same_run_writes_what_version_0_1_0_wrote(tmp_path, name):
    old = RUNS / name
    spec = RunSpec.from_json(json.loads((old / "config.json").read_text()))
    search_to_folder(tmp_path / name, spec, progress=False)
    new = tmp_path / name
    assert records(new) == records(old)
    for path in sorted(old.glob("noises/*.safetensors")):
        saved, written = load_file(str(path)), load_file(str(new / "noises" / path.name))
        assert saved.keys() == written.keys()
        assert all(torch.equal(saved[k], written[k]) for k in saved)
    for path in sorted(old.glob("images/*-best.*")):  # the top rows' labels are formatted anew since 0.2.0
        assert (new / "images" / path.name).read_bytes() == path.read_bytes(), path.name
