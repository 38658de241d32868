"""Statistics of the image-reliance controls: exact McNemar p-values and the cluster bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from slicevlm.metrics.grounding import bootstrap_ci, discordant_counts, grouped_mean, mcnemar_exact


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (0, 0, 1.0),  # no discordant pair: no evidence
        (0, 5, 2 / 32),  # 2 · P[X <= 0], X ~ Bin(5, 1/2)
        (5, 0, 2 / 32),  # symmetric
        (1, 9, 2 * (1 + 10) / 1024),  # 2 · (C(10,0) + C(10,1)) / 2^10 = 0.021484375
        (3, 3, 1.0),  # 2 · P[X <= 3] > 1 for Bin(6, 1/2): capped
        (2, 8, 2 * (1 + 10 + 45) / 1024),  # 0.109375
    ],
)
def test_mcnemar_exact_hand_computed(b: int, c: int, expected: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_exact_matches_scipy_binomtest() -> None:
    stats = pytest.importorskip("scipy.stats")
    for b, c in [(0, 1), (4, 11), (17, 30), (120, 95), (400, 455), (7, 7)]:
        expected = stats.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue
        assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_exact_large_counts_are_exact() -> None:
    assert mcnemar_exact(0, 1000) == pytest.approx(2.0**-999, rel=1e-12)  # exact integers, no overflow
    assert mcnemar_exact(1000, 1000) == 1.0


def test_mcnemar_exact_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="b must be a count"):
        mcnemar_exact(-1, 3)
    with pytest.raises(ValueError, match="c must be a count"):
        mcnemar_exact(1, 2.5)  # type: ignore[arg-type]


def test_discordant_counts() -> None:
    own = [True, True, False, False, True]
    swapped = [True, False, True, False, False]
    assert discordant_counts(own, swapped) == (2, 1)
    with pytest.raises(ValueError, match="3 first outcomes but 2"):
        discordant_counts([True] * 3, [False] * 2)


def test_grouped_mean_is_the_unweighted_mean_of_group_means() -> None:
    values = [1, 1, 1, 0, 0.5]
    groups = ["a", "a", "a", "b", "b"]
    assert grouped_mean(values) == pytest.approx(3.5 / 5)
    assert grouped_mean(values, groups) == pytest.approx((1.0 + 0.25) / 2)
    assert math.isnan(grouped_mean([]))


def test_bootstrap_constant_values_give_a_point_interval() -> None:
    assert bootstrap_ci([1.0] * 30) == (1.0, 1.0)
    assert bootstrap_ci([0.0] * 5, clusters=list("aabbc")) == (0.0, 0.0)


def test_bootstrap_two_clusters_known_distribution() -> None:
    # Cluster a is all 1, cluster b all 0, equal sizes. Resampling 2 clusters gives the mean
    # 1 (p 1/4), 0.5 (p 1/2) or 0 (p 1/4): the 2.5th and 97.5th percentiles are 0 and 1.
    values = [1.0] * 10 + [0.0] * 10
    clusters = ["a"] * 10 + ["b"] * 10
    assert bootstrap_ci(values, clusters) == (0.0, 1.0)
    # Resampling questions instead of cases: the interval is far narrower (binomial, n = 20).
    low, high = bootstrap_ci(values)
    assert 0.2 <= low <= 0.3 and 0.7 <= high <= 0.8


def test_bootstrap_matches_the_normal_approximation_for_iid_bernoulli() -> None:
    values = [1.0] * 200 + [0.0] * 200  # p = 0.5, n = 400: 1.96 · sqrt(0.25 / 400) = 0.049
    low, high = bootstrap_ci(values, n_resamples=4000)
    assert low == pytest.approx(0.451, abs=0.01) and high == pytest.approx(0.549, abs=0.01)


def test_bootstrap_is_deterministic_and_seeded() -> None:
    rng = np.random.default_rng(3)
    values = rng.random(50).tolist()
    clusters = [f"case{i // 3}" for i in range(50)]
    first = bootstrap_ci(values, clusters, seed=7)
    assert bootstrap_ci(values, clusters, seed=7) == first
    assert bootstrap_ci(values, clusters, seed=8) != first
    assert first[0] < float(np.mean(values)) < first[1]


def test_bootstrap_of_the_mean_over_groups() -> None:
    # Group a: always 1; group b: always 0 -> mean of group means is 0.5 in every resample in
    # which both groups appear (the pooled mean would move with the group sizes drawn).
    values = [1.0] * 3 + [0.0] * 9
    clusters = [f"c{i}" for i in range(12)]
    groups = ["a"] * 3 + ["b"] * 9
    low, high = bootstrap_ci(values, clusters, groups)
    assert (low, high) == (0.5, 0.5)
    pooled_low, pooled_high = bootstrap_ci(values, clusters)
    assert pooled_low < 0.25 < pooled_high


def test_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="3 values but clusters"):
        bootstrap_ci([1, 2, 3], clusters=["a"])
    with pytest.raises(ValueError, match="n_resamples >= 1"):
        bootstrap_ci([1.0], n_resamples=0)
    assert all(math.isnan(x) for x in bootstrap_ci([]))
