"""BERTScore's sentence encoding, exactly as bert-score 0.3.13 does it under transformers 4.x.

bert-score turns each sentence into token ids with ``bert_score.utils.sent_encode``. Under
transformers 4.x (the peers' setup) that is, for the slow tokenizer bert-score loads:

1. strip the sentence; an empty one becomes the special tokens alone
   (``build_inputs_with_special_tokens([])``: ``[CLS] [SEP]``, ``<s> </s>``);
2. for GPT-2 and RoBERTa tokenizers (byte-level BPE, roberta-large among them) encode with
   ``add_prefix_space=True``: the sentence is read as if preceded by a space, so its first word
   gets the same token as in mid-sentence (``Ġlesion``, not ``l`` ``esion``);
3. add the special tokens and truncate to ``tokenizer.model_max_length`` tokens.

Under transformers 5 step 1 raises ``AttributeError`` (the unified tokenizers have no
``build_inputs_with_special_tokens``) and step 2 is silently ignored. :class:`BertScoreEncoder`
wraps the loaded tokenizer and does the three steps itself with calls that mean the same in
transformers 4 and 5 (a leading space instead of ``add_prefix_space``); bert-score's ``sent_encode``
then reaches it through the two methods it calls.
"""

from __future__ import annotations

from typing import Any

#: Tokenizer classes bert-score 0.3.13 encodes with ``add_prefix_space=True`` (its
#: ``isinstance(tokenizer, (GPT2Tokenizer, RobertaTokenizer))``; the fast names are the same
#: tokenizers loaded another way).
PREFIX_SPACE_CLASSES: frozenset[str] = frozenset(
    {"GPT2Tokenizer", "RobertaTokenizer", "GPT2TokenizerFast", "RobertaTokenizerFast"}
)
#: Above this, ``model_max_length`` is transformers' "unset" sentinel (about 1e30).
_UNSET_MAX_LENGTH = 10**9
#: Length used when a tokenizer declares none; BERT and RoBERTa models take 512 positions.
FALLBACK_MAX_LENGTH = 512


class BertScoreEncoder:
    """A Hugging Face tokenizer that encodes sentences the way bert-score 0.3.13 + transformers 4.x do.

    Args:
        tokenizer: The tokenizer bert-score loaded for the model (``AutoTokenizer``).

    Attributes:
        tokenizer: The wrapped tokenizer.
        prefix_space: Whether sentences are read as if preceded by a space (GPT-2/RoBERTa).
        model_max_length: Longest encoding, special tokens included: the tokenizer's own limit,
            or :data:`FALLBACK_MAX_LENGTH` when it declares none (bert-score would then pass
            longer inputs to the model, which fails beyond its position table).
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.prefix_space = type(tokenizer).__name__ in PREFIX_SPACE_CLASSES
        declared = int(tokenizer.model_max_length)
        self.model_max_length = declared if declared < _UNSET_MAX_LENGTH else FALLBACK_MAX_LENGTH

    @property
    def pad_token_id(self) -> int:
        """Padding id (bert-score pads batches with it)."""
        return self.tokenizer.pad_token_id

    @property
    def cls_token_id(self) -> int:
        """First special token id (weight 0 in BERTScore's sums)."""
        return self.tokenizer.cls_token_id

    @property
    def sep_token_id(self) -> int:
        """Last special token id (weight 0 in BERTScore's sums)."""
        return self.tokenizer.sep_token_id

    def encode(self, text: str, **_bert_score_kwargs: Any) -> list[int]:
        """Token ids of one sentence, special tokens included.

        Args:
            text: The sentence (stripped here).
            **_bert_score_kwargs: What bert-score passes along (``add_special_tokens``,
                ``max_length``, ``truncation``, ``add_prefix_space``); the rules above decide.

        Returns:
            The ids bert-score 0.3.13 gets under transformers 4.x.
        """
        sentence = text.strip()
        if not sentence:
            return self.special_tokens_only()
        if self.prefix_space:
            sentence = " " + sentence
        encoding = self.tokenizer(sentence, add_special_tokens=True, truncation=True,
                                  max_length=self.model_max_length)
        return list(encoding["input_ids"])

    def special_tokens_only(self) -> list[int]:
        """The encoding of an empty sentence: the special tokens alone (``[CLS] [SEP]``)."""
        return list(self.tokenizer("", add_special_tokens=True)["input_ids"])

    def build_inputs_with_special_tokens(self, token_ids: list[int]) -> list[int]:
        """bert-score's hook for an empty sentence (it calls it with ``[]`` only).

        Raises:
            ValueError: for a non-empty list, which bert-score never passes.
        """
        if token_ids:
            raise ValueError("BertScoreEncoder adds special tokens in encode(); "
                             f"got {len(token_ids)} ids here, expected none")
        return self.special_tokens_only()

    def decode(self, token_ids: list[int], **kwargs: Any) -> str:
        """Text of ``token_ids`` (bert-score's plots label tokens with it)."""
        return self.tokenizer.decode(token_ids, **kwargs)
