"""Agreement statistics of ``realedit agree`` against scipy, scikit-learn, krippendorff and hand computation.

Each vectorised kernel is checked on the original data (row 0) *and* on bootstrap resamples, by expanding
the resampled items with ``np.repeat`` and calling the reference library on them.
"""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
import scipy.stats as ss
from sklearn.metrics import cohen_kappa_score

from realedit_bench.agreement import statistics as ag
from realedit_bench.agreement.compute import (
    natural_key,
)

TOL = 1e-9


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    n, k = 240, 30
    cl = rng.integers(0, k, n)
    x = rng.integers(0, 6, n).astype(float)
    y = np.round(0.6 * x + rng.normal(0, 1.0, n), 1)
    counts = ag.resample_counts(k, 12, seed=3)
    return x, y, cl, counts


def _expand(values: np.ndarray, clusters: np.ndarray, counts_row: np.ndarray) -> np.ndarray:
    """The items of one resample as plain data: each item repeated by its cluster's count."""
    return np.repeat(values, counts_row[clusters].astype(int), axis=0)


def _check_all_rows(values, counts, cl, ref, *arrays):
    assert len(values) == counts.shape[0]
    for b in range(counts.shape[0]):
        expanded = [_expand(a, cl, counts[b]) for a in arrays]
        assert values[b] == pytest.approx(ref(*expanded), abs=TOL), f"resample {b}"


def test_resample_counts_row0_is_data_and_rows_sum_to_clusters():
    c = ag.resample_counts(17, 50, seed=1)
    assert np.all(c[0] == 1)
    assert np.all(c.sum(axis=1) == 17)
    assert not np.all(c[1] == 1)
    assert np.array_equal(c, ag.resample_counts(17, 50, seed=1))


@pytest.mark.parametrize(
    "kernel, ref",
    [
        (ag.pearson, lambda a, b: ss.pearsonr(a, b)[0]),
        (ag.spearman, lambda a, b: ss.spearmanr(a, b)[0]),
        (ag.kendall_tau_b, lambda a, b: ss.kendalltau(a, b, variant="b")[0]),
    ],
    ids=["pearson", "spearman", "kendall"],
)
@pytest.mark.parametrize("discrete", [True, False], ids=["discrete", "continuous"])
def test_correlations_equal_scipy_on_every_resample(data, kernel, ref, discrete):
    x, y, cl, counts = data
    if not discrete:  # many distinct values take the per-item code paths
        rng = np.random.default_rng(2)
        x = x + rng.normal(0, 0.3, len(x))
        y = y + rng.normal(0, 0.3, len(y))
    _check_all_rows(kernel(x, y, cl, counts), counts, cl, ref, x, y)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_equals_sklearn(data, weights):
    x, y, cl, counts = data
    a = x
    b = np.clip(np.floor(y + 0.5), 0, 5)
    res = ag.cohen_kappa(a, b, [0, 1, 2, 3, 4, 5], cl, counts, weights)
    _check_all_rows(
        res.kappa,
        counts,
        cl,
        lambda u, v: cohen_kappa_score(u, v, labels=[0, 1, 2, 3, 4, 5], weights=weights),
        a,
        b,
    )
    _check_all_rows(res.accuracy, counts, cl, lambda u, v: float(np.mean(u == v)), a, b)


@pytest.mark.parametrize("level", ["ordinal", "interval"])
def test_krippendorff_alpha_equals_krippendorff(data, level):
    _, _, cl, counts = data
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 6, len(cl))
    m = np.clip(truth[:, None] + rng.integers(-1, 2, (len(cl), 4)), 0, 5).astype(float)
    m[rng.random(m.shape) < 0.35] = np.nan
    m[:, 3] += 0.5 * (rng.random(len(cl)) < 0.2)  # a judge column with some half points
    vals = ag.krippendorff_alpha(m, cl, counts, level)
    _check_all_rows(vals, counts, cl, lambda d: krippendorff.alpha(d.T, level_of_measurement=level), m)


