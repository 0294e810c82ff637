"""The reward-model verifiers (pickscore, aesthetic, classifier, ensemble, imagereward, hps) on tiny
random-weight models saved to folders, each checked against the model run directly."""

import shutil
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_pipelines import write_tiny_clip

from noisesearch.catalogue import VERIFIERS, load_verifier
from noisesearch.errors import InputError
from noisesearch.verifiers.ensemble import Ensemble, mean_rank, parse_spec
from noisesearch.verifiers.pickscore import PickScore
from noisesearch.verifiers.preprocess import ImageTransform
from noisesearch.worlds.shapes.scenes import draw

LABELS = {0: "cat", 1: "dog", 2: "tench, Tinca tinca", 3: "crane", 4: "crane"}


def one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def pixels(n: int, seed: int, size=(32, 32)) -> np.ndarray:
    """(n, H, W, 3) uint8 images."""
    return np.random.default_rng(seed).integers(0, 256, (n, *size, 3), dtype=np.uint8)


def as_images(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def aesthetic_folder(tmp_path_factory):
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("aesthetic")
    write_tiny_clip(folder / "clip")
    g = torch.Generator().manual_seed(1)
    widths = {0: (16, 1024), 2: (1024, 128), 4: (128, 64), 6: (64, 16), 7: (16, 1)}
    state = {}
    for i, (n_in, n_out) in widths.items():
        state[f"layers.{i}.weight"] = torch.randn(n_out, n_in, generator=g) / n_in ** 0.5
        state[f"layers.{i}.bias"] = torch.randn(n_out, generator=g) * 0.1
    save_file(state, str(folder / "mlp.safetensors"))
    return folder


@pytest.fixture(scope="module")
def classifier_folder(tmp_path_factory):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = tmp_path_factory.mktemp("classifier")
    torch.manual_seed(2)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=37, num_labels=5, id2label=LABELS,
                       label2id={v: k for k, v in LABELS.items()})
    ViTForImageClassification(config).save_pretrained(str(folder), safe_serialization=True)
    ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.45, 0.4, 0.5],
                      image_std=[0.3, 0.25, 0.2]).save_pretrained(str(folder))
    assert not list(folder.glob("*.bin"))
    return folder


def prompts(n: int) -> list[str]:
    return [draw(("rewards", i))[0].text() for i in range(n)]


# ---------------------------------------------------------------- pickscore


def test_pickscore_is_the_clip_models_logit(tiny_clip):
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    verifier = load_verifier(f"pickscore:{tiny_clip}")
    assert isinstance(verifier, PickScore) and verifier.differentiable and verifier.name == "pickscore"
    array, texts = pixels(5, 0), prompts(5)
    scores = verifier.score(as_images(array), texts)

    model = CLIPModel.from_pretrained(str(tiny_clip), use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_clip))
    reference_pixels = CLIPImageProcessor.from_pretrained(str(tiny_clip))(images=list(array),
                                                                          return_tensors="pt").pixel_values
    ids = tokenizer(texts, padding=True, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model(input_ids=ids, pixel_values=reference_pixels)
    # PickScore's reference: logit_scale.exp() * cos = CLIP's logits_per_image diagonal
    assert torch.allclose(scores, out.logits_per_image.diagonal(), atol=1e-5)


def test_pickscore_takes_the_processor_from_another_source(tiny_clip, tmp_path):
    weights = tmp_path / "weights-only"
    weights.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_clip / name, weights / name)
    images, texts = as_images(pixels(3, 1)), prompts(3)
    full = PickScore(tiny_clip).score(images, texts)
    assert torch.allclose(PickScore(weights, processor_source=tiny_clip).score(images, texts), full)
    with pytest.raises(InputError, match="processor and tokenizer .* not available .*weights-only.*"
                                         "nowhere.*pickscore:DIR") as excinfo:
        PickScore(weights, processor_source=tmp_path / "nowhere")
    one_line(excinfo)


def test_pickscore_default_checkpoint_offline_is_one_clear_error():
    message = "PickScore_v1.*not available.*local folder.*pickscore:DIR"
    with pytest.raises(InputError, match=message) as excinfo:
        load_verifier("pickscore")
    one_line(excinfo)


# ---------------------------------------------------------------- aesthetic


