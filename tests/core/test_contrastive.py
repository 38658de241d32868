"""Med3DVLM's SigLIP pre-training: the loss as the SigLIP paper writes it, retrieval recall, and a tiny
`lightning-cli fit` whose exported image encoder the Med3DVLM tower starts from."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from slicevlm.cli import run_lightning_cli
from slicevlm.metrics.retrieval import recall_at_k, retrieval_recalls
from slicevlm.training.contrastive import IMAGE_ENCODER_WEIGHTS, gather_with_grad, siglip_loss
from slicevlm.vision.baselines import Med3DVLMTower

BASELINES = Path(__file__).resolve().parents[2] / "configs" / "baselines"
TINY_DCFORMER = {"image_size": (64, 64, 64), "depths": (1, 1, 1, 1), "channels": (8, 16, 24, 32), "kernel_sizes": (5, 5, 3, 3), "stem_channels": 8}


def test_siglip_loss_is_eq_1_of_the_paper():
    torch.manual_seed(0)
    image, text = F.normalize(torch.randn(5, 8), dim=-1), F.normalize(torch.randn(5, 8), dim=-1)
    t_prime, b = torch.tensor(0.7), torch.tensor(-2.0)
    # Zhai et al. 2023, eq. 1: −1/|B| Σ_i Σ_j log 1/(1 + exp(z_ij (−t x_i·y_j − b))), z_ij = 1 iff i = j.
    expected = 0.0
    for i in range(5):
        for j in range(5):
            z = 1.0 if i == j else -1.0
            expected -= torch.log(1 / (1 + torch.exp(z * (-t_prime.exp() * image[i] @ text[j] - b))))
    assert torch.allclose(siglip_loss(image, text, t_prime, b), expected / 5, atol=1e-6)
    # Paired rows that agree cost less than the same rows mismatched.
    assert siglip_loss(image, image, t_prime, b) < siglip_loss(image, image.roll(1, 0), t_prime, b)


def _gathered_step(rank: int, world: int, init_file: str, inputs: dict, out: str) -> None:
    """One process of the gloo test: its share of the pairs through a linear head, the loss over the gathered
    batch, backward, and the head's gradient averaged over processes as DDP averages it."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        head = torch.nn.Linear(6, 4)
        head.load_state_dict(inputs["head"])
        share = len(inputs["image"]) // world
        rows = slice(rank * share, (rank + 1) * share)
        image = F.normalize(head(inputs["image"][rows]), dim=-1)
        text = F.normalize(inputs["text"][rows], dim=-1)
        loss = siglip_loss(gather_with_grad(image), gather_with_grad(text), inputs["t_prime"], inputs["bias"])
        loss.backward()
        grads = {}
        for name, parameter in head.named_parameters():
            dist.all_reduce(parameter.grad)
            grads[name] = parameter.grad / world
        torch.save({"loss": loss.detach(), "grads": grads}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_siglip_loss_over_two_processes_is_the_loss_over_the_concatenated_batch(tmp_path):
    """Med3DVLM's `gather_loss=True`: two gloo processes of 3 pairs each compute the loss of all 6 pairs, and
    their DDP-averaged gradients are those of one process holding all 6."""
    import torch.multiprocessing as mp

    torch.manual_seed(0)
    head = torch.nn.Linear(6, 4)
    inputs = {"image": torch.randn(6, 6), "text": torch.randn(6, 4), "head": head.state_dict(),
              "t_prime": torch.tensor(1.2), "bias": torch.tensor(-0.5)}
    mp.spawn(_gathered_step, args=(2, str(tmp_path / "rendezvous"), inputs, str(tmp_path / "result")), nprocs=2)
    results = [torch.load(tmp_path / f"result.{rank}", weights_only=True) for rank in range(2)]

    single = siglip_loss(F.normalize(head(inputs["image"]), dim=-1), F.normalize(inputs["text"], dim=-1), inputs["t_prime"], inputs["bias"])
    single.backward()
    own = siglip_loss(F.normalize(head(inputs["image"][:3]), dim=-1), F.normalize(inputs["text"][:3], dim=-1),
                      inputs["t_prime"], inputs["bias"])
    for result in results:
        assert torch.allclose(result["loss"], single.detach(), atol=1e-6)
        assert not torch.allclose(result["loss"], own.detach(), atol=1e-3)  # not each process's own 3 pairs
        for name, parameter in head.named_parameters():
            assert torch.allclose(result["grads"][name], parameter.grad, atol=1e-6), name
    # Without a process group the rows pass through unchanged.
    rows = torch.randn(3, 4)
    assert gather_with_grad(rows) is rows


def test_pretraining_defaults_are_med3dvlms(tiny_models):
    """Med3DVLM: a 768-wide shared space; its release starts t′ at log(1/0.07) and b at 0; loss over the global batch."""
    import math

    from slicevlm.llm.text_encoder import TextEncoder
    from slicevlm.training.contrastive import ContrastivePretraining
    from slicevlm.vision.baselines import DCFormer3D

    encoder = DCFormer3D((1, 1), (8, 16), (3, 3), stem_channels=8)
    module = ContrastivePretraining(encoder, TextEncoder(str(tiny_models["llm"]), pooling="mean", max_length=16))
    assert module.image_head.out_features == module.text_head.out_features == 768
    assert math.isclose(module.log_temperature.item(), math.log(1 / 0.07), rel_tol=1e-6) and module.bias.item() == 0.0
    hp = module.hparams
    assert (hp.gather, hp.learning_rate, hp.weight_decay, hp.warmup_ratio) == (True, 1e-4, 0.1, 0.03)


def test_recall_at_k_counts_where_the_own_pair_ranks():
    similarity = torch.tensor([
        [0.9, 0.1, 0.0, 0.0],  # own pair first
        [0.8, 0.5, 0.1, 0.0],  # second
        [0.3, 0.3, 0.3, 0.9],  # a tie with two others and one higher: ranked last of the tie, fourth
        [0.0, 0.0, 0.0, 1.0],  # first
    ])
    assert recall_at_k(similarity, (1, 2, 3, 4)) == {1: 0.5, 2: 0.75, 3: 0.75, 4: 1.0}
    recalls = retrieval_recalls(torch.eye(3), torch.eye(3), ks=(1,))
    assert recalls == {"i2t_r1": 1.0, "t2i_r1": 1.0}
    with pytest.raises(ValueError, match="square"):
        recall_at_k(torch.zeros(2, 3))


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    from slicevlm.testbed.synth import write_synthetic_dataset

    return write_synthetic_dataset(tmp_path_factory.mktemp("synth"), n=16, seed=0, shape=(16, 32, 32))


def test_tiny_pretraining_fit_exports_the_encoder_the_tower_starts_from(tiny_models, synthetic_root, tmp_path):
    from safetensors.torch import load_file

    from slicevlm.config_record import describe
    from slicevlm.errors import MissingFileError

    export = tmp_path / "clip"
    cli = run_lightning_cli([
        "fit", "--config", str(BASELINES / "med3dvlm_clip_tiny.yaml"),
        "--model.init_args.text_encoder.init_args.model_name", str(tiny_models["llm"]),
        "--model.init_args.export_dir", str(export),
        "--data.data_root", str(synthetic_root),
        "--data.num_workers", "0",
        "--data.batch_size", "4",
        "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"),
        "--trainer.max_steps", "2",
        "--trainer.val_check_interval", "2",
        "--trainer.limit_val_batches", "1",
        "--trainer.num_sanity_val_steps", "0",
    ])
    metrics = cli.trainer.callback_metrics
    for name in ("val/loss", "val/i2t_r1", "val/i2t_r5", "val/i2t_r10", "val/t2i_r1", "val/t2i_r5", "val/t2i_r10"):
        assert name in metrics, name
    assert 0 <= float(metrics["val/i2t_r1"]) <= float(metrics["val/i2t_r5"]) <= float(metrics["val/i2t_r10"]) <= 100
    weights = export / IMAGE_ENCODER_WEIGHTS
    stored = load_file(str(weights))
    trained = cli.model.image_encoder.state_dict()
    assert stored.keys() == trained.keys() and all(torch.equal(stored[k], trained[k]) for k in stored)

    tower = Med3DVLMTower(**TINY_DCFORMER, low_tokens=(8, 8), high_tokens=(4, 8), encoder_weights=str(weights))
    assert all(torch.equal(tower.encoder.state_dict()[k], stored[k]) for k in stored)
    assert describe(tower)["init_args"]["encoder_weights"] is None  # the checkpoint folder stores the encoder itself
    with pytest.raises(MissingFileError, match="encoder_weights: .*does not exist"):
        Med3DVLMTower(**TINY_DCFORMER, encoder_weights=str(tmp_path / "missing.safetensors"))


