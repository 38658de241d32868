"""The fast greedy decoder gives the same tokens as Hugging Face `generate(do_sample=False)` (CPU).

Same inputs, greedy: batch 1, a left-padded batch whose rows stop at different steps, peft-wrapped
and merged LoRA, eager and sdpa attention, and batched answers equal to one-by-one answers for both
engines. No timing here (timings live in `slicevlm bench`).
"""

from __future__ import annotations


import pytest
import torch

from slicevlm.llm.decoding import GreedyDecoder, greedy_generate

INSTRUCTIONS = [
    "Which organ is abnormal?",
    "What plane is this image? Choices: A. axial B. coronal C. sagittal D. oblique",
    "Describe the findings.",
]


@pytest.fixture(scope="module")
def model(tiny_model_factory):
    torch.manual_seed(0)
    return tiny_model_factory().eval()


@pytest.fixture(scope="module")
def volumes():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(len(INSTRUCTIONS), 6, 64, 64, generator=generator)  # (B, D, H, W)


def _prompt(model, volumes, instructions):
    """Spliced, left-padded prompt embeddings and mask, as SliceVLM.generate builds them."""
    from slicevlm.llm.prompting import generation_batch

    tokens = generation_batch(model.tokenizer, instructions)
    embeds, mask, _ = model.spliced_inputs(volumes, tokens["input_ids"], tokens["attention_mask"])
    return embeds, mask


def _hf(causal_lm, embeds, mask, max_new_tokens, eos, pad):
    return causal_lm.generate(
        inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=pad
    )


def _tokens(model, volumes, instructions, engine, max_new_tokens=16, eos=None):
    tokenizer = model.tokenizer
    eos = tokenizer.eos_token_id if eos is None else eos
    with torch.no_grad():
        embeds, mask = _prompt(model, volumes, instructions)
        if engine == "hf":
            return _hf(model.language.model, embeds, mask, max_new_tokens, eos, tokenizer.pad_token_id)
        return GreedyDecoder(model.language.model, eos, tokenizer.pad_token_id)(embeds, mask, max_new_tokens)


def _early_eos(model, volumes) -> int:
    """A token row 0 emits early and the other rows not before it, so rows stop at different steps."""
    never = model.language.image_token_id  # its output row is the mean of the others: never the argmax
    free = _tokens(model, volumes, INSTRUCTIONS, "hf", max_new_tokens=12, eos=never)
    for step in range(1, 6):
        token = int(free[0, step])
        if token not in free[0, :step].tolist() and token not in free[1:, : step + 2].flatten().tolist():
            return token
    pytest.skip("the tiny model emits no token suitable as an early EOS")


def test_batch_of_one_matches_hf(model, volumes):
    fast = _tokens(model, volumes[:1], INSTRUCTIONS[:1], "fast", max_new_tokens=20)
    hf = _tokens(model, volumes[:1], INSTRUCTIONS[:1], "hf", max_new_tokens=20)
    assert torch.equal(fast, hf)


def test_left_padded_batch_with_rows_stopping_at_different_steps(model, volumes):
    eos = _early_eos(model, volumes)
    fast = _tokens(model, volumes, INSTRUCTIONS, "fast", max_new_tokens=24, eos=eos)
    hf = _tokens(model, volumes, INSTRUCTIONS, "hf", max_new_tokens=24, eos=eos)
    assert torch.equal(fast, hf)
    first_eos = [(row == eos).nonzero()[0].item() if (row == eos).any() else None for row in fast]
    assert first_eos[0] is not None and first_eos[0] < fast.shape[1] - 1  # row 0 stopped early...
    assert (fast[0, first_eos[0] + 1 :] == model.tokenizer.pad_token_id).all()  # ...and emits pad since


@pytest.mark.parametrize("engine", ["hf", "fast"])
def test_batched_answers_equal_one_by_one(model, volumes, engine):
    tokenizer = model.tokenizer
    batched = tokenizer.batch_decode(_tokens(model, volumes, INSTRUCTIONS, engine), skip_special_tokens=True)
    single = [
        tokenizer.batch_decode(_tokens(model, volumes[i : i + 1], INSTRUCTIONS[i : i + 1], engine), skip_special_tokens=True)[0]
        for i in range(len(INSTRUCTIONS))
    ]
    assert [t.strip() for t in batched] == [t.strip() for t in single]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_lora_wrapped_and_merged_models(tiny_models, attention):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_models["llm"]), dtype=torch.float32, attn_implementation=attention)
    wrapped = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)).eval()
    embeds = torch.randn(2, 9, base.config.hidden_size)  # (B, L, d)
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, :4] = 0
    eos, pad = base.config.eos_token_id, base.config.pad_token_id
    with torch.no_grad():
        expected = _hf(wrapped, embeds, mask, 12, eos, pad)
        assert torch.equal(GreedyDecoder(wrapped, eos, pad)(embeds, mask, 12), expected)
        merged = wrapped.merge_and_unload()
        assert torch.equal(GreedyDecoder(merged, eos, pad)(embeds, mask, 12), expected)