def test_aesthetic_is_the_mlp_on_unit_clip_image_embeddings(aesthetic_folder):
    from safetensors.torch import load_file
    from transformers import CLIPImageProcessor, CLIPModel

    verifier = load_verifier(f"aesthetic:{aesthetic_folder}")
    assert verifier.differentiable and verifier.name == "aesthetic"
    array = pixels(5, 3)
    scores = verifier.score(as_images(array), ["ignored"] * 5)
    assert torch.equal(scores, verifier.score(as_images(array), ["other prompts"] * 5))

    clip = CLIPModel.from_pretrained(str(aesthetic_folder / "clip"), use_safetensors=True).eval()
    reference_pixels = CLIPImageProcessor.from_pretrained(str(aesthetic_folder / "clip"))(
        images=list(array), return_tensors="pt").pixel_values
    state = load_file(str(aesthetic_folder / "mlp.safetensors"))
    with torch.no_grad():
        out = clip.get_image_features(pixel_values=reference_pixels)
        x = out if isinstance(out, torch.Tensor) else out.pooler_output
        x = x / x.norm(dim=-1, keepdim=True)
        for i in (0, 2, 4, 6, 7):  # the Dropouts (1, 3, 5) are the identity in eval mode
            x = F.linear(x, state[f"layers.{i}.weight"], state[f"layers.{i}.bias"])
    assert torch.allclose(scores, x[:, 0], atol=1e-5)


def test_aesthetic_errors_name_the_expected_layout(aesthetic_folder, tmp_path):
    with pytest.raises(InputError, match="needs an argument.*clip/.*mlp.safetensors.*\\.pth") as excinfo:
        load_verifier("aesthetic")
    one_line(excinfo)
    with pytest.raises(InputError, match="lacks clip/config.json and mlp.safetensors") as excinfo:
        load_verifier(f"aesthetic:{tmp_path / 'missing'}")
    one_line(excinfo)
    broken = tmp_path / "broken"
    shutil.copytree(aesthetic_folder, broken)
    (broken / "mlp.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="not a safetensors file.*mlp.safetensors") as excinfo:
        load_verifier(f"aesthetic:{broken}")
    one_line(excinfo)
    from safetensors.torch import save_file

    save_file({"layers.0.weight": torch.zeros(1024, 768)}, str(broken / "mlp.safetensors"))
    with pytest.raises(InputError, match="does not fit CLIP embeddings of size 16.*layers.0.bias") as excinfo:
        load_verifier(f"aesthetic:{broken}")
    one_line(excinfo)


# ---------------------------------------------------------------- classifier


def test_classifier_is_the_log_probability_of_the_target_class(classifier_folder):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    verifier = load_verifier(f"classifier:{classifier_folder}")
    assert verifier.differentiable and verifier.name == "classifier"
    conditions = [0, "1", "DOG", "tinca tinca", "Tench, Tinca tinca", np.int64(4)]
    assert [verifier.target(c) for c in conditions] == [0, 1, 1, 2, 2, 4]
    array = pixels(6, 4)
    scores = verifier.score(as_images(array), conditions)

    model = AutoModelForImageClassification.from_pretrained(str(classifier_folder), use_safetensors=True)
    model.eval()
    reference_pixels = AutoImageProcessor.from_pretrained(str(classifier_folder))(
        images=list(array), return_tensors="pt").pixel_values
    with torch.no_grad():
        logp = model(pixel_values=reference_pixels).logits.log_softmax(-1)
    assert torch.allclose(verifier.preprocess(as_images(array)), reference_pixels, atol=1e-5)
    assert torch.allclose(scores, logp[torch.arange(6), torch.tensor([0, 1, 1, 2, 2, 4])], atol=1e-5)
    grey = verifier.score(as_images(array)[:, :1], [0] * 6)  # one channel is repeated to three
    assert torch.allclose(grey, verifier.score(as_images(array)[:, :1].expand(-1, 3, -1, -1), [0] * 6))


def test_classifier_conditions_that_name_no_class_are_one_line_errors(classifier_folder):
    verifier = load_verifier(f"classifier:{classifier_folder}")
    images = torch.rand(1, 3, 32, 32)
    for condition, message in [("zebra", "no class 'zebra'.*index 0..4 or a label.*'cat', 'dog'"),
                               ("7", "no class '7'"), (-1, "no class -1"),
                               ("crane", "'crane' names several classes: 3 'crane', 4 'crane'")]:
        with pytest.raises(InputError, match=message) as excinfo:
            verifier.score(images, [condition])
        one_line(excinfo)
    with pytest.raises(InputError, match="no class 'zebra'"):  # through an ensemble too
        load_verifier(f"ensemble:classifier:{classifier_folder}+brightness").score(images, ["zebra"])


def test_classifier_missing_checkpoint_offline_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="needs an argument: classifier:CHECKPOINT"):
        load_verifier("classifier")
    for checkpoint in ("google/vit-base-patch16-224", str(tmp_path)):
        with pytest.raises(InputError, match="image classifier .* not available.*classifier:DIR") as excinfo:
            load_verifier(f"classifier:{checkpoint}")
        one_line(excinfo)


