"""The shapes world's second verifier (``shapes-vqa``) and its Frechet judge (``shapes-fd``)."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from shapes_label_sample import read_labelled
from shapes_training_data import hard_negatives

from noisesearch.catalogue import load_judge, load_verifier
from noisesearch.errors import InputError, RunError
from noisesearch.worlds.shapes.frechet import ShapesFrechet, reference_scenes
from noisesearch.worlds.shapes.networks import KINDS, MAX_COUNT, SceneQA, load_net, token_ids
from noisesearch.worlds.shapes.oracle import check
from noisesearch.worlds.shapes.scenes import draw, rng_for
from noisesearch.worlds.shapes.tokenizer import PAD_ID, vocabulary

DATA = Path(__file__).parent / "data"


def drawn(n: int, purpose: str, category: str | None = None):
    """(prompts, objects, images in [0, 1]) of ``n`` scenes no network was trained on."""
    scenes = [draw((7, purpose, i), category) for i in range(n)]
    images = torch.from_numpy(np.stack([s[2] for s in scenes])).permute(0, 3, 1, 2).float() / 255
    return [s[0] for s in scenes], [s[1] for s in scenes], images


def test_token_ids_read_the_canonical_words():
    ids, lengths = token_ids(["a red circle to the left of a square", "a red circle left of a square", "a"])
    vocab = vocabulary()
    assert torch.equal(ids[0], ids[1]) and lengths.tolist() == [7, 7, 1]
    assert ids[0, :7].tolist() == [vocab[w] for w in "a red circle left of a square".split()]
    assert (ids[0, 7:] == PAD_ID).all() and (ids[2, 1:] == PAD_ID).all()


def test_scene_qa_reads_every_row_with_its_own_prompt():
    torch.manual_seed(0)
    net = SceneQA().eval()
    _, _, images = drawn(4, "qa-rows")
    prompts = ["a red circle", "two squares", "a circle above a triangle", "a blue square and a red circle"]
    with torch.no_grad():
        together = net(images, prompts)
        alone = torch.cat([net(images[i:i + 1], prompts[i:i + 1]) for i in range(4)])
        split = net.answer(net.see(images), prompts)
        swapped = net(images, prompts[::-1])
    assert together.shape == (4,)
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(together, split)
    assert not torch.allclose(together, swapped)  # the prompt is read


def test_shapes_vqa_prefers_each_scene_s_caption_to_one_with_a_slot_changed():
    verifier = load_verifier("shapes-vqa")
    prompts, objects, images = drawn(120, "vqa-held-out")
    rng = rng_for((7, "vqa-negatives"))
    negatives = [hard_negatives(p, o, rng, 1)[0] for p, o in zip(prompts, objects, strict=True)]
    true = verifier.score(images, [p.text() for p in prompts])
    false = verifier.score(images, negatives)
    assert (true <= 0).all() and (false <= 0).all()  # log-probabilities
    assert (true > false).float().mean() > 0.9
    assert (true > math.log(0.5)).float().mean() > 0.9 and (false < math.log(0.5)).float().mean() > 0.9


@pytest.mark.parametrize("sample", ["shapes_labelled", "shapes_labelled_heldout"])
def test_shapes_vqa_mostly_agrees_with_the_labels_given_by_eye(sample):
    """Generated images, labelled by a person: the verifier is imperfect (it is a verifier, not
    the oracle) but far better than chance on both samples."""
    images, prompts, labels = read_labelled(DATA / sample)
    scores = load_verifier("shapes-vqa").score(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255,
                                               prompts)
    agree = ((scores > math.log(0.5)) == torch.tensor(labels)).float().mean()
    assert agree >= 0.85


def test_shapes_vqa_is_differentiable_and_refuses_prompts_outside_the_grammar():
    verifier = load_verifier("shapes-vqa")
    assert verifier.differentiable
    _, _, images = drawn(2, "vqa-grad")
    images = (images * 0.9 + 0.05).requires_grad_(True)
    verifier.score(images, ["a red circle", "two squares"]).sum().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    with pytest.raises(RunError, match="templates"):
        verifier.score(images.detach(), ["a red circle", "a dog"])


def test_shapes_vqa_reads_common_phrasings_as_the_grammar():
    verifier = load_verifier("shapes-vqa")
    _, _, images = drawn(1, "vqa-phrasing", "position")
    a = verifier.score(images, ["a red circle to the left of a square"])
    b = verifier.score(images, ["a red circle left of a square"])
    assert torch.equal(a, b)


def test_the_encoder_counts_the_objects_of_drawn_scenes():
    encoder = load_net("shapes_encoder")
    _, objects, images = drawn(200, "encoder-held-out")
    with torch.no_grad():
        counts, _ = encoder(images)
    truth = torch.zeros(len(objects), len(KINDS), dtype=torch.long)
    for row, objs in enumerate(objects):
        for o in objs:
            truth[row, KINDS.index((o.shape, o.color))] += 1
    exact = (counts.argmax(-1) == truth.clamp(max=MAX_COUNT)).all(1).float().mean()
    assert exact > 0.9


def test_reference_scenes_are_keyed_by_prompt_and_occurrence():
    conditions = ["a red circle", "two squares", "a red circle"]
    a, b = reference_scenes(conditions, 3), reference_scenes(conditions, 3)
    assert a.shape == (9, 3, 32, 32) and torch.equal(a, b)
    assert not torch.equal(a[0:3], a[6:9])  # the second occurrence gets its own scenes
    assert torch.equal(reference_scenes(["a red circle"], 3), a[0:3])
    images = (a * 255).round().byte().permute(0, 2, 3, 1).numpy()
    assert all(check(image, conditions[k // 3]) for k, image in enumerate(images))


def test_shapes_fd_ranks_faithful_diverse_sets_before_collapsed_blank_or_wrong_ones():
    judge = load_judge("shapes-fd")
    assert isinstance(judge, ShapesFrechet)
    prompts, _, images = drawn(96, "fd-faithful")
    conditions = [p.text() for p in prompts]
    faithful = judge.evaluate_set(images, conditions)["fd"]
    collapsed = judge.evaluate_set(images[:1].expand(96, -1, -1, -1), conditions)["fd"]
    blank = judge.evaluate_set(torch.zeros_like(images), conditions)["fd"]
    _, _, others = drawn(96, "fd-other-prompts", "counting")
    wrong = judge.evaluate_set(others, conditions)["fd"]
    assert 0 <= faithful < min(collapsed, blank, wrong)
    assert judge.evaluate_set(images, conditions)["fd"] == faithful  # deterministic
    assert math.isnan(judge.evaluate_set(images[:1], conditions[:1])["fd"])


def test_shapes_fd_refuses_a_prompt_outside_the_grammar():
    with pytest.raises(InputError, match="templates"):
        reference_scenes(["a dog"])


def test_a_shapes_bench_scores_winners_with_the_second_verifier_and_the_frechet_judge(tmp_path):
    from noisesearch.cli import main as cli

    out = tmp_path / "bench"
    code = cli(["bench", "--suite", "shapes", "--limit", "6", "--steps", "2", "--budgets", "2",
                "--algorithms", "random", "--verifier", "shapes-clip,shapes-vqa,brightness",
                "--judges", "shapes-oracle,shapes-fd", "--no-progress", "--out", str(out)])
    assert code == 0
    summary = (out / "summary.md").read_text()
    assert "score:shapes-vqa" in summary and "shapes-fd:fd" in summary
    cells = {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    searched = [c for c in cells.values() if c.get("verifier") == "shapes-vqa" and c["status"] == "done"]
    assert searched and all(abs(row["verifier_score"] - row["metrics"]["score:shapes-vqa"]) < 1e-4
                            for row in searched[0]["rows"])
    assert all(c["set_metrics"]["shapes-fd:fd"] > 0 for c in cells.values() if c["status"] == "done")