def test_weighted_mean_and_fisher_by_hand(data):
    x, _, cl, counts = data
    _check_all_rows(ag.weighted_mean(x, cl, counts), counts, cl, np.mean, x)
    r = np.array([[0.5], [0.9], [np.nan]])
    assert ag.fisher_mean(r)[0] == pytest.approx(math.tanh((math.atanh(0.5) + math.atanh(0.9)) / 2), abs=TOL)
    # |r| = 1 is clipped, so the average is finite and below 1.
    clipped = ag.fisher_mean(np.array([[1.0], [0.0]]))[0]
    assert clipped == pytest.approx(math.tanh(math.atanh(ag.FISHER_CLIP) / 2), abs=TOL)
    assert np.isnan(ag.fisher_mean(np.array([[np.nan], [np.nan]]))[0])


def test_constant_vector_gives_nan_not_a_number(data):
    _, y, cl, counts = data
    const = np.full(len(y), 3.0)
    for f in (ag.pearson, ag.spearman, ag.kendall_tau_b):
        assert np.all(np.isnan(f(const, y, cl, counts)))
    k = ag.cohen_kappa(const, const, [0, 1, 2, 3, 4, 5], cl, counts, "quadratic")
    assert np.isnan(k.kappa[0]) and k.accuracy[0] == 1.0
    assert np.isnan(ag.krippendorff_alpha(np.full((10, 3), 2.0), np.arange(10) % 3, counts[:, :3])[0])


def test_labels_are_ordered_numerically_not_as_strings():
    # Ordinal alpha on values whose string order (10 < 2 < 9) differs from their numeric order.
    m = np.array([[2, 2, 9], [9, 10, 10], [10, 9, 10], [2, 9, 2], [10, 10, 9]], float)
    cl = np.arange(5)
    counts = ag.resample_counts(5, 0)
    ours = ag.krippendorff_alpha(m, cl, counts, "ordinal")[0]
    numeric = krippendorff.alpha(m.T, level_of_measurement="ordinal", value_domain=[2, 9, 10])
    as_strings = krippendorff.alpha(m.T, level_of_measurement="ordinal", value_domain=[10, 2, 9])
    assert ours == pytest.approx(numeric, abs=TOL)
    assert abs(ours - as_strings) > 0.05
    with pytest.raises(ValueError, match="increasing"):
        ag.cohen_kappa(m[:, 0], m[:, 1], [10, 2, 9], cl, counts)
    assert sorted(["model-10", "model-2", "model-1"], key=natural_key) == ["model-1", "model-2", "model-10"]


def test_chance_probability_exact_and_perfect_match():
    assert ag.chance_probability([1, 2, 3], [10, 20, 30]).kendall == pytest.approx(1 / 6, abs=TOL)
    ten = ag.chance_probability(np.arange(10.0), np.arange(10.0))
    assert ten.kendall == pytest.approx(1 / math.factorial(10), rel=1e-12)
    assert ten.spearman == pytest.approx(1 / math.factorial(10), rel=1e-12)
    rng = np.random.default_rng(0)
    import itertools

    for k in (4, 6):
        j, h = rng.normal(size=k), rng.normal(size=k)
        res = ag.chance_probability(j, h)
        t0, r0 = ss.kendalltau(j, h)[0], ss.spearmanr(j, h)[0]
        perms = [list(p) for p in itertools.permutations(range(k))]
        assert res.kendall == pytest.approx(
            np.mean([ss.kendalltau(j[p], h)[0] >= t0 - 1e-12 for p in perms]), abs=TOL
        )
        assert res.spearman == pytest.approx(
            np.mean([ss.spearmanr(j[p], h)[0] >= r0 - 1e-12 for p in perms]), abs=TOL
        )
    tied = ag.chance_probability([1, 1, 2, 3], [1, 2, 3, 4])
    assert 0 < tied.kendall < 1 and "exact over all 24" in tied.method
