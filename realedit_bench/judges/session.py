"""``judge_edits``: everything ``realedit judge`` does, as one library call.

It checks every setting before any image is read or any call is made (bad input raises a
:class:`~realedit_bench.errors.RealEditError`), selects the edits, prices a dry run or judges them
(resume, cache, batches, budget; see :mod:`realedit_bench.judges.runner`), writes the judgments files
and returns a :class:`JudgeOutcome` that knows its exit code and says what happened::

    from realedit_bench.judges.session import judge_edits
    outcome = judge_edits(images=Path("runs/x"), judge="openai/gpt-4o-2024-08-06")
    print(outcome.describe()); outcome.summary.perspectives["following"].score_mean

Nothing here imports an SDK at module level.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

from realedit_bench.errors import ConfigError
from realedit_bench.judges.protocol import DEFAULTS
from realedit_bench.outcome import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    Outcome,
    ProgressCallback,
)
from realedit_bench.schema.base import PERSPECTIVES, Perspective, is_perspective

if TYPE_CHECKING:
    from realedit_bench.inputs import EditSet
    from realedit_bench.judges.backends.base import Backend
    from realedit_bench.judges.engine import ParseMode, RunReport
    from realedit_bench.judges.prices import PriceTable
    from realedit_bench.judges.protocol import PaperView, Settings
    from realedit_bench.judges.rubric import Rubric
    from realedit_bench.judges.runner import DryRun, JudgeOptions, JudgePaths, JudgeResult
    from realedit_bench.schema.judge import JudgeSummary

#: The judge of realedit's protocol (the authors' has its own: :mod:`realedit_bench.judges.protocol`).
DEFAULT_JUDGE = DEFAULTS["realedit"].judge


class JudgeCounts(NamedTuple):
    """How many asks a judging run selected, resumed, sent and how they ended."""

    #: Edited images selected (readable ones; unreadable ones are in ``unreadable``).
    edits: int = 0
    #: Perspectives asked per edit.
    perspectives: int = 0
    #: Asks per (edit, perspective): ``--repeats K``.
    repeats: int = 1
    #: Asks already answered by an earlier run (not asked again).
    resumed: int = 0
    #: Asks this run had to make (or, with a dry run, would make).
    to_ask: int = 0
    #: Asks answered in this run (any status).
    judged: int = 0
    #: API calls sent in this run (retries and re-asks included; cache hits excluded).
    calls_sent: int = 0
    #: Asks never sent because the run stopped early.
    not_sent: int = 0
    #: Current judgments whose call failed (status error; a rerun retries them).
    failed: int = 0
    #: Current judgments that could not be parsed after the re-ask.
    invalid: int = 0
    #: Current judgments the judge refused.
    refused: int = 0
    #: Edits whose image could not be read (error rows, no call).
    unreadable: int = 0


@dataclass
class JudgeOutcome(Outcome):
    """What :func:`judge_edits` did.

    ``exit_code``: 0 done (invalid and refused judgments are the judge's final answers and keep 0);
    1 some asks failed (error rows or unreadable images: a rerun retries them) or a streak of failures
    stopped the run; 2 a fatal provider error (key, access, quota) or the budget stopped it
    (:attr:`stopped` says which; rerun the same command to resume once it is fixed); 130 Ctrl-C or SIGTERM
    stopped it once the calls in flight had ended.
    """

    judge: str = DEFAULT_JUDGE
    #: Rubric id (``<name>-<version>``).
    rubric: str = ""
    #: Where the judgments files are (None for ``check``).
    paths: JudgePaths | None = None
    #: The summary written beside the rows (None for ``check`` and ``dry_run``).
    summary: JudgeSummary | None = None
    counts: JudgeCounts = field(default_factory=JudgeCounts)
    #: The dry run's calls, tokens and money (``dry_run=True`` only).
    dry_run: DryRun | None = None
    #: True when only the settings were checked (``check=True``).
    checked: bool = False
    #: Batch ids still running (collected by a later run).
    batch_pending: list[str] = field(default_factory=list)
    #: "sample: problem" per edit whose image could not be read.
    unreadable: list[str] = field(default_factory=list)
    #: How many of those have an unreadable source photo (the benchmark's data, not the edit).
    unreadable_sources: int = 0
    #: Why the run stopped early, if it did (the full message a user sees).
    stopped: str | None = None
    #: Warnings and problems for a person, one line each (the CLI prints them to stderr).
    warnings: list[str] = field(default_factory=list)
    #: True when asks went through the engine in this run (not only batches collected or submitted).
    ran: bool = False
    #: True with ``batch=True`` (a dry run then prices at the batch price).
    batch: bool = False

    def describe(self) -> str:
        """The result lines: a dry run's estimate, or where the files are and what this run did."""
        if self.checked:
            return f"judge {self.judge}: name, key, rubric {self.rubric} and prices are in order"
        c = self.counts
        if self.dry_run is not None:
            d = self.dry_run
            cost = (f"${d.cost_usd:.4f}" if d.cost_usd is not None
                    else f"unknown (no price for {self.judge}; pass --prices)")
            batch = " (batch price)" if self.batch else ""
            return (
                f"dry run: {c.edits} edits x {c.perspectives} perspectives x {c.repeats} = "
                f"{c.edits * c.perspectives * c.repeats} asks; {c.resumed} already judged; "
                f"{d.cached} in the cache; {d.calls} calls to send\n"
                f"estimated tokens: {d.input_tokens:,} input, at most {d.output_tokens_max:,} output "
                f"(re-asks of unparseable replies would add more)\n"
                f"estimated cost: {cost}{batch}. Nothing was sent."
            )
        lines = [f"rows: {self.paths.rows}\nsummary: {self.paths.summary}" if self.paths else ""]
        if self.ran:
            lines.append(f"this run: {c.judged} judged, {c.resumed} resumed, {c.calls_sent} calls sent")
        if self.batch_pending:
            lines.append(f"batches still running: {', '.join(self.batch_pending)}; run the same command "
                         f"again to collect them")
        return "\n".join(lines)


class JudgeContext(NamedTuple):
    """How a judging run was set up: what canaries and drift checks need to judge more items the same way."""

    edits: EditSet
    backend: Backend
    rubric: Rubric
    options: JudgeOptions
    prices: PriceTable
    #: The judge cache's path (None: the default) and whether it is used at all.
    cache: Path | None
    use_cache: bool
    log: Callable[[str], None]


def _log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def judge_edits(
    *, images: Path | str | None = None, judge: str | None = None, rubric: str | Path | None = None,
    parse: str | None = None, protocol: str = "realedit", repeats: int = 1,
    perspectives: Sequence[str] | None = None, concurrency: int = 8, timeout: float | None = None,
    max_retries: int = 5, retry_after_cap: float = 120.0, backoff: float = 1.0, failure_streak: int = 20,
    temperature: float | str | None = None, seed: int | str | None = None,
    max_cost: float | None = None, prices: Path | None = None, dry_run: bool = False, batch: bool = False,
    wait: bool = True, poll_interval: float = 30.0, cache: Path | None = None, no_cache: bool = False,
    benchmark: str | None = None, data_dir: Path | None = None, model: str | None = None,
    limit: int | None = None, categories: Sequence[str] | None = None,
    samples: str | Sequence[str] | None = None, out: Path | str | None = None, check: bool = False,
    wait_for_lock: bool = False, follow_symlinks: bool = False, on_progress: ProgressCallback | None = None,
    log: Callable[[str], None] = _log_to_stderr, structured: bool = False,
    after: Callable[[JudgeContext, JudgeOutcome], None] | None = None,
) -> JudgeOutcome:
    """Judge edited images from three perspectives (following, preserving, quality): verdict, score, reason.

    Keys come only from the environment. Rows are appended to ``<out>/judgments/<judge>__<rubric>.jsonl``
    (``out`` defaults to ``images``) as each call finishes; a rerun resumes and repeated requests come from
    the cache at no cost.

    Args:
        images: A run directory, or a folder of edited images ``<sample_id>.<png|jpg|jpeg|webp>``.
        judge: ``provider/model``: ``openai/<model>``, ``anthropic/<model>``, ``openai-api/<url>/<model>``
            (default: the protocol's, ``openai/gpt-4o-2024-08-06`` or ``openai/gpt-4o-2024-05-13``).
        rubric: Built-in rubric id or a rubric TOML file (default: the protocol's: ``realedit-v1``, or the
            authors' prompts, fetched on first use).
        parse: ``robust`` (our parser, one re-ask) or ``paper`` (the authors' released parser); default the
            protocol's.
        protocol: ``realedit`` (ours) or ``paper``: the authors' prompts, parser, snapshot, request and
            images (:mod:`realedit_bench.judges.protocol`). A setting given that differs from the
            protocol's is sent and recorded in the summary.
        repeats: Asks per (edit, perspective); K > 1 reports the spread.
        perspectives: Only these perspectives (default: all three).
        concurrency: Calls in flight at once.
        timeout: Seconds per call, in total (default: 60; the authors' 100 under ``paper``).
        max_retries: Retries of a failed call (429, 5xx, timeout).
        retry_after_cap: Longest ``Retry-After`` honoured, in seconds.
        backoff: First backoff delay in seconds (doubles, jittered).
        failure_streak: Stop after this many failed asks in a row.
        temperature: Sampling temperature, where the provider takes one; ``"none"`` sends none (default: 0;
            none under ``paper``).
        seed: Provider sampling seed, where supported; ``"none"`` sends none (default: 0; none under
            ``paper``).
        max_cost: Stop dispatching before this many USD would be spent.
        prices: A JSON price file overriding the backends' prices.
        dry_run: Plan and price the run; send nothing (no key needed).
        batch: Use the provider's batch API (half price, slow); a later call collects the results.
        wait: With batches: wait for them to end, or return at once.
        poll_interval: Seconds between batch status polls.
        cache: SQLite judge cache (default ``<cache root>/judge-cache.sqlite``).
        no_cache: Neither read nor write the judge cache.
        benchmark: Benchmark of a plain folder (a run directory names its own).
        data_dir: Benchmark data directory.
        model: Name of the editing model judged.
        limit: Judge only the first N edits.
        categories: Only these edit types.
        samples: Only these sample ids: a list, or one comma-separated string as typed.
        out: The folder whose ``judgments/`` gets the files (default ``images``: a read-only run can be
            judged elsewhere); ``realedit report`` and ``realedit agree`` read it as a judged folder.
        check: Only check the judge name, its key, the rubric and prices, then return.
        wait_for_lock: Wait for another process judging the same files with the same judge to finish.
        follow_symlinks: Read images that symlinks lead outside the data or images folder.
        on_progress: Called with (asks answered, asks to send) as rows are written; told the phase (reading
            and hashing the images) when it listens (see ``ProgressCallback``).
        log: Where progress lines go as they happen (missing edits, batches); default stderr.
        structured: Ask for the answer as a JSON schema response format where the provider takes one.
        after: Called with the run's setup and outcome once the edits are judged (canaries, drift checks).

    Returns:
        The outcome: exit code, counts, summary, file paths, warnings (see :class:`JudgeOutcome`).

    Raises:
        RealEditError: a setting or input is wrong (exit code 2), before any image is read or call made.
    """
    from realedit_bench.judges.engine import EngineConfig
    from realedit_bench.judges.protocol import resolve_settings
    from realedit_bench.judges.runner import JudgeOptions
    from realedit_bench.redact import redact_url_secrets

    chosen = resolve_settings(protocol, judge=judge, rubric=rubric, parse=parse, temperature=temperature,
                              seed=seed, timeout=timeout)
    engine = EngineConfig(
        concurrency=concurrency, timeout=chosen.timeout, max_retries=max_retries, backoff_base=backoff,
        retry_after_cap=retry_after_cap, failure_streak=failure_streak, temperature=chosen.temperature,
        seed=chosen.seed, parse_mode=_parse_mode(chosen.parse), max_cost=max_cost, batch=batch,
        structured=structured,
    )
    # Credentials in an openai-api/ URL reach the backend only: names, files and rows get the redacted name.
    options = JudgeOptions(judge=redact_url_secrets(chosen.judge), repeats=repeats, engine=engine,
                           dry_run=dry_run, perspectives=_perspectives(perspectives), wait=wait,
                           poll_interval=poll_interval, out=None if out is None else Path(out),
                           on_progress=on_progress, wait_for_lock=wait_for_lock, protocol=chosen.protocol,
                           overrides=[redact_url_secrets(o) for o in chosen.overrides],
                           view=_view(chosen.protocol))
    if cache is not None and no_cache:
        raise ConfigError("--cache and --no-cache exclude each other")
    backend, rub, price_table = _setup(chosen, options, prices, log)
    if check:
        return _checked(images, options.judge, rub.id)
    edits = _select_edits(images, data_dir=data_dir, benchmark=benchmark, model=model, limit=limit,
                          categories=categories, samples=samples, follow_symlinks=follow_symlinks, log=log)
    return judge_set(JudgeContext(edits, backend, rub, options, price_table, cache, not no_cache, log), after)


def judge_set(ctx: JudgeContext, after: Callable[[JudgeContext, JudgeOutcome], None] | None) -> JudgeOutcome:
    """Judge the selected edits of ``ctx``, then hand the setup and the outcome to ``after`` (not after a dry
    run). Canaries judge their probes through it with the edits' own setup."""
    result = _run(ctx.edits, ctx.backend, ctx.rubric, ctx.options, cache=ctx.cache, use_cache=ctx.use_cache,
                  prices=ctx.prices, log=ctx.log)
    outcome = _outcome(result, rubric=ctx.rubric.id, options=ctx.options, n_edits=len(ctx.edits.items),
                       log=ctx.log)
    if after is not None and not ctx.options.dry_run:
        after(ctx, outcome)
    return outcome


def _setup(chosen: Settings, options: JudgeOptions, prices: Path | None,
           log: Callable[[str], None]) -> tuple[Backend, Rubric, PriceTable]:
    """The backend of the judge (key checked unless a dry run), rubric (the authors' prompts fetched on
    first use) and prices; the batch and budget checked."""
    from realedit_bench.judges.backends import make_backend
    from realedit_bench.judges.paper_prompts import ensure_prompts
    from realedit_bench.judges.prices import load_prices
    from realedit_bench.judges.protocol import paper_rubric
    from realedit_bench.judges.rubric import load_rubric

    engine = options.engine
    rub = load_rubric(chosen.rubric) if chosen.rubric is not None else paper_rubric(ensure_prompts(log))
    price_table = load_prices(prices)
    # A missing key: one line and exit code 2.
    backend = make_backend(chosen.judge, check_key=not options.dry_run)
    if chosen.max_tokens_name is not None and hasattr(backend, "max_tokens_param"):
        backend.max_tokens_param = chosen.max_tokens_name  # the authors' scripts send max_tokens
    if engine.batch and not backend.supports_batch:
        raise ConfigError(f"--batch is not available for {backend.provider}/ judges (OpenAI and Anthropic "
                          f"only)")
    if engine.max_cost is not None and price_table.lookup(options.judge) is None:
        raise ConfigError(f"--max-cost needs a price for {options.judge}: add it to a --prices file")
    return backend, rub, price_table


def _checked(images: Path | str | None, judge: str, rubric: str) -> JudgeOutcome:
    """The outcome of ``check``: the judge, its key, rubric and prices are in order (and the images exist)."""
    if images is not None and not Path(images).exists():
        raise ConfigError(f"--images {images} does not exist (a run directory or a folder of edited images)")
    return JudgeOutcome(judge=judge, rubric=rubric, checked=True)


def _view(protocol: str) -> PaperView | None:
    """What makes the images sent: the authors' view under ``paper``, else the files themselves (None)."""
    from realedit_bench.judges.protocol import PaperView

    return PaperView() if protocol == "paper" else None


def _parse_mode(parse: str) -> ParseMode:
    from realedit_bench.judges.engine import PARSE_MODES

    if parse not in PARSE_MODES:
        raise ConfigError(f"--parse must be robust or paper, not {parse!r}")
    return cast("ParseMode", parse)  # checked just above


def _perspectives(names: Sequence[str] | None) -> list[Perspective]:
    """The perspectives asked for, checked, each once, in the order given (default: all three)."""
    wanted = list(names or ()) or list(PERSPECTIVES)
    bad = [p for p in wanted if not is_perspective(p)]
    if bad:
        raise ConfigError(f"unknown perspective {bad[0]!r} (known: {', '.join(PERSPECTIVES)})")
    return list(dict.fromkeys(p for p in wanted if is_perspective(p)))


def _select_edits(images: Path | str | None, *, data_dir: Path | None, benchmark: str | None,
                  model: str | None, limit: int | None, categories: Sequence[str] | None,
                  samples: str | Sequence[str] | None, follow_symlinks: bool,
                  log: Callable[[str], None]) -> EditSet:
    """The edits to judge: ``limit``, ``categories`` and ``samples`` applied, missing and unmatched files
    logged."""
    from realedit_bench.datasets import parse_sample_ids, select
    from realedit_bench.inputs import resolve_edits

    if images is None:
        raise ConfigError("--images is required: a run directory or a folder of edited images")
    images = Path(images)
    edits = resolve_edits(images, data_dir=data_dir, benchmark=benchmark, model=model,
                          follow_symlinks=follow_symlinks)
    cats = list(categories or ())
    ids = set(parse_sample_ids(samples))
    if ids:
        select(edits.benchmark.samples, sample_ids=ids)  # an id the benchmark does not have is an error
    if limit is not None or cats or ids:
        # Edits whose output is gone are selected like the others (they become error rows, not silence).
        by_id = {s.sample_id: s for s in edits.benchmark.samples}
        candidates = [it.sample for it in edits.items] + [by_id[sid] for sid, _ in edits.unreadable]
        candidates = [s for s in candidates if not ids or s.sample_id in ids]
        order = {s.sample_id: i for i, s in enumerate(edits.benchmark.samples)}
        candidates.sort(key=lambda s: order[s.sample_id])
        keep = {s.sample_id for s in select(candidates, limit=limit, categories=cats or None)}
        # Missing edits are reported only within the selection (the categories, up to the last selected).
        last = max((order[sid] for sid in keep), default=-1)
        in_scope = [m for m in edits.missing if m in order and (not cats or by_id[m].category in set(cats))
                    and (not ids or m in ids) and (limit is None or order[m] < last)]
        edits = edits._replace(items=[it for it in edits.items if it.sample.sample_id in keep],
                               unreadable=tuple(u for u in edits.unreadable if u[0] in keep),
                               missing=in_scope)
    gone = {sid for sid, _ in edits.unreadable}
    edits = edits._replace(missing=[m for m in edits.missing if m not in gone])  # listed as unreadable
    if edits.n_missing:
        log(f"missing edits (not judged): {edits.describe_missing()}")
    if edits.unmatched:
        shown = ", ".join(edits.unmatched[:20]) + (
            f" ... ({len(edits.unmatched)} in all)" if len(edits.unmatched) > 20 else "")
        log(f"files matching no sample id (ignored; edits must sit directly in the folder, "
            f"named <sample_id>.<png|jpg|jpeg|webp>): {shown}")
    if not edits.items and not edits.unreadable:
        raise ConfigError(f"{images}: no edited image to judge")
    return edits


def _run(edits: EditSet, backend: Backend, rubric: Rubric, options: JudgeOptions, *, cache: Path | None,
         use_cache: bool, prices: PriceTable, log: Callable[[str], None]) -> JudgeResult:
    """Hold the judge's files (one writer: nothing is asked or paid twice), open the cache, judge, close the
    cache. A dry run writes nothing and holds nothing."""
    from realedit_bench.judges.cache import JudgeCache
    from realedit_bench.judges.runner import judge_paths, run_judging
    from realedit_bench.locks import folder_lock
    from realedit_bench.settings import cache_root, check_out_dir

    holding: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if not options.dry_run:
        paths = judge_paths(options.out or edits.root, options.judge, rubric.id, options.engine.parse_mode,
                            options.folder)
        try:
            check_out_dir(paths.dir, "judgments folder")
        except ConfigError as exc:
            if options.out is None:  # e.g. a read-only run directory
                raise ConfigError(f"{exc}; write the judgments into another folder with --out DIR") from exc
            raise
        holding = folder_lock(paths.dir, f".{paths.rows.stem}.lock", f"realedit judge with {options.judge}",
                              wait=options.wait_for_lock, log=log)
    with holding:
        jc = JudgeCache(cache or cache_root() / "judge-cache.sqlite") if use_cache else None
        try:
            return run_judging(edits, backend, rubric, options, cache=jc, prices=prices, log=log)
        finally:
            if jc is not None:
                jc.close()


def _outcome(result: JudgeResult, *, rubric: str, options: JudgeOptions, n_edits: int,
             log: Callable[[str], None]) -> JudgeOutcome:
    """The outcome of a finished (or dry) run: counts, warnings and the exit code."""
    rep, summ = result.report, result.summary
    per = list(summ.perspectives.values()) if summ is not None else []
    counts = JudgeCounts(
        edits=n_edits, perspectives=len(options.perspectives), repeats=options.repeats,
        resumed=result.resumed, to_ask=result.to_ask, judged=rep.finished if rep else 0,
        calls_sent=rep.calls_sent if rep else 0, not_sent=rep.not_dispatched if rep else 0,
        failed=sum(p.n_error for p in per), invalid=sum(p.n_invalid for p in per),
        refused=sum(p.n_refused for p in per), unreadable=len(result.unreadable),
    )
    out = JudgeOutcome(judge=options.judge, rubric=rubric, paths=result.paths, summary=summ, counts=counts,
                       dry_run=result.dry_run, batch_pending=result.batch_pending,
                       unreadable=result.unreadable, unreadable_sources=result.unreadable_sources,
                       ran=rep is not None, batch=options.engine.batch)
    if counts.invalid or counts.refused:
        reask = "" if options.engine.parse_mode == "paper" else " after one re-ask"
        out.warnings.append(f"warning: {counts.invalid} judgments invalid (unparseable{reask}) and "
                            f"{counts.refused} refused: counted, never scored; the rows' reason says why")
    if result.unreadable:
        unreadable = [f"{len(result.unreadable)} edits could not be read (recorded as error rows, not "
                      f"judged):",
                      *(f"  {line}" for line in result.unreadable)]
        if result.dry_run is not None:  # nothing is written: they are listed before the estimate
            for line in unreadable:
                log(line)
        else:
            out.warnings.extend(unreadable)
    _set_exit(out, rep)
    return out


def _set_exit(out: JudgeOutcome, rep: RunReport | None) -> None:
    """Exit code, stop message and the last warning (see :class:`JudgeOutcome`)."""
    if rep is not None and rep.stopped:
        sent = f"{rep.errors} of the {rep.finished} asks finished in this run failed"
        unsent = f"{rep.not_dispatched} asks not sent" if rep.not_dispatched else "every ask was sent"
        then = {"streak": "; rerun the same command to retry",
                "fatal": "; fix that, then rerun the same command to resume",
                "interrupted": "; what finished is kept: rerun the same command to resume",
                }.get(rep.stop_kind or "", "")
        out.stopped = f"{rep.stopped} ({sent}; {unsent}){then}"  # the budget message says what to do itself
        # A streak: the asks themselves failed (recorded as error rows), "some samples failed", not a usage
        # error. A stop by Ctrl-C or SIGTERM is the stop of every verb.
        out.exit_code = {"streak": EXIT_SOME_FAILED, "interrupted": EXIT_INTERRUPTED}.get(
            rep.stop_kind or "", EXIT_BAD_INPUT)
        if out.exit_code != EXIT_BAD_INPUT:
            out.warnings.append(out.stopped)
    elif out.counts.failed:
        # Calls that failed for good are recorded as status "error"; a rerun asks them again.
        out.warnings.append(f"{out.counts.failed} judgments failed (status error, not scored); rerun the "
                            f"same command to retry them{_unreadable_hint(out)}")
        out.exit_code = EXIT_SOME_FAILED
    else:
        out.exit_code = EXIT_OK


def _unreadable_hint(out: JudgeOutcome) -> str:
    """What to fix first when images could not be read: the edits (remade by ``realedit run``) or the
    benchmark's source photos (which ``realedit data verify`` checks)."""
    n_sources = out.unreadable_sources
    n_edited = len(out.unreadable) - n_sources
    parts = []
    if n_edited:
        parts.append(f"{n_edited} edited images could not be read: remake them with 'realedit run' or fix "
                     "the files first")
    if n_sources:
        parts.append(f"{n_sources} edits could not be judged because their source photo could not be read: "
                     "fix the photos in the benchmark data folder ('realedit data verify' checks them)")
    return f" ({'; '.join(parts)})" if parts else ""