def test_warm_up_runs_leave_no_trace(model, volumes):
    """What graph capture does on CUDA — run the step a few times, then restore — must not shift the cache."""
    tokenizer = model.tokenizer
    decoder = GreedyDecoder(model.language.model, tokenizer.eos_token_id, tokenizer.pad_token_id, use_cuda_graph=False)
    with torch.no_grad():
        embeds, mask = _prompt(model, volumes, INSTRUCTIONS)
        expected = decoder(embeds, mask, 10)
        (state,) = decoder._states.values()
        decoder._prefill(state, embeds, mask)
        saved = state.snapshot()
        for _ in range(4):  # warm-up + the capture run advance buffers and every layer's counter
            decoder._step(state)
        state.restore(saved)
        for _ in range(expected.shape[1] - 1):
            decoder._step(state)
    assert torch.equal(state.tokens[:, : expected.shape[1]], expected)


def test_no_eos_runs_to_the_cap_and_one_token_works(model, volumes):
    tokenizer = model.tokenizer
    with torch.no_grad():
        embeds, mask = _prompt(model, volumes, INSTRUCTIONS)
        assert GreedyDecoder(model.language.model, None, tokenizer.pad_token_id)(embeds, mask, 7).shape == (3, 7)
        one = GreedyDecoder(model.language.model, tokenizer.eos_token_id, tokenizer.pad_token_id)(embeds, mask, 1)
        assert torch.equal(one, _hf(model.language.model, embeds, mask, 1, tokenizer.eos_token_id, tokenizer.pad_token_id))


def test_inference_mode_and_no_grad_calls_share_a_decoder(model, volumes):
    """Lightning tests under inference_mode and may validate under no_grad: one decoder must serve both."""
    tokenizer = model.tokenizer
    decoder = GreedyDecoder(model.language.model, tokenizer.eos_token_id, tokenizer.pad_token_id)
    with torch.inference_mode():
        embeds, mask = _prompt(model, volumes, INSTRUCTIONS)
        first = decoder(embeds, mask, 6)
    with torch.no_grad():
        embeds, mask = _prompt(model, volumes, INSTRUCTIONS)
        assert torch.equal(decoder(embeds, mask, 6), first)


def test_rejects_right_padding_and_flash_attention(model, volumes):
    tokenizer = model.tokenizer
    decoder = GreedyDecoder(model.language.model, tokenizer.eos_token_id, tokenizer.pad_token_id)
    embeds = torch.zeros(2, 5, model.language.hidden_size)
    with pytest.raises(ValueError, match="left-padded"):
        decoder(embeds, torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]), 4)
    causal_lm = model.language.model
    original = causal_lm.config._attn_implementation
    try:
        causal_lm.config._attn_implementation = "flash_attention_2"
        with pytest.raises(ValueError, match="attn_implementation"):
            GreedyDecoder(causal_lm, tokenizer.eos_token_id, tokenizer.pad_token_id)
    finally:
        causal_lm.config._attn_implementation = original


def test_greedy_generate_reuses_one_decoder_and_adds_no_weights(model, volumes):
    tokenizer = model.tokenizer
    causal_lm = model.language.model
    keys = set(causal_lm.state_dict())
    with torch.no_grad():
        embeds, mask = _prompt(model, volumes, INSTRUCTIONS)
        first = greedy_generate(causal_lm, embeds, mask, 6, tokenizer.eos_token_id, tokenizer.pad_token_id)
        decoder = causal_lm.__dict__["_slicevlm_greedy_decoder"]
        second = greedy_generate(causal_lm, embeds, mask, 6, tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert causal_lm.__dict__["_slicevlm_greedy_decoder"] is decoder
    assert torch.equal(first, second)
    assert set(causal_lm.state_dict()) == keys


def test_slicevlm_generate_engines_agree(model, volumes):
    """`SliceVLM.generate` gives the same answers with either engine of its `GenerationConfig`."""
    from slicevlm.llm.generation_config import GenerationConfig

    with torch.no_grad():
        hf = model.generate(volumes, INSTRUCTIONS, GenerationConfig(max_new_tokens=16, engine="hf"))
        fast = model.generate(volumes, INSTRUCTIONS, GenerationConfig(max_new_tokens=16, engine="fast"))
    assert fast == hf
