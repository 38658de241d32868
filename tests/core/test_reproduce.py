"""`slicevlm reproduce`: the synthetic twin end to end, and fail-fast messages for real runs."""

from __future__ import annotations

import json

from slicevlm.reproduction.command import main


def test_table4_synthetic_twin_runs_the_whole_pipeline(tmp_path, capsys, recwarn, tiny_models):
    code = main(["table4", "--data", "synthetic", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"),
                 "--tiny-models", str(tiny_models["llm"].parent),
                 "--n", "24", "--max-steps", "2", "--max-samples", "6", "--device", "cpu", "--controls", "swapped", "blank"])
    assert code == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "protocol: m3d" in printed and "Synthetic twin" in printed
    # Synthetic numbers sit beside the chance level; the paper's are a labelled reference, never a difference.
    assert "| chance (random choice) | 33.33 | 25.00 | 25.00 | 25.00 | 25.00 | 26.67 |" in printed
    assert "| paper, for reference only (not comparable): Ours | 99.82 | 90.04 | 79.93 | 74.41 | 70.32 | 82.90 |" in printed
    assert "Δ this run − paper" not in printed and "| paper: " not in printed
    # Progress on stderr, step by step, from the first line; no library tips or warnings by default.
    steps = [line.split("] ", 1)[1] for line in captured.err.splitlines() if line.startswith("reproduce [")]
    expected = ["table4: the synthetic twin", "writing the synthetic testbed: 24 cases", "tiny models in",
                "[full, seed 0] stage 1", "[full, seed 0] stage 2", "[full, seed 0] evaluating", "done"]
    assert len(steps) == len(expected) and all(s.startswith(e) for s, e in zip(steps, expected)), steps
    assert "Tip" not in captured.err + printed and "Name" not in printed  # no Lightning tips, no model summary
    assert not [w for w in recwarn if "lightning" in w.filename or "transformers" in w.filename], [str(w.message) for w in recwarn]
    rows = [json.loads(line) for line in (tmp_path / "out" / "table4" / "full" / "seed0" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 18 and {row["task"] for row in rows} == {"vqa_closed"}  # 6 questions x own, swapped, blank
    assert [row["condition"] for row in rows[:3]] == ["own", "swapped", "blank"]
    assert "## Image-reliance controls" in printed and "| Own − swapped |" in printed and "| Blank volume |" in printed
    assert (tmp_path / "work" / "full" / "seed0" / "checkpoint" / "adapter").is_dir()  # stage 2 really trained LoRA


def test_the_first_progress_line_comes_before_any_work(tmp_path, capsys, monkeypatch):
    import slicevlm.reproduction.command as reproduce

    def no_work(args, progress):
        assert "table2: the synthetic twin" in capsys.readouterr().err  # printed before the run starts
        progress("working")
        return "tables"

    monkeypatch.setattr(reproduce, "run", no_work)
    assert main(["table2", "--data", "synthetic"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "tables\n" and "] working" in captured.err


def test_controls_option_parses():
    from slicevlm.reproduction.command import build_parser

    assert build_parser().parse_args(["table4", "--data", "x"]).controls == ["swapped"]
    assert build_parser().parse_args(["table4", "--data", "x", "--controls", "none"]).controls == ["none"]


def test_real_run_without_data_says_what_to_download(tmp_path, capsys):
    assert main(["table2", "--data", str(tmp_path / "nowhere")]) == 2
    message = capsys.readouterr().err
    assert "M3D_Cap.json" in message and "data/README.md" in message


def test_missing_data_is_one_line_unless_debugging_is_asked_for(tmp_path, capsys, monkeypatch):
    from slicevlm.errors import SliceVLMError
    from slicevlm.reproduction.command import ReproduceError

    assert issubclass(ReproduceError, SliceVLMError)
    monkeypatch.delenv("SLICEVLM_DEBUG", raising=False)
    assert main(["table2", "--data", str(tmp_path / "nowhere")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    monkeypatch.setenv("SLICEVLM_DEBUG", "1")
    assert main(["table2", "--data", str(tmp_path / "nowhere")]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_real_run_without_checkpoint_says_how_to_train(tmp_path, capsys):
    (tmp_path / "M3D_VQA_test.csv").write_text("Image Path,Text\n", encoding="utf-8")
    assert main(["table4", "--data", str(tmp_path), "--checkpoint", str(tmp_path / "ckpt")]) == 2
    assert "configs/stage1.yaml" in capsys.readouterr().err


def test_table8_names_every_missing_ablation_checkpoint(tmp_path, capsys):
    (tmp_path / "M3D_Cap.json").write_text("{}", encoding="utf-8")
    (tmp_path / "M3D_VQA_test.csv").write_text("Image Path,Text\n", encoding="utf-8")
    assert main(["table8", "--data", str(tmp_path), "--ablation-root", str(tmp_path / "abl")]) == 2
    assert "configs/ablations/pubmedclip.yaml" in capsys.readouterr().err


def test_controls_on_a_one_case_split_fail_without_a_traceback(tmp_path, capsys, monkeypatch):
    import slicevlm.reproduction.command as reproduce
    from slicevlm.io.errors import DataError

    def one_case(*args, **kwargs):
        raise DataError("M3D_VQA_test.csv: image_controls 'swapped' cannot run: a derangement needs at least 2 distinct cases")

    (tmp_path / "M3D_VQA_test.csv").write_text("Image Path,Text\n", encoding="utf-8")
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "slicevlm.json").write_text("{}", encoding="utf-8")
    monkeypatch.setattr(reproduce, "evaluate_checkpoint", one_case)
    assert main(["table4", "--data", str(tmp_path), "--checkpoint", str(tmp_path / "ckpt")]) == 2
    assert "needs at least 2 distinct cases" in capsys.readouterr().err


#: `reproduce towers` rows: work folder -> (row name, tower class its checkpoint records)
TOWER_ROWS = {
    "full": ("SliceVLM", "VisionPipeline"),
    "m3d_lamed": ("M3D-LaMed", "M3DLaMedTower"),
    "med3dvlm": ("Med3DVLM", "Med3DVLMTower"),
}


def test_towers_synthetic_twin_trains_three_towers_on_one_budget_and_resumes(tmp_path, capsys, tiny_models, monkeypatch):
    import yaml
    from safetensors.torch import load_file

    # The session's tiny models as they are (the table4 test covers writing them with the twin's warm-up).
    monkeypatch.setattr("slicevlm.tiny.write_tiny_models", lambda out: None)
    argv = ["towers", "--data", "synthetic", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"),
            "--tiny-models", str(tiny_models["llm"].parent), "--n", "24", "--max-steps", "2", "--max-samples", "4",
            "--device", "cpu"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "# Vision towers: SliceVLM, M3D-LaMed, Med3DVLM" in printed and "Synthetic twin" in printed
    assert "each baseline keeps its own LoRA dropout (0.05), and M3D-LaMed trains with M3D's augmentation" in printed
    assert "The SliceVLM twin injects locally" in printed
    assert (tmp_path / "out" / "towers" / "reproduction.md").read_text(encoding="utf-8") in printed
    for name, (row, tower) in TOWER_ROWS.items():
        assert f"| {row} | {tower} |" in printed  # what differs: the tower
        assert f"| {row} | " in printed.split("across seeds", 1)[1].split("\n\n", 2)[1]  # Mean accuracy over seeds
        assert f"| {row} (seed 0) | " in printed  # controls per seed
        checkpoint = tmp_path / "work" / name / "seed0" / "checkpoint"
        model = yaml.safe_load((checkpoint / "model.yaml").read_text(encoding="utf-8"))
        assert model["vision"]["class_path"].rpartition(".")[2] == tower
        adapter = json.loads((checkpoint / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
        dropout = 0.1 if name == "full" else 0.05  # each baseline's own (M3D's train.py, Med3DVLM's)
        assert (adapter["r"], adapter["lora_alpha"], adapter["lora_dropout"]) == (16, 32, dropout)
        stored = sum(tensor.numel() for tensor in load_file(str(checkpoint / "vision.safetensors")).values())
        assert f"| {stored:,} | r 16, α 32, dropout {dropout} |" in printed.split(f"| {row} | {tower} |", 1)[1].split("\n", 1)[0] + "|"
        rows = (tmp_path / "out" / "towers" / name / "seed0" / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
        assert [json.loads(r)["condition"] for r in rows[:2]] == ["own", "swapped"] and len(rows) == 8
        if name != "full":  # stage 2 went on training the 3D encoder stage 1 trained
            stage1 = load_file(str(tmp_path / "work" / name / "seed0" / "stage1" / "vision.safetensors"))
            stage2 = load_file(str(checkpoint / "vision.safetensors"))
            encoder = [key for key in stage1 if key.startswith("encoder.")]
            assert encoder and all(not stage1[key].equal(stage2[key]) for key in encoder)
    assert "Closed-VQA accuracy per question type, one evaluation per row" in printed
    # A second call finds every row trained and every prediction written: no stage runs again.
    assert main(argv) == 0
    steps = [line.split("] ", 1)[1] for line in capsys.readouterr().err.splitlines() if line.startswith("reproduce [")]
    assert [s for s in steps if "already trained" in s] == [f"[{name}, seed 0] already trained: {tmp_path / 'work' / name / 'seed0' / 'checkpoint'}"
                                                           for name in TOWER_ROWS]
    assert not [s for s in steps if "] stage" in s] and steps[-1].startswith("done")


def test_towers_on_real_data_name_every_missing_tower_and_how_to_train_it(tmp_path, capsys):
    (tmp_path / "M3D_VQA_test.csv").write_text("Image Path,Text\n", encoding="utf-8")
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "slicevlm.json").write_text("{}", encoding="utf-8")
    (tmp_path / "towers" / "m3d_lamed" / "checkpoint").mkdir(parents=True)
    (tmp_path / "towers" / "m3d_lamed" / "checkpoint" / "slicevlm.json").write_text("{}", encoding="utf-8")
    assert main(["towers", "--data", str(tmp_path), "--checkpoint", str(tmp_path / "ckpt"), "--tower-root", str(tmp_path / "towers")]) == 2
    message = capsys.readouterr().err
    assert f"Med3DVLM: {tmp_path / 'towers' / 'med3dvlm' / 'checkpoint'}" in message
    assert "then configs/baselines/med3dvlm.yaml" in message and "--tower-root" in message
    assert "configs/baselines/med3dvlm_clip.yaml, then configs/baselines/med3dvlm_stage1.yaml" in message  # its recipe's steps 1, 2
    assert "M3D-LaMed" not in message and "SliceVLM" not in message  # present folders are not named
    assert main(["towers", "--data", str(tmp_path), "--checkpoint", str(tmp_path / "none"), "--tower-root", str(tmp_path / "empty")]) == 2
    message = capsys.readouterr().err
    assert all(f"{row}: " in message for row in ("SliceVLM", "M3D-LaMed", "Med3DVLM"))
    assert "lightning-cli fit --config configs/baselines/m3d_lamed.yaml" in message and "configs/stage1.yaml" in message
