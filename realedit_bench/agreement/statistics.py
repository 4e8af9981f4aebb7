"""Agreement statistics evaluated on the full data and on every cluster-bootstrap resample at once.

A cluster bootstrap resample draws source photos (clusters) with replacement; an item then appears as
many times as its photo was drawn. Every statistic here is therefore written for *integer item weights*
that are constant within a cluster, and is evaluated for a whole matrix of cluster counts ``C``
(resamples x clusters) in one vectorised pass: per-cluster sufficient statistics (sums, contingency
tables, pair-sign sums, coincidence matrices) are computed once, then ``C @ per_cluster`` gives every
resample. Row 0 of :func:`resample_counts` is all ones, i.e. the original data, so the point estimate and
the bootstrap come from the same code; the tests check both against scipy / scikit-learn /
krippendorff on the data expanded by ``np.repeat``.

Every function returns a float array with one value per row of ``C``; NaN marks a resample (or the data)
where the statistic is undefined (a constant vector, too few items). Callers turn NaN into an
explanation; nothing here prints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

#: Items per resample chunk when a statistic needs per-item work (bounds memory to ~tens of MB).
_CHUNK_ELEMENTS = 4_000_000
#: Fisher z: |r| is clipped to this before arctanh, so a perfect correlation gives a finite z (7.6).
FISHER_CLIP = 1.0 - 1e-6


def resample_counts(n_clusters: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """Cluster counts of each resample; row 0 is the original data (all ones).

    Args:
        n_clusters: Number of clusters (source photos).
        n_resamples: Bootstrap resamples.
        seed: Seed of numpy's default generator.

    Returns:
        Float array of shape (1 + n_resamples, n_clusters): how often each cluster is drawn.
    """
    rng = np.random.default_rng(seed)
    draws = (
        rng.integers(0, n_clusters, size=(n_resamples, n_clusters))
        if n_clusters
        else np.zeros((n_resamples, 0), int)
    )
    counts = np.zeros((n_resamples + 1, n_clusters))
    counts[0] = 1.0
    if n_clusters:
        rows = np.repeat(np.arange(n_resamples), n_clusters)
        flat = np.bincount(rows * n_clusters + draws.ravel(), minlength=n_resamples * n_clusters)
        counts[1:] = flat.reshape(n_resamples, n_clusters)
    return counts


def _per_cluster(values: np.ndarray, clusters: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum of each column of ``values`` (items x m) within each cluster -> (clusters x m)."""
    onehot = np.zeros((len(clusters), n_clusters))
    onehot[np.arange(len(clusters)), clusters] = 1.0
    return onehot.T @ values


def _unique_table(
    x: np.ndarray, clusters: np.ndarray, n_clusters: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted unique values, inverse index, clusters x unique-values count table)."""
    uniq, inv = np.unique(x, return_inverse=True)
    flat = np.bincount(clusters * len(uniq) + inv, minlength=n_clusters * len(uniq))
    return uniq, inv, flat.reshape(n_clusters, len(uniq)).astype(float)


def n_distinct(x: np.ndarray, clusters: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Number of distinct values of ``x`` present in each resample."""
    _, _, table = _unique_table(x, clusters, counts.shape[1])
    return ((counts @ table) > 0).sum(axis=1)