def test_processor_resizing_matches_pil_up_to_8_bit_rounding():
    """Resize / crop / crop_pct as the processors do, within ~1/255 (PIL rounds between its passes)."""
    from transformers import CLIPImageProcessor, ConvNextImageProcessor, ViTImageProcessor

    array = pixels(2, 5, size=(48, 40))
    processors = [CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                  CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 56, "width": 56}),
                  ViTImageProcessor(size={"height": 24, "width": 36}),
                  ConvNextImageProcessor(size={"shortest_edge": 32})]
    for processor in processors:
        processor.do_normalize = False
        reference = processor(images=list(array), return_tensors="pt").pixel_values
        ours = ImageTransform.from_processor(processor)(as_images(array))
        assert ours.shape == reference.shape
        assert (ours - reference).abs().max() < 1.5 / 255


# ---------------------------------------------------------------- gradients


def test_scores_are_differentiable_in_the_images(tiny_clip, aesthetic_folder, classifier_folder):
    specs = {f"pickscore:{tiny_clip}": prompts(2), f"aesthetic:{aesthetic_folder}": ["x", "x"],
             f"classifier:{classifier_folder}": [1, "cat"],
             f"ensemble:2*brightness+0.5*pickscore:{tiny_clip}": prompts(2)}
    for spec, conditions in specs.items():
        verifier = load_verifier(spec)
        assert verifier.differentiable, spec
        images = torch.rand(2, 3, 40, 36, requires_grad=True)  # resized to 32x32 on the way
        verifier.score(images, conditions).sum().backward()
        assert images.grad is not None and images.grad.abs().sum() > 0, spec
        assert images.grad[0].abs().sum() > 0 and images.grad[1].abs().sum() > 0, spec


# ---------------------------------------------------------------- ensemble


def test_mean_rank_ensemble_ranks_within_each_condition():
    verifier = load_verifier("ensemble:brightness+compressibility")
    assert verifier.name == "ensemble" and not verifier.differentiable and verifier.weights is None
    noise = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    flat = {v: torch.full((3, 32, 32), v) for v in (0.2, 0.9)}
    images = torch.stack([flat[0.9], noise, flat[0.2], flat[0.9], flat[0.2]])
    conditions = ["x", "x", "x", "y", "y"]
    compress = load_verifier("compressibility").score(images, conditions)
    # flat images compress equally well (a tie) and better than noise; brightness 0.9 > noise > 0.2
    assert compress[0] == compress[2] > compress[1]
    # condition x: brightness ranks 3, 2, 1; compressibility 2.5, 1, 2.5 -> means 2.75, 1.5, 1.75
    # condition y: brightness ranks 2, 1; compressibility 1.5, 1.5 -> means 1.75, 1.25
    expected = torch.tensor([2.75, 1.5, 1.75, 1.75, 1.25])
    assert torch.equal(verifier.score(images, conditions), expected)
    # scores depend on which candidates are scored together: alone, every image has rank 1
    assert torch.equal(verifier.score(images[:1], ["x"]), torch.tensor([1.0]))
    assert torch.equal(verifier.score(images[:2], ["x", "x"]), torch.tensor([2.0, 1.0]))
    columns = torch.tensor([[1.0, float("nan"), 3.0], [0.0, 1.0, 2.0]])
    assert torch.equal(mean_rank(columns, [0, 0, 0]).isnan(), torch.tensor([False, True, False]))
    assert torch.equal(mean_rank(columns, [0, 0, 0])[[0, 2]], torch.tensor([1.0, 2.0]))


def test_weighted_sum_ensemble_is_per_image():
    verifier = load_verifier("ensemble:0.7*brightness+0.3*compressibility")
    assert verifier.weights == [0.7, 0.3] and not verifier.differentiable
    images = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    conditions = ["a", "a", "b", "a"]
    expected = (0.7 * load_verifier("brightness").score(images, conditions)
                + 0.3 * load_verifier("compressibility").score(images, conditions))
    scores = verifier.score(images, conditions)
    assert torch.allclose(scores, expected)
    assert torch.allclose(verifier.score(images[2:3], ["b"]), scores[2:3])  # batch-independent

    double = load_verifier("ensemble:2*brightness+-0.5*brightness")
    assert double.differentiable
    x = images.clone().requires_grad_(True)
    double.score(x, conditions).sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, 1.5 / (3 * 16 * 16)))


