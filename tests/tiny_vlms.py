"""Tiny random-weight vision-language models of two families (LLaVA, Idefics3), saved with a
word-level tokenizer, a processor and a chat template to a folder, as ``vqascore`` loads them.
(Qwen2-VL's processor needs torchvision for its video processor, which the tests do not install.)"""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ("yes no Yes No does this figure show image a an the red green blue circle square triangle "
         "above below left right of please answer or user assistant system").split()
PUNCTUATION = list("\"'?.,:!\n")
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}{{ image }}"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def word_tokenizer(specials: list[str]):
    """A ``PreTrainedTokenizerFast`` over ``WORDS`` and punctuation, with ``specials`` as added tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    base = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
    vocab = {token: i for i, token in enumerate(base + specials + WORDS + PUNCTUATION)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                     pre_tokenizers.Punctuation()])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        eos_token="<|im_end|>", bos_token="<|im_start|>",
                                        additional_special_tokens=["<|im_start|>", "<|im_end|>", *specials])
    return tokenizer, len(vocab)


def save_llava(folder: Path, seed: int = 0) -> Path:
    """A LLaVA with a 1-layer CLIP vision tower at 32 pixels (8-pixel patches) and a 2-layer Llama."""
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    tokenizer, vocab = word_tokenizer(["<image>"])
    config = LlavaConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        text_config={"model_type": "llama", "vocab_size": vocab, "hidden_size": 64, "intermediate_size": 128,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 512},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_layer=-1,
        vision_feature_select_strategy="full",
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=8,
                               num_additional_image_tokens=1, vision_feature_select_strategy="full",
                               chat_template=CHAT_TEMPLATE.replace("{{ image }}", "<image>"))
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder


def save_idefics3(folder: Path, seed: int = 0) -> Path:
    """An Idefics3 (SmolVLM's architecture) with a 1-layer SigLIP tower at 32 pixels (8-pixel
    patches, pixel-shuffled 2x2 into 4 image tokens), no image splitting, and a 2-layer Llama."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    specials = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
    tokenizer, vocab = word_tokenizer(specials)
    config = Idefics3Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        text_config={"model_type": "llama", "vocab_size": vocab, "hidden_size": 64, "intermediate_size": 128,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                     "max_position_embeddings": 512, "pad_token_id": 0},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"), scale_factor=2,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config).eval()
    images = Idefics3ImageProcessorPil(size={"longest_edge": 32}, max_image_size={"longest_edge": 32},
                                       do_image_splitting=False)
    processor = Idefics3Processor(image_processor=images, tokenizer=tokenizer, image_seq_len=4,
                                  chat_template=CHAT_TEMPLATE.replace("{{ image }}", "<image>"))
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder
