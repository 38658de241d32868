"""Statistics of the image-reliance controls: an exact McNemar test and a cluster bootstrap.

Pure functions over numbers (numpy and the standard library only).

- :func:`mcnemar_exact`: paired comparison of two accuracies on the same questions (own volume vs
  another case's volume). Only the discordant pairs carry information: ``b`` questions right with
  the own volume only, ``c`` right with the other volume only. Under the null hypothesis (the
  volume does not matter) each discordant pair falls either way with probability 1/2, so
  ``b ~ Binomial(b + c, 1/2)`` and the two-sided exact p-value is
  ``p = min(1, 2 · Σ_{i=0}^{min(b,c)} C(b+c, i) / 2^{b+c})`` (McNemar 1947; the exact form as in
  Fagerland, Lydersen & Laake 2013, BMC Med Res Methodol 13:91).
- :func:`bootstrap_ci`: percentile bootstrap interval (Efron & Tibshirani 1993, ch. 13) of a mean,
  or of the unweighted mean over groups of the group means (the paper's "Mean" column), resampling
  whole clusters (cases) with replacement, so that the several questions and series of one case
  move together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

#: Bootstrap defaults used by every control table (recorded in its output).
N_RESAMPLES = 2000
CI_LEVEL = 0.95
BOOTSTRAP_SEED = 0


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts.

    Args:
        b: Pairs right under the first condition only (e.g. own volume right, swapped wrong).
        c: Pairs right under the second condition only.

    Returns:
        ``min(1, 2 · P[X <= min(b, c)])`` for ``X ~ Binomial(b + c, 1/2)``; 1.0 when ``b + c == 0``.

    Raises:
        ValueError: For a negative or non-integer count.
    """
    for name, value in (("b", b), ("c", c)):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"mcnemar_exact: {name} must be a count >= 0, got {value!r}.")
    b, c = int(b), int(c)
    n = b + c
    if n == 0:
        return 1.0
    tail = Fraction(sum(math.comb(n, i) for i in range(min(b, c) + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


def discordant_counts(first: Sequence[bool], second: Sequence[bool]) -> tuple[int, int]:
    """``(b, c)``: pairs right under ``first`` only, and under ``second`` only.

    Raises:
        ValueError: When the two sequences differ in length.
    """
    if len(first) != len(second):
        raise ValueError(f"discordant_counts: {len(first)} first outcomes but {len(second)} second ones.")
    b = sum(1 for x, y in zip(first, second, strict=True) if x and not y)
    c = sum(1 for x, y in zip(first, second, strict=True) if y and not x)
    return b, c


def grouped_mean(values: Sequence[float], groups: Sequence[str] | None = None) -> float:
    """Mean of ``values``, or the unweighted mean over groups of the group means.

    Returns:
        The statistic :func:`bootstrap_ci` resamples; NaN for no values.
    """
    if len(values) == 0:
        return float("nan")
    if groups is None:
        return float(np.mean(np.asarray(values, dtype=float)))
    by_group: dict[str, list[float]] = {}
    for value, group in zip(values, groups, strict=True):
        by_group.setdefault(group, []).append(float(value))
    return float(np.mean([np.mean(v) for v in by_group.values()]))


def bootstrap_ci(
    values: Sequence[float],
    clusters: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    n_resamples: int = N_RESAMPLES,
    level: float = CI_LEVEL,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`grouped_mean`, resampling clusters with replacement.

    Each resample draws as many clusters as there are, with replacement (drawn as multinomial
    weights, which is the same distribution), and recomputes the statistic on every value of the
    drawn clusters. A group absent from a resample is left out of that resample's mean over groups.

    Args:
        values: One value per question (e.g. 1/0 correct, or a per-sample score).
        clusters: The resampling unit of each value (e.g. its case); None resamples values.
        groups: The group of each value (e.g. its question type) for a mean of group means; None
            for a plain mean.
        n_resamples: Number of bootstrap resamples.
        level: Coverage of the interval (0.95: the 2.5th and 97.5th percentiles).
        seed: Seed of the resampling (the same inputs and seed give the same interval).

    Returns:
        ``(low, high)``; ``(nan, nan)`` for no values.

    Raises:
        ValueError: For mismatched lengths, ``n_resamples < 1`` or a level outside (0, 1).
    """
    n = len(values)
    if clusters is not None and len(clusters) != n or groups is not None and len(groups) != n:
        raise ValueError(f"bootstrap_ci: {n} values but clusters/groups of another length.")
    if n_resamples < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap_ci: need n_resamples >= 1 and 0 < level < 1, got {n_resamples}, {level}.")
    if n == 0:
        return float("nan"), float("nan")
    cluster_index = _codes(clusters if clusters is not None else range(n))
    group_index = _codes(groups if groups is not None else [""] * n)
    n_clusters, n_groups = int(cluster_index.max()) + 1, int(group_index.max()) + 1
    sums = np.zeros((n_clusters, n_groups))  # (K, G)
    counts = np.zeros((n_clusters, n_groups))  # (K, G)
    np.add.at(sums, (cluster_index, group_index), np.asarray(values, dtype=float))
    np.add.at(counts, (cluster_index, group_index), 1.0)
    rng = np.random.default_rng(seed)
    statistics = []
    chunk = max(1, 2_000_000 // n_clusters)  # bounds the (chunk, K) weight matrix
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        weights = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=size)  # (b, K)
        group_sums, group_counts = weights @ sums, weights @ counts  # (b, G)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(group_counts > 0, group_sums / group_counts, np.nan)  # (b, G)
        present = (group_counts > 0).sum(axis=1)  # (b,)
        statistics.append(np.nansum(means, axis=1) / present)
    stats = np.concatenate(statistics)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [tail, 1.0 - tail])
    return float(low), float(high)


def _codes(labels: Sequence) -> np.ndarray:
    """Integer codes of ``labels`` in order of first appearance."""
    index: dict = {}
    return np.asarray([index.setdefault(label, len(index)) for label in labels], dtype=np.int64)
