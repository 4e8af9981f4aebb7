"""Agreement statistics of ``realedit agree`` against scipy, scikit-learn, krippendorff and hand computation.

Each vectorised kernel is checked on the original data (row 0) *and* on bootstrap resamples, by expanding
the resampled items with ``np.repeat`` and calling the reference library on them.
"""

from __future__ import annotations

import json
import math

import krippendorff
import numpy as np
import pytest
import scipy.stats as ss
from sklearn.metrics import cohen_kappa_score

from realedit_bench.agreement import statistics as ag
from realedit_bench.agreement.compute import (
    JudgeScores,
    compute_agreement,
    judges_from_judgments,
    natural_key,
)
from realedit_bench.agreement.ratings import Rating, image_id_of

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
        res.kappa, counts, cl, lambda u, v: cohen_kappa_score(u, v, labels=[0, 1, 2, 3, 4, 5], weights=weights), a, b
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
        assert res.kendall == pytest.approx(np.mean([ss.kendalltau(j[p], h)[0] >= t0 - 1e-12 for p in perms]), abs=TOL)
        assert res.spearman == pytest.approx(np.mean([ss.spearmanr(j[p], h)[0] >= r0 - 1e-12 for p in perms]), abs=TOL)
    tied = ag.chance_probability([1, 1, 2, 3], [1, 2, 3, 4])
    assert 0 < tied.kendall < 1 and "exact over all 24" in tied.method


def test_image_id_of():
    assert image_id_of("10-local") == "10"
    assert image_id_of("a-b-background") == "a-b"
    assert image_id_of("foo-bar") == "foo"
    assert image_id_of("solo") == "solo"


# ------------------------------------------------------------------------------------ assembled report


def _synthetic(n_photos=12, models=("m-1", "m-2", "m-10"), raters=("r1", "r2", "r3"), seed=0, miss=0.25):
    rng = np.random.default_rng(seed)
    humans, judge = [], []
    for ph in range(1, n_photos + 1):
        for cat in ("local", "add", "style"):
            sid = f"{ph}-{cat}"
            for mi, m in enumerate(models):
                t = rng.normal(2.5 + 0.4 * mi, 1.1)
                for r in raters:
                    if rng.random() < miss:
                        continue
                    s = float(np.clip(np.rint(t + rng.normal(0, 0.8)), 0, 5))
                    humans.append(Rating(sid, str(ph), m, "following", r, s, bool(rng.random() < (s / 5))))
                js = float(np.clip(np.rint(t + 0.5 + rng.normal(0, 0.9)), 0, 5))
                judge.append(Rating(sid, str(ph), m, "following", "J", js, js >= 3))
    return humans, judge


def _matrix(humans, judge):
    items = sorted({(r.sample_id, r.model) for r in humans})
    raters = sorted({r.rater for r in humans})
    ii = {k: i for i, k in enumerate(items)}
    h = np.full((len(items), len(raters)), np.nan)
    hv = np.full((len(items), len(raters)), np.nan)
    for r in humans:
        h[ii[(r.sample_id, r.model)], raters.index(r.rater)] = r.score
        hv[ii[(r.sample_id, r.model)], raters.index(r.rater)] = float(r.verdict)
    j = np.full(len(items), np.nan)
    jv = np.full(len(items), np.nan)
    for r in judge:
        if (r.sample_id, r.model) in ii:
            j[ii[(r.sample_id, r.model)]] = r.score
            jv[ii[(r.sample_id, r.model)]] = float(r.verdict)
    return items, raters, h, hv, j, jv