def test_pretraining_fits_in_train_mode_with_the_text_encoders_dropout_on(tiny_models, synthetic_root):
    """`from_pretrained` returns the text encoder in eval mode; a fit must still train it with dropout on."""
    import lightning.pytorch as pl

    from slicevlm.data.datamodule import M3DDataModule
    from slicevlm.llm.text_encoder import TextEncoder
    from slicevlm.training.contrastive import ContrastivePretraining
    from slicevlm.vision.baselines import DCFormer3D

    class EvalModules(pl.Callback):
        found: list[str] = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            self.found = [name for name, module in pl_module.named_modules() if not module.training]

    text_encoder = TextEncoder(str(tiny_models["llm"]), pooling="mean", max_length=32)
    assert not text_encoder.model.training  # as transformers hands it over
    dcformer = {key: value for key, value in TINY_DCFORMER.items() if key != "image_size"}
    module = ContrastivePretraining(DCFormer3D(**dcformer), text_encoder, embed_dim=16)
    data = M3DDataModule(str(synthetic_root), train_tasks=["caption"], val_tasks=[], volume_size=(64, 64, 64), batch_size=2,
                         num_workers=0, pin_memory=False, train_samples_per_epoch=2)
    probe = EvalModules()
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[probe])
    trainer.fit(module, datamodule=data)
    assert probe.found == []


