"""Byte-level BPE tokenizers trained on the fly (no download): the tiny demo LLM's tokenizer, and a
stand-in for random-weight builds of a known architecture whose own tokenizer is not cached.

A byte-level BPE can spell any text. Its special tokens follow LLaMA's: ``<unk>`` 0, ``<s>`` 1 (added
in front of every encoded text, as LLaMA's tokenizer does), ``</s>`` 2, ``<pad>`` 3.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

SPECIAL_TOKENS: tuple[str, ...] = ("<unk>", "<s>", "</s>", "<pad>")


def train_byte_level_bpe(texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = SPECIAL_TOKENS, unk_token: str | None = "<unk>"):
    """A byte-level BPE (`tokenizers.Tokenizer`) trained on `texts`, `special_tokens` first (ids 0, 1, ...).

    Args:
        texts: the training corpus.
        vocab_size: the most tokens the vocabulary may hold.
        special_tokens: tokens given the first ids, never split.
        unk_token: the model's unknown token (one of `special_tokens`), or None for a model without one.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=unk_token))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def train_byte_level_tokenizer(texts: Iterable[str], vocab_size: int, exact_vocab_size: bool = False):
    """Train a byte-level BPE on `texts` and wrap it as a `PreTrainedTokenizerFast`.

    Args:
        texts: the training corpus.
        vocab_size: the most tokens the vocabulary may hold.
        exact_vocab_size: pad the vocabulary with unused entries (``<unused_k>``, never produced by
            encoding) up to exactly `vocab_size`, so token ids cover a model's whole embedding matrix.

    Returns:
        A Hugging Face fast tokenizer with BOS, EOS, UNK and PAD set.
    """
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    tokenizer = train_byte_level_bpe(texts, vocab_size)
    if exact_vocab_size and tokenizer.get_vocab_size() < vocab_size:
        state = json.loads(tokenizer.to_str())
        vocab = state["model"]["vocab"]
        for k in range(vocab_size - len(vocab)):
            vocab[f"<unused_{k}>"] = len(vocab)
        tokenizer = Tokenizer.from_str(json.dumps(state))
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


def stand_in_tokenizer(vocab_size: int):
    """A tokenizer for a random-weight build: byte-level BPE over a small built-in English corpus,
    padded to exactly `vocab_size` entries so every id the model knows exists."""
    words = (
        "the a an of in on with and or no there is are this that what which where how scan image volume ct mri "
        "liver lung kidney spleen bladder pancreas lesion mass cyst nodule phase plane axial coronal sagittal "
        "arterial venous delayed contrast left right upper lower findings report normal abnormal size mm"
    ).split()
    corpus = [" ".join(words[i:] + words[:i]) for i in range(len(words))]
    return train_byte_level_tokenizer(corpus, vocab_size, exact_vocab_size=True)
