"""Slice selection, eq. 3–5."""

import torch

from slicevlm.vision.selection import SliceSelector, kept_slice_count, neighbour_similarity


def _features_with_similarities(depth: int) -> torch.Tensor:
    """(1, D, N=3, C=2) features whose slice means lie on the unit circle at chosen angles."""
    angles = torch.tensor([0.0, 0.1, 0.15, 1.2, 1.25, 2.5, 2.52, 2.53, 3.5, 3.6])[:depth]
    means = torch.stack([angles.cos(), angles.sin()], dim=-1)  # (D, 2)
    return means[None, :, None, :].expand(1, depth, 3, 2).clone()


def test_kept_count_follows_floor_of_d_rho():
    assert kept_slice_count(50, 0.28) == 14
    assert kept_slice_count(32, 0.28) == 8
    assert kept_slice_count(3, 0.1) == 1


def test_similarity_of_last_slice_repeats_the_previous_one():
    features = _features_with_similarities(10)
    similarity = neighbour_similarity(features)[0]
    angles = torch.tensor([0.0, 0.1, 0.15, 1.2, 1.25, 2.5, 2.52, 2.53, 3.5, 3.6])
    expected = torch.cos(angles[1:] - angles[:-1])
    assert torch.allclose(similarity[:-1], expected, atol=1e-6)
    assert similarity[-1] == similarity[-2]


def test_keeps_the_lowest_similarity_slices_in_z_order():
    features = _features_with_similarities(10)
    selector = SliceSelector(keep_ratio=0.3)  # ⌊10·0.3⌋ = 3
    kept, indices = selector(features)
    similarity = neighbour_similarity(features)[0]
    expected = torch.sort(torch.argsort(similarity)[:3]).values
    assert indices[0].tolist() == expected.tolist()
    assert indices[0].tolist() == sorted(indices[0].tolist())
    assert torch.equal(kept[0], features[0, expected])


def test_selection_is_per_volume_and_gathers_the_right_rows():
    torch.manual_seed(0)
    features = torch.randn(3, 50, 196, 8)
    kept, indices = SliceSelector()(features)
    assert kept.shape == (3, 14, 196, 8)
    for b in range(3):
        assert torch.equal(kept[b], features[b, indices[b]])
        assert torch.all(indices[b][1:] > indices[b][:-1])


def test_uniform_sampling_is_evenly_spaced():
    kept, indices = SliceSelector(method="uniform")(torch.randn(2, 50, 4, 8))
    assert indices[0].tolist() == torch.linspace(0, 49, 14).round().long().tolist()
    assert kept.shape == (2, 14, 4, 8)


def test_ties_at_the_cut_keep_the_earlier_slice():
    """S_D = S_{D-1} always ties; when the tie sits at the cut the earlier slice wins, on every device."""
    from slicevlm.vision.selection import SliceSelector

    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    # 15 slices keep 4 (⌊15·0.28⌋): S_2 = S_5 = S_9 = 0 (a turns into b and back), S_13 = S_14 = 0.89
    # tie for the fourth place, every other S is 1.
    slices = [a] * 3 + [b] * 3 + [a] * 4 + [b] * 4 + [b + 0.5 * a]
    features = torch.stack(slices)[None, :, None, :].expand(1, 15, 3, 2).contiguous()  # (1, D, N, C)
    assert SliceSelector(keep_ratio=0.28).select_indices(features)[0].tolist() == [2, 5, 9, 13]
