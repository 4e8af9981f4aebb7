"""Judge a set of Real-Edit edits: resume, dry run, synchronous or batch judging, files, summary.

Files, under ``<run>/judgments/`` (a run directory) or ``<folder>/judgments/`` (a plain folder), named
``<judge>__<rubric>`` with ``/`` and ``:`` (and anything else unsafe) in the judge name turned to ``_``:

* ``<stem>.jsonl``: one :class:`~realedit_bench.schema.judge.JudgmentRow` per (sample, perspective,
  repeat), appended and fsynced as each finishes; a redone row supersedes the earlier one (last wins);
* ``<stem>.summary.json``: :class:`~realedit_bench.schema.judge.JudgeSummary`;
* ``<stem>.items.jsonl``: per-item spread over ``--repeats K`` asks (K > 1 only);
* ``<stem>.batches.json``: submitted batches not yet collected (``--batch``).

With ``--parse paper`` the stem gets the suffix ``.paper-parse`` so both readings can coexist.
Resume rule: a (sample, perspective, repeat) whose last row is ok, invalid or refused, whose request key
(prompt, images as sent, parameters) is unchanged and that names the edited file planned now is not
asked again; error rows and rows whose image changed are redone.

A row records the sha256 of the edited FILE it judged (``edited_sha256``, taken when the ask is planned),
which the stale rule (:mod:`realedit_bench.judges.stale`) compares with ``edits.jsonl``. So a finished row
counts only while it names the file planned now: a file remade since (even with the same image, e.g. by
``run --force``) is asked again, from the cache at no cost when the bytes sent are unchanged.

An image that cannot be read (a 0-byte file, a truncated PNG, an output the run recorded but that is
gone) does not stop the run: each of its asks gets an ``error`` row naming the file and the problem,
without an API call, the other edits are judged, and :attr:`JudgeResult.unreadable` lists them all.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from realedit_bench import __version__
from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.inputs import EditedItem, EditSet
from realedit_bench.jsonio import GroupCommitAppender, atomic_write_json, atomic_write_text, read_rows
from realedit_bench.judges.backends.base import Backend
from realedit_bench.judges.batch import Batches
from realedit_bench.judges.cache import JudgeCache
from realedit_bench.judges.engine import (
    EngineConfig,
    JudgeEngine,
    JudgeItem,
    Outcome,
    Planned,
    RunReport,
    Task,
    UnreadableImage,
)
from realedit_bench.judges.prices import PriceTable
from realedit_bench.judges.protocol import sent_record
from realedit_bench.judges.rubric import Rubric
from realedit_bench.judges.summary import latest_rows, summarize_rows
from realedit_bench.outcome import ProgressCallback, report_phase
from realedit_bench.provenance import command_line, utc_now
from realedit_bench.schema.base import PERSPECTIVES, Perspective
from realedit_bench.schema.judge import JudgeSummary, JudgmentRow, Usage

if TYPE_CHECKING:
    from realedit_bench.judges.protocol import PaperImages, ProtocolName


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


def judge_paths(root: Path, judge: str, rubric_id: str, parse_mode: str = "robust",
                folder: Path | None = None) -> JudgePaths:
    """Paths of the judgments files under ``root/judgments`` (or under ``folder`` when given)."""
    stem = f"{safe_name(judge)}__{safe_name(rubric_id)}" + (".paper-parse" if parse_mode == "paper" else "")
    d = Path(folder) if folder is not None else Path(root) / "judgments"
    return JudgePaths(d, d / f"{stem}.jsonl", d / f"{stem}.summary.json", d / f"{stem}.items.jsonl",
                      d / f"{stem}.batches.json")


@dataclass
class JudgeOptions:
    """What ``realedit judge`` was asked to do."""

    #: The judge's name as files, rows and messages show it (URL credentials already removed).
    judge: str
    repeats: int = 1
    perspectives: Sequence[Perspective] = PERSPECTIVES
    engine: EngineConfig = field(default_factory=EngineConfig)
    dry_run: bool = False
    wait: bool = True
    poll_interval: float = 30.0
    #: The folder whose ``judgments/`` receives the files (``--out``); None: the edits' own folder.
    out: Path | None = None
    #: Told (asks answered, asks to send) as rows are written, and the phase before (see ProgressCallback).
    on_progress: ProgressCallback | None = None
    #: Wait for another process writing the same judgments files instead of stopping.
    wait_for_lock: bool = False
    #: The judgments folder itself, instead of ``<out or edits>/judgments`` (canary probes: files apart).
    folder: Path | None = None
    #: ``realedit`` or ``paper`` (:mod:`realedit_bench.judges.protocol`), recorded in the summary.
    protocol: ProtocolName = "realedit"
    #: Settings given that differ from the protocol's, as the summary records them.
    overrides: list[str] = field(default_factory=list)
    #: Makes the images of an edit as sent (the authors' view under ``paper``); None: the files themselves.
    view: Callable[[EditedItem], PaperImages] | None = None


class DryRun(NamedTuple):
    """What a run would send: asks, cache hits, calls, tokens and money (``--dry-run``)."""

    tasks: int
    cached: int
    calls: int
    input_tokens: int
    output_tokens_max: int
    #: USD at the judge's price (the batch price with ``--batch``); None when the judge has no price.
    cost_usd: float | None


@dataclass
class JudgeResult:
    """What a judging run did."""

    paths: JudgePaths
    to_ask: int = 0
    resumed: int = 0
    report: RunReport | None = None
    summary: JudgeSummary | None = None
    batch_pending: list[str] = field(default_factory=list)
    dry_run: DryRun | None = None
    #: "sample: problem" for each edit whose images could not be read (recorded as error rows).
    unreadable: list[str] = field(default_factory=list)
    #: How many of those could not be judged because their source photo (not the edit) is unreadable.
    unreadable_sources: int = 0


#: Answer keys of the authors' released prompts: only a rubric asking for these gives replies their
#: parser ('score': d.d in a Python-dict string) is meant for.
PAPER_KEYS = {"following": "following", "preserving": "consistent", "quality": "clear"}


def asks_paper_format(rubric: Rubric) -> bool:
    """True when ``rubric`` asks for the authors' answer format (their verdict keys and 'score')."""
    return all(rubric.perspectives[p].verdict_key == k and rubric.perspectives[p].score_key == "score"
               for p, k in PAPER_KEYS.items() if p in rubric.perspectives)


