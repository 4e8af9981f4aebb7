"""Reward data for any editing triplets (``realedit reward annotate``), through the judge machinery.

Each triplet (source, edited, instruction) is judged from the three perspectives with a reward rubric
(default: ``reward_model/rubrics/realedit-reward-v1.toml``, our own wording) that asks for a 0-5 score
and a few words on what failed. Calls go through :class:`realedit_bench.judges.engine.JudgeEngine`, so
retries, the content-addressed cache, re-asks of unparseable replies, refusals and money accounting are
those of ``realedit judge``.

Output directory::

    annotations.jsonl    one AnnotationRow per (triplet, perspective), appended and fsynced as each
                         answer arrives: the durable log a rerun resumes from
    rewards.jsonl        one RewardRow per triplet with all three perspectives answered (ours; paths
                         relative to this folder; ``realedit reward train --rewards`` reads it)
    rewardedit.json      the fully scored triplets in the RewardEdit-20K layout
                         ``{"<id>": [{"Score", "Negative Prompt"} x3]}`` (following, preserving, quality)
    annotate_summary.json  counts, token usage and money

A rerun skips every (triplet, perspective) whose last answer is not an error and was made for the same
images, rubric and settings; failed calls are asked again. ``rewards.jsonl``, ``rewardedit.json`` and
the summary are rebuilt from the log after every run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import Field

from realedit_bench import __version__
from realedit_bench.errors import ConfigError
from realedit_bench.jsonio import JsonlAppender, atomic_write_json, atomic_write_text, read_rows
from realedit_bench.outcome import ProgressCallback, report_phase
from realedit_bench.provenance import command_line, utc_now
from realedit_bench.schema.base import PERSPECTIVES, Perspective, Row
from realedit_bench.schema.judge import Usage
from reward_model.data import PerspectiveReward, RewardRow, TripletSource

#: Our reward rubric, shipped with the package.
DEFAULT_REWARD_RUBRIC = Path(__file__).resolve().parent / "rubrics" / "realedit-reward-v1.toml"
ANNOTATIONS_FILE = "annotations.jsonl"
REWARDS_FILE = "rewards.jsonl"
REWARDEDIT_FILE = "rewardedit.json"
SUMMARY_FILE = "annotate_summary.json"


class AnnotationRow(Row):
    """One judged perspective of one triplet (a line of ``annotations.jsonl``)."""

    sample_id: str = Field(description="Triplet id.")
    perspective: Perspective = Field(description="following, preserving or quality.")
    source: str = Field(description="Source image path, relative to the output folder or absolute.")
    edited: str = Field(description="Edited image path, relative to the output folder or absolute.")
    instruction: str = Field(description="The edit instruction.")
    reward: PerspectiveReward = Field(description="Score, failure text, status "
                                                  "and usage of this perspective.")
    judge: str = Field(description="provider/model as asked.")
    rubric: str = Field(description="Rubric id (name-version).")
    params: dict[str, Any] = Field(default_factory=dict, description="Generation parameters sent.")
    image_sha256: list[str] = Field(default_factory=list, description="sha256 of each image as sent, in "
                                                                      "order.")
    finished_at: str = Field(description="UTC time the row was written.")


class AnnotateSummary(Row):
    """``annotate_summary.json``."""

    created_at: str = Field(description="UTC time written.")
    command: list[str] = Field(default_factory=list, description="The command line.")
    realedit_version: str = Field(description="Version of realedit.")
    judge: str = Field(description="provider/model as asked.")
    rubric: str = Field(description="Rubric id.")
    rubric_sha256: str = Field(description="sha256 of the resolved rubric prompts.")
    n_triplets: int = Field(description="Triplets selected.")
    n_complete: int = Field(description="Triplets with all three perspectives scored (used for training).")
    n_incomplete: int = Field(description="Triplets answered but with a "
                                          "perspective invalid, refused or failed.")
    n_pending: int = Field(description="Triplets with a perspective not answered yet (rerun to finish).")
    status_counts: dict[str, dict[str, int]] = Field(description="perspective -> status -> count.")
    score_histogram: dict[str, dict[str, int]] = Field(description="perspective -> score rounded -> count.")
    usage: Usage = Field(description="Tokens and money of every current answer (all runs).")
    usage_this_run: Usage = Field(description="Tokens and money spent by the run that wrote this summary.")
    stopped: str | None = Field(default=None, description="Why the last run stopped early, if it did.")


class AnnotatePaths(NamedTuple):
    """Files of an annotation output folder."""

    annotations: Path
    rewards: Path
    rewardedit: Path
    summary: Path


class AnnotateResult(NamedTuple):
    """What an annotation run did."""

    paths: AnnotatePaths
    n_tasks: int
    resumed: int
    asked: int
    summary: AnnotateSummary | None
    dry_run: dict[str, Any] | None
    stopped: str | None


def annotate_paths(out: Path) -> AnnotatePaths:
    """The files under ``out``."""
    out = Path(out)
    return AnnotatePaths(out / ANNOTATIONS_FILE, out / REWARDS_FILE, out / REWARDEDIT_FILE,
                         out / SUMMARY_FILE)


def _rel(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when both are on one drive, else absolute (rows stay portable)."""
    try:
        return os.path.relpath(Path(path).resolve(), Path(base).resolve())
    except ValueError:  # different drives on Windows
        return str(Path(path).resolve())


