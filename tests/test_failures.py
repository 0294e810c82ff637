import json

import pytest
import torch

import noisesearch as ns
from noisesearch.cli import main
from noisesearch.errors import RunError
from noisesearch.processes import GMMProcess
from noisesearch.verifiers import VERIFIERS, CallableVerifier


class NaNGMM(GMMProcess):
    def eps(self, x, i, cond):
        out = super().eps(x, i, cond)
        if i == 3:
            out[0, 0] = float("nan")
        return out


def test_nan_from_the_model_is_a_clear_error():
    with pytest.raises(RunError, match="NaN/Inf in 1 of"):
        ns.search(NaNGMM(steps=6), lambda im, c: im.sum(1), [0], n=2)


@pytest.mark.parametrize("reward, message", [
    (lambda im, c: 1 / 0, "verifier 'bad' failed: ZeroDivisionError"),
    (lambda im, c: torch.full((len(im),), float("nan")), "returned NaN/Inf"),
    (lambda im, c: torch.zeros(len(im) + 1), "returned shape"),
])
def test_failing_verifier_is_a_clear_error(reward, message):
    verifier = CallableVerifier(reward, name="bad")
    with pytest.raises(RunError, match=message):
        ns.search(GMMProcess(steps=4), verifier, [0], n=2)


def test_cli_keeps_finished_conditions_when_a_verifier_fails(capsys, tmp_path, monkeypatch):
    def fails_on_nine(images, conditions):
        if 9 in conditions:
            raise OSError("reward server unreachable")
        return images.flatten(1).mean(1)

    monkeypatch.setitem(VERIFIERS, "flaky", {
        "factory": lambda arg=None: CallableVerifier(fails_on_nine, name="flaky"), "summary": ""})
    out = tmp_path / "run"
    code = main(["search", "--model", "digits", "--steps", "4", "-c", "1,9", "--block", "1",
                 "--verifier", "flaky", "--set", "n=2", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == ["error: verifier 'flaky' failed: OSError: reward server unreachable"]
    kept = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [k["condition"] for k in kept] == [1]
    assert (out / kept[0]["noises"]).exists() and (out / kept[0]["image"]).exists()
