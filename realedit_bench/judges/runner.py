"""Judge a set of Real-Edit edits: resume, dry run, synchronous or batch judging, files, summary.

Files, under ``<run>/judgments/`` (a run directory) or ``<folder>/judgments/`` (a plain folder), named
``<judge>__<rubric>`` with ``/`` and ``:`` (and anything else unsafe) in the judge name turned to ``_``:

* ``<stem>.jsonl``: one :class:`~realedit_bench.schema.judge.JudgmentRow` per (sample, perspective,
  repeat), appended and fsynced as each finishes; a redone row supersedes the earlier one (last wins);
* ``<stem>.summary.json``: :class:`~realedit_bench.schema.judge.JudgeSummary`;
* ``<stem>.items.jsonl``: per-item spread over ``--samples K`` asks (K > 1 only);
* ``<stem>.batches.json``: submitted batches not yet collected (``--batch``).

With ``--parse paper`` the stem gets the suffix ``.paper-parse`` so both readings can coexist.
Resume rule: a (sample, perspective, repeat) whose last row is ok, invalid or refused and whose request
key (prompt, images as sent, parameters) is unchanged is not asked again; error rows and rows whose
image changed are redone.

A row records the sha256 of the edited FILE it judged (``edited_sha256``, taken when the ask is planned),
which the stale rule (:mod:`realedit_bench.judges.stale`) compares with ``edits.jsonl``. A file can change
while the bytes sent do not (re-encoded, or remade with identical pixels by ``run --force``), and rows
written before the field existed have none. Such a row is current, yet the report would call it stale
and a rerun would ask nothing, so a rerun re-labels it instead: it appends a copy with the current file's
sha, recorded like a cache hit (``cached``, no attempts, no usage, ``finished_at`` now: when the row was
written, as for every row), without any call. The stale rule then sees the copy as current.

An image that cannot be read (a 0-byte file, a truncated PNG, an output the run recorded but that is
gone) does not stop the run: each of its asks gets an ``error`` row naming the file and the problem,
without an API call, the other edits are judged, and :attr:`JudgeResult.unreadable` lists them all.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import Field

from realedit_bench import __version__
from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.inputs import EditSet
from realedit_bench.jsonio import JsonlAppender, atomic_write_json, atomic_write_text, read_model, read_rows
from realedit_bench.judges.backends.base import Backend, CallError
from realedit_bench.judges.cache import JudgeCache
from realedit_bench.judges.engine import (
    EngineConfig,
    JudgeEngine,
    JudgeItem,
    Outcome,
    Planned,
    RunReport,
    Task,
)
from realedit_bench.judges.prices import PriceTable
from realedit_bench.judges.rubric import Rubric
from realedit_bench.judges.summary import latest_rows, render_table, summarize_rows
from realedit_bench.provenance import command_line, utc_now
from realedit_bench.schema.base import PERSPECTIVES, Perspective, Row
from realedit_bench.schema.judge import JudgeSummary, JudgmentRow, Usage


def safe_name(name: str) -> str:
    """A file-name-safe form of a judge name: ``openai/gpt-4o`` -> ``openai_gpt-4o``."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_") or "judge"


class JudgePaths(NamedTuple):
    """Where one (judge, rubric, parser) writes."""

    dir: Path
    rows: Path
    summary: Path
    items: Path
    batches: Path


def judge_paths(root: Path, judge: str, rubric_id: str, parse_mode: str = "robust") -> JudgePaths:
    """Paths of the judgments files under ``root/judgments``."""
    stem = f"{safe_name(judge)}__{safe_name(rubric_id)}" + (".paper-parse" if parse_mode == "paper" else "")
    d = Path(root) / "judgments"
    return JudgePaths(d, d / f"{stem}.jsonl", d / f"{stem}.summary.json", d / f"{stem}.items.jsonl",
                      d / f"{stem}.batches.json")


