"""A tiny LLaMA-architecture GGUF file, written with the `gguf` package (the `small` extra).

The small demo reads SmolLM2-135M-Instruct from a GGUF file; this writes a file of the same kind
(architecture `llama`, a byte-level BPE vocabulary stored as llama.cpp stores it, weights in F32) with
random weights and a tokenizer trained on the fly, so the GGUF path through `LanguageModel` can be
tested without the 93 MB download.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

#: What the file's metadata declares (a LLaMA with grouped-query attention, as SmolLM2 has).
TINY_GGUF_SHAPE = {"hidden": 64, "layers": 2, "heads": 4, "kv_heads": 2, "ffn": 128, "context": 256}
#: The byte-level tokenizer's special tokens, in id order (llama.cpp token type 3 = control).
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def _tiny_vocabulary(vocab_size: int) -> tuple[list[str], list[str]]:
    """(tokens by id, merges "a b") of a byte-level BPE trained on a few medical sentences."""
    from slicevlm.llm.byte_level import train_byte_level_bpe
    from slicevlm.tiny.language import corpus_sentences

    tokenizer = train_byte_level_bpe(corpus_sentences() * 5, vocab_size, SPECIAL_TOKENS, unk_token=None)
    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.__getitem__)
    merges = [" ".join(pair) if isinstance(pair, list) else pair for pair in json.loads(tokenizer.model.__getstate__())["merges"]]
    return tokens, merges


def write_tiny_gguf(path: Path, vocab_size: int = 400, seed: int = 0) -> Path:
    """Write a random-weight LLaMA GGUF file with its tokenizer to `path`; returns `path`."""
    import gguf

    rng = np.random.default_rng(seed)
    shape = TINY_GGUF_SHAPE
    tokens, merges = _tiny_vocabulary(vocab_size)
    hidden, ffn, head_dim = shape["hidden"], shape["ffn"], shape["hidden"] // shape["heads"]
    kv_width = shape["kv_heads"] * head_dim

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_name("slicevlm-tiny-gguf")
    writer.add_context_length(shape["context"])
    writer.add_embedding_length(hidden)
    writer.add_block_count(shape["layers"])
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(shape["heads"])
    writer.add_head_count_kv(shape["kv_heads"])
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if token in SPECIAL_TOKENS else 1 for token in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|im_start|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)

    def weight(rows: int, columns: int) -> np.ndarray:  # (out, in), as a Linear's weight
        return (rng.standard_normal((rows, columns)) * 0.05).astype(np.float32)

    writer.add_tensor("token_embd.weight", weight(len(tokens), hidden))
    for block in range(shape["layers"]):
        prefix = f"blk.{block}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"{prefix}.attn_q.weight", weight(hidden, hidden))
        writer.add_tensor(f"{prefix}.attn_k.weight", weight(kv_width, hidden))
        writer.add_tensor(f"{prefix}.attn_v.weight", weight(kv_width, hidden))
        writer.add_tensor(f"{prefix}.attn_output.weight", weight(hidden, hidden))
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"{prefix}.ffn_gate.weight", weight(ffn, hidden))
        writer.add_tensor(f"{prefix}.ffn_up.weight", weight(ffn, hidden))
        writer.add_tensor(f"{prefix}.ffn_down.weight", weight(hidden, ffn))
    writer.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    # No `output.weight`: the LM head is tied to the embeddings, as in SmolLM2.
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
