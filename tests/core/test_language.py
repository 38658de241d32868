"""Prompts, label masking, the <image> splice, LoRA counts, hub errors."""

import pytest
import torch

from slicevlm.hub import ModelNotAvailableError
from slicevlm.llm.language_model import IMAGE_TOKEN, LanguageModel
from slicevlm.llm.lora import LoraSettings
from slicevlm.llm.prompting import IGNORE_INDEX, PROMPT_PREFIX, generation_batch, tokenize_prompts, training_batch
from slicevlm.llm.splice import splice_visual_tokens


@pytest.fixture(scope="module")
def language(tiny_models):
    return LanguageModel(str(tiny_models["llm"]), dtype="float32")


def test_image_token_is_one_special_token(language):
    ids = language.tokenizer(PROMPT_PREFIX + "what?")["input_ids"]
    assert ids.count(language.image_token_id) == 1
    assert language.tokenizer.convert_ids_to_tokens(language.image_token_id) == IMAGE_TOKEN


def test_labels_mask_prompt_and_padding_and_end_with_eos(language):
    tokenizer = language.tokenizer
    batch = training_batch(tokenizer, ["which organ?", "describe the findings in detail"], ["liver", "a cyst"], 512)
    prompts = tokenize_prompts(tokenizer, ["which organ?", "describe the findings in detail"])
    for row, (prompt, answer) in enumerate(zip(prompts, ["liver", "a cyst"])):
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        labels = batch["labels"][row].tolist()
        assert labels[: len(prompt)] == [IGNORE_INDEX] * len(prompt)
        assert labels[len(prompt) : len(prompt) + len(answer_ids)] == answer_ids
        assert all(label == IGNORE_INDEX for label in labels[len(prompt) + len(answer_ids) :])
        length = len(prompt) + len(answer_ids)
        assert batch["attention_mask"][row].tolist() == [1] * length + [0] * (batch["input_ids"].shape[1] - length)
    # dynamic padding: as long as the longest row, no longer
    assert batch["input_ids"].shape[1] == int(batch["attention_mask"].sum(1).max())


def test_answer_is_truncated_not_the_prompt(language):
    batch = training_batch(language.tokenizer, ["q"], ["word " * 400], max_text_tokens=40)
    assert batch["input_ids"].shape[1] == 40
    with pytest.raises(ValueError, match="max_text_tokens"):
        training_batch(language.tokenizer, ["long question " * 40], ["a"], max_text_tokens=40)


@pytest.mark.parametrize("left_pad", [False, True])
def test_visual_rows_land_where_the_image_token_was(left_pad):
    image_id, pad = 9, 0
    rows = [[1, 5, 9, 6, 7], [9, 8]]  # with BOS, and without BOS (image first)
    width = max(map(len, rows))
    ids = torch.tensor([([pad] * (width - len(r)) + r) if left_pad else (r + [pad] * (width - len(r))) for r in rows])
    mask = (ids != pad).long()
    text = torch.randn(2, width, 4)
    visual = torch.randn(2, 3, 4)
    labels = ids.clone()
    embeds, new_mask, new_labels = splice_visual_tokens(text, visual, ids, mask, image_id, labels)
    assert embeds.shape == (2, width - 1 + 3, 4)
    for b in range(2):
        p = int((ids[b] == image_id).nonzero())
        assert torch.equal(embeds[b, p : p + 3], visual[b])
        assert torch.equal(embeds[b, :p], text[b, :p])
        assert torch.equal(embeds[b, p + 3 :], text[b, p + 1 :])
        assert new_labels[b, p : p + 3].tolist() == [IGNORE_INDEX] * 3
        assert new_mask[b, p : p + 3].tolist() == [1, 1, 1]
        assert torch.equal(new_mask[b, p + 3 :], mask[b, p + 1 :])


def test_splice_refuses_rows_without_exactly_one_image_token():
    ids = torch.tensor([[1, 9, 9], [1, 2, 3]])
    with pytest.raises(ValueError, match="exactly one <image>"):
        splice_visual_tokens(torch.randn(2, 3, 4), torch.randn(2, 2, 4), ids, torch.ones_like(ids), 9)


def test_generation_batch_is_left_padded(language):
    batch = generation_batch(language.tokenizer, ["a", "a much longer question here"])
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][:, -1].tolist() == [1, 1]


def _lora_parameter_count(config, rank: int) -> int:
    hidden, inter = config.hidden_size, config.intermediate_size
    kv = config.num_key_value_heads * (hidden // config.num_attention_heads)
    shapes = [(hidden, hidden), (hidden, kv), (hidden, kv), (hidden, hidden), (hidden, inter), (hidden, inter), (inter, hidden)]
    return config.num_hidden_layers * sum(rank * (i + o) for i, o in shapes)


def test_lora_targets_all_block_linears_and_nothing_else(tiny_models):
    language = LanguageModel(str(tiny_models["llm"]), dtype="float32")
    config = language.model.config
    language.add_lora(LoraSettings())
    trainable = sum(p.numel() for n, p in language.model.named_parameters() if "lora_" in n)
    assert trainable == _lora_parameter_count(config, rank=16)
    assert not any("lm_head" in n and "lora_" in n for n, _ in language.model.named_parameters())


def test_missing_hub_llm_fails_at_once_with_what_to_fetch():
    with pytest.raises(ModelNotAvailableError) as error:
        LanguageModel("meta-llama/Llama-2-7b-hf")
    assert "meta-llama/Llama-2-7b-hf" in str(error.value) and "hf download" in str(error.value)


def test_random_weight_build_runs_offline_with_a_stand_in_tokenizer():
    """LLaMA-2-7B's architecture (shipped config) on the meta device: no hub access for the tokenizer;
    the stand-in covers exactly the architecture's 32,000 ids and `<image>` comes on top, as with the real one."""
    from slicevlm.llm.language_model import LLAMA2_7B

    with pytest.warns(UserWarning, match="stand-in byte-level tokenizer with the architecture's 32000 tokens"):
        with torch.device("meta"):
            language = LanguageModel(LLAMA2_7B, pretrained=False, dtype="bfloat16")
    tokenizer = language.tokenizer
    assert len(tokenizer) == 32001 and language.image_token_id == 32000
    assert language.model.get_input_embeddings().weight.shape == (32001, 4096)
    ids = tokenizer(PROMPT_PREFIX + "Which organ shows a lesion?")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids.count(language.image_token_id) == 1 and max(ids) <= 32000
    assert tokenizer.decode(ids, skip_special_tokens=True).endswith("Which organ shows a lesion?")


def test_pretrained_build_still_needs_its_tokenizer(tmp_path):
    """Only random-weight builds may fall back: a pretrained model without its tokenizer is an error."""
    with pytest.raises(ModelNotAvailableError, match="tokenizer"):
        LanguageModel(str(tmp_path), pretrained=True)
