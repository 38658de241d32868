"""The toy and small-model rules (:mod:`slicevlm.toy`), on stand-ins of the right parameter counts.

The parameters live on the meta device: their counts are real, nothing is allocated, so a 6.7 billion
parameter "LLM" costs nothing.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from slicevlm import toy

SMOLLM2_135M = 134_515_584
TINY_ENCODER = 118_784
EFFICIENTNET_LITE0 = 700_000  # cut at its stride-16 block, as the slice encoder keeps it
LLAMA2_7B = 6_738_415_616
BIOMEDCLIP_VIT = 86_192_640
TINY_LLM = 415_000


class _Sized(nn.Module):
    """A module with exactly `count` parameters, on the meta device."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(count, device="meta"), requires_grad=False)


class _Tower(nn.Module):
    """A vision tower: with a separate encoder of `encoder` parameters, or (None) without one."""

    def __init__(self, encoder: int | None) -> None:
        super().__init__()
        self.fusion = _Sized(50_000_000)  # the tower's other parts never count
        if encoder is not None:
            self.encoder = _Sized(encoder)


class _Model(nn.Module):
    """What the rules read of a SliceVLM: `.language` and `.vision`."""

    def __init__(self, llm: int, encoder: int | None) -> None:
        super().__init__()
        self.language = _Sized(llm)
        self.vision = _Tower(encoder)


def test_a_real_small_llm_beside_the_tiny_encoder_is_a_toy_and_small():
    record = toy.toy_record(_Model(SMOLLM2_135M, TINY_ENCODER))
    assert record["toy"] is True
    assert record["toy_reason"] == "its vision encoder (_Sized) has 118,784 parameters (a toy has fewer than 500,000)"
    assert record["small"] is True
    assert "134,515,584 parameters" in record["small_reason"] and "LLaMA-2-7B has 6.7 billion" in record["small_reason"]


def test_a_large_llm_beside_the_tiny_encoder_is_a_toy_not_small():
    record = toy.toy_record(_Model(LLAMA2_7B, TINY_ENCODER))
    assert record["toy"] is True and "language model" not in record["toy_reason"]
    assert record["small"] is False and record["small_reason"] is None


def test_a_small_llm_beside_a_real_encoder_is_small_not_a_toy():
    record = toy.toy_record(_Model(SMOLLM2_135M, EFFICIENTNET_LITE0))
    assert record == {"toy": False, "toy_reason": None, "small": True, "small_reason": toy.small_reason(_Model(SMOLLM2_135M, None))}


def test_the_paper_sized_model_is_neither():
    assert toy.toy_record(_Model(LLAMA2_7B, BIOMEDCLIP_VIT)) == {"toy": False, "toy_reason": None, "small": False, "small_reason": None}


def test_the_tiny_stand_ins_are_a_toy_for_both_parts_and_small():
    record = toy.toy_record(_Model(TINY_LLM, TINY_ENCODER))
    assert record["toy"] is True and record["small"] is True
    assert "its language model has 415,000 parameters" in record["toy_reason"]
    assert "its vision encoder (_Sized) has 118,784 parameters" in record["toy_reason"]


def test_a_tower_without_a_separate_encoder_is_judged_by_its_llm_alone():
    assert toy.toy_record(_Model(SMOLLM2_135M, None))["toy"] is False
    assert toy.toy_record(_Model(TINY_LLM, None))["toy"] is True


def test_the_thresholds_are_the_rule(monkeypatch):
    model = _Model(SMOLLM2_135M, TINY_ENCODER)
    monkeypatch.setattr(toy, "TOY_ENCODER_PARAMETERS", TINY_ENCODER)  # at the threshold: not under it
    assert toy.toy_reason(model) is None
    monkeypatch.setattr(toy, "SMALL_LLM_PARAMETERS", SMOLLM2_135M)
    assert toy.small_reason(model) is None


def test_a_slice_encoder_is_named_as_such(tmp_path):
    from slicevlm.tiny.encoder import write_tiny_encoder
    from slicevlm.vision import SliceEncoder

    encoder = SliceEncoder(f"local-dir:{write_tiny_encoder(tmp_path / 'encoder')}", dtype="float32")
    model = nn.Module()
    model.language, model.vision = _Sized(LLAMA2_7B), _Tower(None)
    model.vision.encoder = encoder
    count = sum(p.numel() for p in encoder.parameters())
    assert count < toy.TOY_ENCODER_PARAMETERS
    assert toy.toy_reason(model) == f"its slice encoder (OpenClipSliceEncoder) has {count:,} parameters (a toy has fewer than 500,000)"


@pytest.mark.parametrize(
    ("flags", "toy_notice", "small_notice"),
    [((True, True), toy.TOY_NOTICE, toy.SMALL_NOTICE), ((False, True), None, toy.SMALL_NOTICE),
     ((True, False), toy.TOY_NOTICE, None), ((None, None), None, None)],
)
def test_labels_carry_each_notice_that_applies(flags, toy_notice, small_notice):
    labels = toy.labels(*flags)
    assert labels == {"toy": flags[0], "toy_notice": toy_notice, "small": flags[1], "small_notice": small_notice, "notice": toy.RESEARCH_NOTICE}


def test_the_notices_say_what_they_mean():
    assert toy.TOY_NOTICE.startswith("toy model: one or more of") and "tiny stand-in" in toy.TOY_NOTICE
    assert toy.SMALL_NOTICE.startswith("small model:") and "LLaMA-2-7B" in toy.SMALL_NOTICE and "not the paper's results" in toy.SMALL_NOTICE
