"""Assemble ``agreement.json``: every judge-vs-human statistic for each judge and perspective.

The data of one (judge, perspective) is a matrix of human scores (edits x raters, NaN where a rater
did not rate an edit), the judge's score per edit, verdicts likewise, the editing model of each edit
and its source photo. One matrix of cluster counts (:func:`agreement.resample_counts`) over all source
photos is drawn once and shared by every judge, perspective, model, rater and statistic, so intervals
and differences are paired.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Literal, NamedTuple

import numpy as np

from realedit_bench.agreement import statistics as ag
from realedit_bench.agreement.ratings import Rating, image_id_of
from realedit_bench.schema.agree import (
    Bias,
    CorrelationSet,
    FairComparison,
    JudgeAgreement,
    OrdinalAgreement,
    PerspectiveAgreement,
    SampleLevel,
    Stat,
    SystemLevel,
    VerdictAgreement,
)
from realedit_bench.schema.base import PERSPECTIVES
from realedit_bench.schema.judge import JudgmentRow

#: The integer labels of the 0-5 scale, in numeric order (kappa needs a fixed, numerically sorted set).
SCORE_LABELS: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
#: An interval is given only when the statistic is defined in at least this share of resamples.
MIN_DEFINED_SHARE = 0.5
#: Below this many source photos, a note says that photo-level bootstrap intervals are too narrow.
FEW_PHOTOS = 10
#: Ids named in a note about human-rated edits that match no judge score.
MAX_IDS_SHOWN = 5


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded numbers numerically: 'model-2' before 'model-10'."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p)


#: Reply parser of ``realedit judge``: ours, or the authors' (``--parse paper``).
ParseMode = Literal["robust", "paper"]


class JudgeScores(NamedTuple):
    """One judge's scores, one per (sample, model, perspective), ready to hold against the humans."""

    name: str
    source: Literal["judgments", "judge-ratings"]
    #: ``rater`` is the judge's name; repeats are already averaged.
    ratings: list[Rating]
    #: (sample_id, model, perspective) whose repeated verdicts split evenly.
    tied_verdicts: set[tuple[str, str, str]]
    notes: list[str]
    #: Reply parser of the judgments; None for --judge-ratings.
    parse_mode: ParseMode | None = None
    rubric: str | None = None
    #: (sample_id casefolded, model, perspective) the judge has rows for, none of them ok.
    failed: frozenset[tuple[str, str, str]] = frozenset()


class JudgmentFile(NamedTuple):
    """The rows of one judgments file and the parser that produced them."""

    path: str
    rows: list[JudgmentRow]
    parse_mode: ParseMode = "robust"


#: Suffix ``realedit judge --parse paper`` gives its files (see judges.runner.judge_paths).
PAPER_PARSE_SUFFIX = ".paper-parse.jsonl"


def parse_mode_of(path: str) -> ParseMode:
    """``paper`` for a ``*.paper-parse.jsonl`` file of ``realedit judge --parse paper``, else ``robust``."""
    return "paper" if str(path).endswith(PAPER_PARSE_SUFFIX) else "robust"


def current_rows(rows: Iterable[JudgmentRow]) -> tuple[list[JudgmentRow], int]:
    """The rows of one file that still count, and how many were superseded.

    The judge's own rule (:func:`realedit_bench.judges.summary.latest_rows`): the last row per (sample,
    perspective, repeat) wins, so a re-judged image or a redone error replaces the earlier row. Applied per
    (judge, rubric, model), since one file normally holds one of each but a concatenated file may not.
    """
    from realedit_bench.judges.summary import latest_rows

    rows = list(rows)
    by: dict[tuple[str, str, str], list[JudgmentRow]] = defaultdict(list)
    for r in rows:
        by[(r.judge, r.rubric, r.model)].append(r)
    kept: list[JudgmentRow] = []
    for group in by.values():
        kept.extend(latest_rows(group).values())
    return kept, len(rows) - len(kept)


def judges_from_judgments(
    rows: Iterable[JudgmentRow], *, parse_mode: ParseMode = "robust"
) -> list[JudgeScores]:
    """Judges of the rows of one judgments file (see :func:`judges_from_judgment_files`)."""
    return judges_from_judgment_files([JudgmentFile("", list(rows), parse_mode)])


#: A judge as the agreement tells judges apart: judge, rubric, reply parser.
_GroupKey = tuple[str, str, ParseMode]
#: (sample_id, model, perspective).
_Item = tuple[str, str, str]


class _Groups(NamedTuple):
    """The current rows of judgment files, grouped by judge, rubric and reply parser."""

    rows: dict[_GroupKey, list[JudgmentRow]]
    superseded: dict[_GroupKey, int]
    #: The files each model's rows came from, in order.
    model_files: dict[_GroupKey, dict[str, list[str]]]


