"""Drift checks: ask a fixed set of anchor items again and compare with the replies first recorded for them.

``realedit judge --drift-check`` (after judging the edits, with the same judge, rubric and parameters):

1. **Anchors.** The first check fixes :data:`N_ANCHORS` anchors from the judge's rows of this run and
   records their replies in ``judgments/<stem>.anchors.json``: for each (sample, perspective) the *first*
   ok answer in the rows file (the reply recorded when the run was first judged), of the image the run
   holds now. They are spread across edit types and score levels: the answers are grouped by (edit type,
   score rounded on a 0-5 scale), the groups taken in turn, each in the order of a hash of its items, so the
   same rows always give the same anchors. Later checks reuse that file: the anchors and the replies they
   are compared with never change.
2. **Asked again**, bypassing the cache (a cached reply would only repeat itself), one ask each; the new
   rows are appended to ``judgments/drift/<stem>.jsonl`` (never to the rows the scores come from).
3. **Compared**: the share of anchors whose verdict is unchanged and the mean score difference (now minus
   then), each with a 95% bootstrap interval over source photos, and the model ids, fingerprints and
   endpoints reported then and now. Anchors without a valid answer now, or whose image was redone since,
   are left out and counted.

The judge has **drifted** when the mean score difference is at least :data:`DRIFT_SCORE` points on a 0-5
scale (the rubric's range mapped to 0-5) and its interval excludes 0 (with a single photo, no interval:
the difference alone), or when fewer than :data:`DRIFT_AGREEMENT` of the verdicts are unchanged.
``judgments/<stem>.drift.json`` keeps the latest check and the earlier ones; the site puts a banner over
a table holding rows of a drifted judge.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from realedit_bench.jsonio import JsonlAppender, atomic_write_json, read_model, read_rows
from realedit_bench.judges.canaries import rate_stat
from realedit_bench.judges.engine import JudgeItem, Outcome, Task
from realedit_bench.provenance import utc_now
from realedit_bench.schema.agree import Stat
from realedit_bench.schema.judge import JudgmentRow
from realedit_bench.schema.trust import AnchorReply, AnchorSet, DriftCheck, DriftReport
from realedit_bench.stats.bootstrap import cluster_mean_ci

if TYPE_CHECKING:
    from realedit_bench.judges.runner import EditJudging
    from realedit_bench.judges.session import JudgeContext

#: Anchors fixed by the first check.
N_ANCHORS = 60
#: A mean score change of at least this, on a 0-5 scale, is drift (with an interval that excludes 0).
DRIFT_SCORE = 0.25
#: Fewer unchanged verdicts than this share is drift.
DRIFT_AGREEMENT = 0.85
RULE = (
    "per (sample, perspective) the first ok answer recorded, of the image the run holds now; grouped by "
    "(edit type, score rounded on 0-5), the groups taken in turn, each ordered by a hash of its items"
)


def _level(score: float, lo: float, hi: float) -> int:
    return round((score - lo) / (hi - lo) * 5) if hi > lo else 0


def choose_anchors(
    rows: Sequence[JudgmentRow],
    current: dict[str, str | None],
    score_range: tuple[float, float],
    n: int = N_ANCHORS,
) -> list[JudgmentRow]:
    """The anchors among ``rows`` (a rows file in file order; see the module docstring).

    Args:
        rows: Every row of the judgments file, oldest first.
        current: sample id -> sha256 of the edited file the run holds now.
        score_range: The rubric's score range.
        n: How many anchors.
    """
    first: dict[tuple[str, str], JudgmentRow] = {}
    for r in rows:
        if (
            r.status == "ok"
            and r.repeat == 0
            and r.score is not None
            and r.verdict is not None
            and r.sample_id in current
            and r.edited_sha256 == current[r.sample_id]
        ):
            first.setdefault((r.sample_id, r.perspective), r)
    groups: dict[tuple[str, int], list[JudgmentRow]] = defaultdict(list)
    for r in first.values():
        groups[(r.category, _level(float(r.score or 0.0), *score_range))].append(r)
    queues = [
        sorted(groups[k], key=lambda r: hashlib.sha256(f"{r.sample_id}|{r.perspective}".encode()).hexdigest())
        for k in sorted(groups)
    ]
    out: list[JudgmentRow] = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(q.pop(0))
    return out


def _anchor(r: JudgmentRow) -> AnchorReply:
    return AnchorReply(
        sample_id=r.sample_id,
        image_id=r.image_id,
        category=r.category,
        perspective=r.perspective,
        verdict=bool(r.verdict),
        score=float(r.score or 0.0),
        model_snapshot=r.model_snapshot,
        system_fingerprint=r.system_fingerprint,
        endpoint=r.endpoint,
        edited_sha256=r.edited_sha256,
        finished_at=r.finished_at,
    )


class DriftRun(NamedTuple):
    """What ``--drift-check`` did for one judge."""

    report: DriftReport
    path: Path
    warnings: list[str]


def _anchor_set(ctx: JudgeContext, job: EditJudging) -> AnchorSet:
    """The anchor file of this judge and run, made from its rows the first time."""
    path = job.paths.dir / f"{job.paths.rows.name.removesuffix('.jsonl')}.anchors.json"
    if path.is_file():
        return read_model(path, AnchorSet)
    current = {sid: job.edited_sha(sid) for sid in job.edited_paths}
    rows = read_rows(job.paths.rows, JudgmentRow) if job.paths.rows.is_file() else []
    chosen = choose_anchors(rows, current, (ctx.rubric.score_min, ctx.rubric.score_max))
    anchors = AnchorSet(
        judge=ctx.options.judge,
        rubric=ctx.rubric.id,
        run_id=ctx.edits.run_id,
        created_at=utc_now(),
        rule=RULE,
        anchors=[_anchor(r) for r in chosen],
    )
    atomic_write_json(path, anchors)
    return anchors


async def _ask_again(job: EditJudging, tasks: list[Task]) -> list[Outcome]:
    outs: list[Outcome] = []
    try:
        await job.engine.run([job.engine.plan(t) for t in tasks], outs.append)
    finally:
        await job.backend.aclose()
    return outs


def run_drift_check(ctx: JudgeContext, *, n_resamples: int = 2000) -> DriftRun:
    """Ask the anchors of ``ctx``'s judge again (no cache) and compare (see the module docstring)."""
    from realedit_bench.judges.runner import EditJudging

    opts = dataclasses.replace(
        ctx.options, engine=dataclasses.replace(ctx.options.engine, batch=False), on_progress=None
    )
    job = EditJudging(ctx.edits, ctx.backend, ctx.rubric, opts, cache=None, prices=ctx.prices, log=ctx.log)
    anchors = _anchor_set(ctx, job)
    items = {it.sample.sample_id: it for it in ctx.edits.items}
    fresh = [
        a for a in anchors.anchors if a.sample_id in items and job.edited_sha(a.sample_id) == a.edited_sha256
    ]
    tasks = [
        Task(
            JudgeItem(
                a.sample_id,
                items[a.sample_id].sample.instruction,
                {"source": items[a.sample_id].sample.image, "edited": items[a.sample_id].edited},
            ),
            a.perspective,
            0,
        )
        for a in fresh
    ]
    outs = asyncio.run(_ask_again(job, tasks)) if tasks else []
    stem = job.paths.rows.name.removesuffix(".jsonl")
    with JsonlAppender(job.paths.dir / "drift" / f"{stem}.jsonl") as rows_out:
        new_rows = [job.to_row(o) for o in outs]
        for row in new_rows:
            rows_out.append(row)
    check = compare(
        anchors.anchors, fresh, new_rows, (ctx.rubric.score_min, ctx.rubric.score_max), n_resamples
    )
    path = job.paths.dir / f"{stem}.drift.json"
    earlier = read_model(path, DriftReport) if path.is_file() else None
    report = DriftReport(
        judge=ctx.options.judge,
        rubric=ctx.rubric.id,
        run_id=ctx.edits.run_id,
        model=ctx.edits.model,
        latest=check,
        history=[*earlier.history, earlier.latest] if earlier else [],
    )
    atomic_write_json(path, report)
    warnings = (
        [f"warning: drift check: {ctx.options.judge} has drifted: {check.why} ({path})"]
        if check.drifted
        else []
    )
    return DriftRun(report, path, warnings)


