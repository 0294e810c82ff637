"""The ``clip`` verifier on a tiny random CLIP saved to a folder, and the embedded ``shapes-clip``."""

import numpy as np
import pytest
import torch
from shapes_training_data import hard_negatives
from tiny_pipelines import write_tiny_clip

from noisesearch.catalogue import load_verifier
from noisesearch.errors import InputError
from noisesearch.verifiers.clip import CLIPSCORE_W, CLIPScore
from noisesearch.worlds.shapes.scenes import draw, rng_for


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


def test_clipscore_matches_the_reference_model_forward(tiny_clip):
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    verifier = load_verifier(f"clip:{tiny_clip}")
    assert verifier.differentiable and verifier.name == "clip"
    pixels = np.stack([draw(("clip", i))[2] for i in range(5)])
    prompts = [draw(("clip", i))[0].text() for i in range(5)]
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
    scores = verifier.score(images, prompts)

    model = CLIPModel.from_pretrained(str(tiny_clip), use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_clip))
    processor = CLIPImageProcessor.from_pretrained(str(tiny_clip))
    reference_pixels = processor(images=list(pixels), return_tensors="pt").pixel_values
    assert torch.allclose(verifier.preprocess(images), reference_pixels, atol=1e-5)
    ids = tokenizer(prompts, padding="max_length", max_length=12, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model(input_ids=ids, pixel_values=reference_pixels)
    cos = out.logits_per_image.diagonal() / model.logit_scale.exp()
    assert torch.allclose(scores, CLIPSCORE_W * cos.clamp(min=0), atol=1e-5)


def test_clip_features_are_differentiable_and_resize_larger_images(tiny_clip):
    verifier = CLIPScore(tiny_clip)
    images = torch.rand(3, 3, 64, 48, requires_grad=True)
    assert verifier.preprocess(images).shape == (3, 3, 32, 32)
    feats = verifier.image_features(images)
    (feats @ verifier.text_features(["a red circle"])[0]).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_missing_checkpoint_offline_is_one_clear_error():
    with pytest.raises(InputError, match="not available.*local folder"):
        CLIPScore("openai/clip-vit-base-patch32")


def test_shapes_clip_prefers_the_true_prompt_to_hard_negatives():
    """On fresh scenes, the true caption outscores a caption with one slot changed."""
    verifier = load_verifier("shapes-clip")
    wins, total = 0, 0
    for i in range(60):
        prompt, objects, image = draw(("shapes-clip-test", i))
        negatives = hard_negatives(prompt, objects, rng_for(("shapes-clip-test-neg", i)), 3)
        x = torch.from_numpy(image).permute(2, 0, 1).float()[None].expand(4, -1, -1, -1) / 255
        with torch.no_grad():
            cos = (verifier.image_features(x) * verifier.text_features([prompt.text(), *negatives])).sum(-1)
        wins += int((cos[0] > cos[1:]).sum())
        total += 3
    assert wins / total > 0.8
