"""The computed memory table: its rows match the shipped configs, and each part follows its formula."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from slicevlm.training.memory import GIB, SETUPS, ModelSizes, TrainingSetup, estimate, llm_sizes, markdown_table, vision_activation_bytes

REPO = Path(__file__).resolve().parents[2]


def _resolved(setup: TrainingSetup, capsys) -> dict:
    from slicevlm.cli import run_lightning_cli

    files = [part for part in setup.name.replace("+ ", "").split() if part.endswith(".yaml")]
    if files[0].startswith("configs/single_gpu/"):
        files.insert(0, f"configs/{Path(files[0]).name.split('_')[0].removesuffix('.yaml')}.yaml")
    elif files[0].startswith("configs/rehearsal/"):  # the CPU overlay goes on the stage-2 config
        files.insert(0, "configs/stage2.yaml")
    args = [arg for name in files for arg in ("--config", str(REPO / name))]
    with pytest.raises(SystemExit):
        run_lightning_cli(["fit", *args, "--print_config"])
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("setup", SETUPS, ids=lambda s: s.name)
def test_each_row_describes_its_config(setup, capsys):
    config = _resolved(setup, capsys)
    trainer, language = config["trainer"], config["model"]["language"]["init_args"]
    strategy = trainer["strategy"]
    zero = strategy["init_args"]["stage"] if isinstance(strategy, dict) else 0
    assert (trainer["devices"], zero, trainer["accumulate_grad_batches"]) == (setup.devices, setup.zero_stage, setup.accumulate)
    assert config["data"]["batch_size"] == setup.batch_size and config["model"]["stage"] == setup.stage
    assert language.get("quantization") == setup.quantization
    assert language["gradient_checkpointing"] == setup.gradient_checkpointing
    assert language["context_length"] == setup.seq_len
    assert (trainer["accelerator"] == "cpu") == (setup.device == "cpu")
    if setup.device == "cuda":
        assert setup.global_batch == 96  # the paper's


def test_llama2_7b_counts_its_6_74_billion_parameters():
    linear, other, hidden, intermediate, layers, vocab = llm_sizes()
    assert linear + other == 6_738_415_616  # LLaMA-2-7B
    assert linear == 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
    assert (hidden, intermediate, layers, vocab) == (4096, 11008, 32, 32001)


def test_qwen25_7b_instruct_counts_its_7_62_billion_parameters():
    """Med3DVLM's LLM from its shipped architecture config, on the meta device: 28 blocks of grouped-query
    attention (28 query heads, 4 key/value heads of 128, biases on q, k, v), SwiGLU 3584 → 18944, untied embeddings."""
    linear, other, hidden, intermediate, layers, vocab = llm_sizes("Qwen/Qwen2.5-7B-Instruct")
    assert (hidden, intermediate, layers, vocab) == (3584, 18944, 28, 152064 + 1)
    attention = (3584 * 3584 + 3584) + 2 * (3584 * 512 + 512) + 3584 * 3584
    block = attention + 3 * 3584 * 18944 + 2 * 3584  # + two RMSNorms
    assert linear + other == 28 * block + 2 * 152064 * 3584 + 3584 == 7_615_616_512  # Qwen2.5-7B: 7.62B


def test_lora_count_matches_peft(tiny_models):
    from slicevlm.llm.language_model import LanguageModel
    from slicevlm.llm.lora import LoraSettings

    language = LanguageModel(str(tiny_models["llm"]), dtype="float32")
    config = language.model.config
    language.add_lora(LoraSettings(rank=8))
    counted = sum(p.numel() for name, p in language.model.named_parameters() if "lora_" in name)
    kv = config.num_key_value_heads * config.head_dim  # grouped-query attention in the tiny LLM
    sizes = ModelSizes(0, 0, 0, 0, config.hidden_size, config.intermediate_size, config.num_hidden_layers, 0, 0, kv)
    assert sizes.lora(8) == counted


def test_vision_modules_are_traced_on_the_real_classes(tiny_models):
    encoder, trained, saved = vision_activation_bytes(f"local-dir:{tiny_models['encoder']}", depth=8, pretrained=True)
    assert encoder > 0 and trained > 0 and saved > 0
    _, _, saved_deeper = vision_activation_bytes(f"local-dir:{tiny_models['encoder']}", depth=16, pretrained=True)
    assert saved_deeper > saved  # more slices kept, more saved activations


SIZES = ModelSizes(
    encoder=100, trainable_vision=1000, llm_block_linear=10_000, llm_other=500,
    hidden=8, intermediate=16, layers=2, vocab=50, vision_activation_bytes=64,
)


def test_parts_follow_their_formulas():
    setup = TrainingSetup("x", stage=2, devices=4, zero_stage=2, batch_size=3, accumulate=1, seq_len=10, lora_rank=2)
    parts = estimate(setup, SIZES).parts
    lora = 2 * 2 * (4 * 16 + 2 * 24 + 24)
    assert parts["frozen weights"] == 2 * 100 + 2 * 10_000 + 2 * 500
    assert parts["trained weights"] == 4 * (1000 + lora)
    assert parts["gradients"] == 4 * (1000 + lora) / 4 and parts["optimizer state"] == 8 * (1000 + lora) / 4
    one_layer = 34 * 10 * 3 * 8 + 3 * 10 * 3 * (6 * 8 + 16)
    assert parts["activations"] == 2 * 2 * 10 * 3 * 8 + one_layer + 10 * 3 * 10 * 50 + 3 * 64
    assert parts["runtime"] == GIB


def test_4bit_and_checkpointing_and_zero_shrink_what_they_should():
    base = TrainingSetup("x", stage=2, devices=1, zero_stage=0, batch_size=2, accumulate=1, seq_len=10)
    four_bit = estimate(TrainingSetup(**{**base.__dict__, "quantization": "4bit"}), SIZES).parts
    plain = estimate(base, SIZES).parts
    assert four_bit["frozen weights"] == 2 * 100 + 4.127 / 8 * 10_000 + 4 * 500 < plain["frozen weights"]
    no_ckpt = estimate(TrainingSetup(**{**base.__dict__, "gradient_checkpointing": False}), SIZES).parts
    assert no_ckpt["activations"] > plain["activations"]
    zero = estimate(TrainingSetup(**{**base.__dict__, "devices": 4, "zero_stage": 2}), SIZES).parts
    assert zero["optimizer state"] == plain["optimizer state"] / 4


def test_table_has_one_row_per_setup_with_its_global_batch():
    table = markdown_table([estimate(setup, SIZES) for setup in SETUPS])
    rows = table.splitlines()[2:]
    assert len(rows) == len(SETUPS)
    assert all("= 96 |" in row for row, setup in zip(rows, SETUPS) if setup.device == "cuda")
    assert [" (CPU) |" in row for row in rows] == [setup.device == "cpu" for setup in SETUPS]