def _group(files: Sequence[JudgmentFile]) -> _Groups:
    groups: dict[_GroupKey, list[JudgmentRow]] = defaultdict(list)
    superseded: dict[_GroupKey, int] = defaultdict(int)
    model_files: dict[_GroupKey, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for f in files:
        kept, _ = current_rows(f.rows)
        for r in kept:
            gk = (r.judge, r.rubric, f.parse_mode)
            groups[gk].append(r)
            if f.path not in model_files[gk][r.model]:
                model_files[gk][r.model].append(f.path)
        after = Counter((r.judge, r.rubric) for r in kept)
        for (judge, rubric), n in Counter((r.judge, r.rubric) for r in f.rows).items():
            superseded[(judge, rubric, f.parse_mode)] += n - after[(judge, rubric)]
    return _Groups(groups, superseded, model_files)


class _Averaged(NamedTuple):
    """One judge's rows reduced to one rating per item."""

    ratings: list[Rating]
    ties: set[_Item]
    #: How many ok rows the items have (more than one: repeated asks).
    repeats: set[int]
    failed: frozenset[_Item]
    #: Rows left out, by status.
    not_ok: dict[str, int]


def _average(name: str, rows: list[JudgmentRow]) -> _Averaged:
    """Average the scores of each item's ok rows; the verdict is their majority (an even split: none)."""
    scores: dict[_Item, list[float]] = defaultdict(list)
    verdicts: dict[_Item, list[bool]] = defaultdict(list)
    image: dict[_Item, str] = {}
    not_ok: dict[str, int] = defaultdict(int)
    asked: set[_Item] = set()
    for r in rows:
        key: _Item = (r.sample_id, r.model, r.perspective)
        asked.add((r.sample_id.casefold(), r.model, r.perspective))
        if r.status != "ok" or r.score is None:
            not_ok[r.status if r.status != "ok" else "ok without a score"] += 1
            continue
        scores[key].append(float(r.score))
        image[key] = r.image_id
        if r.verdict is not None:
            verdicts[key].append(bool(r.verdict))
    ratings: list[Rating] = []
    ties: set[_Item] = set()
    for key, vals in scores.items():
        vs = verdicts.get(key, [])
        yes = sum(vs)
        verdict: bool | None = None
        if vs and 2 * yes != len(vs):
            verdict = 2 * yes > len(vs)
        elif vs:
            ties.add(key)
        ratings.append(Rating(key[0], image[key], key[1], key[2], name, float(np.mean(vals)), verdict))
    failed = frozenset(asked - {(k[0].casefold(), k[1], k[2]) for k in scores})
    return _Averaged(ratings, ties, {len(v) for v in scores.values()}, failed, not_ok)


def _judge_notes(avg: _Averaged, superseded: int, model_files: dict[str, list[str]]) -> list[str]:
    """What a reader of the judge's numbers should know: rows left out, repeats, models in several files."""
    notes = []
    if superseded:
        notes.append(
            f"{superseded} superseded judgment row(s) left out: the last row per sample, perspective and "
            "repeat counts (a re-judged image or a redone error replaces the earlier row)"
        )
    if avg.not_ok:
        parts = ", ".join(f"{n} {s}" for s, n in sorted(avg.not_ok.items()))
        notes.append(f"judgment rows left out (not ok): {parts}")
    if avg.repeats - {1}:
        notes.append(
            f"repeated asks ({', '.join(str(k) for k in sorted(avg.repeats))} per edit): scores averaged, "
            "verdicts by majority (an even split counts as no verdict)"
        )
    shared = {m: fs for m, fs in model_files.items() if len(fs) > 1}
    for m, fs in sorted(shared.items()):
        notes.append(f"model {m} is judged in {len(fs)} files ({', '.join(fs)}): their rows count as repeats")
    return notes


def judges_from_judgment_files(files: Sequence[JudgmentFile]) -> list[JudgeScores]:
    """Group judgment rows by judge, rubric and reply parser; average repeats; majority of repeated verdicts.

    Superseded rows are dropped per file first (:func:`current_rows`). The parser is part of a judge's
    identity: the same judge read by the authors' parser is a different set of scores, never a repeat.
    Only ``status == "ok"`` rows count; the others are counted in the judge's notes.
    """
    groups = _group(files)
    rubrics: dict[str, set[str]] = defaultdict(set)
    for judge, rubric, _ in groups.rows:
        rubrics[judge].add(rubric)

    def name_of(gk: _GroupKey) -> str:
        judge, rubric, mode = gk
        name = judge if len(rubrics[judge]) == 1 else f"{judge} [{rubric}]"
        return name + (" [paper parse]" if mode == "paper" else "")

    out: list[JudgeScores] = []
    for gk in sorted(groups.rows, key=lambda k: natural_key(name_of(k))):
        name = name_of(gk)
        avg = _average(name, groups.rows[gk])
        notes = _judge_notes(avg, groups.superseded[gk], groups.model_files[gk])
        out.append(JudgeScores(name, "judgments", avg.ratings, avg.ties, notes, gk[2], gk[1], avg.failed))
    return out


def judges_from_ratings(ratings: Iterable[Rating]) -> list[JudgeScores]:
    """Judge scores given in the long ratings format: each distinct ``rater`` is one judge."""
    by: dict[str, list[Rating]] = defaultdict(list)
    for r in ratings:
        by[r.rater].append(r)
    return [JudgeScores(name, "judge-ratings", by[name], set(), []) for name in sorted(by, key=natural_key)]


# ---------------------------------------------------------------------------------------------- helpers


class _Ctx(NamedTuple):
    counts: np.ndarray
    level: float
    seed: int


#: Why a statistic over the edits of one source photo has no interval.
ONE_PHOTO = "no interval: a single source photo (the bootstrap resamples photos)"


def _stat(
    vals: np.ndarray,
    n: int,
    ctx: _Ctx,
    why: str | None = None,
    note: str | None = None,
    clusters: np.ndarray | None = None,
) -> Stat:
    """Point estimate (row 0) and percentile interval of the defined resamples (rows 1..).

    ``clusters``: the source photos of the edits behind the value. With fewer than two, every resample
    only reweights the same edits, so the "interval" would be the point estimate itself: none is given.
    """
    vals = np.asarray(vals, float)
    boot = vals[1:]
    ok = boot[~np.isnan(boot)]
    n_und = int(len(boot) - len(ok))
    if np.isnan(vals[0]):
        return Stat(value=None, n=n, n_undefined_resamples=n_und, note=why or "undefined on these data")
    notes = [note] if note else []
    low = high = None
    if len(boot) and clusters is not None and len(np.unique(clusters)) < 2:
        notes.append(ONE_PHOTO)
    elif len(boot) and len(ok) >= MIN_DEFINED_SHARE * len(boot):
        alpha = (1 - ctx.level) / 2
        low, high = (float(v) for v in np.quantile(ok, [alpha, 1 - alpha]))
        if n_und:
            notes.append(f"undefined in {n_und} of {len(boot)} resamples, which the interval leaves out")
    elif len(boot):
        notes.append(f"no interval: undefined in {n_und} of {len(boot)} resamples")
    return Stat(
        value=float(vals[0]),
        low=low,
        high=high,
        n=n,
        n_undefined_resamples=n_und,
        note="; ".join(notes) or None,
    )


def resampled_stat(vals: np.ndarray, n: int, *, level: float = 0.95, why: str | None = None,
                   clusters: np.ndarray | None = None) -> Stat:
    """A :class:`Stat` from a statistic evaluated on the data (row 0) and on each resample (rows 1..) of
    :func:`~realedit_bench.agreement.statistics.resample_counts`, as this report's statistics are."""
    return _stat(vals, n, _Ctx(np.zeros((0, 0)), level, 0), why, clusters=clusters)


def _nan_rows(ctx: _Ctx) -> np.ndarray:
    return np.full(ctx.counts.shape[0], np.nan)


def _fmt(v: float) -> str:
    return f"{v:g}"


def _corr_why(x: np.ndarray, y: np.ndarray, xname: str, yname: str) -> str | None:
    """Why a correlation of x and y is undefined, or None when it is defined."""
    if len(x) < 3:
        return f"only {len(x)} edit(s) with both scores; a correlation needs at least 3"
    if np.all(x == x[0]):
        return f"the {xname} is {_fmt(x[0])} on every edit (a constant); a correlation is undefined"
    if np.all(y == y[0]):
        return f"the {yname} is {_fmt(y[0])} on every edit (a constant); a correlation is undefined"
    return None


def _correlations(
    x: np.ndarray, y: np.ndarray, cl: np.ndarray, ctx: _Ctx, xname: str, yname: str, note: str | None = None
) -> tuple[CorrelationSet, dict[str, np.ndarray]]:
    why = _corr_why(x, y, xname, yname)
    if why is not None:
        raw = {k: _nan_rows(ctx) for k in ("spearman", "kendall_tau_b", "pearson")}
    else:
        raw = {
            "spearman": ag.spearman(x, y, cl, ctx.counts),
            "kendall_tau_b": ag.kendall_tau_b(x, y, cl, ctx.counts),
            "pearson": ag.pearson(x, y, cl, ctx.counts),
        }
    cs = CorrelationSet(**{k: _stat(v, len(x), ctx, why, note, clusters=cl) for k, v in raw.items()})
    return cs, raw


def _round_half_up(v: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(v, float) + 0.5)


# ------------------------------------------------------------------------------------- one perspective


class _Data(NamedTuple):
    items: list[tuple[str, str]]  # (sample_id casefolded, model)
    labels: list[str]  # "sample_id/model" as the humans wrote it, for messages
    raters: list[str]
    human: np.ndarray  # items x raters, NaN = not rated
    human_verdict: np.ndarray  # items x raters, 1/0, NaN
    judge: np.ndarray  # items, NaN = no valid judge score
    judge_verdict: np.ndarray  # items
    judge_tie: np.ndarray  # items, bool
    model: np.ndarray  # items, index into models
    models: list[str]
    cluster: np.ndarray  # items, index into the global photo list
    judge_asked: np.ndarray  # items, bool: the judge has a row for it (ok or not)


def _gather(
    humans: Sequence[Rating], judge: JudgeScores, perspective: str, photo_index: dict[str, int]
) -> _Data:
    hp = [r for r in humans if r.perspective == perspective]
    # Sample ids match case-insensitively: a rater's 10-Local is the judge's 10-local.
    label: dict[tuple[str, str], str] = {}
    for r in hp:
        label.setdefault((r.sample_id.casefold(), r.model), f"{r.sample_id}/{r.model}")
    items = sorted(label, key=lambda k: (natural_key(k[0]), natural_key(k[1])))
    raters = sorted({r.rater for r in hp}, key=natural_key)
    models = sorted({m for _, m in items}, key=natural_key)
    ii = {k: i for i, k in enumerate(items)}
    ri = {r: i for i, r in enumerate(raters)}
    mi = {m: i for i, m in enumerate(models)}
    n = len(items)
    human = np.full((n, len(raters)), np.nan)
    hverd = np.full((n, len(raters)), np.nan)
    photo = [""] * n
    for r in hp:
        i = ii[(r.sample_id.casefold(), r.model)]
        human[i, ri[r.rater]] = r.score
        if r.verdict is not None:
            hverd[i, ri[r.rater]] = float(r.verdict)
        photo[i] = r.image_id
    jscore = np.full(n, np.nan)
    jverd = np.full(n, np.nan)
    jtie = np.zeros(n, bool)
    asked = np.zeros(n, bool)
    for sid, model, persp in judge.failed:
        j = ii.get((sid, model))
        if persp == perspective and j is not None:
            asked[j] = True
    for r in judge.ratings:
        if r.perspective != perspective:
            continue
        j = ii.get((r.sample_id.casefold(), r.model))
        if j is None:
            continue
        asked[j] = True
        jscore[j] = r.score
        if r.verdict is not None:
            jverd[j] = float(r.verdict)
        if (r.sample_id, r.model, perspective) in judge.tied_verdicts:
            jtie[j] = True
    return _Data(
        items,
        [label[k] for k in items],
        raters,
        human,
        hverd,
        jscore,
        jverd,
        jtie,
        np.array([mi[m] for _, m in items], int),
        models,
        np.array([photo_index[p] for p in photo], int),
        asked,
    )


def _sample_level(d: _Data, mask: np.ndarray, hmean: np.ndarray, ctx: _Ctx, notes: list[str]) -> SampleLevel:
    x, y, cl, mod = d.judge[mask], hmean[mask], d.cluster[mask], d.model[mask]
    present = [m for m in range(len(d.models)) if np.any(mod == m)]
    pooled_note = (
        f"pooled over {len(present)} models: differences between models inflate this figure; see within-model"
        if len(present) > 1
        else None
    )
    pooled, _ = _correlations(x, y, cl, ctx, "judge score", "mean human score", pooled_note)
    within: dict[str, CorrelationSet] = {}
    raw_within: dict[str, list[np.ndarray]] = defaultdict(list)
    left_out: list[str] = []
    for m in present:
        sel = mod == m
        cs, raw = _correlations(x[sel], y[sel], cl[sel], ctx, "judge score", "mean human score")
        within[d.models[m]] = cs
        if cs.spearman.value is None:
            left_out.append(f"{d.models[m]} ({cs.spearman.note})")
        for k, v in raw.items():
            raw_within[k].append(v)
    fnote = [f"Fisher z average over {len(present) - len(left_out)} model(s)"]
    if left_out:
        fnote.append("left out: " + "; ".join(left_out))
    if len(present) - len(left_out) == 1:
        fnote.append("a single model: the average is that model's correlation")
    fisher = CorrelationSet(
        **{
            k: _stat(
                ag.fisher_mean(np.stack(raw_within[k])) if raw_within[k] else _nan_rows(ctx),
                int(mask.sum()),
                ctx,
                why="no model has a defined within-model correlation"
                + (": " + "; ".join(left_out) if left_out else ""),
                note="; ".join(fnote),
                clusters=cl,
            )
            for k in ("spearman", "kendall_tau_b", "pearson")
        }
    )
    return SampleLevel(pooled=pooled, within_model=within, within_model_fisher=fisher)


def _row_nanmean(a: np.ndarray, n_rows: int) -> np.ndarray:
    """Mean of each row over its non-NaN entries; NaN for a row with none (no empty mean is computed, so
    numpy writes no 'Mean of empty slice' warning when, e.g., the ratings have no verdict column)."""
    if a.size == 0:
        return np.full(n_rows, np.nan)
    have = ~np.isnan(a)
    counts = have.sum(axis=1)
    sums = np.where(have, a, 0.0).sum(axis=1)
    out = np.full(a.shape[0], np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


def _verdicts(d: _Data, ctx: _Ctx) -> VerdictAgreement:
    share = _row_nanmean(d.human_verdict, len(d.items))
    has_h = ~np.isnan(share)
    h_tie = has_h & (share == 0.5)
    hmaj = np.where(share > 0.5, 1.0, 0.0)
    use = has_h & ~h_tie & ~np.isnan(d.judge_verdict)
    n = int(use.sum())
    n_jtie = int((d.judge_tie & has_h).sum())
    if n == 0:
        why = (
            "no human verdicts in the ratings (the verdict column is blank)"
            if not has_h.any()
            else "no edit has both a judge verdict and a human majority verdict"
        )
        empty = Stat(n=0, note=why)
        return VerdictAgreement(
            accuracy=empty, cohen_kappa=empty, n_human_ties=int(h_tie.sum()), n_judge_ties=n_jtie
        )
    a = d.judge_verdict[use]
    b = hmaj[use]
    res = ag.cohen_kappa(a, b, [0, 1], d.cluster[use], ctx.counts)
    kwhy = knote = None
    a_const, b_const = bool(np.all(a == a[0])), bool(np.all(b == b[0]))
    if a_const and b_const:
        word = "yes" if a[0] == 1 else "no"
        kwhy = (
            f"the judge and the human majority both said {word} on every edit; kappa is undefined"
            if a[0] == b[0]
            else "the judge and the human majority each gave a single, opposite verdict; kappa is undefined"
        )
    elif a_const or b_const:
        who = "judge" if a_const else "human majority"
        knote = f"the {who} gave one verdict on every edit, so kappa is 0 by construction"
    tie_note = []
    if h_tie.any():
        tie_note.append(f"{int(h_tie.sum())} edit(s) left out where the humans split evenly")
    if n_jtie:
        tie_note.append(f"{n_jtie} edit(s) left out where the judge's repeats split evenly")
    note = "; ".join(tie_note) or None
    kappa_note = "; ".join(x for x in (knote, note) if x) or None
    return VerdictAgreement(
        accuracy=_stat(res.accuracy, n, ctx, note=note, clusters=d.cluster[use]),
        cohen_kappa=_stat(res.kappa, n, ctx, why=kwhy, note=kappa_note, clusters=d.cluster[use]),
        judge_yes_rate=float(a.mean()),
        human_yes_rate=float(b.mean()),
        n_human_ties=int(h_tie.sum()),
        n_judge_ties=n_jtie,
    )


def _alpha_why(data: np.ndarray, who: str) -> str | None:
    if data.shape[1] < 2:
        return f"a single rater ({who}): agreement among raters needs at least two"
    pairable = (~np.isnan(data)).sum(axis=1) >= 2
    if not pairable.any():
        return f"no edit was rated by two of the {who}; alpha needs overlapping ratings"
    vals = data[pairable]
    vals = vals[~np.isnan(vals)]
    if np.all(vals == vals[0]):
        return (
            f"every rating of the {who} on shared edits is {_fmt(vals[0])}; "
            "alpha is undefined without variation"
        )
    return None


def _ordinal(d: _Data, mask: np.ndarray, hmean: np.ndarray, ctx: _Ctx, notes: list[str]) -> OrdinalAgreement:
    # Quadratic kappa needs integer categories: scores are rounded half up (3.5 -> 4), counted in a note.
    j = d.judge[mask]
    h = hmean[mask]
    jr, hr = _round_half_up(j), _round_half_up(h)
    n_round = int((jr != j).sum())
    qnote = "human consensus: mean human score rounded half up to an integer"
    if n_round:
        qnote += f"; {n_round} non-integer judge score(s) (averaged repeats) rounded half up"
    if len(j) == 0:
        qwk = Stat(n=0, note="no edit has both a judge and a human score")
    else:
        res = ag.cohen_kappa(jr, hr, SCORE_LABELS, d.cluster[mask], ctx.counts, "quadratic")
        why = None
        if np.all(jr == jr[0]) and np.all(hr == jr[0]):
            why = (
                f"the judge and the human consensus both gave {_fmt(jr[0])} to every edit; kappa is undefined"
            )
        qwk = _stat(res.kappa, len(j), ctx, why=why, note=qnote, clusters=d.cluster[mask])
    h = d.human
    hw = np.column_stack([d.human, d.judge])
    out = {}
    for name, data, who in (("humans", h, "humans"), ("with_judge", hw, "humans and the judge")):
        why = _alpha_why(data, who)
        if name == "with_judge" and why is None and np.all(np.isnan(d.judge)):
            why = "the judge scored none of these edits"
        for lvl in ("ordinal", "interval"):
            vals = _nan_rows(ctx) if why else ag.krippendorff_alpha(data, d.cluster, ctx.counts, lvl)
            pair = (~np.isnan(data)).sum(axis=1) >= 2
            out[f"alpha_{name}_{lvl}"] = _stat(vals, int(pair.sum()), ctx, why=why, clusters=d.cluster[pair])
    return OrdinalAgreement(qwk_judge_vs_consensus=qwk, **out)


class _LeaveOneOut(NamedTuple):
    """Judge and human Spearman against the mean of the other humans, Fisher-averaged over humans."""

    judge: np.ndarray
    human: np.ndarray
    n: int
    #: Edits behind the figures (their photos decide whether there is an interval).
    used: np.ndarray
    n_humans: int


def _leave_one_out(d: _Data, ctx: _Ctx, rated: np.ndarray, has_j: np.ndarray) -> _LeaveOneOut:
    hsum = np.where(rated, d.human, 0.0).sum(axis=1)
    hcnt = rated.sum(axis=1)
    judge_r: list[np.ndarray] = []
    human_r: list[np.ndarray] = []
    n_loo = 0
    used = np.zeros(len(d.items), bool)
    for r in range(len(d.raters)):
        sel = rated[:, r] & (hcnt >= 2) & has_j
        if sel.sum() < 3:
            continue
        used |= sel
        others = (hsum[sel] - d.human[sel, r]) / (hcnt[sel] - 1)
        hr, jr = d.human[sel, r], d.judge[sel]
        cl = d.cluster[sel]
        n_loo += int(sel.sum())
        for x, out in ((jr, judge_r), (hr, human_r)):
            out.append(ag.spearman(x, others, cl, ctx.counts) if _corr_why(x, others, "", "") is None
                       else _nan_rows(ctx))
    jl = ag.fisher_mean(np.stack(judge_r)) if judge_r else _nan_rows(ctx)
    hl = ag.fisher_mean(np.stack(human_r)) if human_r else _nan_rows(ctx)
    return _LeaveOneOut(jl, hl, n_loo, used, len(judge_r))


class _Kappas(NamedTuple):
    """Mean quadratic kappa of the judge with each human, and of each pair of humans."""

    judge_human: np.ndarray
    human_human: np.ndarray
    n_judge_pairs: int
    n_human_pairs: int
    judge_used: np.ndarray
    human_used: np.ndarray


def _kappas(d: _Data, ctx: _Ctx, rated: np.ndarray, has_j: np.ndarray) -> _Kappas:
    """Quadratic kappa on integer (rounded half up) scores."""
    nr = len(d.raters)
    jint = _round_half_up(d.judge)
    hint = _round_half_up(d.human)
    jpairs, hpairs = [], []
    j_used = np.zeros(len(d.items), bool)
    h_used = np.zeros(len(d.items), bool)
    for r in range(nr):
        sel = rated[:, r] & has_j
        if sel.sum() >= 1:
            jpairs.append((jint[sel], hint[sel, r], d.cluster[sel]))
            j_used |= sel
    for r in range(nr):
        for r2 in range(r + 1, nr):
            sel = rated[:, r] & rated[:, r2]
            if sel.sum() >= 1:
                hpairs.append((hint[sel, r], hint[sel, r2], d.cluster[sel]))
                h_used |= sel

    def mean_kappa(pairs: list) -> np.ndarray:
        if not pairs:
            return _nan_rows(ctx)
        return np.nanmean(ag.cohen_kappa_many(pairs, SCORE_LABELS, ctx.counts, "quadratic").kappa, axis=1)

    with np.errstate(invalid="ignore"), _quiet():
        qj, qh = mean_kappa(jpairs), mean_kappa(hpairs)
    return _Kappas(qj, qh, len(jpairs), len(hpairs), j_used, h_used)


def _fair(d: _Data, ctx: _Ctx) -> FairComparison:
    if len(d.raters) < 2:
        why = "a single human rater: a human-vs-human comparison needs at least two"
        s = Stat(note=why)
        return FairComparison(
            loo_spearman_judge=s,
            loo_spearman_human=s,
            loo_spearman_diff=s,
            qwk_judge_human=s,
            qwk_human_human=s,
            qwk_diff=s,
            conclusion=why,
        )
    rated = ~np.isnan(d.human)
    has_j = ~np.isnan(d.judge)
    loo = _leave_one_out(d, ctx, rated, has_j)
    loo_why = "no human shares at least 3 judged edits with another human" if not loo.n_humans else None
    loo_note = f"Fisher z average over {loo.n_humans} human(s); each held out against the mean of the others"
    loo_cl = d.cluster[loo.used]
    k = _kappas(d, ctx, rated, has_j)
    q_why = "no two humans rated a common edit" if not k.n_human_pairs else None
    fair = FairComparison(
        loo_spearman_judge=_stat(loo.judge, loo.n, ctx, why=loo_why, note=loo_note, clusters=loo_cl),
        loo_spearman_human=_stat(loo.human, loo.n, ctx, why=loo_why, note=loo_note, clusters=loo_cl),
        loo_spearman_diff=_stat(
            loo.judge - loo.human, loo.n, ctx, why=loo_why, note="judge minus human, same resamples",
            clusters=loo_cl,
        ),
        qwk_judge_human=_stat(
            k.judge_human, k.n_judge_pairs, ctx,
            why="the judge shares no edit with any human" if not k.n_judge_pairs else None,
            note=f"mean over {k.n_judge_pairs} human(s)", clusters=d.cluster[k.judge_used],
        ),
        qwk_human_human=_stat(
            k.human_human, k.n_human_pairs, ctx, why=q_why,
            note=f"mean over {k.n_human_pairs} pair(s) of humans", clusters=d.cluster[k.human_used],
        ),
        qwk_diff=_stat(
            k.judge_human - k.human_human, k.n_human_pairs, ctx, why=q_why,
            note="judge-human minus human-human, same resamples",
            clusters=d.cluster[k.judge_used | k.human_used],
        ),
        conclusion="",
    )
    fair.conclusion = _conclusion(fair)
    return fair


class _quiet:
    """Silence numpy's 'mean of empty slice' warning: an all-NaN column is expected and becomes NaN."""

    def __enter__(self) -> None:
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._w.__exit__(exc_type, exc, tb)


def _reading(diff: Stat, what: str) -> str | None:
    if diff.value is None:
        return None
    if diff.low is None or diff.high is None or diff.high <= diff.low:
        # No conclusion without a real interval: a zero-width one is the point estimate, not evidence.
        kind = "no interval" if diff.low is None or diff.high is None else "a zero-width interval"
        return f"{what}: judge minus human {diff.value:+.3f} ({kind}, so no conclusion)"
    if diff.low > 0:
        verdict = "the judge agrees better than a typical single human"
    elif diff.high < 0:
        verdict = "the judge agrees worse than a typical single human"
    else:
        verdict = "no detectable difference between the judge and one more human (the interval covers 0)"
    return f"{what}: {verdict}; difference {diff.value:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]"


def _conclusion(f: FairComparison) -> str:
    parts = [
        p
        for p in (
            _reading(f.loo_spearman_diff, "leave-one-out Spearman"),
            _reading(f.qwk_diff, "pairwise kappa"),
        )
        if p
    ]
    return "; ".join(parts) if parts else "not enough overlapping human ratings to compare"


def _bias(d: _Data, mask: np.ndarray, hmean: np.ndarray, ctx: _Ctx) -> Bias:
    diff = d.judge[mask] - hmean[mask]
    cl, mod = d.cluster[mask], d.model[mask]
    if len(diff) == 0:
        return Bias(overall=Stat(n=0, note="no edit has both a judge and a human score"))
    per = {}
    for m in range(len(d.models)):
        sel = mod == m
        if sel.any():
            per[d.models[m]] = _stat(
                ag.weighted_mean(diff[sel], cl[sel], ctx.counts), int(sel.sum()), ctx, clusters=cl[sel]
            )
    return Bias(
        overall=_stat(
            ag.weighted_mean(diff, cl, ctx.counts),
            len(diff),
            ctx,
            note="positive: the judge scores higher than the humans",
            clusters=cl,
        ),
        judge_mean=float(d.judge[mask].mean()),
        human_mean=float(hmean[mask].mean()),
        per_model=per,
    )


def _system(d: _Data, mask: np.ndarray, hmean: np.ndarray, ctx: _Ctx) -> SystemLevel:
    mod = d.model[mask]
    present = [m for m in range(len(d.models)) if np.any(mod == m)]
    k = len(present)
    few = f"system level needs at least 3 models with judged, human-rated edits; got {k}"
    if k == 0:
        return SystemLevel(kendall_tau_b=Stat(n=k, note=few), spearman=Stat(n=k, note=few), note=few)
    remap = {m: i for i, m in enumerate(present)}
    col = np.array([remap[m] for m in mod])
    cl = d.cluster[mask]
    nk = ctx.counts.shape[1]
    js = np.zeros((nk, k))
    hs = np.zeros((nk, k))
    cnt = np.zeros((nk, k))
    np.add.at(js, (cl, col), d.judge[mask])
    np.add.at(hs, (cl, col), hmean[mask])
    np.add.at(cnt, (cl, col), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        den = ctx.counts @ cnt
        jm = (ctx.counts @ js) / den
        hm = (ctx.counts @ hs) / den
    names = [d.models[m] for m in present]
    if k < 3:  # the per-model means are still shown (beside each model's bias); no ranking statistic
        order = sorted(range(k), key=lambda i: (-hm[0][i], natural_key(names[i])))
        return SystemLevel(
            models=[names[i] for i in order],
            judge_means={names[i]: float(jm[0][i]) for i in order},
            human_means={names[i]: float(hm[0][i]) for i in order},
            kendall_tau_b=Stat(n=k, note=few),
            spearman=Stat(n=k, note=few),
            note=few,
        )
    tau, rho = ag.rank_correlations(jm, hm)
    why: str | None = None
    if np.all(jm[0] == jm[0][0]):
        why = "the judge gives every model the same mean score; a ranking correlation is undefined"
    elif np.all(hm[0] == hm[0][0]):
        why = "the humans give every model the same mean score; a ranking correlation is undefined"
    notes = []
    if len(np.unique(jm[0])) < k or len(np.unique(hm[0])) < k:
        notes.append("tied model means: Kendall is tau-b, Spearman uses average ranks")
    chance = None if why else ag.chance_probability(jm[0], hm[0], seed=ctx.seed)
    order = sorted(range(k), key=lambda i: (-hm[0][i], natural_key(names[i])))
    return SystemLevel(
        models=[names[i] for i in order],
        judge_means={names[i]: float(jm[0][i]) for i in order},
        human_means={names[i]: float(hm[0][i]) for i in order},
        kendall_tau_b=_stat(tau, k, ctx, why=why, note="; ".join(notes) or None, clusters=cl),
        spearman=_stat(rho, k, ctx, why=why, note="; ".join(notes) or None, clusters=cl),
        p_chance_kendall=chance.kendall if chance else None,
        p_chance_spearman=chance.spearman if chance else None,
        p_method=chance.method if chance else None,
        note=why,
    )


def perspective_agreement(
    humans: Sequence[Rating], judge: JudgeScores, perspective: str, photo_index: dict[str, int], ctx: _Ctx
) -> PerspectiveAgreement | None:
    """Every statistic of ``judge`` on ``perspective``; None when no human rated that perspective."""
    d = _gather(humans, judge, perspective, photo_index)
    if not d.items:
        return None
    notes: list[str] = []
    rated = ~np.isnan(d.human)
    with np.errstate(invalid="ignore"), _quiet():
        hmean = np.nanmean(d.human, axis=1)
    mask = ~np.isnan(d.judge)
    n_missing = int((~mask).sum())
    failed = ~mask & d.judge_asked
    unmatched = ~mask & ~d.judge_asked
    if failed.any():
        notes.append(
            f"{int(failed.sum())} human-rated edit(s) have no valid judge score (the judgments were not ok) "
            "and are left out of judge statistics"
        )
    if unmatched.any():
        shown = [d.labels[i] for i in np.flatnonzero(unmatched)[:MAX_IDS_SHOWN]]
        more = f" and {int(unmatched.sum()) - len(shown)} more" if unmatched.sum() > len(shown) else ""
        notes.append(
            f"{int(unmatched.sum())} human-rated edit(s) match no score of the judge (no row with that "
            "sample_id and "
            f"model): {', '.join(shown)}{more}; left out (check the ids and model names)"
        )
    photos = len(np.unique(d.cluster[mask] if mask.any() else d.cluster))
    if photos < 2:
        notes.append("a single source photo: no interval can be given (the bootstrap resamples photos)")
    elif photos < FEW_PHOTOS:
        notes.append(
            f"only {photos} source photos: intervals from resampling so few photos are too narrow; read them "
            "as rough"
        )
    if len(d.raters) == 1:
        notes.append(
            "a single human rater: human-vs-human statistics are undefined; the 'mean human' is that rater"
        )
    jm = d.judge[mask]
    if len(jm) and len(np.unique(jm)) < len(jm):
        notes.append("tied scores are common on a 0-5 scale: Spearman uses average ranks, Kendall is tau-b")
    return PerspectiveAgreement(
        n_items=int(mask.sum()),
        n_human_items=len(d.items),
        n_human_ratings=int(rated.sum()),
        n_raters=len(d.raters),
        n_photos=len(np.unique(d.cluster)),
        n_missing_judge=n_missing,
        n_unmatched_judge=int(unmatched.sum()),
        sample=_sample_level(d, mask, hmean, ctx, notes),
        verdict=_verdicts(d, ctx),
        ordinal=_ordinal(d, mask, hmean, ctx, notes),
        fair=_fair(d, ctx),
        bias=_bias(d, mask, hmean, ctx),
        system=_system(d, mask, hmean, ctx),
        notes=notes,
    )


def compute_agreement(
    humans: Sequence[Rating],
    judges: Sequence[JudgeScores],
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> list[JudgeAgreement]:
    """Hold every judge against the humans on every perspective the humans rated.

    Args:
        humans: Validated human ratings (long format).
        judges: Judge scores, one entry per judge.
        n_resamples: Bootstrap resamples of source photos (shared by everything: paired).
        seed: Bootstrap seed.
        level: Interval level.
        on_progress: Called with (judge x perspective pairs done, pairs in all) as each is computed.

    Returns:
        One :class:`JudgeAgreement` per judge.
    """
    photos = sorted({r.image_id or image_id_of(r.sample_id) for r in humans}, key=natural_key)
    photo_index = {p: i for i, p in enumerate(photos)}
    ctx = _Ctx(ag.resample_counts(len(photos), n_resamples, seed), level, seed)
    out: list[JudgeAgreement] = []
    total = len(judges) * len(PERSPECTIVES)
    if on_progress is not None:
        on_progress(0, total)
    for judge in judges:
        persp: dict[str, PerspectiveAgreement] = {}
        for p in PERSPECTIVES:
            res = perspective_agreement(humans, judge, p, photo_index, ctx)
            if res is not None:
                persp[p] = res
            if on_progress is not None:
                on_progress(len(out) * len(PERSPECTIVES) + PERSPECTIVES.index(p) + 1, total)
        out.append(
            JudgeAgreement(
                judge=judge.name,
                source=judge.source,
                perspectives=persp,
                notes=list(judge.notes),
                parse_mode=judge.parse_mode,
                rubric=judge.rubric,
            )
        )
    return out
