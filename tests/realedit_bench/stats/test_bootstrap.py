"""The photo-level (cluster) bootstrap shared by judge, metrics and report summaries."""

from __future__ import annotations

import numpy as np

from realedit_bench.stats.bootstrap import cluster_mean_ci


def test_interval_resamples_photos_and_brackets_the_mean():
    # Two photos with very different means: the interval must span most of the gap between them.
    values = [0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 1.0, 4.0]
    photos = ["a", "a", "a", "b", "b", "b", "c", "c"]
    ci = cluster_mean_ci(values, photos, n_resamples=4000, seed=1)
    assert ci is not None and ci.bounds is not None
    assert ci.estimate == np.mean(values)
    low, high = ci.bounds
    assert low < ci.estimate < high and high - low > 2.0


def test_one_photo_gives_an_estimate_but_no_interval():
    ci = cluster_mean_ci([0.0, 5.0, 3.0, 1.0], ["10"] * 4)
    assert ci is not None and ci.estimate == 2.25
    assert ci.bounds is None and ci.low is None  # never a zero-width "95% interval"


def test_no_values_gives_none():
    assert cluster_mean_ci([], []) is None
