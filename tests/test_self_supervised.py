"""The self-supervised verifier (Ma et al. 2025): feature agreement of a sample with the model's
clean prediction from its re-noised copy."""

import pytest
import torch
from tiny_pipelines import tiny_sd, write_tiny_clip

import noisesearch as ns
from noisesearch.catalogue import bind, load_process, load_verifier
from noisesearch.errors import RunError


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


def test_scores_agreement_with_the_clean_prediction_from_level_04(clip_folder):
    process = load_process("shapes", steps=10)
    verifier = bind(load_verifier(f"self-supervised:{clip_folder}"), process)
    assert not verifier.differentiable and abs(float(process.noise_levels()[verifier.state()]) - 0.4) < 0.1
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
