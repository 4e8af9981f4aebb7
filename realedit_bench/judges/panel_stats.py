"""The statistics of a judge panel: the panel's verdict and score per edit, the agreement between its judges,
and how they rank the models (see :mod:`realedit_bench.judges.panel` for the rules in words).

Reads judgment rows only (no SDK, no network): the site computes the model-rank agreement of a table judged
by a panel with :func:`model_rank_agreement`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from realedit_bench.agreement import statistics as ag
from realedit_bench.agreement.compute import resampled_stat
from realedit_bench.schema.agree import Stat
from realedit_bench.schema.judge import JudgmentRow
from realedit_bench.schema.trust import JudgePair, LeftOut, PanelAgreement, PanelJudge, PanelPerspective


class _Answer(NamedTuple):
    """One judge's answer for one edit and perspective: score on 0-5 and verdict, or why there is none."""

    score: float | None
    verdict: bool | None
    status: str


class JudgeRows(NamedTuple):
    """One judge's current rows for the panel, and its rubric's score range."""

    meta: PanelJudge
    rows: list[JudgmentRow]


def _answers(j: JudgeRows, perspective: str) -> dict[str, _Answer]:
    """sample id -> the judge's answer (ok repeats averaged, the majority of their verdicts)."""
    lo, hi = j.meta.score_range
    by: dict[str, list[JudgmentRow]] = {}
    for r in j.rows:
        if r.perspective == perspective:
            by.setdefault(r.sample_id, []).append(r)
    out = {}
    for sid, asks in by.items():
        ok = [r for r in asks if r.status == "ok" and r.score is not None and r.verdict is not None]
        if not ok:
            out[sid] = _Answer(None, None, asks[-1].status)
            continue
        score = float(np.mean([float(r.score or 0.0) for r in ok]))
        yes = sum(1 for r in ok if r.verdict)
        verdict = None if 2 * yes == len(ok) else 2 * yes > len(ok)
        out[sid] = _Answer((score - lo) / (hi - lo) * 5 if hi > lo else score, verdict, "ok")
    return out


class _Matrix(NamedTuple):
    score: np.ndarray  # edits x judges, 0-5, NaN = no valid answer
    verdict: np.ndarray  # edits x judges, 1/0, NaN = none
    left_out: dict[str, LeftOut]


def _matrix(judges: Sequence[JudgeRows], samples: Sequence[str], perspective: str) -> _Matrix:
    score = np.full((len(samples), len(judges)), np.nan)
    verdict = np.full_like(score, np.nan)
    left: dict[str, LeftOut] = {}
    for k, j in enumerate(judges):
        answers = _answers(j, perspective)
        counts = {"invalid": 0, "refused": 0, "error": 0, "not_run": 0, "split": 0}
        for i, sid in enumerate(samples):
            a = answers.get(sid)
            if a is None or a.score is None:
                counts[a.status if a is not None else "not_run"] += 1
                continue
            score[i, k] = a.score
            if a.verdict is None:
                counts["split"] += 1
            else:
                verdict[i, k] = float(a.verdict)
        left[j.meta.judge] = LeftOut(**counts)
    return _Matrix(score, verdict, left)


def _mean_stat(values: np.ndarray, mask: np.ndarray, clusters: np.ndarray, counts: np.ndarray) -> Stat:
    if not mask.any():
        return Stat(value=None, n=0, note="no edit to average")
    return resampled_stat(
        ag.weighted_mean(values[mask], clusters[mask], counts), int(mask.sum()), clusters=clusters[mask]
    )


def _pair(
    m: _Matrix, a: int, b: int, names: Sequence[str], clusters: np.ndarray, counts: np.ndarray
) -> JudgePair:
    both = ~np.isnan(m.verdict[:, a]) & ~np.isnan(m.verdict[:, b])
    if both.any():
        k = ag.cohen_kappa(m.verdict[both, a], m.verdict[both, b], (0.0, 1.0), clusters[both], counts)
        n = int(both.sum())
        kappa = resampled_stat(
            k.kappa, n, clusters=clusters[both], why="undefined: a judge gave one verdict only"
        )
        agree = resampled_stat(k.accuracy, n, clusters=clusters[both])
    else:
        kappa = agree = Stat(value=None, n=0, note="no edit both judges gave a verdict for")
    scored = ~np.isnan(m.score[:, a]) & ~np.isnan(m.score[:, b])
    rho = (
        resampled_stat(
            ag.spearman(m.score[scored, a], m.score[scored, b], clusters[scored], counts),
            int(scored.sum()),
            clusters=clusters[scored],
            why="undefined: constant scores",
        )
        if scored.sum() >= 2
        else Stat(value=None, n=int(scored.sum()), note="fewer than two edits scored by both")
    )
    return JudgePair(a=names[a], b=names[b], verdict_agreement=agree, cohen_kappa=kappa, score_spearman=rho)


