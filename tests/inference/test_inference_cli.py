"""`slicevlm ask` / `report` on real file formats, --json, --explain, and user errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slicevlm.inference.cli import ask_main, report_main
from slicevlm.llm.generation_config import GenerationConfig

INPUT_SIZE = (32, 64, 64)


def phantom(shape: tuple[int, int, int] = (20, 40, 48), seed: int = 0) -> np.ndarray:
    """A (D, H, W) volume with structure: a bright ellipsoid that changes along z, plus noise."""
    d, h, w = shape
    z, y, x = np.meshgrid(np.linspace(-1, 1, d), np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    body = ((y / 0.8) ** 2 + (x / 0.9) ** 2 < 1 - 0.5 * z**2).astype(np.float32)
    noise = np.random.default_rng(seed).normal(0, 0.05, shape).astype(np.float32)
    return body * (0.5 + 0.4 * np.sin(3 * z)) + noise


@pytest.fixture(scope="module")
def checkpoint(tiny_model_factory, tmp_path_factory) -> Path:
    """A stage-2 tiny checkpoint with a LoRA adapter (untrained: deterministic gibberish)."""
    from slicevlm.checkpoint import save_checkpoint_folder
    from slicevlm.llm.lora import LoraSettings

    model = tiny_model_factory()
    model.language.add_lora(LoraSettings())
    return save_checkpoint_folder(model, tmp_path_factory.mktemp("cli") / "ckpt", stage=2, input_size=INPUT_SIZE)


@pytest.fixture(scope="module")
def volumes(tmp_path_factory) -> dict[str, Path]:
    """The same phantom as .npy (D, H, W) and as NIfTI (x, y, z)."""
    import nibabel as nib

    folder = tmp_path_factory.mktemp("volumes")
    array = phantom()
    np.save(folder / "scan.npy", array)
    nib.save(nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0)), np.eye(4)), str(folder / "scan.nii.gz"))
    (folder / "broken.nii.gz").write_bytes(b"not a nifti at all")
    np.save(folder / "flat.npy", np.zeros((8, 16, 16), dtype=np.float32))
    return {"npy": folder / "scan.npy", "nifti": folder / "scan.nii.gz", "broken": folder / "broken.nii.gz", "flat": folder / "flat.npy"}


def _common(checkpoint: Path) -> list[str]:
    return ["--checkpoint", str(checkpoint), "--max-new-tokens", "8", "--device", "cpu"]


@pytest.mark.parametrize("kind", ["npy", "nifti"])
def test_ask_json_reports_answer_timings_and_kept_slices(kind, checkpoint, volumes, capsys):
    code = ask_main([str(volumes[kind]), "Which organ is shown?", "--choices", "liver,spleen,kidney", "--json", *_common(checkpoint)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert isinstance(result["answer"], str)
    assert result["instruction"] == "Which organ is shown? Choices: A. liver B. spleen C. kidney D. NA"
    assert result["input_size"] == list(INPUT_SIZE) and result["original_shape"] == [20, 40, 48]
    kept = result["kept_slices"]
    assert len(kept) == int(INPUT_SIZE[0] * 0.28) and kept == sorted(kept) and all(0 <= i < INPUT_SIZE[0] for i in kept)
    assert all(0 <= i < 20 for i in result["kept_slices_original"])
    assert set(result["timings_ms"]) == {"load", "vision", "generation", "total"}
    assert result["timings_ms"]["total"] >= result["timings_ms"]["vision"] > 0


def test_plain_output_is_the_answer_only_and_deterministic(checkpoint, volumes, capsys):
    assert ask_main([str(volumes["npy"]), "What phase is this?", *_common(checkpoint)]) == 0
    first = capsys.readouterr().out
    assert ask_main([str(volumes["npy"]), "What phase is this?", *_common(checkpoint)]) == 0
    assert capsys.readouterr().out == first and first.endswith("\n") and not first.startswith("{")


def test_report_and_explain_png(checkpoint, volumes, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "why" / "explain.png"
    assert report_main([str(volumes["nifti"]), "--json", "--explain", str(out), *_common(checkpoint)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["question"] is None and "findings" in result["instruction"]
    assert result["explain"] == str(out)
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 400 and image.height > 300


def test_explanation_attention_covers_kept_slices(checkpoint, volumes):
    from slicevlm.inference.predictor import VolumeQA

    qa = VolumeQA.from_checkpoint(checkpoint, device="cpu", generation=GenerationConfig(max_new_tokens=4))
    explanation = qa.explain(volumes["npy"])
    kept = len(explanation.kept_slices)
    assert explanation.similarity.shape == (INPUT_SIZE[0],)
    assert explanation.attention.shape == (kept, 8, 8)  # tiny ViT: 64 px / patch 8
    assert explanation.attention.max() == pytest.approx(1.0) and explanation.attention.min() >= 0
    answer = qa.ask(volumes["npy"], "Which organ?")
    assert answer.kept_slices == explanation.kept_slices  # the same selection during generation


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["{missing}", "Which organ?"], "does not exist"),
        (["{npy}", "Which organ?", "--choices", "liver"], "expected 2 to 4"),
        (["{npy}", "   "], "question is empty"),
        (["{broken}", "Which organ?"], "broken.nii.gz"),
        (["{flat}", "Which organ?"], "constant volume"),
    ],
)
def test_user_errors_are_one_line_and_exit_1(argv, expected, checkpoint, volumes, tmp_path, capsys):
    paths = {**{k: str(v) for k, v in volumes.items()}, "missing": str(tmp_path / "nope.nii.gz")}
    with pytest.raises(SystemExit) as stop:
        ask_main([a.format(**paths) for a in argv] + _common(checkpoint))
    assert stop.value.code == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert expected in last and "Traceback" not in err and last.startswith("slicevlm ask: error:")


def test_not_a_checkpoint_is_a_clear_error(volumes, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        report_main([str(volumes["npy"]), "--checkpoint", str(tmp_path)])
    assert stop.value.code == 1
    assert "is not a SliceVLM checkpoint folder" in capsys.readouterr().err


def test_the_cli_runs_as_a_command_without_traceback(checkpoint, volumes):
    result = subprocess.run(
        [sys.executable, "-m", "slicevlm", "ask", str(volumes["npy"]) + ".missing", "q?", "--checkpoint", str(checkpoint)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1 and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_inference_never_imports_training_code():
    code = (
        "import sys\n"
        "import slicevlm.inference.cli, slicevlm.inference.predictor, slicevlm.inference.batch, slicevlm.inference.rendering\n"
        "bad = [m for m in sys.modules if m == 'lightning' or m.startswith(('lightning.', 'slicevlm.training', 'slicevlm.cli'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
