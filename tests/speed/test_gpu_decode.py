"""CUDA-graph decoding gives the same tokens as eager decoding and as Hugging Face `generate` (GPU only).

Run on a CUDA machine: `make test-gpu` (or `pytest -m gpu tests/speed`). A small random
LLaMA with large initial weights (peaked logits, so greedy has no near-ties) in fp32 and bf16.
"""

from __future__ import annotations

import pytest
import torch

from slicevlm.llm.decoding import GreedyDecoder

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
EOS, PAD = 2, 0


def _llama(dtype: torch.dtype):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=1000,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        initializer_range=0.2,
        eos_token_id=EOS,
        pad_token_id=PAD,
        bos_token_id=1,
        attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).to("cuda", dtype).eval()


def _prompt(model, lengths=(21, 9, 14, 3)):
    """Left-padded random prompt embeddings (B, L, d) and mask (B, L)."""
    width = max(lengths)
    generator = torch.Generator(device="cuda").manual_seed(1)
    embeds = torch.randn(len(lengths), width, model.config.hidden_size, device="cuda", generator=generator).to(model.dtype)
    mask = torch.zeros(len(lengths), width, dtype=torch.long, device="cuda")
    for row, length in enumerate(lengths):
        mask[row, width - length :] = 1
    return embeds, mask


def _hf(model, embeds, mask, max_new_tokens):
    return model.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=EOS, pad_token_id=PAD)


@torch.no_grad()
def test_graph_matches_generate_fp32():
    model = _llama(torch.float32)
    embeds, mask = _prompt(model)
    expected = _hf(model, embeds, mask, 40)
    decoder = GreedyDecoder(model, EOS, PAD, use_cuda_graph=True)
    assert torch.equal(decoder(embeds, mask, 40), expected)
    assert torch.equal(decoder(embeds, mask, 40), expected)  # replaying the captured graph again


@torch.no_grad()
def test_graph_matches_eager_bf16_and_generate_starts_alike():
    model = _llama(torch.bfloat16)
    embeds, mask = _prompt(model)
    eager = GreedyDecoder(model, EOS, PAD, use_cuda_graph=False)(embeds, mask, 40)
    graph = GreedyDecoder(model, EOS, PAD, use_cuda_graph=True)(embeds, mask, 40)
    assert torch.equal(graph, eager)
    assert torch.equal(graph[:, :4], _hf(model, embeds, mask, 4))  # kernels differ (static vs dynamic cache); bf16 may drift later


@torch.no_grad()
def test_one_graph_serves_prompts_of_other_lengths():
    model = _llama(torch.float32)
    decoder = GreedyDecoder(model, EOS, PAD, use_cuda_graph=True)
    for lengths in [(21, 9, 14, 3), (30, 2, 7, 25), (5, 5, 5, 5)]:
        embeds, mask = _prompt(model, lengths)
        assert torch.equal(decoder(embeds, mask, 24), _hf(model, embeds, mask, 24))
    assert len(decoder._states) == 1  # one capacity bucket, one graph


@torch.no_grad()
def test_graph_with_lora_wrapped_model():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(_llama(torch.float32), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)).eval()
    embeds, mask = _prompt(model.get_base_model())
    assert torch.equal(GreedyDecoder(model, EOS, PAD, use_cuda_graph=True)(embeds, mask, 24), _hf(model, embeds, mask, 24))


@torch.no_grad()
def test_compiled_step_under_graph_matches_eager():
    model = _llama(torch.bfloat16)
    embeds, mask = _prompt(model)
    eager = GreedyDecoder(model, EOS, PAD, use_cuda_graph=False)(embeds, mask, 16)
    compiled = GreedyDecoder(model, EOS, PAD, use_cuda_graph=True, compile_mode="default")(embeds, mask, 16)
    assert torch.equal(compiled[:, :4], eager[:, :4])  # fused kernels round differently in bf16; the start must agree