def test_report_point_estimates_equal_reference_libraries():
    humans, judge = _synthetic()
    res = compute_agreement(humans, [JudgeScores("J", "judge-ratings", judge, set(), [])], n_resamples=50)
    pa = res[0].perspectives["following"]
    items, raters, h, hv, j, jv = _matrix(humans, judge)
    hm = np.nanmean(h, axis=1)
    models = np.array([m for _, m in items])
    s = pa.sample
    assert s.pooled.spearman.value == pytest.approx(ss.spearmanr(j, hm)[0], abs=TOL)
    assert s.pooled.kendall_tau_b.value == pytest.approx(ss.kendalltau(j, hm)[0], abs=TOL)
    assert s.pooled.pearson.value == pytest.approx(ss.pearsonr(j, hm)[0], abs=TOL)
    rs = [ss.spearmanr(j[models == m], hm[models == m])[0] for m in ("m-1", "m-2", "m-10")]
    assert s.within_model["m-10"].spearman.value == pytest.approx(rs[2], abs=TOL)
    assert s.within_model_fisher.spearman.value == pytest.approx(np.tanh(np.mean(np.arctanh(rs))), abs=TOL)
    assert s.pooled.spearman.low < s.pooled.spearman.value < s.pooled.spearman.high
    # Verdicts against the human majority (even splits left out).
    share = np.nanmean(hv, axis=1)
    keep = share != 0.5
    maj = (share > 0.5).astype(float)
    assert pa.verdict.accuracy.value == pytest.approx(np.mean(jv[keep] == maj[keep]), abs=TOL)
    assert pa.verdict.cohen_kappa.value == pytest.approx(cohen_kappa_score(jv[keep], maj[keep]), abs=TOL)
    assert pa.verdict.n_human_ties == int((~keep).sum())
    # Quadratic kappa vs the rounded (half up) consensus; alpha with and without the judge.
    cons = np.floor(hm + 0.5)
    assert pa.ordinal.qwk_judge_vs_consensus.value == pytest.approx(
        cohen_kappa_score(j, cons, labels=[0, 1, 2, 3, 4, 5], weights="quadratic"), abs=TOL
    )
    for lvl in ("ordinal", "interval"):
        assert getattr(pa.ordinal, f"alpha_humans_{lvl}").value == pytest.approx(
            krippendorff.alpha(h.T, level_of_measurement=lvl), abs=TOL
        )
        assert getattr(pa.ordinal, f"alpha_with_judge_{lvl}").value == pytest.approx(
            krippendorff.alpha(np.column_stack([h, j]).T, level_of_measurement=lvl), abs=TOL
        )
    # Leave one out: each human against the mean of the others, Fisher-averaged.
    jr, hr = [], []
    for r in range(len(raters)):
        sel = ~np.isnan(h[:, r]) & ((~np.isnan(h)).sum(axis=1) >= 2)
        others = (np.nansum(h[sel], axis=1) - h[sel, r]) / ((~np.isnan(h[sel])).sum(axis=1) - 1)
        jr.append(ss.spearmanr(j[sel], others)[0])
        hr.append(ss.spearmanr(h[sel, r], others)[0])
    assert pa.fair.loo_spearman_judge.value == pytest.approx(np.tanh(np.mean(np.arctanh(jr))), abs=TOL)
    assert pa.fair.loo_spearman_human.value == pytest.approx(np.tanh(np.mean(np.arctanh(hr))), abs=TOL)
    pairs = [(0, 1), (0, 2), (1, 2)]
    hh = [cohen_kappa_score(h[m, a], h[m, b], labels=list(range(6)), weights="quadratic")
          for a, b in pairs for m in [~np.isnan(h[:, a]) & ~np.isnan(h[:, b])]]
    assert pa.fair.qwk_human_human.value == pytest.approx(np.mean(hh), abs=TOL)
    # Bias and system level.
    assert pa.bias.overall.value == pytest.approx(np.mean(j - hm), abs=TOL)
    jm = [j[models == m].mean() for m in ("m-1", "m-2", "m-10")]
    hmm = [hm[models == m].mean() for m in ("m-1", "m-2", "m-10")]
    assert pa.system.kendall_tau_b.value == pytest.approx(ss.kendalltau(jm, hmm)[0], abs=TOL)
    assert pa.system.spearman.value == pytest.approx(ss.spearmanr(jm, hmm)[0], abs=TOL)
    assert pa.system.human_means["m-10"] == pytest.approx(hmm[2], abs=TOL)


def test_edge_cases_are_explained_never_nan():
    humans, judge = _synthetic(models=("a", "b"), raters=("solo",), miss=0.0)
    const_judge = [r._replace(score=4.0) for r in judge]
    res = compute_agreement(humans, [JudgeScores("J", "judge-ratings", const_judge, set(), [])], n_resamples=30)
    pa = res[0].perspectives["following"]
    text = json.dumps(res[0].model_dump(mode="json"))
    assert "NaN" not in text and "nan" not in text.lower().replace("n/a", "")
    assert pa.sample.pooled.spearman.value is None
    assert "judge score is 4 on every edit" in pa.sample.pooled.spearman.note
    assert pa.ordinal.alpha_humans_ordinal.value is None and "single rater" in pa.ordinal.alpha_humans_ordinal.note
    assert pa.fair.loo_spearman_diff.value is None and "single human" in pa.fair.conclusion
    assert pa.system.kendall_tau_b.value is None and "at least 3 models" in pa.system.note
    assert any("single human rater" in n for n in pa.notes)


def test_judgment_rows_average_repeats_and_drop_non_ok():
    from realedit_bench.schema.judge import JudgmentRow

    def row(rep, status, score, verdict):
        return JudgmentRow(sample_id="1-local", image_id="1", category="local", model="m", perspective="quality",
                           repeat=rep, status=status, score=score, verdict=verdict, judge="openai/x",
                           rubric="realedit-v1", finished_at="2025-01-01T00:00:00+00:00")

    js = judges_from_judgments([row(0, "ok", 3.0, True), row(1, "ok", 4.0, False), row(2, "invalid", None, None)])
    assert len(js) == 1 and js[0].name == "openai/x"
    (r,) = js[0].ratings
    assert r.score == 3.5 and r.verdict is None
    assert ("1-local", "m", "quality") in js[0].tied_verdicts
    assert any("1 invalid" in n for n in js[0].notes)


def test_a_value_that_rounds_to_zero_is_never_shown_negative():
    from realedit_bench.agreement.view import fmt_value

    assert fmt_value(-0.0001) == "0.000" and fmt_value(-0.0006) == "-0.001" and fmt_value(None) == "n/a"
