"""Cluster bootstrap: resample source photos (clusters), not single edits, since the 7 edits of one photo
are correlated. Paired designs resample the same photos for every system compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class Interval(NamedTuple):
    """A point estimate with a percentile interval (no interval from fewer than two clusters)."""

    estimate: float
    low: float | None
    high: float | None

    @property
    def bounds(self) -> tuple[float, float] | None:
        """``(low, high)``, or None when there was nothing to resample over."""
        return None if self.low is None or self.high is None else (self.low, self.high)


def cluster_mean_ci(
    values: Sequence[float],
    clusters: Sequence[str],
    *,
    n_resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval | None:
    """Mean of ``values`` with a percentile cluster-bootstrap interval; None when there is no value.

    With a single cluster every resample is that cluster, so the "interval" would have zero width and
    claim a certainty the data do not have: the interval is then left out (``bounds`` is None).
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return None
    labels = np.asarray(clusters)
    uniq, inverse = np.unique(labels, return_inverse=True)
    if len(uniq) < 2:
        return Interval(float(v.mean()), None, None)
    # Per-cluster sums and counts make each resample O(clusters) instead of O(rows).
    sums = np.bincount(inverse, weights=v, minlength=len(uniq))
    counts = np.bincount(inverse, minlength=len(uniq)).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(uniq), size=(n_resamples, len(uniq)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return Interval(float(v.mean()), float(lo), float(hi))


def paired_cluster_test(
    a: Sequence[float],
    b: Sequence[float],
    clusters: Sequence[str],
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Two-sided paired bootstrap test of mean(a - b) = 0 over the same items, resampling clusters.

    Returns (observed difference, p-value). The p-value is the share of centred bootstrap differences at
    least as extreme as the observed one.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if d.size == 0:
        return 0.0, 1.0
    observed = float(d.mean())
    labels = np.asarray(clusters)
    uniq, inverse = np.unique(labels, return_inverse=True)
    sums = np.bincount(inverse, weights=d, minlength=len(uniq))
    counts = np.bincount(inverse, minlength=len(uniq)).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(uniq), size=(n_resamples, len(uniq)))
    boot = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    centred = boot - observed
    p = float((np.sum(np.abs(centred) >= abs(observed)) + 1) / (n_resamples + 1))
    return observed, p