def test_ensemble_specs_split_on_top_level_plus_and_first_star(tiny_clip):
    assert parse_spec(f"0.5*pickscore:{tiny_clip}+0.5*compressibility:80") == (
        [f"pickscore:{tiny_clip}", "compressibility:80"], [0.5, 0.5])
    assert parse_spec("clip:/a/we*ird+(ensemble:brightness+compressibility)") == (
        ["clip:/a/we*ird", "ensemble:brightness+compressibility"], None)
    verifier = load_verifier(f"ensemble:0.5*pickscore:{tiny_clip}+0.5*compressibility:80")
    assert [m.name for m in verifier.members] == ["pickscore", "compressibility"]
    assert verifier.members[1].quality == 80
    nested = load_verifier("ensemble:brightness+(ensemble:brightness+compressibility)")
    assert isinstance(nested.members[1], Ensemble)
    assert nested.score(torch.rand(3, 3, 8, 8), ["p"] * 3).shape == (3,)


def test_ensemble_spec_errors():
    with pytest.raises(InputError, match="unknown verifier 'nonesuch:3'; valid: digits-classifier"):
        load_verifier("ensemble:brightness+nonesuch:3")
    with pytest.raises(InputError, match="every member a weight .* or none"):
        load_verifier("ensemble:0.5*brightness+compressibility")
    with pytest.raises(InputError, match="empty member"):
        load_verifier("ensemble:brightness+")
    with pytest.raises(InputError, match="unbalanced parentheses"):
        load_verifier("ensemble:(brightness+compressibility")
    with pytest.raises(InputError, match="needs an argument: ensemble:v1\\+v2"):
        load_verifier("ensemble")


# ---------------------------------------------------------------- optional packages


@pytest.mark.parametrize("name, package", [("imagereward", "image-reward"), ("hps", "hpsv2")])
def test_optional_packages_missing_is_one_line_saying_what_to_install(monkeypatch, name, package):
    monkeypatch.setitem(sys.modules, {"imagereward": "ImageReward", "hps": "hpsv2"}[name], None)
    with pytest.raises(InputError, match=f"verifier '{name}' needs .*`pip install {package}`") as excinfo:
        load_verifier(name)
    one_line(excinfo)
    assert not VERIFIERS[name]["differentiable"]


def test_optional_wrappers_score_each_image_with_its_prompt(monkeypatch):
    """With stand-in modules of the packages' documented API: one call per image, PIL in, floats out."""
    calls = []

    class FakeImageReward:
        def score(self, prompt, images):
            calls.append((prompt, len(images)))
            return float(np.asarray(images[0]).mean()) / 255 + len(prompt)

    image_reward = types.SimpleNamespace(load=lambda name, device="cpu": FakeImageReward())
    hpsv2 = types.SimpleNamespace(
        score=lambda images, prompt, hps_version: [np.array([np.asarray(images[0]).mean() / 255 + 0.5])])
    monkeypatch.setitem(sys.modules, "ImageReward", image_reward)
    monkeypatch.setitem(sys.modules, "hpsv2", hpsv2)
    images = torch.stack([torch.full((3, 8, 8), 0.2), torch.full((3, 8, 8), 0.6)])
    rewards = load_verifier("imagereward").score(images, ["ab", "abcd"])
    assert calls == [("ab", 1), ("abcd", 1)]
    assert torch.allclose(rewards, torch.tensor([2 + 51 / 255, 4 + 153 / 255]))
    hps = load_verifier("hps")
    assert hps.version == "v2.1" and not hps.differentiable
    assert torch.allclose(hps.score(images, ["p", "q"]), torch.tensor([51 / 255 + 0.5, 153 / 255 + 0.5]))


def test_the_cli_checks_classifier_conditions_before_writing(classifier_folder, tmp_path, capsys):
    from noisesearch.cli import main

    out = tmp_path / "run"
    code = main(["search", "--model", "digits", "--steps", "4", "-c", "3,7", "--verifier",
                 f"classifier:{classifier_folder}", "--set", "n=2", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "7" in err[0], err
    assert not out.exists()
    assert main(["search", "--model", "digits", "--steps", "4", "-c", "3", "--verifier",
                 f"classifier:{classifier_folder}", "--set", "n=2", "--no-progress", "--out", str(out)]) == 0