def _names(values: Sequence[str | None]) -> list[str]:
    return sorted({v for v in values if v})


def compare(
    anchors: Sequence[AnchorReply],
    asked: Sequence[AnchorReply],
    rows: Sequence[JudgmentRow],
    score_range: tuple[float, float],
    n_resamples: int = 2000,
) -> DriftCheck:
    """Hold the answers now (``rows``, one per anchor in ``asked``) against the recorded ones."""
    now = {(r.sample_id, r.perspective): r for r in rows}
    agree: list[float] = []
    diffs: list[float] = []
    photos: list[str] = []
    for a in asked:
        r = now.get((a.sample_id, a.perspective))
        if r is None or r.status != "ok" or r.score is None or r.verdict is None:
            continue
        agree.append(1.0 if bool(r.verdict) == a.verdict else 0.0)
        diffs.append(float(r.score) - a.score)
        photos.append(a.image_id)
    diff = _diff_stat(diffs, photos, n_resamples)
    agreement = rate_stat(agree, photos, n_resamples)
    drifted, why = _verdict(diff, agreement, score_range)
    return DriftCheck(
        checked_at=utc_now(),
        n=len(anchors),
        n_compared=len(agree),
        n_left_out=len(anchors) - len(agree),
        verdict_agreement=agreement,
        score_diff=diff,
        snapshots_then=_names([a.model_snapshot for a in anchors]),
        snapshots_now=_names([r.model_snapshot for r in rows]),
        fingerprints_then=_names([a.system_fingerprint for a in anchors]),
        fingerprints_now=_names([r.system_fingerprint for r in rows]),
        endpoints_now=_names([r.endpoint for r in rows]),
        drifted=drifted,
        why=why,
    )