def weighted_mean(values: np.ndarray, clusters: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mean of ``values`` in each resample."""
    k = counts.shape[1]
    sums = np.bincount(clusters, weights=values, minlength=k)
    ns = np.bincount(clusters, minlength=k).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts @ sums) / (counts @ ns)


def pearson(x: np.ndarray, y: np.ndarray, clusters: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``x`` and ``y`` in each resample (NaN if either is constant)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    k = counts.shape[1]
    # Centring on the full-data mean keeps the one-pass moment formulas accurate to ~1e-15.
    xc = x - x.mean()
    yc = y - y.mean()
    cols = np.stack([np.ones_like(xc), xc, yc, xc * xc, yc * yc, xc * yc], axis=1)
    t = counts @ _per_cluster(cols, clusters, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = t[:, 0]
        mx, my = t[:, 1] / n, t[:, 2] / n
        vx = t[:, 3] / n - mx * mx
        vy = t[:, 4] / n - my * my
        cov = t[:, 5] / n - mx * my
        r = cov / np.sqrt(vx * vy)
    bad = (n_distinct(x, clusters, counts) < 2) | (n_distinct(y, clusters, counts) < 2)
    r[bad] = np.nan
    return np.clip(r, -1.0, 1.0)


def _centred_ranks(wc: np.ndarray) -> np.ndarray:
    """Average (tie-aware) ranks of each unique value given its weighted count, minus the mean rank."""
    below = np.cumsum(wc, axis=1) - wc
    n = wc.sum(axis=1, keepdims=True)
    return below + (wc + 1.0) / 2.0 - (n + 1.0) / 2.0


def spearman(x: np.ndarray, y: np.ndarray, clusters: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Spearman's rho (Pearson of average ranks, as scipy) in each resample; ranks are redone per resample."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    k = counts.shape[1]
    _, ix, tx = _unique_table(x, clusters, k)
    _, iy, ty = _unique_table(y, clusters, k)
    wx = counts @ tx  # resamples x unique x: weighted count of each value
    wy = counts @ ty
    rx = _centred_ranks(wx)
    ry = _centred_ranks(wy)
    sxx = (wx * rx * rx).sum(axis=1)
    syy = (wy * ry * ry).sum(axis=1)
    ux, uy = tx.shape[1], ty.shape[1]
    sxy = np.empty(counts.shape[0])
    if ux * uy <= 20 * len(x) + 1000:
        # Few distinct values (the usual 0-5 scores): a per-cluster contingency table of (x, y) values.
        joint = np.bincount(clusters * (ux * uy) + ix * uy + iy, minlength=k * ux * uy)
        joint = joint.reshape(k, ux * uy).astype(float)
        step = max(1, _CHUNK_ELEMENTS // max(1, ux * uy))
        for a in range(0, counts.shape[0], step):
            nxy = counts[a : a + step] @ joint
            outer = (rx[a : a + step, :, None] * ry[a : a + step, None, :]).reshape(len(nxy), -1)
            sxy[a : a + step] = (nxy * outer).sum(axis=1)
    else:
        # Many distinct values: gather each item's rank per resample, in chunks.
        step = max(1, _CHUNK_ELEMENTS // max(1, len(x)))
        for a in range(0, counts.shape[0], step):
            w = counts[a : a + step][:, clusters]
            sxy[a : a + step] = (w * rx[a : a + step][:, ix] * ry[a : a + step][:, iy]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    bad = ((wx > 0).sum(axis=1) < 2) | ((wy > 0).sum(axis=1) < 2)
    r[bad] = np.nan
    return np.clip(r, -1.0, 1.0)


def kendall_tau_b(x: np.ndarray, y: np.ndarray, clusters: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Kendall's tau-b (ties corrected, as scipy) in each resample.

    The concordance sum over pairs of resampled items is a quadratic form in the cluster counts:
    ``S = 1/2 c' M c`` with ``M[a, b]`` the sum of sign(dx) * sign(dy) over item pairs of clusters a, b.
    Ties likewise (copies of one item are tied with each other in x and in y).
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n, k = len(x), counts.shape[1]
    _, ix, _ = _unique_table(x, clusters, k)
    _, iy, _ = _unique_table(y, clusters, k)
    ux, uy = int(ix.max(initial=-1)) + 1, int(iy.max(initial=-1)) + 1
    if k * ux * uy <= 4 * _CHUNK_ELEMENTS:
        # Few distinct values: per-cluster 2-D histograms h_a; then
        # M[a, b] = sum h_a[u, v] h_b[u', v'] sign(u - u') sign(v - v') = <h_a, S_x h_b S_y'>.
        hist = np.bincount(clusters * (ux * uy) + ix * uy + iy, minlength=k * ux * uy).reshape(k, ux, uy)
        hist = hist.astype(float)
        sgx = np.sign(np.arange(ux)[:, None] - np.arange(ux)[None, :]).astype(float)
        sgy = np.sign(np.arange(uy)[:, None] - np.arange(uy)[None, :]).astype(float)
        moved = np.matmul(np.matmul(sgx, hist), sgy.T)
        m = hist.reshape(k, -1) @ moved.reshape(k, -1).T
        mx, my = hist.sum(axis=2), hist.sum(axis=1)
        tx = mx @ mx.T
        ty = my @ my.T
    else:
        onehot = np.zeros((n, k), np.float32)
        onehot[np.arange(n), clusters] = 1.0
        m = np.zeros((k, k))
        tx = np.zeros((k, k))
        ty = np.zeros((k, k))
        step = max(1, _CHUNK_ELEMENTS // max(1, n))
        for a in range(0, n, step):
            sx = np.sign(x[a : a + step, None] - x[None, :]).astype(np.float32)
            sy = np.sign(y[a : a + step, None] - y[None, :]).astype(np.float32)
            # float32 is exact here: entries are -1/0/1 and row sums stay far below 2**24.
            block = onehot[a : a + step].T.astype(np.float64)
            m += block @ ((sx * sy) @ onehot).astype(np.float64)
            tx += block @ ((sx == 0).astype(np.float32) @ onehot).astype(np.float64)
            ty += block @ ((sy == 0).astype(np.float32) @ onehot).astype(np.float64)
    sizes = np.bincount(clusters, minlength=k).astype(float)
    total = counts @ sizes
    # One product for the three quadratic forms.
    q = (counts @ np.hstack([m, tx, ty])).reshape(len(counts), 3, k)
    q = (q * counts[:, None, :]).sum(axis=2)
    s = 0.5 * q[:, 0]
    n0 = total * (total - 1) / 2.0
    n1 = 0.5 * (q[:, 1] - total)
    n2 = 0.5 * (q[:, 2] - total)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = s / np.sqrt((n0 - n1) * (n0 - n2))
    bad = (n0 - n1 <= 0) | (n0 - n2 <= 0)
    tau[bad] = np.nan
    return np.clip(tau, -1.0, 1.0)


class KappaResult(NamedTuple):
    """Cohen's kappa and the plain agreement rate, per resample."""

    kappa: np.ndarray
    accuracy: np.ndarray


def _label_index(values: np.ndarray, lab: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(lab, values)
    if np.any(idx >= len(lab)) or np.any(lab[np.minimum(idx, len(lab) - 1)] != values):
        raise ValueError("a value is not among the labels")
    return idx


def _kappa_weights(nl: int, weights: str | None) -> np.ndarray:
    idx = np.arange(nl)
    if weights is None:
        return 1.0 - np.eye(nl)
    if weights == "linear":
        return np.abs(idx[:, None] - idx[None, :]).astype(float)
    if weights == "quadratic":
        return ((idx[:, None] - idx[None, :]) ** 2).astype(float)
    raise ValueError(f"unknown weights {weights!r}")


def _kappa_from_tables(obs: np.ndarray, w: np.ndarray) -> KappaResult:
    """Kappa and agreement of contingency tables ``obs`` (..., L, L)."""
    total = obs.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = obs.sum(axis=-1)[..., :, None] * obs.sum(axis=-2)[..., None, :] / total[..., None, None]
        num = (w * obs).sum(axis=(-2, -1))
        den = (w * expected).sum(axis=(-2, -1))
        kappa = 1.0 - num / den
        accuracy = np.trace(obs, axis1=-2, axis2=-1) / total
    kappa[(den <= 1e-12 * np.maximum(total, 1.0)) | (total == 0)] = np.nan
    return KappaResult(kappa, accuracy)


def _labels(labels: Sequence[float]) -> np.ndarray:
    lab = np.asarray(labels, float)
    if np.any(np.diff(lab) <= 0):
        raise ValueError("labels must be strictly increasing numbers")
    return lab


def cohen_kappa(
    a: np.ndarray,
    b: np.ndarray,
    labels: Sequence[float],
    clusters: np.ndarray,
    counts: np.ndarray,
    weights: str | None = None,
) -> KappaResult:
    """Cohen's kappa of two raters' labels (``weights`` None, ``"linear"`` or ``"quadratic"``) per resample.

    ``labels`` fixes the label order, numerically: the distance of labels i and j is |i - j| in that
    order, as scikit-learn's ``cohen_kappa_score(..., labels=labels)``. Every value of ``a`` and ``b``
    must be in ``labels``.
    """
    res = cohen_kappa_many([(a, b, clusters)], labels, counts, weights)
    return KappaResult(res.kappa[:, 0], res.accuracy[:, 0])


def cohen_kappa_many(
    pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    labels: Sequence[float],
    counts: np.ndarray,
    weights: str | None = None,
) -> KappaResult:
    """:func:`cohen_kappa` of several (a, b, clusters) rater pairs at once; results are resamples x pairs."""
    lab = _labels(labels)
    nl, k, npairs = len(lab), counts.shape[1], len(pairs)
    cell = nl * nl
    flat = [
        cl * (npairs * cell)
        + p * cell
        + _label_index(np.asarray(a, float), lab) * nl
        + _label_index(np.asarray(b, float), lab)
        for p, (a, b, cl) in enumerate(pairs)
    ]
    idx = np.concatenate(flat) if flat else np.zeros(0, int)
    cells = np.bincount(idx, minlength=k * npairs * cell).reshape(k, npairs * cell).astype(float)
    obs = (counts @ cells).reshape(len(counts), npairs, nl, nl)
    return _kappa_from_tables(obs, _kappa_weights(nl, weights))


def krippendorff_alpha(
    data: np.ndarray, clusters: np.ndarray, counts: np.ndarray, level: str = "interval"
) -> np.ndarray:
    """Krippendorff's alpha of a units x raters matrix (NaN = not rated) per resample.

    ``level`` is ``"interval"`` (squared difference) or ``"ordinal"`` (rank-based distance from the
    value frequencies, which change with each resample). Values are ordered numerically. Units with
    fewer than two ratings carry no pairable information and are left out, as Krippendorff defines.
    """
    data = np.asarray(data, float)
    k = counts.shape[1]
    present = ~np.isnan(data)
    values = np.unique(data[present])
    nv = len(values)
    per_unit = np.zeros((data.shape[0], nv))
    rows, cols = np.nonzero(present)
    np.add.at(per_unit, (rows, np.searchsorted(values, data[rows, cols])), 1.0)
    m_u = per_unit.sum(axis=1)
    keep = m_u >= 2
    per_unit, m_u, ucl = per_unit[keep], m_u[keep], clusters[keep]
    out = np.full(counts.shape[0], np.nan)
    if nv < 1 or per_unit.shape[0] == 0:
        return out
    scaled = per_unit / (m_u - 1.0)[:, None]
    # Coincidence matrix of each cluster: sum over its units of (n_u n_u' - diag(n_u)) / (m_u - 1).
    coinc = np.zeros((k, nv, nv))
    order = np.argsort(ucl, kind="stable")
    bounds = np.searchsorted(ucl[order], np.arange(k + 1))
    for c in range(k):
        idx = order[bounds[c] : bounds[c + 1]]
        if len(idx):
            coinc[c] = scaled[idx].T @ per_unit[idx] - np.diag(scaled[idx].sum(axis=0))
    step = max(1, _CHUNK_ELEMENTS // max(1, nv * nv))
    for a in range(0, counts.shape[0], step):
        o = np.tensordot(counts[a : a + step], coinc, axes=1)  # resamples x v x v
        n_v = o.sum(axis=2)
        n = n_v.sum(axis=1)
        if level == "interval":
            d2 = ((values[:, None] - values[None, :]) ** 2)[None]
        elif level == "ordinal":
            cum = np.cumsum(n_v, axis=1)
            d = cum[:, None, :] - cum[:, :, None] + (n_v[:, :, None] - n_v[:, None, :]) / 2.0
            d2 = d * d
        else:
            raise ValueError(f"unknown level {level!r}")
        d_o = (o * d2).sum(axis=(1, 2))
        d_e = (n_v[:, :, None] * n_v[:, None, :] * d2).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = 1.0 - (n - 1.0) * d_o / d_e
        alpha[(d_e <= 0) | (n < 2)] = np.nan
        out[a : a + step] = alpha
    return out


def fisher_mean(rs: np.ndarray) -> np.ndarray:
    """Average correlations through Fisher's z: tanh(mean(arctanh(r))), ignoring NaN.

    Args:
        rs: Correlations, shape (groups, resamples); |r| = 1 is clipped to :data:`FISHER_CLIP`.

    Returns:
        One average per resample (NaN where no group has a defined correlation).
    """
    rs = np.asarray(rs, float)
    z = np.arctanh(np.clip(rs, -FISHER_CLIP, FISHER_CLIP))
    ok = ~np.isnan(z)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, z, 0.0).sum(axis=0) / n
    return np.where(n > 0, np.tanh(mean), np.nan)


def _rank_rows(a: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) along each row; ties share their mean rank. For short rows (systems)."""
    less = (a[:, None, :] < a[:, :, None]).sum(axis=2)
    equal = (a[:, None, :] == a[:, :, None]).sum(axis=2)
    return less + (equal + 1) / 2.0


def rank_correlations(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kendall tau-b and Spearman between rows of ``a`` and ``b`` (resamples x systems): system level."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    ksys = a.shape[1]
    i, j = np.triu_indices(ksys, 1)
    sa = np.sign(a[:, i] - a[:, j])
    sb = np.sign(b[:, i] - b[:, j])
    n0 = len(i)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (sa * sb).sum(axis=1) / np.sqrt((n0 - (sa == 0).sum(axis=1)) * (n0 - (sb == 0).sum(axis=1)))
    bad = (
        np.isnan(a).any(axis=1) | np.isnan(b).any(axis=1) | ((sa == 0).all(axis=1)) | ((sb == 0).all(axis=1))
    )
    tau[bad] = np.nan
    ra = _rank_rows(np.where(np.isnan(a), 0, a))
    rb = _rank_rows(np.where(np.isnan(b), 0, b))
    ra = ra - ra.mean(axis=1, keepdims=True)
    rb = rb - rb.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(axis=1) / np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    rho[bad] = np.nan
    return np.clip(tau, -1, 1), np.clip(rho, -1, 1)


class ChanceProbability(NamedTuple):
    """How likely a random ranking of the systems agrees at least as well as the judge's."""

    kendall: float
    spearman: float
    method: str


def _mahonian_cdf(ksys: int, max_inversions: int) -> float:
    """P(a uniformly random permutation of ``ksys`` items has at most ``max_inversions`` inversions)."""
    dist = np.zeros(1)
    dist[0] = 1.0
    for i in range(1, ksys + 1):
        # Inserting item i adds 0..i-1 inversions, each equally likely.
        new = np.zeros(len(dist) + i - 1)
        for extra in range(i):
            new[extra : extra + len(dist)] += dist
        dist = new / i
    return float(dist[: max_inversions + 1].sum())


def chance_probability(judge: Sequence[float], human: Sequence[float], *, seed: int = 0) -> ChanceProbability:
    """P(a random order of the judge's system scores agrees with the human ranking at least as well).

    The judge's scores are permuted uniformly over the systems. Kendall without ties is exact for any
    k (the Mahonian distribution of inversions); otherwise exact over all k! orders for k <= 8 and a
    seeded Monte Carlo estimate from 100,000 random orders beyond. A perfect match of k untied systems
    is exactly 1/k!.
    """
    j = np.asarray(judge, float)
    h = np.asarray(human, float)
    ksys = len(j)
    obs_tau, obs_rho = (float(v[0]) for v in rank_correlations(j[None], h[None]))
    if ksys <= 8:
        import itertools

        perms = np.array(list(itertools.permutations(range(ksys))))
        method = f"exact over all {math.factorial(ksys):,} orders"
    else:
        rng = np.random.default_rng(seed)
        perms = np.argsort(rng.random((100_000, ksys)), axis=1)
        method = "Monte Carlo over 100,000 random orders"
    # The permuted judge's ranks and pair signs are gathers of the unpermuted ones.
    rj = _rank_rows(j[None])[0]
    rh = _rank_rows(h[None])[0]
    rjc, rhc = rj - rj.mean(), rh - rh.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        rhos = (rjc[perms] @ rhc) / math.sqrt((rjc @ rjc) * (rhc @ rhc))
    i, k2 = np.triu_indices(ksys, 1)
    sj = np.sign(j[:, None] - j[None, :]).astype(np.int8)
    sh = np.sign(h[i] - h[k2]).astype(np.int8)
    n0 = len(i)
    tj = n0 - int((sj[i, k2] == 0).sum())
    th = n0 - int((sh == 0).sum())
    conc = (sj[perms[:, i], perms[:, k2]] * sh).sum(axis=1, dtype=np.int64)
    taus = conc / math.sqrt(tj * th) if tj and th else np.full(len(perms), np.nan)
    eps = 1e-12
    p_tau = float(np.mean(taus >= obs_tau - eps))
    p_rho = float(np.mean(rhos >= obs_rho - eps))
    untied = len(np.unique(j)) == ksys and len(np.unique(h)) == ksys
    if untied:
        discordant = int(round((1 - obs_tau) * n0 / 2))
        p_tau = _mahonian_cdf(ksys, discordant)
        method += "; Kendall exact from the distribution of inversions (no ties)"
        if discordant == 0:
            p_rho = 1.0 / math.factorial(ksys)
            method += f"; a perfect match of {ksys} systems is exactly 1/{ksys}!"
    return ChanceProbability(p_tau, p_rho, method)
