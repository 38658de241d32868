"""`slicevlm reproduce`: the synthetic twin end to end, and fail-fast messages for real runs."""

from __future__ import annotations

import json

from slicevlm.reproduce import main


def test_table4_synthetic_twin_runs_the_whole_pipeline(tmp_path, capsys):
    code = main(["table4", "--data", "synthetic", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"),
                 "--n", "24", "--max-steps", "2", "--max-samples", "6", "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "protocol: m3d" in printed and "Synthetic twin" in printed
    assert "paper: Ours | 99.82 | 90.04 | 79.93 | 74.41 | 70.32 | 82.90" in printed
    rows = [json.loads(line) for line in (tmp_path / "out" / "table4" / "full" / "seed0" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 6 and {row["task"] for row in rows} == {"vqa_closed"}
    assert (tmp_path / "work" / "full" / "seed0" / "checkpoint" / "adapter").is_dir()  # stage 2 really trained LoRA


def test_real_run_without_data_says_what_to_download(tmp_path, capsys):
    assert main(["table2", "--data", str(tmp_path / "nowhere")]) == 2
    message = capsys.readouterr().err
    assert "M3D_Cap.json" in message and "data/README.md" in message


def test_real_run_without_checkpoint_says_how_to_train(tmp_path, capsys):
    (tmp_path / "M3D_VQA_test.csv").write_text("Image Path,Text\n", encoding="utf-8")
    assert main(["table4", "--data", str(tmp_path), "--checkpoint", str(tmp_path / "ckpt")]) == 2
    assert "configs/stage1.yaml" in capsys.readouterr().err


def test_table8_names_every_missing_ablation_checkpoint(tmp_path, capsys):
    (tmp_path / "M3D_Cap.json").write_text("{}", encoding="utf-8")
    (tmp_path / "M3D_VQA_test.csv").write_text("Image Path,Text\n", encoding="utf-8")
    assert main(["table8", "--data", str(tmp_path), "--ablation-root", str(tmp_path / "abl")]) == 2
    assert "configs/ablations/pubmedclip.yaml" in capsys.readouterr().err