def _diff_stat(diffs: list[float], photos: list[str], n_resamples: int) -> Stat:
    ci = cluster_mean_ci(diffs, photos, n_resamples=n_resamples)
    if ci is None:
        return Stat(value=None, n=0, note="no anchor was answered validly again")
    return Stat(
        value=ci.estimate,
        low=ci.low,
        high=ci.high,
        n=len(diffs),
        note=None if ci.bounds else "no interval: a single source photo",
    )


def _verdict(diff: Stat, agreement: Stat, score_range: tuple[float, float]) -> tuple[bool, str]:
    """Drifted or not, and the rule applied in words (module docstring)."""
    if diff.value is None or agreement.value is None:
        return False, "no anchor could be compared"
    lo, hi = score_range
    scale = 5.0 / (hi - lo) if hi > lo else 1.0
    shift = diff.value * scale
    excludes_zero = diff.low is None or diff.high is None or not diff.low <= 0.0 <= diff.high
    moved = abs(shift) >= DRIFT_SCORE and excludes_zero
    interval = (
        f" [{diff.low:+.2f}, {diff.high:+.2f}]" if diff.low is not None and diff.high is not None else ""
    )
    words = (
        f"mean score change {diff.value:+.2f}{interval} on the rubric's {lo:g}-{hi:g} scale "
        f"({shift:+.2f} on 0-5; drift from {DRIFT_SCORE:g} when the interval excludes 0), verdicts unchanged "
        f"on {agreement.value:.0%} of {agreement.n} anchors (drift below {DRIFT_AGREEMENT:.0%})"
    )
    return moved or agreement.value < DRIFT_AGREEMENT, words
