"""The shapes vocabulary and its word-level tokenizer (a transformers fast tokenizer, built offline).

Every word of every template is in the vocabulary. The tokenizer maps a word outside it to
``[UNK]``; the shapes process refuses such prompts before they reach it
(``check_vocabulary``), with the list of valid words.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import InputError
from .prompts import COLORS, NUMBERS, PHRASING_WORDS, PLURALS, SHAPES, prompt_words

SPECIAL = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
WORDS = ["a", "an", "and", "of", "left", "right", "above", "below", *NUMBERS, *SHAPES, *PLURALS, *COLORS]
MAX_LENGTH = 12  # [BOS] + the longest template (9 words) + [EOS], with room to spare


def vocabulary() -> dict[str, int]:
    return {token: i for i, token in enumerate(SPECIAL + WORDS)}


def check_vocabulary(text: str) -> None:
    """``InputError`` naming the first word of ``text`` outside the vocabulary (the words of the
    common phrasings count as in it: prompts are rewritten to the grammar's words first)."""
    for word in prompt_words(text):
        if word not in WORDS and word not in PHRASING_WORDS:
            raise InputError(f"word {word!r} is not in the shapes vocabulary; "
                             f"valid words: {', '.join(dict.fromkeys([*WORDS, *PHRASING_WORDS]))}")


def build_tokenizer():
    """A ``PreTrainedTokenizerFast`` over ``vocabulary()``: lower-cased, split on whitespace and
    punctuation, wrapped in [BOS] ... [EOS] and padded with [PAD] to ``MAX_LENGTH``."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(WordLevel(vocabulary(), unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Lowercase(), normalizers.Replace(Regex(r"[^a-z0-9\s]"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A [EOS]", special_tokens=[("[BOS]", BOS_ID), ("[EOS]", EOS_ID)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="[BOS]", eos_token="[EOS]", pad_token="[PAD]",
        unk_token="[UNK]", model_max_length=MAX_LENGTH, padding_side="right")


def save_tokenizer(folder: Path) -> None:
    """Write the tokenizer so ``AutoTokenizer.from_pretrained(folder)`` loads it offline."""
    build_tokenizer().save_pretrained(str(folder))