class _Triplet(NamedTuple):
    sample_id: str
    source: Path
    edited: Path
    instruction: str


def _triplets(source: TripletSource, limit: int | None) -> list[_Triplet]:
    if not (hasattr(source, "paths") and hasattr(source, "instruction")):
        raise ConfigError(
            "reward annotate reads triplets from a folder or a .jsonl manifest; export "
            "a dataset to one of those first"
        )
    ids = source.ids()
    if limit is not None:
        ids = ids[:limit]
    out = []
    for sid in ids:
        src, edt = source.paths(sid)
        out.append(_Triplet(sid, Path(src), Path(edt), source.instruction(sid)))
    return out


class _Plan(NamedTuple):
    """Every ask of an annotation, its cache key, and those still to ask (no answer, or a failed call)."""

    planned: list[Any]
    keys: dict[tuple[str, str], str]
    todo: list[Any]

    @property
    def resumed(self) -> int:
        """Asks answered by an earlier run."""
        return len(self.planned) - len(self.todo)


def annotate(
    triplets: TripletSource,
    output_dir: Path,
    *,
    backend: Any,
    rubric: Any,
    config: Any,
    cache: Any = None,
    prices: Any = None,
    limit: int | None = None,
    dry_run: bool = False,
    log: Callable[[str], None] = print,
    on_progress: ProgressCallback | None = None,
) -> AnnotateResult:
    """Judge every triplet from the three perspectives and write the reward files (module docstring).

    Args:
        triplets: A folder or manifest triplet source (:mod:`reward_model.data`).
        output_dir: Where the files go (created).
        backend: A judge backend (``realedit_bench.judges.backends.make_backend``), keys already checked.
        rubric: A loaded reward rubric; it must name a ``reason_key`` (read as the failure text).
        config: ``EngineConfig`` (concurrency, retries, temperature, budget ...).
        cache: An open ``JudgeCache`` or None.
        prices: A ``PriceTable`` (default: the built-in one).
        limit: Only the first N triplets.
        dry_run: Count calls, tokens and money; send nothing.
        log: Where progress lines go.
        on_progress: Called with (asks answered, asks to send) as rows are written; told the phase before.

    Returns:
        Counts, the summary (None on a dry run) and why the run stopped early, if it did.
    """
    from realedit_bench.judges.engine import JudgeEngine

    if not rubric.perspectives[PERSPECTIVES[0]].reason_key:
        raise ConfigError(f"rubric {rubric.id} has no reason_key: a reward "
                          "rubric must ask for the failure text")
    if getattr(config, "batch", False):
        raise ConfigError("reward annotate does not use batch APIs; drop --batch")
    out = Path(output_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    paths = annotate_paths(out)
    items = _triplets(triplets, limit)
    if not items:
        raise ConfigError("no triplets to annotate")
    engine = JudgeEngine(backend, rubric, config=config, cache=cache, prices=prices)
    report_phase(on_progress, f"reading and hashing {len(items)} triplets")
    plan = _plan(engine, items, paths)
    if dry_run:
        estimate = _estimate(engine, plan, backend.name)
        asyncio.run(backend.aclose())
        return AnnotateResult(paths, len(plan.planned), plan.resumed, 0, None, estimate, None)
    log(f"{len(items)} triplets x 3 perspectives: {plan.resumed} answered before, {len(plan.todo)} to ask")
    by_id = {t.sample_id: t for t in items}
    report = asyncio.run(_ask(engine, backend, plan.todo, paths.annotations, lambda o: _to_row(
        o, by_id[o.item_id], out, backend.name, rubric.id), on_progress)) if plan.todo else None
    summary = write_outputs(
        paths, [t.sample_id for t in items], plan.keys, judge=backend.name, rubric=rubric,
        usage_this_run=report.usage if report else Usage(), stopped=report.stopped if report else None,
    )
    return AnnotateResult(
        paths, len(plan.planned), plan.resumed, len(plan.todo), summary, None,
        report.stopped if report else None,
    )


def _plan(engine: Any, items: list[_Triplet], paths: AnnotatePaths) -> _Plan:
    """Plan every (triplet, perspective) ask; those whose last answer is final are not asked again."""
    from realedit_bench.judges.engine import JudgeItem, Task

    planned = [
        engine.plan(Task(JudgeItem(t.sample_id, t.instruction, {"source": t.source, "edited": t.edited}), p))
        for t in items for p in PERSPECTIVES
    ]
    keys: dict[tuple[str, str], str] = {(p.task.item.id, p.task.perspective): p.key for p in planned}
    done = _current(paths.annotations, keys)
    todo = [p for p in planned if (k := (p.task.item.id, p.task.perspective)) not in done
            or done[k].reward.status == "error"]
    return _Plan(planned, keys, todo)


def _estimate(engine: Any, plan: _Plan, judge: str) -> dict[str, Any]:
    """Calls, tokens and money a run would spend (cached answers cost nothing)."""
    uncached = [p for p in plan.todo if not engine.is_cached(p)]
    tokens_in = sum(p.est_input_tokens for p in uncached)
    tokens_out = sum(p.prompt.max_tokens for p in uncached)
    priced = engine.prices.lookup(judge) is not None
    return {
        "tasks": len(plan.planned), "resumed": plan.resumed, "to_ask": len(plan.todo),
        "cached": len(plan.todo) - len(uncached), "calls": len(uncached), "input_tokens": tokens_in,
        "output_tokens_max": tokens_out,
        "cost_usd": engine.prices.cost(judge, tokens_in, tokens_out) if priced else None,
    }


async def _ask(
    engine: Any, backend: Any, todo: list[Any], path: Path, to_row: Callable[[Any], AnnotationRow],
    on_progress: ProgressCallback | None,
) -> Any:
    """Ask ``todo``, appending each answer's row durably as it arrives (and counting it); the engine's
    report."""
    answered = [0]
    if on_progress is not None:
        on_progress(0, len(todo))

    def write(out: Any, app: JsonlAppender) -> None:
        app.append(to_row(out))
        answered[0] += 1
        if on_progress is not None:
            on_progress(answered[0], len(todo))

    try:
        with JsonlAppender(path) as app:
            return await engine.run(todo, lambda o: write(o, app))
    finally:
        await backend.aclose()


def _to_row(o: Any, t: _Triplet, out: Path, judge: str, rubric_id: str) -> AnnotationRow:
    """The annotation row of one answer (an engine ``Outcome``) about triplet ``t``."""
    # The rubric's reason key carries the failure text; "None" is the word for "nothing failed".
    failure = ((o.reason or "").strip() or "None") if o.status == "ok" else None
    reward = PerspectiveReward(
        status=o.status, score=o.score if o.status == "ok" else None, failure=failure,
        reason=None if o.status == "ok" else o.reason, raw=o.raw, model_snapshot=o.model_snapshot,
        cache_key=o.cache_key, cached=o.cached, attempts=o.attempts, usage=o.usage,
    )
    return AnnotationRow(
        sample_id=t.sample_id, perspective=o.perspective, source=_rel(t.source, out),
        edited=_rel(t.edited, out),
        instruction=t.instruction, reward=reward, judge=judge, rubric=rubric_id, params=o.params,
        image_sha256=o.image_sha256, finished_at=o.finished_at or utc_now(),
    )


def _current(path: Path, keys: dict[tuple[str, str], str]) -> dict[tuple[str, str], AnnotationRow]:
    """The last row per (triplet, perspective) that was made for the current request (same cache key)."""
    latest: dict[tuple[str, str], AnnotationRow] = {}
    if not path.exists():
        return latest
    for row in read_rows(path, AnnotationRow):
        k = (row.sample_id, row.perspective)
        if k in keys and row.reward.cache_key == keys[k]:
            latest[k] = row
    return latest


def _file_sha(path: Path) -> str | None:
    from realedit_bench.images import sha256_file

    try:
        return sha256_file(path)
    except OSError:
        return None


def _score_out(score: float) -> int | float:
    return int(score) if float(score).is_integer() else score


def _rewardedit_entry(reward: PerspectiveReward) -> dict[str, Any]:
    """One perspective in the RewardEdit-20K layout (an ok answer always carries a score)."""
    assert reward.score is not None
    return {"Score": _score_out(reward.score), "Negative Prompt": reward.failure or "None"}


def write_outputs(
    paths: AnnotatePaths, order: Sequence[str], keys: dict[tuple[str, str], str], *, judge: str, rubric: Any,
    usage_this_run: Usage, stopped: str | None,
) -> AnnotateSummary:
    """Rebuild ``rewards.jsonl``, ``rewardedit.json`` and the summary from the annotation log."""
    current = _current(paths.annotations, keys)
    base = paths.rewards.parent
    lines: list[str] = []
    rewardedit: dict[str, list[dict[str, Any]]] = {}
    status_counts = {p: {} for p in PERSPECTIVES}  # type: dict[str, dict[str, int]]
    hist = {p: {} for p in PERSPECTIVES}  # type: dict[str, dict[str, int]]
    total = Usage()
    n_complete = n_incomplete = n_pending = 0
    for sid in order:
        rows = {p: current.get((sid, p)) for p in PERSPECTIVES}
        for p, r in rows.items():
            if r is None:
                continue
            status_counts[p][r.reward.status] = status_counts[p].get(r.reward.status, 0) + 1
            if r.reward.score is not None:
                b = str(round(r.reward.score))
                hist[p][b] = hist[p].get(b, 0) + 1
            total.add(r.reward.usage)
        if any(r is None or r.reward.status == "error" for r in rows.values()):
            n_pending += 1
            continue
        first = rows[PERSPECTIVES[0]]
        assert first is not None
        ok = all(r is not None and r.reward.status == "ok" for r in rows.values())
        usage = Usage(
            calls=sum(r.reward.usage.calls for r in rows.values() if r),
            input_tokens=sum(r.reward.usage.input_tokens for r in rows.values() if r),
            output_tokens=sum(r.reward.usage.output_tokens for r in rows.values() if r),
            cost_usd=sum(r.reward.usage.cost_usd for r in rows.values() if r),
        )
        row = RewardRow(
            sample_id=sid, source=first.source, edited=first.edited, instruction=first.instruction,
            source_sha256=_file_sha(base / first.source), edited_sha256=_file_sha(base / first.edited),
            status="ok" if ok else "incomplete",
            rewards={p: r.reward for p, r in rows.items() if r is not None},
            judge=judge, rubric=rubric.id, params=first.params, usage=usage,
            finished_at=max(r.finished_at for r in rows.values() if r),
        )
        lines.append(row.model_dump_json() + "\n")
        if ok:
            n_complete += 1
            answered = {p: r.reward for p, r in rows.items() if r is not None}
            rewardedit[sid] = [_rewardedit_entry(answered[p]) for p in PERSPECTIVES]
        else:
            n_incomplete += 1
    atomic_write_text(paths.rewards, "".join(lines))
    atomic_write_json(paths.rewardedit, rewardedit)
    total.cost_usd = round(total.cost_usd, 8)
    summary = AnnotateSummary(
        created_at=utc_now(), command=command_line(), realedit_version=__version__, judge=judge,
        rubric=rubric.id, rubric_sha256=rubric.sha256, n_triplets=len(order), n_complete=n_complete,
        n_incomplete=n_incomplete, n_pending=n_pending, status_counts=status_counts, score_histogram=hist,
        usage=total, usage_this_run=usage_this_run, stopped=stopped,
    )
    atomic_write_json(paths.summary, summary)
    return summary
