"""`slicevlm reproduce table6` on the tiny CPU twins: the three models side by side, counted and timed in
one run (no timing asserts), and the full-size counts from the meta device."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch

from slicevlm.bench.contenders import CONTENDERS, read_spec, shared_language
from slicevlm.errors import ConfigError
from slicevlm.reproduction.command import main as reproduce_main

NAMES = ["SliceVLM", "M3D-LaMed", "Med3DVLM"]
LABEL = "tiny CPU twin, not comparable with the paper"


@pytest.fixture(scope="module")
def table6(tiny_models, tmp_path_factory) -> tuple[dict, str]:
    """One tiny run with the fewest repeats: (the JSON record, what was printed)."""
    out = tmp_path_factory.mktemp("table6")
    argv = ["table6", "--device", "cpu", "--size", "tiny", "--tiny-models", str(tiny_models["llm"].parent), "--output", str(out)]
    argv += ["--batch-size", "2", "--text-tokens", "56", "--max-new-tokens", "3", "--warmup", "0", "--repeats", "1"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert reproduce_main(argv) == 0
    assert (out / "table6.md").read_text(encoding="utf-8") in printed.getvalue()
    return json.loads((out / "table6.json").read_text(encoding="utf-8")), printed.getvalue()


def _towers(size: str, tiny_dir: Path) -> dict[str, torch.nn.Module]:
    with torch.device("meta"):
        return {c.name: read_spec(c, size, tiny_dir, None).without_weights().build_tower() for c in CONTENDERS}


def test_the_table_has_the_three_models_beside_the_paper(table6):
    record, printed = table6
    assert [row["name"] for row in record["measured"]] == NAMES
    assert [row["name"] for row in record["census"]["full"]] == [row["name"] for row in record["census"]["tiny"]] == NAMES
    assert record["size"] == "tiny" and record["comparable"] is False
    assert all(row["label"] == LABEL for row in record["measured"])
    assert {"device", "cpu", "torch"} <= set(record["machine"]) and record["date"].endswith("UTC")
    for name, hours, ms in (("SliceVLM", 212, 146), ("M3D-LaMed", 232, 165), ("Med3DVLM", 218, 154)):
        assert any(line.startswith(f"| {name} | {hours} h | {ms} ms |") for line in printed.splitlines())
    assert f"## Measured: {LABEL}" in printed and "not comparable with them" in printed
    timings = ("vision_s", "latency_plain_s", "latency_fast_s", "train_step_s", "train_samples_per_s", "train_tokens_per_s")
    assert all(row[key] > 0 for row in record["measured"] for key in timings)


def test_visual_tokens_are_each_towers_own_count(table6, tiny_models):
    record, _ = table6
    tiny = _towers("tiny", tiny_models["llm"].parent)
    for row, census in zip(record["measured"], record["census"]["tiny"]):
        depth = census["volume_size"][0]
        assert row["visual_tokens"] == census["visual_tokens"] == tiny[row["name"]].token_count(depth)
    full = _towers("full", tiny_models["llm"].parent)
    for row in record["census"]["full"]:
        assert row["visual_tokens"] == full[row["name"]].token_count(row["volume_size"][0])
    assert {row["name"]: row["visual_tokens"] for row in record["census"]["full"]} == {"SliceVLM": 343, "M3D-LaMed": 256, "Med3DVLM": 256}


def test_vision_flops_are_positive_and_differ_between_towers(table6):
    record, _ = table6
    for size in ("full", "tiny"):
        totals = [row["flops"]["tower"] + row["flops"]["projector"] for row in record["census"][size]]
        assert all(total > 0 for total in totals) and len(set(totals)) == 3
    # M3D-LaMed at full size, by hand: 3D patch embedding 1·4·16·16 → 768 over 2048 patches; 12 ViT-B blocks
    # (qkv, out, MLP 768 → 3072 → 768) and their attention QKᵀ and A·V over the 2048 patches + the class token;
    # MLP projector 768 → 4096 → 4096.
    patches, width = 2048, 768
    tokens = patches + 1
    blocks = 12 * (2 * tokens * (4 * width * width + 2 * width * 4 * width) + 4 * tokens * tokens * width)
    m3d = next(row for row in record["census"]["full"] if row["name"] == "M3D-LaMed")
    assert m3d["flops"]["tower"] == 2 * patches * 1024 * width + blocks
    assert m3d["flops"]["projector"] == 2 * 256 * (width * 4096 + 4096 * 4096)


def test_parameters_trainable_below_total_and_trained_as_counted(table6):
    record, _ = table6
    for size in ("full", "tiny"):
        assert all(0 < row["parameters"]["trainable"] < row["parameters"]["total"] for row in record["census"][size])
    # The timed training step updates exactly what the table counts as trainable (its own adapter, not the others').
    for row, census, contender in zip(record["measured"], record["census"]["tiny"], CONTENDERS):
        assert row["trained_parameters"] == census["parameters"]["trainable"] and row["trained_adapters"] == [contender.key]
    full = {row["name"]: row["parameters"] for row in record["census"]["full"]}
    # LLaMA-2-7B (6,738,415,616) + the `<image>` row in the input and output embeddings; LoRA r16 on its 7 linear layers × 32 blocks.
    assert {p["llm"] for p in full.values()} == {6_738_415_616 + 2 * 4096}
    assert {p["lora"] for p in full.values()} == {32 * 16 * (4 * 2 * 4096 + 3 * (4096 + 11008))}
    # M3D-LaMed trains its ViT (87,389,184) and its MLP projector 768 → 4096 → 4096.
    assert full["M3D-LaMed"]["vision_trainable"] == 87_389_184 + (768 * 4096 + 4096) + (4096 * 4096 + 4096)


def test_full_size_on_the_cpu_is_a_mode_labelled_cpu():
    from slicevlm.reproduction.table6 import Table6Options, _label, _settings, resolve

    device, size = resolve(Table6Options(device="cpu", size="full"))
    assert (device.type, size) == ("cpu", "full")
    settings = _settings(Table6Options(device="cpu", size="full"), device, size)
    assert (settings.batch_size, settings.text_tokens, settings.warmup, settings.repeats) == (1, 160, 1, 2)
    assert _label(device, size) == "full size, random weights, bf16, CPU"
    assert resolve(Table6Options(device="cpu"))[1] == "tiny"  # the CPU's default stays the tiny twins


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_before_any_work():
    with pytest.raises(SystemExit, match="torch sees no CUDA device"):
        reproduce_main(["table6", "--device", "cuda", "--size", "full"])


def test_configs_that_name_different_llms_are_refused(tiny_models):
    specs = [read_spec(c, "tiny", tiny_models["llm"].parent, None) for c in CONTENDERS]
    specs[2].language["init_args"]["model_name"] = "Qwen/Qwen2.5-7B-Instruct"
    with pytest.raises(ConfigError, match="compares the models with one LLM"):
        shared_language(specs)


def test_each_contender_is_its_configs_as_lightning_cli_merges_them(tiny_models):
    specs = {c.key: read_spec(c, "tiny", tiny_models["llm"].parent, None) for c in CONTENDERS}
    ours = specs["slicevlm"]
    assert ours.vision["class_path"].endswith("VisionPipeline") and ours.vision["init_args"]["keep_ratio"] == 0.28
    tower = specs["med3dvlm"].vision
    assert tower["class_path"].endswith("Med3DVLMTower") and "keep_ratio" not in tower["init_args"]  # another class: replaced whole
    assert specs["m3d_lamed"].lora.dropout == 0.05 and ours.lora.dropout == 0.1  # each config's own LoRA
