"""Calibration: a monotone map from a judge's scores to the human scale (``agree --fit-calibration``).

For each judge and perspective, the judge's score of each edit (repeats averaged) is paired with the mean
human score of that edit, and an isotonic (non-decreasing) regression is fitted by pool-adjacent-violators:
the least-squares fit among all non-decreasing maps, so a judge that ranks edits well but uses its scale
differently (too generous, compressed at the top) is put on the humans' scale without changing its order.
The map is stored as knots (each distinct judge score and its fitted value); between knots it is linear,
outside them the end value (as scikit-learn's ``IsotonicRegression(out_of_bounds="clip")`` predicts).

We implement pool-adjacent-violators here (a few lines) rather than moving scikit-learn from the test extra
into the runtime dependencies for one function; the tests check it against scikit-learn on the same data.

How good the map is, honestly: **cross-validated** mean absolute error by photo (``folds`` groups of source
photos; each edit is mapped by a fit that never saw its photo) against the raw judge score's error, and the
paired improvement, each with a 95% bootstrap interval over source photos.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from realedit_bench.agreement.compute import JudgeScores
from realedit_bench.agreement.ratings import Rating, image_id_of
from realedit_bench.schema.agree import Stat
from realedit_bench.schema.base import PERSPECTIVES
from realedit_bench.schema.trust import CalibrationFile, CalibrationMap, JudgeCalibration
from realedit_bench.stats.bootstrap import cluster_mean_ci

#: Cross-validation folds (groups of source photos).
FOLDS = 5
#: Fewer paired edits than this, or fewer photos than folds: no map (it would fit noise).
MIN_ITEMS = 10
METHOD = (
    "isotonic regression (pool-adjacent-violators, least squares) of the mean human score on the judge's "
    "score, per judge and perspective; knots at each distinct judge score, linear between them, clipped "
    f"outside; error cross-validated over {FOLDS} folds of source photos"
)


def isotonic(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The least-squares non-decreasing fit of ``y`` on ``x`` (pool-adjacent-violators).

    Returns:
        (knots, values): each distinct ``x``, increasing, and the fitted value there (non-decreasing).
    """
    xs = np.asarray(x, float)
    ys = np.asarray(y, float)
    knots, inverse = np.unique(xs, return_inverse=True)
    weights = np.bincount(inverse).astype(float)
    means = np.bincount(inverse, weights=ys) / weights
    # Blocks of pooled knots: their mean, their weight, how many knots they span.
    vals: list[float] = []
    wts: list[float] = []
    spans: list[int] = []
    for m, w in zip(means, weights, strict=True):
        vals.append(float(m))
        wts.append(float(w))
        spans.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:  # a violation: pool the last two blocks
            w2 = wts[-2] + wts[-1]
            vals[-2] = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / w2
            wts[-2], spans[-2] = w2, spans[-2] + spans[-1]
            del vals[-1], wts[-1], spans[-1]
    return knots, np.repeat(vals, spans)


def apply_map(
    knots: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray, x: Sequence[float] | np.ndarray
) -> np.ndarray:
    """The calibrated value of each score in ``x`` (linear between knots, the end value outside)."""
    return np.interp(np.asarray(x, float), np.asarray(knots, float), np.asarray(values, float))


class Paired(NamedTuple):
    """The edits a judge and the humans both scored, for one perspective."""

    judge: np.ndarray
    human: np.ndarray
    photo: np.ndarray


def paired(humans: Sequence[Rating], judge: JudgeScores, perspective: str) -> Paired:
    """Judge score and mean human score of every edit both scored (sample ids matched without case)."""
    human: dict[tuple[str, str], list[float]] = defaultdict(list)
    photo: dict[tuple[str, str], str] = {}
    for r in humans:
        if r.perspective == perspective:
            key = (r.sample_id.casefold(), r.model)
            human[key].append(r.score)
            photo[key] = r.image_id or image_id_of(r.sample_id)
    xs, ys, ps = [], [], []
    for r in judge.ratings:
        key = (r.sample_id.casefold(), r.model)
        if r.perspective == perspective and key in human:
            xs.append(r.score)
            ys.append(float(np.mean(human[key])))
            ps.append(photo[key])
    return Paired(np.array(xs, float), np.array(ys, float), np.array(ps, dtype=object))


def _folds(photos: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The fold of each item: source photos shuffled (seeded) and dealt into ``k`` groups."""
    uniq = np.array(sorted(set(photos.tolist())), dtype=object)
    order = np.random.default_rng(seed).permutation(len(uniq))
    fold_of = {uniq[j]: i % k for i, j in enumerate(order)}
    return np.array([fold_of[p] for p in photos], int)


def _mean(values: np.ndarray, photos: np.ndarray, n_resamples: int) -> Stat:
    ci = cluster_mean_ci(values.tolist(), [str(p) for p in photos], n_resamples=n_resamples)
    if ci is None:
        return Stat(value=None, n=0, note="no edit")
    return Stat(value=ci.estimate, low=ci.low, high=ci.high, n=len(values))


def fit_map(data: Paired, *, folds: int = FOLDS, n_resamples: int = 2000, seed: int = 0) -> CalibrationMap:
    """The map on all the data, and its cross-validated error (module docstring)."""
    knots, values = isotonic(data.judge, data.human)
    fold = _folds(data.photo, folds, seed)
    held_out = np.empty(len(data.judge))
    for f in range(folds):
        test = fold == f
        kx, ky = isotonic(data.judge[~test], data.human[~test])
        held_out[test] = apply_map(kx, ky, data.judge[test])
    raw = np.abs(data.judge - data.human)
    cal = np.abs(held_out - data.human)
    return CalibrationMap(
        x=knots.tolist(), y=values.tolist(), n=len(data.judge), n_photos=len(set(data.photo.tolist())),
        folds=folds, mae_raw=_mean(raw, data.photo, n_resamples),
        mae_calibrated=_mean(cal, data.photo, n_resamples),
        improvement=_mean(raw - cal, data.photo, n_resamples),
    )


def fit_calibration(humans: Sequence[Rating], judges: Sequence[JudgeScores], *, folds: int = FOLDS,
                    n_resamples: int = 2000, seed: int = 0, created_at: str = "",
                    version: str = "") -> CalibrationFile:
    """One map per judge and perspective the humans rated (too few edits or photos: left out, with a note)."""
    scores = [r.score for r in humans]
    out = []
    for judge in judges:
        maps: dict[str, CalibrationMap] = {}
        notes: list[str] = []
        for p in PERSPECTIVES:
            data = paired(humans, judge, p)
            n_photos = len(set(data.photo.tolist()))
            if len(data.judge) < MIN_ITEMS or n_photos < folds:
                if len(data.judge):
                    notes.append(f"{p}: not fitted, {len(data.judge)} edits on {n_photos} photos (at least "
                                 f"{MIN_ITEMS} edits on {folds} photos needed)")
                continue
            maps[p] = fit_map(data, folds=folds, n_resamples=n_resamples, seed=seed)
        out.append(JudgeCalibration(judge=judge.name, rubric=judge.rubric, perspectives=maps, notes=notes))
    return CalibrationFile(created_at=created_at, realedit_version=version, method=METHOD,
                           human_scale=(min(scores, default=0.0), max(scores, default=5.0)), judges=out)
