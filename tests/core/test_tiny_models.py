"""The tiny stand-in LLM: its language warm-up must actually teach it the text formats."""

import math

import torch

from slicevlm.testbed.findings import ORGANS
from slicevlm.data.prompts import CAPTION_INSTRUCTIONS
from slicevlm.llm.prompting import PROMPT_PREFIX
from slicevlm.tiny import card_pairs, lookup_pairs, pretrain_tiny_llm, train_tiny_tokenizer


def test_card_pairs_cover_every_task_format_with_the_card_where_the_image_goes():
    pairs = card_pairs(3)
    assert len(pairs) == 3 * (1 + 5 * 2)  # a report, then five questions closed and open, per case
    prompts = [prompt for prompt, _ in pairs]
    assert sum("Choices: A." in prompt for prompt in prompts) == 15
    assert all("<image>" not in prompt for prompt in prompts)  # the image token is added by LanguageModel
    closed = [(prompt, answer) for prompt, answer in pairs if "Choices: A." in prompt]
    assert all(answer[0] in "ABCD" and answer[1:3] == ". " for _, answer in closed)
    suffix = PROMPT_PREFIX.replace("<image>", "")
    for prompt, answer in pairs:
        card, _, instruction = prompt.partition(suffix)
        assert card and instruction  # the card stands exactly where the visual tokens go
        if "Choices: A." in prompt:  # every closed answer is written in the card as the choice names it
            assert f" {answer[3:]}." in card, (card, answer)
        elif instruction not in CAPTION_INSTRUCTIONS:  # and every open answer too
            assert f" {answer}." in card, (card, answer)


def test_lookup_pairs_name_the_choice_that_holds_the_fact():
    for prompt, answer in lookup_pairs(50, seed=3):
        fact, _, choices = prompt.partition(". Choices: ")
        letter, text = answer.split(". ", 1)
        assert fact.strip() == text and f"{letter}. {text}" in choices


def test_warmup_seeds_are_not_the_synthetic_testbed_seeds():
    assert card_pairs(2) != card_pairs(2, seed=0)


def test_language_warmup_moves_the_loss_far_below_uniform():
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tiny_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    final_loss = pretrain_tiny_llm(model, tokenizer, steps=100, batch_size=16)
    uniform = math.log(len(tokenizer))
    assert final_loss < 0.5 * uniform, (final_loss, uniform)
    assert not model.training


def test_tokenizer_spells_the_testbed_vocabulary_compactly():
    tokenizer = train_tiny_tokenizer()
    for organ in ORGANS:
        assert len(tokenizer(" " + organ, add_special_tokens=False)["input_ids"]) <= 2, organ


def test_card_pairs_write_closed_choices_in_the_requested_order():
    from slicevlm.tiny.reading import ANSWER_VOCABULARIES

    def choice_lists(pairs):
        return [prompt.split("Choices: ", 1)[1] for prompt, _ in pairs if "Choices: A." in prompt]

    fixed, shuffled = choice_lists(card_pairs(20)), choice_lists(card_pairs(20, choice_order="shuffled"))
    plane_lists = [c for c in fixed if "Axial" in c]
    assert plane_lists and all(c == "A. Axial B. Coronal C. Sagittal D. NA" for c in plane_lists), plane_lists[:2]
    assert ANSWER_VOCABULARIES[0] == ("Axial", "Coronal", "Sagittal", "NA")
    assert sorted(fixed) != sorted(shuffled)  # same cases, other orders


def test_tiny_models_are_rebuilt_when_their_recipe_changes(tmp_path):
    from slicevlm.tiny import write_tiny_models

    paths = write_tiny_models(tmp_path, image_size=16, patch_size=8, pretrain_steps=0)
    weights = paths["llm"] / "model.safetensors"
    first = weights.stat().st_mtime_ns
    write_tiny_models(tmp_path, image_size=16, patch_size=8, pretrain_steps=0)
    assert weights.stat().st_mtime_ns == first  # same recipe: kept
    (paths["llm"] / "recipe.json").write_text('{"pretrain_steps": 0, "warmup": "an older warm-up"}', encoding="utf-8")
    write_tiny_models(tmp_path, image_size=16, patch_size=8, pretrain_steps=0)
    assert weights.stat().st_mtime_ns != first  # an LLM from another warm-up is rebuilt
