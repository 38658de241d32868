"""Med3DVLM's SigLIP pre-training: the loss as the SigLIP paper writes it, retrieval recall, and a tiny
`lightning-cli fit` whose exported image encoder the Med3DVLM tower starts from."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from slicevlm.cli import run_lightning_cli
from slicevlm.metrics.retrieval import recall_at_k, retrieval_recalls
from slicevlm.training.contrastive import IMAGE_ENCODER_WEIGHTS, siglip_loss
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
    from slicevlm.data.synth import write_synthetic_dataset

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
