"""The ``vqascore`` verifier on tiny random vision-language models of two families (Idefics3 and
LLaVA), saved to folders with a word-level tokenizer, their processors and a chat template."""

import pytest
import torch
from tiny_vlms import save_idefics3, save_llava

import noisesearch as ns
from noisesearch.catalogue import load_verifier
from noisesearch.errors import InputError
from noisesearch.worlds.shapes.scenes import draw

FAMILIES = {"idefics3": save_idefics3, "llava": save_llava}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def vlm(request, tmp_path_factory):
    return FAMILIES[request.param](tmp_path_factory.mktemp(request.param))


def shapes_images(n: int) -> torch.Tensor:
    pixels = [torch.from_numpy(draw(("vqa", i))[2]) for i in range(n)]
    return torch.stack(pixels).permute(0, 3, 1, 2).float() / 255


def reference_yes_prob(folder, image: torch.Tensor, prompt: str) -> float:
    """P("Yes") computed directly: the chat text, the processor, the model's next-token softmax."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from noisesearch.verifiers.image_stats import to_pil

    processor = AutoProcessor.from_pretrained(str(folder))
    model = AutoModelForImageTextToText.from_pretrained(str(folder), use_safetensors=True).eval()
    question = f'Does this figure show "{prompt}"? Please answer yes or no.'
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(text=[text], images=[to_pil(image).convert("RGB")], return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits[0, -1]
    return float(logits.softmax(-1)[processor.tokenizer.convert_tokens_to_ids("Yes")])


def test_vqascore_is_the_probability_of_yes_and_batch_invariant(vlm):
    verifier = load_verifier(f"vqascore:{vlm};micro_batch=4")
    prob = load_verifier(f"vqascore:{vlm};output=prob")
    assert verifier.name == "vqascore" and not verifier.differentiable and "<= 0" in verifier.scale
    images = shapes_images(5)
    prompts = ["a red circle", "a blue square above a green triangle"] * 2 + ["a red circle"]
    scores = verifier.score(images, prompts)
    assert (scores <= 0).all() and torch.isfinite(scores).all()
    for i in (0, 1):
        expected = reference_yes_prob(vlm, images[i], prompts[i])
        assert scores[i].exp().item() == pytest.approx(expected, rel=1e-4)
        assert prob.score(images[i:i + 1], prompts[i:i + 1]).item() == pytest.approx(expected, rel=1e-4)
    for i in range(5):  # alone, or in any batch: the same bits
        assert torch.equal(verifier.score(images[i:i + 1], prompts[i:i + 1]), scores[i:i + 1])
    assert torch.equal(verifier.score(images.flip(0), prompts[::-1]), scores.flip(0))


def test_vqascore_question_option_changes_the_score(vlm):
    images, prompts = shapes_images(2), ["a red circle"] * 2
    asked = load_verifier(f"vqascore:{vlm};question=Is this {{prompt}}? Answer yes or no.;micro_batch=2")
    assert asked.text("a red circle").count("Is this a red circle? Answer yes or no.") == 1
    default = load_verifier(f"vqascore:{vlm}")
    assert not torch.equal(asked.score(images, prompts), default.score(images, prompts))


def test_vqascore_bad_input_is_one_clear_line(tmp_path, vlm):
    with pytest.raises(InputError, match="is not a folder; give a local folder"):
        load_verifier(f"vqascore:{tmp_path / 'missing'}")
    with pytest.raises(InputError, match="cannot load an image-text-to-text model"):
        load_verifier(f"vqascore:{tmp_path}")
    with pytest.raises(InputError, match=r"has no option 'colour=red'; valid: question=, output="):
        load_verifier(f"vqascore:{vlm};colour=red")
    with pytest.raises(InputError, match="valid: logprob, prob"):
        load_verifier(f"vqascore:{vlm};output=odds")
    with pytest.raises(InputError, match="must contain"):
        load_verifier(f"vqascore:{vlm};question=Is it?")


def test_a_shapes_search_with_vqascore_alone_and_in_an_ensemble(vlm):
    process = ns.load_process("shapes", steps=2)
    result = ns.search(process, f"vqascore:{vlm}", ["a red circle"], n=2, judges=[])
    assert result[0].verifier_calls == 2 and result[0].best_score <= 0
    alone = load_verifier(f"vqascore:{vlm}").score(result[0].best_image[None], ["a red circle"])
    assert result[0].best_score == pytest.approx(float(alone), abs=1e-6)
    mixed = load_verifier(f"ensemble:vqascore:{vlm}+brightness").score(shapes_images(3), ["a red circle"] * 3)
    assert sorted(mixed.tolist()) and ((1 <= mixed) & (mixed <= 3)).all()