def _alpha(data: np.ndarray, clusters: np.ndarray, counts: np.ndarray, what: str) -> Stat:
    pairable = int(((~np.isnan(data)).sum(axis=1) >= 2).sum())
    if pairable == 0:
        return Stat(value=None, n=0, note=f"no edit has {what} from two judges")
    return resampled_stat(
        ag.krippendorff_alpha(data, clusters, counts, "interval"),
        pairable,
        clusters=clusters,
        why=f"undefined: the {what} do not vary",
    )


def panel_perspective(
    judges: Sequence[JudgeRows],
    samples: Sequence[tuple[str, str]],
    perspective: str,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> PanelPerspective:
    """The panel's figures and the judges' agreement for one perspective (module docstring).

    Args:
        judges: Each judge's current rows.
        samples: (sample id, source photo id) of every edit selected.
        perspective: The perspective.
        n_resamples: Bootstrap resamples of source photos.
        seed: Bootstrap seed.
    """
    photos = sorted({p for _, p in samples})
    clusters = np.array([photos.index(p) for _, p in samples], int)
    counts = ag.resample_counts(len(photos), n_resamples, seed)
    m = _matrix(judges, [s for s, _ in samples], perspective)
    answered = ~np.isnan(m.score)
    scored = answered.any(axis=1)
    with np.errstate(invalid="ignore"):
        panel_score = np.where(
            scored, np.nansum(m.score, axis=1) / np.maximum(answered.sum(axis=1), 1), np.nan
        )
    yes = np.nansum(m.verdict == 1.0, axis=1)
    no = np.nansum(m.verdict == 0.0, axis=1)
    tied = (yes + no > 0) & (yes == no)
    majority = (yes + no > 0) & ~tied
    names = [j.meta.judge for j in judges]
    agreement = PanelAgreement(
        verdict_alpha=_alpha(m.verdict, clusters, counts, "verdicts"),
        score_alpha=_alpha(m.score, clusters, counts, "scores"),
        pairs=[
            _pair(m, a, b, names, clusters, counts) for a, b in itertools.combinations(range(len(judges)), 2)
        ],
    )
    return PanelPerspective(
        n=len(samples),
        n_scored=int(scored.sum()),
        n_no_answer=int((~scored).sum()),
        n_majority=int(majority.sum()),
        n_tied=int(tied.sum()),
        accuracy=_mean_stat((yes > no).astype(float), majority, clusters, counts),
        score_mean=_mean_stat(np.nan_to_num(panel_score), scored, clusters, counts),
        left_out=m.left_out,
        agreement=agreement,
    )


class RankPair(NamedTuple):
    """How two judges rank the same models on one perspective."""

    a: str
    b: str
    perspective: str
    models: list[str]
    kendall: Stat
    spearman: Stat


def model_rank_agreement(
    scores: dict[str, dict[str, list[tuple[str, float]]]],
    perspective: str,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> list[RankPair]:
    """Kendall's tau and Spearman's rho between each pair of judges' model means, with intervals.

    Args:
        scores: judge -> model -> (source photo, score) of each edit the judge scored validly.
        perspective: Named in the results.
        n_resamples: Bootstrap resamples of source photos (one draw for every model and judge: paired).
        seed: Bootstrap seed.
    """
    photos = sorted({p for per in scores.values() for vals in per.values() for p, _ in vals})
    index = {p: i for i, p in enumerate(photos)}
    counts = ag.resample_counts(len(photos), n_resamples, seed)

    def means(vals: list[tuple[str, float]]) -> np.ndarray:
        cl = np.array([index[p] for p, _ in vals], int)
        return ag.weighted_mean(np.array([s for _, s in vals]), cl, counts)

    out = []
    for a, b in itertools.combinations(sorted(scores), 2):
        models = sorted(set(scores[a]) & set(scores[b]))
        if len(models) < 2:
            none = Stat(value=None, n=len(models), note="fewer than two models judged by both")
            out.append(RankPair(a, b, perspective, models, none, none))
            continue
        ma = np.stack([means(scores[a][m]) for m in models], axis=1)
        mb = np.stack([means(scores[b][m]) for m in models], axis=1)
        tau, rho = ag.rank_correlations(ma, mb)
        why = "undefined: a judge gives every model the same mean"
        out.append(
            RankPair(
                a,
                b,
                perspective,
                models,
                resampled_stat(tau, len(models), why=why),
                resampled_stat(rho, len(models), why=why),
            )
        )
    return out


