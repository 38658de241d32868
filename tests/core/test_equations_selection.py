"""Slice selection against the plain reference of eq. 3–5 (`equation_reference.py`)."""

import pytest
import torch

import equation_reference as ref
from slicevlm.vision.selection import SliceSelector, neighbour_similarity


def _volume_features(batch: int, depth: int, tokens: int, channels: int, seed: int) -> torch.Tensor:
    """(B, D, N, C) features in which every slice, patch and channel differs.

    A per-channel offset shared by all slices plus a random walk along z makes neighbours alike to
    varying degrees (as in a real stack), and the patch noise differs per token, so that pooling
    over another axis, or another pooling, yields other similarities.
    """
    generator = torch.Generator().manual_seed(seed)
    offset = torch.randn(batch, 1, 1, channels, generator=generator)
    walk = torch.randn(batch, depth, 1, channels, generator=generator).cumsum(dim=1) * 0.3
    patches = torch.randn(batch, depth, tokens, channels, generator=generator) * 2.0
    return offset + walk + patches


@pytest.mark.parametrize("shape", [(2, 12, 6, 10), (1, 20, 15, 16)])
def test_similarity_is_the_cosine_of_mean_pooled_neighbours(shape):
    """Eq. 3–4, including S_D = S_{D-1} for the last slice."""
    features = _volume_features(*shape, seed=1)
    similarity = neighbour_similarity(features)  # (B, D)
    for b in range(shape[0]):
        expected = torch.tensor(ref.slice_similarity(features[b]), dtype=torch.float64)
        torch.testing.assert_close(similarity[b].double(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape, keep", [((2, 12, 6, 10), 3), ((3, 20, 15, 16), 5)])
def test_keeps_the_least_similar_slices_in_z_order(shape, keep):
    """Eq. 5 at ρ = 0.28: ⌊D·ρ⌋ lowest-S slices, gathered in ascending z."""
    features = _volume_features(*shape, seed=2)
    kept, indices = SliceSelector()(features)
    assert kept.shape == (shape[0], keep, *shape[2:])
    for b in range(shape[0]):
        expected = ref.kept_slices(features[b], keep)
        assert indices[b].tolist() == expected
        assert torch.equal(kept[b], features[b, expected])


def test_last_slice_takes_the_similarity_of_the_one_before():
    """S_D = S_{D-1}: when the last two slices differ most, both are kept."""
    features = _volume_features(1, 12, 6, 10, seed=3)
    features[0, -1] = -features[0, -2]  # cos(f_{D-1}, f_D) = -1: the lowest possible S_{D-1}
    similarity = neighbour_similarity(features)[0]
    assert similarity[-1].item() == pytest.approx(-1.0, abs=1e-6)
    assert similarity[-2].item() == pytest.approx(-1.0, abs=1e-6)
    _, indices = SliceSelector()(features)  # keeps 3 of 12
    assert indices[0].tolist()[-2:] == [10, 11]
    assert indices[0].tolist() == ref.kept_slices(features[0], 3)


def test_z_order_is_kept_when_similarity_order_differs():
    """The kept slices come back by position, not by similarity rank."""
    features = _volume_features(1, 20, 6, 10, seed=4)
    similarity = ref.slice_similarity(features[0])
    by_rank = sorted(range(20), key=lambda i: similarity[i])[:5]
    assert by_rank != sorted(by_rank), "the test needs a volume whose lowest-S slices are not already in z order"
    kept, indices = SliceSelector()(features)
    assert indices[0].tolist() == sorted(by_rank)
    assert torch.equal(kept[0], features[0, sorted(by_rank)])


def test_paper_shapes_fifty_slices_of_196_tokens_keep_14():
    """(1, 50, 196, 768) at ρ = 0.28 keeps 14 slices, the same ones as the reference."""
    features = _volume_features(1, 50, 196, 768, seed=5)
    kept, indices = SliceSelector(keep_ratio=0.28)(features)
    assert kept.shape == (1, 14, 196, 768)
    assert indices[0].tolist() == ref.kept_slices(features[0], 14)


@pytest.mark.parametrize("depth, keep", [(50, 14), (12, 3), (20, 5)])
def test_uniform_selection_takes_evenly_spaced_slices(depth, keep):
    """Uniform-sampling ablation: round(i·(D−1)/(D̂−1)), i = 0 … D̂−1, whatever the features."""
    features = _volume_features(2, depth, 4, 8, seed=6)
    kept, indices = SliceSelector(method="uniform")(features)
    expected = ref.uniform_slices(depth, keep)
    for b in range(2):
        assert indices[b].tolist() == expected
        assert torch.equal(kept[b], features[b, expected])