#: How messages name the image of each role.
IMAGE_ROLES = {"source": "the source photo", "edited": "the edited image"}


def item_of(it: EditedItem, view: Callable[[EditedItem], PaperImages] | None) -> tuple[JudgeItem, str | None]:
    """The judge item of one edit (the instruction, the source photo and the edited image, or the images
    ``view`` makes of them), and what ``view`` sent as the source (None without one).

    Raises:
        UnreadableImage: ``view`` could not read the photo or the edit.
    """
    if view is None:
        return JudgeItem(it.sample.sample_id, it.sample.instruction,
                         {"source": it.sample.image, "edited": it.edited}), None
    made = view(it)
    return JudgeItem(it.sample.sample_id, it.sample.instruction, made.images), made.source_image


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
        self.paths = judge_paths(options.out or edits.root, options.judge, rubric.id,
                                 options.engine.parse_mode, options.folder)
        self.batches = Batches(self.paths.batches, options.judge, self.engine, wait=options.wait,
                               poll_interval=options.poll_interval, log=log)
        self.samples = {it.sample.sample_id: it.sample for it in edits.items}
        self.edited_paths = {it.sample.sample_id: it.edited for it in edits.items}
        by_id = {s.sample_id: s for s in edits.benchmark.samples}
        for sid, _ in edits.unreadable:
            self.samples.setdefault(sid, by_id[sid])
        #: Asks that could not be planned (an unreadable image): error outcomes, no API call.
        self.unplanned: list[Outcome] = []
        #: Sample id -> the roles of its images that could not be read (``source``, ``edited``).
        self.unreadable_roles: dict[str, set[str]] = {}
        #: Sample id -> what was sent as its source image, when a view made the images.
        self.source_sent: dict[str, str] = {}

    def to_row(self, out: Outcome) -> JudgmentRow:
        """Engine outcome -> schema row with the sample's fields."""
        s = self.samples[out.item_id]
        return JudgmentRow(
            sample_id=s.sample_id, image_id=s.image_id, category=s.category, model=self.edits.model,
            perspective=out.perspective, repeat=out.repeat, status=out.status, verdict=out.verdict,
            score=out.score, reason=out.reason, raw=out.raw, paper_parse=out.paper_parse,
            judge=self.options.judge, model_snapshot=out.model_snapshot,
            system_fingerprint=out.system_fingerprint,
            endpoint=self.backend.served_by() if out.attempts or out.cached else None,
            rubric=self.rubric.id, params=self._params(out),
            image_sha256=out.image_sha256, edited_sha256=out.file_sha256.get("edited"),
            cache_key=out.cache_key, cached=out.cached,
            attempts=out.attempts, usage=out.usage, finished_at=out.finished_at,
        )

    def _params(self, out: Outcome) -> dict[str, Any]:
        """The request's parameters as sent, and what was sent as the source image when a view made it."""
        sent = self.source_sent.get(out.item_id)
        return {**out.params, "source_image": sent} if sent is not None else out.params

    def edited_sha(self, sample_id: str) -> str | None:
        """sha256 of the edited file of ``sample_id`` as it is now (None when it cannot be read)."""
        path = self.edited_paths.get(sample_id)
        try:
            return self.engine.encoder.file_sha256(path) if path is not None else None
        except (OSError, RealEditError):
            return None

    def _fail(self, sample_id: str, p: Perspective, r: int, problem: str, role: str = "edited") -> None:
        """Record an ask that cannot be planned as an error outcome, without a call; ``role`` is the image
        that could not be read (``source`` or ``edited``)."""
        self.unreadable_roles.setdefault(sample_id, set()).add(role)
        sha = self.edited_sha(sample_id)
        self.unplanned.append(Outcome(sample_id, p, r, "error", reason=f"not judged: {problem}",
                                      finished_at=utc_now(), file_sha256={"edited": sha} if sha else {}))

    def plan_all(self) -> list[Planned]:
        """Every (item, perspective, repeat) of this run, planned; unreadable ones go to :attr:`unplanned`."""
        planned: list[Planned] = []
        self.unplanned = []
        self.unreadable_roles = {}
        asks = [(p, r) for p in self.options.perspectives for r in range(self.options.repeats)]
        for it in self.edits.items:
            try:
                item, sent = item_of(it, self.options.view)
            except UnreadableImage as exc:  # its asks only; the others are judged
                for p, r in asks:
                    self._fail(it.sample.sample_id, p, r, f"{IMAGE_ROLES.get(exc.role, exc.role)}: {exc}",
                               exc.role)
                continue
            if sent is not None:
                self.source_sent[item.id] = sent
            for p, r in asks:
                try:
                    one = self.engine.plan(Task(item, p, r))
                except UnreadableImage as exc:  # this ask only; the others are judged
                    self._fail(item.id, p, r, f"{IMAGE_ROLES.get(exc.role, exc.role)}: {exc}", exc.role)
                    continue
                except (RealEditError, OSError) as exc:
                    self._fail(item.id, p, r, str(exc))
                    continue
                if "edited" not in one.file_sha256:  # a rubric perspective that does not send the edit
                    sha = self.edited_sha(item.id)
                    if sha:
                        one.file_sha256["edited"] = sha
                planned.append(one)
        for sid, problem in self.edits.unreadable:
            for p, r in asks:
                self._fail(sid, p, r, problem)
        return planned

    def unreadable(self) -> list[str]:
        """"sample: problem" for each edit in :attr:`unplanned`, in benchmark order."""
        seen = dict.fromkeys((o.item_id, o.reason or "") for o in self.unplanned)
        return [f"{sid}: {reason.removeprefix('not judged: ')}" for sid, reason in seen]

    @staticmethod
    def is_current(row: JudgmentRow, planned: Planned) -> bool:
        """True when ``row`` answers ``planned``: the same request, about the same edited file."""
        return row.cache_key == planned.key and row.edited_sha256 == planned.file_sha256.get("edited")

    def pending(self, planned: Sequence[Planned]) -> tuple[list[Planned], int]:
        """Planned tasks still to ask, and how many are already finished (resume rule, module docstring)."""
        latest = latest_rows(read_rows(self.paths.rows, JudgmentRow))
        todo = [p for p in planned if (row := latest.get(p.slot)) is None or row.status == "error"
                or not self.is_current(row, p)]
        return todo, len(planned) - len(todo)

    def dry_run(self, todo: Sequence[Planned]) -> DryRun:
        """Calls, tokens and money the run would need, without sending anything."""
        uncached = [p for p in todo if not self.engine.is_cached(p)]
        tokens_in = sum(p.est_input_tokens for p in uncached)
        tokens_out = sum(p.prompt.max_tokens for p in uncached)
        prices = self.engine.prices
        cost = prices.cost(self.backend.name, tokens_in, tokens_out, batch=self.options.engine.batch)
        return DryRun(len(todo), len(todo) - len(uncached), len(uncached), tokens_in, tokens_out,
                      cost if prices.lookup(self.backend.name) is not None else None)

    async def run(self) -> JudgeResult:
        """Resume, collect batches, judge what is left (or plan it with a dry run), then summarise."""
        result = JudgeResult(self.paths)
        try:
            report_phase(self.options.on_progress, f"reading and hashing {len(self.samples)} edited images")
            planned = await asyncio.to_thread(self.plan_all)
            result.unreadable = self.unreadable()
            result.unreadable_sources = sum("source" in r for r in self.unreadable_roles.values())
            todo, result.resumed = self.pending(planned)
            if self.options.dry_run:
                result.to_ask = len(todo)
                result.dry_run = self.dry_run(todo)
                return result
            writer = GroupCommitAppender(self.paths.rows)
            try:
                await self._judge(planned, todo, writer, result)
            finally:
                await writer.aclose()
            result.summary = self.write_summary(planned, result.report)
            return result
        finally:
            await self.backend.aclose()

    async def _judge(self, planned: Sequence[Planned], todo: list[Planned], writer: GroupCommitAppender,
                     result: JudgeResult) -> None:
        """Write the unplanned asks' error rows, collect batches, then ask (or submit) what is left."""
        for out in self.unplanned:  # recorded as error rows: listed, counted, redone on a rerun
            writer.append(self.to_row(out))
        answered = [0]

        def tick() -> None:
            answered[0] += 1
            if self.options.on_progress is not None:
                self.options.on_progress(answered[0], result.to_ask)

        def append_now(out: Outcome) -> None:
            writer.append(self.to_row(out))

        def append_counted(out: Outcome) -> None:
            append_now(out)
            tick()

        async def append(out: Outcome) -> None:
            await writer.append_async(self.to_row(out))
            tick()

        if self.paths.batches.exists():
            result.batch_pending = await self.batches.collect(planned, append_now)
            todo, result.resumed = self.pending(planned)
        in_batches = self.batches.open_tasks()
        todo = [p for p in todo if p.slot not in in_batches]
        result.to_ask = len(todo)
        if self.options.on_progress is not None:
            self.options.on_progress(0, len(todo))
        if not (self.options.engine.batch and todo):
            result.report = await self.engine.run(todo, append)
            return
        fresh = [p for p in todo if not self.engine.is_cached(p)]
        result.report = await self.engine.run([p for p in todo if self.engine.is_cached(p)], append)
        if fresh:
            await self.batches.submit(fresh)
            result.batch_pending = await self.batches.collect(planned, append_counted)

    def write_summary(self, planned: Sequence[Planned], report: RunReport | None) -> JudgeSummary:
        """Summarise the current rows of this run (stale rows of changed images left out).

        Every selected ask is counted: one without a current row (never sent after a fatal stop or the
        budget, or stale) is ``not run``. ``usage`` covers the current rows; ``usage_spent`` every row
        of the file, so calls paid for redone, superseded and stale rows are in it too.
        """
        by_slot: dict[tuple[str, str, int], Planned | None] = {p.slot: p for p in planned}
        for o in self.unplanned:
            by_slot[(o.item_id, o.perspective, o.repeat)] = None  # only its error row can be current
        all_rows = read_rows(self.paths.rows, JudgmentRow)
        rows = [r for slot, r in latest_rows(all_rows).items() if slot in by_slot
                and (r.status == "error" or ((p := by_slot[slot]) is not None and self.is_current(r, p)))]
        spent = Usage()
        for r in all_rows:
            spent.add(r.usage)
        selected = [(sid, persp, self.samples[sid].category) for sid, persp, _ in by_slot]
        s = summarize_rows(rows, selected=selected)
        snapshots = Counter(r.model_snapshot for r in rows if r.model_snapshot)
        engine = self.options.engine
        sent = sent_record(self.backend, self.rubric, temperature=engine.temperature, seed=engine.seed,
                           timeout=engine.timeout, protocol=self.options.protocol,
                           source_images=dict(Counter(self.source_sent.values())))
        summary = JudgeSummary(
            run_id=self.edits.run_id,
            model=self.edits.model,
            judge=self.options.judge,
            judge_snapshot=snapshots.most_common(1)[0][0] if snapshots else None,
            rubric=self.rubric.id,
            parse_mode=engine.parse_mode,
            protocol=self.options.protocol,
            temperature=engine.temperature,
            sent=sent,
            overrides=self.options.overrides,
            samples_k=self.options.repeats,
            created_at=utc_now(),
            command=command_line(),
            realedit_version=__version__,
            n_samples=s["n_samples"],
            perspectives=s["perspectives"],
            per_category=s["per_category"],
            paper_parser_dropped=s["paper_parser_dropped"],
            usage=s["usage"],
            usage_spent=spent,
            paper_parser_applies=asks_paper_format(self.rubric),
            paper_figures=s["paper_figures"],
            paper_intervals=s["paper_intervals"],
            variance=s["variance"],
            runs_stopped=report.stopped if report else None,
        )
        atomic_write_json(self.paths.summary, summary)
        if self.options.repeats > 1:
            atomic_write_text(self.paths.items, "".join(i.model_dump_json() + "\n" for i in s["items"]))
        return summary


def run_judging(
    edits: EditSet,
    backend: Backend,
    rubric: Rubric,
    options: JudgeOptions,
    *,
    cache: JudgeCache | None,
    prices: PriceTable,
    log: Callable[[str], None] = print,
) -> JudgeResult:
    """Run :class:`EditJudging` to completion (see the module docstring for files and resume)."""
    if options.repeats < 1:
        raise ConfigError("--repeats must be at least 1")
    if options.engine.batch and not backend.supports_batch:
        raise ConfigError(
            f"--batch is not available for {backend.provider}/ judges (OpenAI and Anthropic only)"
        )
    job = EditJudging(edits, backend, rubric, options, cache=cache, prices=prices, log=log)
    return asyncio.run(job.run())


__all__ = ["DryRun", "JudgeOptions", "JudgeResult", "judge_paths", "run_judging", "safe_name"]
