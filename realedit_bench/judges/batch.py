"""Batch APIs for ``realedit judge --batch`` (OpenAI Batch, Anthropic Message Batches): submit, record,
collect.

A submitted batch is recorded in ``<stem>.batches.json`` before anything else can happen, so a later
``realedit judge`` (with or without ``--batch``) collects it instead of asking again, even after the
process that submitted it is gone. A task whose request changed since submission (a remade image, another
prompt) is left to the normal path; the rest are judged like any reply (parsing, re-ask, rows), billed
at the batch price.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from realedit_bench.jsonio import atomic_write_json, read_model
from realedit_bench.judges.backends.base import CallError, ChatReply
from realedit_bench.judges.engine import JudgeEngine, Outcome, Planned
from realedit_bench.provenance import utc_now
from realedit_bench.schema.base import Perspective, Row


class _BatchRecordBase(Row):
    WRITTEN_BY: ClassVar[str] = "realedit judge"


class BatchTask(_BatchRecordBase):
    """A task inside a submitted batch."""

    sample_id: str = Field(description="Sample id.")
    perspective: Perspective = Field(description="Perspective.")
    repeat: int = Field(description="Repeat index.")
    key: str = Field(description="Request key when submitted (a changed image makes the answer stale).")


class BatchRecord(_BatchRecordBase):
    """One submitted batch."""

    id: str = Field(description="Provider batch id.")
    judge: str = Field(description="provider/model.")
    submitted_at: str = Field(description="UTC submission time.")
    status: str = Field(default="submitted", description="Last provider status seen.")
    collected: bool = Field(default=False, description="True once its results are in the judgments file.")
    tasks: dict[str, BatchTask] = Field(description="custom_id -> task.")


class BatchState(_BatchRecordBase):
    """``<stem>.batches.json``."""

    batches: list[BatchRecord] = Field(default_factory=list, description="Batches, oldest first.")


class Batches:
    """The batches of one judge in one judgments folder.

    Args:
        path: ``<stem>.batches.json``.
        judge: ``provider/model``: only this judge's batches are collected.
        engine: Judges the collected replies (its backend talks to the batch API).
        wait: Wait for running batches to end, or return at once.
        poll_interval: Seconds between status polls while waiting.
        log: Where "submitted" and "collected" lines go.
    """

    def __init__(self, path: Path, judge: str, engine: JudgeEngine, *, wait: bool, poll_interval: float,
                 log: Callable[[str], None]) -> None:
        self.path = path
        self.judge = judge
        self.engine = engine
        self.backend = engine.backend
        self.wait = wait
        self.poll_interval = poll_interval
        self.log = log

    def _load(self) -> BatchState:
        return read_model(self.path, BatchState) if self.path.exists() else BatchState()

    def _save(self, state: BatchState) -> None:
        atomic_write_json(self.path, state)

    def open_tasks(self) -> set[tuple[str, str, int]]:
        """(sample, perspective, repeat) in batches not yet collected (not to be asked again meanwhile)."""
        return {(t.sample_id, t.perspective, t.repeat) for rec in self._load().batches
                if not rec.collected and rec.judge == self.judge for t in rec.tasks.values()}

    async def submit(self, todo: Sequence[Planned]) -> str:
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
        state = self._load()
        state.batches.append(BatchRecord(id=batch_id, judge=self.judge, submitted_at=utc_now(), tasks=tasks))
        self._save(state)
        self.log(f"submitted batch {batch_id} with {len(lines)} requests (recorded in {self.path})")
        return batch_id

    async def collect(self, planned: Sequence[Planned], append: Callable[[Outcome], None]) -> list[str]:
        """Collect every uncollected batch of this judge (waiting when asked to); return ids still pending."""
        state = self._load()
        by_slot = {p.slot: p for p in planned}
        pending: list[str] = []
        for rec in state.batches:
            if rec.collected or rec.judge != self.judge:
                continue
            if not await self._ended(rec):
                self._save(state)
                pending.append(rec.id)
                continue
            await self._judge_results(rec, by_slot, append)
            rec.collected = True
            self._save(state)
            self.log(f"collected batch {rec.id} ({len(rec.tasks)} requests)")
        return pending

    async def _ended(self, rec: BatchRecord) -> bool:
        """Poll ``rec`` (until it ends, when waiting); True once it has ended."""
        while True:
            rec.status, ended = await self.backend.poll_batch(rec.id)
            if ended or not self.wait:
                return ended
            await asyncio.sleep(self.poll_interval)

    async def _judge_results(self, rec: BatchRecord, by_slot: dict[tuple[str, str, int], Planned],
                             append: Callable[[Outcome], None]) -> None:
        """Judge the results of an ended batch, each appended as it is judged (tasks whose request changed
        since submission are left out)."""
        results = await self.backend.batch_results(rec.id)
        for custom_id, bt in rec.tasks.items():
            p = by_slot.get((bt.sample_id, bt.perspective, bt.repeat))
            if p is None or p.key != bt.key:
                continue  # the image or prompt changed since submission: asked again normally
            result: ChatReply | CallError = results.get(custom_id) or CallError(
                f"batch {rec.id} returned no result for this request (status {rec.status})")
            if isinstance(result, CallError):
                append(Outcome(p.task.item.id, p.task.perspective, p.task.repeat, "error", reason=str(result),
                               params=dict(p.params), image_sha256=list(p.image_sha256), cache_key=p.key,
                               finished_at=utc_now(), file_sha256=dict(p.file_sha256)))
                continue
            out = await self.engine.judge(p, first=result)
            out.params["batch"] = rec.id
            append(out)
