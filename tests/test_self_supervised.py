"""The self-supervised verifier (Ma et al. 2025): feature agreement of a sample with the model's
clean prediction from its re-noised copy."""

import pytest
import torch
from tiny_pipelines import tiny_sd, write_tiny_clip

import noisesearch as ns
from noisesearch.catalogue import bind, load_process, load_verifier
from noisesearch.errors import RunError
from noisesearch.processes.levels import to_vp


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


def test_scores_agreement_with_the_clean_prediction_from_level_04(clip_folder):
    process = load_process("shapes", steps=10)
    verifier = bind(load_verifier(f"self-supervised:{clip_folder}"), process)
    vp = to_vp(0.4, "flow")  # Ma et al.'s sigma = 0.4 is SiT's interpolant time t
    assert not verifier.differentiable and abs(float(process.noise_levels()[verifier.state()]) - vp) < 0.1
    images = ns.search(process, "shapes-clip", ["a red circle", "a blue square"], n=2, judges=[])
    samples = torch.stack([p.best_image for p in images])
    scores = verifier.score(samples, ["a red circle", "a blue square"])
    assert scores.shape == (2,) and ((scores > -1) & (scores <= 1 + 1e-6)).all()
    # the definition, step by step: re-noise with the sample-keyed noise, predict, compare features
    from noisesearch.noise import keyed_normal
    from noisesearch.verifiers.self_supervised import digest

    i = verifier.state()
    noise = keyed_normal([("self-supervised", digest(s)) for s in samples], process.sample_shape, scheme=1)
    x_i = process.renoise(process.encode_image(samples), process.steps, i, noise)
    x0, _ = process.predict(x_i, i, process.encode(["a red circle", "a blue square"]))
    expected = (verifier.image_features(process.decode(x0)) * verifier.image_features(samples)).sum(-1)
    assert torch.allclose(scores, expected, atol=1e-5)
    assert torch.equal(verifier.score(samples, ["a red circle", "a blue square"]), scores)  # keyed


def test_a_sample_scores_higher_than_noise(clip_folder):
    process = load_process("digits", steps=10)
    verifier = bind(load_verifier(f"self-supervised:{clip_folder}"), process)
    samples = ns.search(process, "digits-classifier", [3], n=1, judges=[])[0].best_image[None]
    noise = torch.rand(1, *samples.shape[1:], generator=torch.Generator().manual_seed(0))
    assert verifier.score(samples, [3]) > verifier.score(noise, [3])


def test_runs_as_the_search_verifier_on_a_pipeline(clip_folder, tmp_path):
    process = load_process(f"sd:{tiny_sd(tmp_path / 'sd')}", steps=3)
    result = ns.search(process, load_verifier(f"self-supervised:{clip_folder}"), ["a cat"], n=2, judges=[])
    assert result[0].verifier_calls == 2 and torch.isfinite(torch.tensor(result[0].best_score))


def test_without_a_process_it_says_so(clip_folder):
    verifier = load_verifier(f"self-supervised:{clip_folder}")
    with pytest.raises(RunError, match="needs the process"):
        verifier.score(torch.rand(1, 3, 32, 32), ["a circle"])


@pytest.mark.parametrize("guidance", [1.0, 2.0])
def test_the_ledger_counts_the_verifiers_denoiser_evaluations_as_nfes(clip_folder, guidance):
    """Every denoiser evaluation is an NFE, the verifier's too: with the self-supervised verifier
    the ledger's NFEs are the rows the denoiser evaluated (times its NFEs per call, 2 with
    guidance), and the verifier's are on top of the search's budget."""
    from noisesearch.verifiers import CallableVerifier
    from noisesearch.verifiers.ensemble import Ensemble

    process = load_process("digits", steps=4, guidance=guidance)
    rows = []
    prediction = process.denoiser.prediction

    def counting(x, at, cond):
        rows.append(len(x))
        return prediction(x, at, cond)

    process.denoiser.prediction = counting
    verifier = bind(load_verifier(f"self-supervised:{clip_folder}"), process)
    assert verifier.denoiser_nfe == process.nfe_per_step == (1 if guidance == 1 else 2)
    brightness = CallableVerifier(lambda images, conditions: images.mean((1, 2, 3)))
    assert Ensemble([verifier, brightness, verifier]).denoiser_nfe == 2 * process.nfe_per_step
    assert brightness.denoiser_nfe == 0
    cases = [("random", {"n": 3}),  # 3 generations (its budget) and 3 scores on top
             ("random", {"n": 2, "search_steps": 2}),  # the winner regenerated and scored again
             ("eps-greedy", {"k": 2})]  # scores every step's candidates
    for algorithm, options in cases:
        rows.clear()
        result = ns.search(process, verifier, [3, 7], algorithm=algorithm, judges=[], **options)
        evaluated = sum(rows) * process.nfe_per_step
        assert sum(p.nfe for p in result) == result.totals["nfe"] == evaluated, algorithm
        scored = sum(p.verifier_calls for p in result)
        assert scored > 0
        if options == {"n": 3}:
            assert evaluated - scored * process.nfe_per_step == 2 * 3 * process.generation_nfe