def _pretraining_command(tiny_models, data: Path, out: Path, *extra: str, callbacks=()) -> list[str]:
    """`python -m slicevlm fit` on the tiny SigLIP config: 16 pairs per epoch, 2 epochs, `last.ckpt` every 2 steps."""
    import json
    import sys

    command = [
        sys.executable, "-m", "slicevlm", "fit", "--config", str(BASELINES / "med3dvlm_clip_tiny.yaml"),
        "--model.init_args.text_encoder.init_args.model_name", str(tiny_models["llm"]),
        "--model.init_args.export_dir", str(out / "export"),
        "--data.data_root", str(data), "--data.batch_size", "4", "--data.num_workers", "1",
        "--data.train_samples_per_epoch", "16", "--data.max_val_samples", "2",
        "--trainer.logger.init_args.save_dir", str(out / "logs"), "--trainer.max_epochs", "2",
        "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.callbacks.init_args.every_n_train_steps", "2",  # the ResumableCheckpoint (last in the list)
        *extra,
    ]
    return command + ["--trainer.callbacks+=" + json.dumps(callback) for callback in callbacks]


@pytest.mark.slow
def test_pretraining_resumes_after_kill_9_like_every_stage(tiny_models, synthetic_root, tmp_path):
    """`fit --ckpt_path last` after a SIGKILL mid-epoch: the same batches from the same step on, and the same
    weights (encoder, heads, temperature, bias) as a run that was never interrupted."""
    from safetensors.torch import load_file
    from train_probes import read_batches, record, start

    full, cut = tmp_path / "full", tmp_path / "cut"
    uninterrupted = start(_pretraining_command(tiny_models, synthetic_root, full, callbacks=[record(full / "batches")]), tmp_path / "full.log")
    killed = start(_pretraining_command(tiny_models, synthetic_root, cut, callbacks=[
        record(cut / "batches"), {"class_path": "train_probes.KillAtStep", "init_args": {"step": 7}},
    ]), tmp_path / "cut.log")
    assert killed.wait(900) == -9, (tmp_path / "cut.log").read_text()
    checkpoints = cut / "logs" / "med3dvlm_clip_tiny" / "checkpoints"
    saved = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)
    # 4 batches per epoch, last.ckpt every 2 steps; killed as step 7 began: last is step 6, batch 2 of epoch 1
    assert saved["global_step"] == 6 and saved["epoch"] == 1
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 1, "batches": 2, "batches_per_epoch": 4}]
    assert not (cut / "export").exists()

    resumed = start(_pretraining_command(tiny_models, synthetic_root, cut, "--ckpt_path", "last", callbacks=[record(cut / "resumed")]),
                    tmp_path / "resumed.log")
    assert resumed.wait(900) == 0, (tmp_path / "resumed.log").read_text()
    assert uninterrupted.wait(900) == 0, (tmp_path / "full.log").read_text()
    reference, continued = read_batches(full / "batches"), read_batches(cut / "resumed")
    assert len(reference) == 8 and (continued[0]["step"], continued[0]["epoch"]) == (6, 1)
    assert [row for row in read_batches(cut / "batches") if row["step"] < 6] + continued == reference

    final = {name: torch.load(run / "logs" / "med3dvlm_clip_tiny" / "checkpoints" / "last.ckpt", map_location="cpu",
                              weights_only=True)["state_dict"] for name, run in (("full", full), ("cut", cut))}
    assert final["full"].keys() == final["cut"].keys() and "log_temperature" in final["full"]
    different = [k for k in final["full"] if not torch.equal(final["full"][k], final["cut"][k])]
    assert not different, f"not bit-identical after resume: {different[:5]}"
    exported = load_file(str(cut / "export" / IMAGE_ENCODER_WEIGHTS))
    assert all(torch.equal(exported[k], final["full"][f"image_encoder.{k}"]) for k in exported)