class RowWriter:
    """Durable JSONL appends without blocking the event loop (group commit).

    An fsync takes milliseconds; done on the event loop for every row it stalled all in-flight calls.
    Here one writer task writes every row queued so far with one write and one fsync in a worker
    thread, and :meth:`append` returns only once its row is on disk, so a ``kill -9`` loses nothing
    beyond the rows whose workers were still waiting (i.e. still in flight). Lines are formatted as
    :class:`~realedit_bench.jsonio.JsonlAppender` formats them.
    """

    def __init__(self, path: Path) -> None:
        JsonlAppender(path).close()  # creates the folder and drops a line torn by an earlier kill
        self.path = Path(path)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in aclose()
        self._queue: list[tuple[str, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def _line(row: Row) -> str:
        return json.dumps(row.model_dump(mode="json"), ensure_ascii=False, sort_keys=True) + "\n"

    def _write(self, text: str) -> None:
        self._fh.write(text)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def write_now(self, row: Row) -> None:
        """Append one row synchronously (durable on return)."""
        self._write(self._line(row))

    async def append(self, row: Row) -> None:
        """Queue one row and return once it (and whatever was queued with it) is durable."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((self._line(row), fut))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        await fut

    async def _drain(self) -> None:
        try:
            while self._queue:
                group, self._queue = self._queue, []
                try:
                    await asyncio.to_thread(self._write, "".join(line for line, _ in group))
                except BaseException as exc:
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                    raise
                for _, fut in group:
                    if not fut.done():
                        fut.set_result(None)
        finally:
            self._task = None

    async def aclose(self) -> None:
        """Finish pending writes and close the file."""
        if self._task is not None:
            try:
                await asyncio.shield(self._task)
            except Exception:  # noqa: BLE001 - the failing append already raised it to its caller
                pass
        self._fh.close()


class BatchTask(Row):
    """A task inside a submitted batch."""

    sample_id: str = Field(description="Sample id.")
    perspective: Perspective = Field(description="Perspective.")
    repeat: int = Field(description="Repeat index.")
    key: str = Field(description="Request key when submitted (a changed image makes the answer stale).")


class BatchRecord(Row):
    """One submitted batch."""

    id: str = Field(description="Provider batch id.")
    judge: str = Field(description="provider/model.")
    submitted_at: str = Field(description="UTC submission time.")
    status: str = Field(default="submitted", description="Last provider status seen.")
    collected: bool = Field(default=False, description="True once its results are in the judgments file.")
    tasks: dict[str, BatchTask] = Field(description="custom_id -> task.")


class BatchState(Row):
    """``<stem>.batches.json``."""

    batches: list[BatchRecord] = Field(default_factory=list, description="Batches, oldest first.")


@dataclass
class JudgeOptions:
    """What ``realedit judge`` was asked to do."""

    judge: str
    samples: int = 1
    perspectives: Sequence[Perspective] = PERSPECTIVES
    engine: EngineConfig = field(default_factory=EngineConfig)
    dry_run: bool = False
    wait: bool = True
    poll_interval: float = 30.0


@dataclass
class JudgeResult:
    """What a judging run did."""

    paths: JudgePaths
    to_ask: int = 0
    resumed: int = 0
    cached_planned: int = 0
    report: RunReport | None = None
    summary: JudgeSummary | None = None
    batch_pending: list[str] = field(default_factory=list)
    dry_run: dict[str, Any] | None = None
    #: "sample: problem" for each edit whose images could not be read (recorded as error rows).
    unreadable: list[str] = field(default_factory=list)
    #: Current rows re-labelled with the sha of the file now on disk (module docstring), no call made.
    relabelled: int = 0


#: Answer keys of the authors' released prompts: only a rubric asking for these gives replies their
#: parser ('score': d.d in a Python-dict string) is meant for.
PAPER_KEYS = {"following": "following", "preserving": "consistent", "quality": "clear"}


def asks_paper_format(rubric: Rubric) -> bool:
    """True when ``rubric`` asks for the authors' answer format (their verdict keys and 'score')."""
    return all(rubric.perspectives[p].verdict_key == k and rubric.perspectives[p].score_key == "score"
               for p, k in PAPER_KEYS.items() if p in rubric.perspectives)


def items_of(edits: EditSet) -> list[JudgeItem]:
    """One judge item per edited sample: the instruction, the source photo and the edited image."""
    return [JudgeItem(it.sample.sample_id, it.sample.instruction, {"source": it.sample.image, "edited": it.edited})
            for it in edits.items]


class EditJudging:
    """Judge an :class:`EditSet` with one backend and rubric, writing rows as they finish."""

    def __init__(self, edits: EditSet, backend: Backend, rubric: Rubric, options: JudgeOptions, *,
                 cache: JudgeCache | None, prices: PriceTable,
                 log: Callable[[str], None] = print) -> None:
        self.edits = edits
        self.backend = backend
        self.rubric = rubric
        self.options = options
        self.engine = JudgeEngine(backend, rubric, config=options.engine, cache=cache, prices=prices)
        self.paths = judge_paths(edits.root, options.judge, rubric.id, options.engine.parse_mode)
        self.samples = {it.sample.sample_id: it.sample for it in edits.items}
        self.edited_paths = {it.sample.sample_id: it.edited for it in edits.items}
        by_id = {s.sample_id: s for s in edits.benchmark.samples}
        for sid, _ in edits.unreadable:
            self.samples.setdefault(sid, by_id[sid])
        self.log = log
        #: Asks that could not be planned (an unreadable image): error outcomes, no API call.
        self.unplanned: list[Outcome] = []
        #: Copies of current rows with the planned file's sha, to append (see :meth:`pending`).
        self.relabels: list[JudgmentRow] = []

    # Rows -----------------------------------------------------------------------------------
    def to_row(self, out: Outcome) -> JudgmentRow:
        """Engine outcome -> schema row with the sample's fields."""
        s = self.samples[out.item_id]
        return JudgmentRow(
            sample_id=s.sample_id, image_id=s.image_id, category=s.category, model=self.edits.model,
            perspective=out.perspective, repeat=out.repeat, status=out.status, verdict=out.verdict,
            score=out.score, reason=out.reason, raw=out.raw, paper_parse=out.paper_parse,
            judge=self.options.judge, model_snapshot=out.model_snapshot,
            system_fingerprint=out.system_fingerprint, rubric=self.rubric.id, params=out.params,
            image_sha256=out.image_sha256, edited_sha256=out.file_sha256.get("edited"),
            cache_key=out.cache_key, cached=out.cached,
            attempts=out.attempts, usage=out.usage, finished_at=out.finished_at,
        )

    def _edited_sha(self, sample_id: str) -> str | None:
        path = self.edited_paths.get(sample_id)
        try:
            return self.engine.encoder.file_sha256(path) if path is not None else None
        except OSError:
            return None

    def plan_all(self) -> list[Planned]:
        """Every (item, perspective, repeat) of this run, planned; unreadable ones go to :attr:`unplanned`."""
        planned: list[Planned] = []
        self.unplanned = []
        asks = [(p, r) for p in self.options.perspectives for r in range(self.options.samples)]

        def fail(sid: str, p: Perspective, r: int, problem: str) -> None:
            sha = self._edited_sha(sid)
            self.unplanned.append(Outcome(sid, p, r, "error", reason=f"not judged: {problem}", finished_at=utc_now(),
                                          file_sha256={"edited": sha} if sha else {}))

        for item in items_of(self.edits):
            for p, r in asks:
                try:
                    one = self.engine.plan(Task(item, p, r))
                except (RealEditError, OSError) as exc:  # this ask only; the others are judged
                    fail(item.id, p, r, str(exc))
                    continue
                if "edited" not in one.file_sha256:  # a rubric perspective that does not send the edit
                    sha = self._edited_sha(item.id)
                    if sha:
                        one.file_sha256["edited"] = sha
                planned.append(one)
        for sid, problem in self.edits.unreadable:
            for p, r in asks:
                fail(sid, p, r, problem)
        return planned

    def unreadable(self) -> list[str]:
        """"sample: problem" for each edit in :attr:`unplanned`, in benchmark order."""
        seen = dict.fromkeys((o.item_id, o.reason or "") for o in self.unplanned)
        return [f"{sid}: {reason.removeprefix('not judged: ')}" for sid, reason in seen]

    def selected_keys(self, planned: Sequence[Planned]) -> set[tuple[str, str, int]]:
        """(sample, perspective, repeat) of every ask this run selected, planned or not."""
        return {self.task_key(p) for p in planned} | {(o.item_id, o.perspective, o.repeat) for o in self.unplanned}

    @staticmethod
    def task_key(p: Planned) -> tuple[str, str, int]:
        """(sample, perspective, repeat)."""
        return (p.task.item.id, p.task.perspective, p.task.repeat)

    def pending(self, planned: Sequence[Planned]) -> tuple[list[Planned], int]:
        """Planned tasks still to ask, and how many are already finished (resume rule, module docstring).

        Finished rows that name another file sha than the one planned (or none) are queued in
        :attr:`relabels` for :meth:`write_relabels`.
        """
        latest = latest_rows(read_rows(self.paths.rows, JudgmentRow))
        todo: list[Planned] = []
        self.relabels = []
        for p in planned:
            row = latest.get(self.task_key(p))
            if row is not None and row.status != "error" and row.cache_key == p.key:
                sha = p.file_sha256.get("edited")
                if sha is not None and row.edited_sha256 != sha:
                    # The same bytes were sent, so the answer is about this file: label it so, at no cost.
                    self.relabels.append(row.model_copy(update={
                        "edited_sha256": sha, "cached": True, "attempts": 0, "usage": Usage(),
                        "finished_at": utc_now()}))
                continue
            todo.append(p)
        return todo, len(planned) - len(todo)

    def write_relabels(self, writer: RowWriter) -> int:
        """Append the rows :meth:`pending` queued; returns how many."""
        n = len(self.relabels)
        for row in self.relabels:
            writer.write_now(row)
        self.relabels = []
        return n

    # Batches --------------------------------------------------------------------------------
    def _load_batches(self) -> BatchState:
        return read_model(self.paths.batches, BatchState) if self.paths.batches.exists() else BatchState()

    def _save_batches(self, state: BatchState) -> None:
        atomic_write_json(self.paths.batches, state)

    async def collect_batches(self, planned: Sequence[Planned], append: Callable[[Outcome], None]) -> list[str]:
        """Collect every uncollected batch (waiting when ``options.wait``); return ids still pending."""
        state = self._load_batches()
        by_key = {self.task_key(p): p for p in planned}
        pending: list[str] = []
        for rec in state.batches:
            if rec.collected or rec.judge != self.options.judge:
                continue
            while True:
                status, ended = await self.backend.poll_batch(rec.id)
                rec.status = status
                if ended or not self.options.wait:
                    break
                await asyncio.sleep(self.options.poll_interval)
            if not ended:
                self._save_batches(state)
                pending.append(rec.id)
                continue
            results = await self.backend.batch_results(rec.id)
            for custom_id, bt in rec.tasks.items():
                p = by_key.get((bt.sample_id, bt.perspective, bt.repeat))
                if p is None or p.key != bt.key:
                    continue  # the image or prompt changed since submission: asked again normally
                result = results.get(custom_id)
                if result is None:
                    result = CallError(f"batch {rec.id} returned no result for this request (status {status})")
                if isinstance(result, CallError):
                    out = Outcome(p.task.item.id, p.task.perspective, p.task.repeat, "error",
                                  reason=str(result), params=dict(p.params), image_sha256=list(p.image_sha256),
                                  cache_key=p.key, finished_at=utc_now(), file_sha256=dict(p.file_sha256))
                else:
                    out = await self.engine.judge(p, first=result)
                    out.params["batch"] = rec.id
                append(out)
            rec.collected = True
            self._save_batches(state)
            self.log(f"collected batch {rec.id} ({len(rec.tasks)} requests)")
        return pending

    def in_open_batches(self) -> set[tuple[str, str, int]]:
        """Tasks inside batches not yet collected (not to be asked again meanwhile)."""
        state = self._load_batches()
        return {(t.sample_id, t.perspective, t.repeat) for rec in state.batches if not rec.collected
                and rec.judge == self.options.judge for t in rec.tasks.values()}

    async def submit_batch(self, todo: Sequence[Planned]) -> str:
        """Submit ``todo`` as one batch and record it before anything else can happen."""
        lines: list[dict[str, Any]] = []
        tasks: dict[str, BatchTask] = {}
        for p in todo:
            custom_id = "r" + p.key[:60]
            req = await asyncio.to_thread(self.engine.materialize, p)
            lines.append(self.backend.batch_line(custom_id, req))
            tasks[custom_id] = BatchTask(sample_id=p.task.item.id, perspective=p.task.perspective,
                                         repeat=p.task.repeat, key=p.key)
        batch_id = await self.backend.submit_batch(lines)
        state = self._load_batches()
        state.batches.append(BatchRecord(id=batch_id, judge=self.options.judge, submitted_at=utc_now(), tasks=tasks))
        self._save_batches(state)
        self.log(f"submitted batch {batch_id} with {len(lines)} requests (recorded in {self.paths.batches})")
        return batch_id

    # Whole run ------------------------------------------------------------------------------
    def dry_run(self, todo: Sequence[Planned]) -> dict[str, Any]:
        """Calls, tokens and money the run would need, without sending anything."""
        uncached = [p for p in todo if not self.engine.is_cached(p)]
        tokens_in = sum(p.est_input_tokens for p in uncached)
        tokens_out = sum(p.prompt.max_tokens for p in uncached)
        price = self.engine.prices.lookup(self.backend.name)
        cost = self.engine.prices.cost(self.backend.name, tokens_in, tokens_out, batch=self.options.engine.batch)
        return {"tasks": len(todo), "cached": len(todo) - len(uncached), "calls": len(uncached),
                "input_tokens": tokens_in, "output_tokens_max": tokens_out,
                "cost_usd": cost if price is not None else None, "priced": price is not None}

    async def run(self) -> JudgeResult:
        """Resume, collect batches, judge what is left (or plan it with a dry run), then summarise."""
        result = JudgeResult(self.paths)
        try:
            planned = await asyncio.to_thread(self.plan_all)
            result.unreadable = self.unreadable()
            todo, result.resumed = self.pending(planned)
            if self.options.dry_run:
                result.to_ask = len(todo)
                result.dry_run = self.dry_run(todo)
                return result
            writer = RowWriter(self.paths.rows)
            try:
                result.relabelled = self.write_relabels(writer)
                for out in self.unplanned:  # recorded as error rows: listed, counted, redone on a rerun
                    writer.write_now(self.to_row(out))
                def append_now(out: Outcome) -> None:
                    writer.write_now(self.to_row(out))

                async def append(out: Outcome) -> None:
                    await writer.append(self.to_row(out))

                if self.paths.batches.exists():
                    result.batch_pending = await self.collect_batches(planned, append_now)
                    todo, result.resumed = self.pending(planned)
                    result.relabelled += self.write_relabels(writer)
                open_batch = self.in_open_batches()
                todo = [p for p in todo if self.task_key(p) not in open_batch]
                result.to_ask = len(todo)
                if self.options.engine.batch and todo:
                    cached = [p for p in todo if self.engine.is_cached(p)]
                    fresh = [p for p in todo if not self.engine.is_cached(p)]
                    result.report = await self.engine.run(cached, append)
                    if fresh:
                        await self.submit_batch(fresh)
                        result.batch_pending = await self.collect_batches(planned, append_now)
                else:
                    result.report = await self.engine.run(todo, append)
            finally:
                await writer.aclose()
            result.summary = self.write_summary(planned, result.report)
            return result
        finally:
            await self.backend.aclose()

    def write_summary(self, planned: Sequence[Planned], report: RunReport | None) -> JudgeSummary:
        """Summarise the current rows of this run (stale rows of changed images left out).

        Every selected ask is counted: one without a current row (never sent after a fatal stop or the
        budget, or stale) is ``not run``. ``usage`` covers the current rows; ``usage_spent`` every row
        of the file, so calls paid for redone, superseded and stale rows are in it too.
        """
        keys: dict[tuple[str, str, int], str | None] = {self.task_key(p): p.key for p in planned}
        for o in self.unplanned:
            keys[(o.item_id, o.perspective, o.repeat)] = None  # only its error row can be current
        all_rows = read_rows(self.paths.rows, JudgmentRow)
        rows = []
        for r in latest_rows(all_rows).values():
            k = (r.sample_id, r.perspective, r.repeat)
            if k in keys and (r.cache_key == keys[k] or r.status == "error"):
                rows.append(r)
        spent = Usage()
        for r in all_rows:
            spent.add(r.usage)
        selected = [(sid, persp, self.samples[sid].category) for sid, persp, _ in keys]
        s = summarize_rows(rows, selected=selected)
        snapshots = Counter(r.model_snapshot for r in rows if r.model_snapshot)
        summary = JudgeSummary(
            run_id=self.edits.run_id, model=self.edits.model, judge=self.options.judge,
            judge_snapshot=snapshots.most_common(1)[0][0] if snapshots else None, rubric=self.rubric.id,
            parse_mode=self.options.engine.parse_mode,
            temperature=self.options.engine.temperature if self.options.engine.temperature is not None else 0.0,
            samples_k=self.options.samples, created_at=utc_now(), command=command_line(),
            realedit_version=__version__, n_samples=s["n_samples"], perspectives=s["perspectives"],
            per_category=s["per_category"], paper_parser_dropped=s["paper_parser_dropped"], usage=s["usage"],
            usage_spent=spent, paper_parser_applies=asks_paper_format(self.rubric),
            paper_figures=s["paper_figures"], variance=s["variance"],
            runs_stopped=report.stopped if report else None,
        )
        atomic_write_json(self.paths.summary, summary)
        if self.options.samples > 1:
            atomic_write_text(self.paths.items, "".join(i.model_dump_json() + "\n" for i in s["items"]))
        return summary


def judge_edits(edits: EditSet, backend: Backend, rubric: Rubric, options: JudgeOptions, *,
                cache: JudgeCache | None, prices: PriceTable, log: Callable[[str], None] = print) -> JudgeResult:
    """Run :class:`EditJudging` to completion (see the module docstring for files and resume)."""
    if options.samples < 1:
        raise ConfigError("--samples must be at least 1")
    if options.engine.batch and not backend.supports_batch:
        raise ConfigError(f"--batch is not available for {backend.provider}/ judges (OpenAI and Anthropic only)")
    job = EditJudging(edits, backend, rubric, options, cache=cache, prices=prices, log=log)
    return asyncio.run(job.run())


__all__ = ["JudgeOptions", "JudgeResult", "judge_edits", "judge_paths", "render_table", "safe_name"]
