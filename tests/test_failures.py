import json

import pytest
import torch

import noisesearch as ns
from noisesearch.catalogue import VERIFIERS
from noisesearch.cli import main
from noisesearch.errors import RunError
from noisesearch.processes import DenoisingProcess, gmm_process
from noisesearch.processes.gmm import MixtureEps
from noisesearch.verifiers import CallableVerifier


class NaNMixture(MixtureEps):
    def prediction(self, x, at, cond):
        out = super().prediction(x, at, cond)
        if at.index == 3:
            out[0, 0] = float("nan")
        return out


def test_nan_from_the_model_fails_that_candidate_only():
    faulty = DenoisingProcess(NaNMixture(), gmm_process(steps=6).sampling)
    result = ns.search(faulty, lambda im, c: im.sum(1), [0], n=2)
    clean = ns.search(gmm_process(steps=6), lambda im, c: im.sum(1), [0], n=2)
    # candidate 0 (row 0 of the one model call per step) fails; candidate 1 wins as without the fault
    assert result[0].failed == 1 and clean[0].failed == 0
    assert result[0].recipe["candidate"] == 1
    assert result[0].best_score == clean[0].history[1][1]
    assert result[0].history[0][1] == -float("inf")
    assert result.totals["failed_candidates"] == 1


def test_nan_scores_are_never_chosen_and_are_counted():
    clean = ns.search(gmm_process(steps=4), lambda im, c: im.flatten(1).sum(1), [0, 1], n=8)
    medians = {p.condition: torch.tensor([s for _, s in p.history], dtype=torch.float64).median()
               for p in clean}

    def nan_for_high(images, conditions):  # NaN for each condition's better half, the usual winners
        s = images.flatten(1).sum(1)
        high = s > torch.stack([medians[c] for c in conditions])
        return torch.where(high, torch.full_like(s, float("nan")), s)

    result = ns.search(gmm_process(steps=4), nan_for_high, [0, 1], n=8)
    for p, c in zip(result, clean, strict=True):
        scored, threshold = [s for _, s in c.history], medians[c.condition]
        assert p.failed == sum(s > threshold for s in scored) == 4
        assert p.best_score == max(s for s in scored if s <= threshold)
        assert p.best_score == max(s for _, s in p.history)
    assert result.totals["failed_candidates"] == 8


def test_every_candidate_failing_is_a_clear_error():
    verifier = CallableVerifier(lambda im, c: torch.full((len(im),), float("nan")), name="bad")
    with pytest.raises(RunError, match="every candidate for condition 0 failed"):
        ns.search(gmm_process(steps=4), verifier, [0], n=2)


@pytest.mark.parametrize("reward, message", [
    (lambda im, c: 1 / 0, "verifier 'bad' failed: ZeroDivisionError"),
    (lambda im, c: torch.zeros(len(im) + 1), "returned shape"),
])
def test_failing_verifier_is_a_clear_error(reward, message):
    verifier = CallableVerifier(reward, name="bad")
    with pytest.raises(RunError, match=message):
        ns.search(gmm_process(steps=4), verifier, [0], n=2)


def test_cli_records_a_failing_condition_and_goes_on(capsys, tmp_path, monkeypatch):
    def fails_on_nine(images, conditions):
        if 9 in conditions:
            raise OSError("reward server unreachable")
        return images.flatten(1).mean(1)

    monkeypatch.setitem(VERIFIERS, "flaky", {
        "factory": lambda arg=None, device="cpu": CallableVerifier(fails_on_nine, name="flaky"),
        "summary": ""})
    out = tmp_path / "run"
    code = main(["search", "--model", "digits", "--steps", "4", "-c", "9,1", "--verifier", "flaky",
                 "--set", "n=2", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1] == ("error: 1 of 2 conditions failed (recorded in results.jsonl); condition 9: "
                       "verifier 'flaky' failed: OSError: reward server unreachable")
    kept = {r["condition"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert sorted(kept) == [1, 9]
    assert kept[9]["status"] == "failed" and "reward server unreachable" in kept[9]["error"]
    assert kept[1]["status"] == "done"
    assert (out / kept[1]["noises"]).exists() and (out / kept[1]["image"]).exists()
    assert not (out / "noises" / "0.safetensors").exists()  # condition 9 is problem 0


class OutOfMemoryAbove:
    """Raises CUDA's out-of-memory error for calls of more than ``rows`` rows, as a GPU would."""

    def __init__(self, rows):
        self.rows, self.calls = rows, []

    def check(self, n):
        self.calls.append(n)
        if n > self.rows:
            raise torch.OutOfMemoryError(f"CUDA out of memory (injected: {n} rows)")


def comparable(result):
    return [(p.best_score, p.nfe, p.verifier_calls, p.history, p.recipe) for p in result]


def test_out_of_memory_halves_the_chunk_and_changes_no_result(caplog):
    limit = OutOfMemoryAbove(3)

    def reward(images, conditions):
        limit.check(len(images))
        return images.flatten(1).sum(1)

    clean = ns.search(gmm_process(steps=4), lambda im, c: im.flatten(1).sum(1), [0, 1], n=8, max_batch=16)
    with caplog.at_level("WARNING", logger="noisesearch"):
        result = ns.search(gmm_process(steps=4), reward, [0, 1], n=8, max_batch=16)
    assert comparable(result) == comparable(clean)
    assert result.totals["nfe"] == clean.totals["nfe"] and result.totals["oom_backoffs"] == 3
    assert limit.calls[:3] == [16, 8, 4] and set(limit.calls[3:]) == {2}
    assert [r.getMessage() for r in caplog.records] == [
        "out of memory on a chunk of 16 rows; retrying with chunks of 8",
        "out of memory on a chunk of 8 rows; retrying with chunks of 4",
        "out of memory on a chunk of 4 rows; retrying with chunks of 2",
    ]


class OutOfMemoryMixture(MixtureEps):
    """Runs out of memory above 2 rows at the third step only, after two steps were charged."""

    def prediction(self, x, at, cond):
        if at.index == 2:
            self.limit.check(len(x))
        return super().prediction(x, at, cond)


@pytest.mark.parametrize("algorithm, options", [("random", {"n": 4}), ("eps-greedy", {"k": 2})])
def test_out_of_memory_in_the_model_undoes_the_chunks_charges(algorithm, options):
    def reward(im, c):
        return im.flatten(1).sum(1)

    clean = ns.search(gmm_process(steps=4), reward, [0, 1, 2], algorithm=algorithm, max_batch=8, **options)
    process = DenoisingProcess(OutOfMemoryMixture(), gmm_process(steps=4).sampling)
    process.denoiser.limit = OutOfMemoryAbove(2)
    result = ns.search(process, reward, [0, 1, 2], algorithm=algorithm, max_batch=8, **options)
    assert comparable(result) == comparable(clean)
    assert result.totals["nfe"] == clean.totals["nfe"]
    assert result.totals["oom_backoffs"] == 2 and process.denoiser.limit.calls[:2] == [8, 4]


def test_out_of_memory_with_one_row_is_a_clear_error():
    limit = OutOfMemoryAbove(0)

    def reward(images, conditions):
        limit.check(len(images))
        return images.flatten(1).sum(1)

    with pytest.raises(RunError, match="out of memory with a chunk of one row"):
        ns.search(gmm_process(steps=4), reward, [0], n=4)
