"""`slicevlm export-zero` on a hostile DeepSpeed checkpoint: its pickles are read with
`weights_only=True` (DeepSpeed's own reader too), its config may only name SliceVLM's model classes,
and nothing runs unless --trust-checkpoint is given."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from slicevlm.training.zero import load_zero_file
from slicevlm.training.zero_export import build_module
from slicevlm.training.zero_export import main as export_zero_main
from slicevlm.trusted_classes import UntrustedCheckpointError


class Payload:
    """Unpickling this creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def model_states(**extra) -> dict:
    """A plain model-states dict of the shape DeepSpeed writes (tensors and plain values)."""
    return {"module": {"w": torch.zeros(2)}, "buffer_names": [], "param_shapes": [{"w": torch.Size([2])}],
            "shared_params": {}, "ds_version": "0.0.0", **extra}


def deepspeed_folder(root: Path, rank0: dict, rank1: dict | None = None) -> Path:
    checkpoint = root / "last.ckpt"
    (checkpoint / "checkpoint").mkdir(parents=True)
    (checkpoint / "latest").write_text("checkpoint", encoding="utf-8")
    torch.save(rank0, checkpoint / "checkpoint" / "zero_pp_rank_0_mp_rank_00_model_states.pt")
    if rank1 is not None:
        torch.save(rank1, checkpoint / "checkpoint" / "zero_pp_rank_1_mp_rank_00_model_states.pt")
    return checkpoint


def test_a_pickle_in_the_training_state_is_refused_and_nothing_runs(tmp_path, capsys):
    marker = tmp_path / "pwned"
    checkpoint = deepspeed_folder(tmp_path, model_states(hyper_parameters=Payload(marker)))
    assert export_zero_main([str(checkpoint), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "zero_pp_rank_0_mp_rank_00_model_states.pt" in err and "--trust-checkpoint" in err and "(it names io.open)" in err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_trust_checkpoint_reads_the_pickle_as_before(tmp_path):
    marker = tmp_path / "pwned"
    checkpoint = deepspeed_folder(tmp_path, model_states(hyper_parameters=Payload(marker)))
    load_zero_file(checkpoint / "checkpoint" / "zero_pp_rank_0_mp_rank_00_model_states.pt", trust=True)
    assert marker.exists()  # the flag really hands the file to pickle: only for your own runs


def test_deepspeeds_own_reader_is_made_weights_only(tmp_path, capsys):
    pytest.importorskip("deepspeed")
    marker = tmp_path / "pwned"
    # rank 0 (read by us) is plain; rank 1 is read only by DeepSpeed's zero_to_fp32 (weights_only=False there)
    checkpoint = deepspeed_folder(tmp_path, model_states(), model_states(buffer_names=Payload(marker)))
    assert export_zero_main([str(checkpoint), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "zero_pp_rank_1_mp_rank_00_model_states.pt" in err and "--trust-checkpoint" in err
    assert not marker.exists()
    assert torch.load is not None and torch.load.__module__.startswith("torch")  # restored after the refusal


def test_the_stored_config_may_only_name_model_classes(tmp_path):
    marker = tmp_path / "pwned"
    config = {"model": {"vision": {"class_path": "subprocess.Popen", "init_args": {"args": ["touch", str(marker)]}},
                        "language": {"class_path": "slicevlm.llm.LanguageModel", "init_args": {}}}}
    with pytest.raises(UntrustedCheckpointError, match=r"model\.vision\.class_path.*'subprocess\.Popen'"):
        build_module(config, trust_checkpoint=False, source="the training config stored in last.ckpt")
    assert not marker.exists()
