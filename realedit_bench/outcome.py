"""What every library call of :mod:`realedit_bench.api` returns: the exit code it means and a summary.

The command line prints :meth:`Outcome.describe` (and a table where it shows one) and exits with
:attr:`Outcome.exit_code`; a notebook reads the same object's fields. Bad input is not an outcome: it is
raised as a :class:`~realedit_bench.errors.RealEditError` (exit code 2) before any work starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realedit_bench.schema.agree import AgreementReport
    from realedit_bench.schema.metrics import MetricSummary
    from realedit_bench.schema.run import RunManifest

#: Every sample (or call) that was asked for finished.
EXIT_OK = 0
#: Some samples failed; they are recorded in the results, and rerunning the same command retries them.
EXIT_SOME_FAILED = 1
#: Bad input or configuration (raised as RealEditError), or a stop the user must act on (``error``).
EXIT_BAD_INPUT = 2
#: A bug in realedit or in an editor: the traceback is printed.
EXIT_INTERNAL = 3
#: Stopped by Ctrl-C or SIGTERM; what finished is kept and rerunning the command resumes.
EXIT_INTERRUPTED = 130

#: Called with (items done so far, total or None while unknown); first with 0 done when the work starts.
#: It may also have ``phase(label)`` (what the work does before its first item ends, e.g. loading weights)
#: and ``step(done, total)`` (steps of the item in flight, e.g. denoising steps), as the command line's
#: progress display has: the library calls use them where they exist (:func:`report_phase`,
#: :func:`step_reporter`).
ProgressCallback = Callable[[int, "int | None"], None]
#: Receives one line for the person at the keyboard, while the work goes on (notes, warnings).
LogCallback = Callable[[str], None]

def report_phase(on_progress: ProgressCallback | None, label: str) -> None:
    """Tell ``on_progress`` what the work does now, when it shows phases (see :data:`ProgressCallback`)."""
    phase = getattr(on_progress, "phase", None)
    if callable(phase):
        phase(label)


def step_reporter(on_progress: ProgressCallback | None) -> Callable[[int, int], None] | None:
    """``on_progress.step`` when it shows the steps of the item in flight (see :data:`ProgressCallback`)."""
    step = getattr(on_progress, "step", None)
    return step if callable(step) else None


#: What a resumable call says when Ctrl-C or SIGTERM stopped it (the command line adds the command to rerun).
STOPPED = "stopped by Ctrl-C or SIGTERM; what finished is kept; rerun the same command to resume"


@dataclass(kw_only=True)
class Outcome:
    """Base of the result objects: subclasses add their own fields and say what happened."""

    exit_code: int = EXIT_OK
    #: A problem found after the work started that the user must fix before rerunning (exit code 2): the
    #: command line prints it as its one-line error.
    error: str | None = None

    def describe(self) -> str:
        """The summary for a person: one or a few lines saying what was done (the CLI prints them)."""
        raise NotImplementedError


@dataclass(kw_only=True)
class RunPlan:
    """What a dry run of :func:`realedit_bench.api.run_model` found: the edits to make, and their price."""

    editor: str
    #: Selected samples not done yet, and those done before (resumed).
    to_do: int
    done_before: int
    #: A paid editor's price of one edit in words; None for an editor that runs locally.
    cost_line: str | None = None
    #: Estimated USD of the edits to make (None: unpriced, or local); the largest estimate of one edit.
    cost_usd: float | None = None
    max_edit_usd: float | None = None

    def describe(self, n_selected: int) -> str:
        """The edits to make, then one cost line."""
        lines = [f"dry run: {self.to_do} of {n_selected} selected samples to edit ({self.done_before} done "
                 f"before); nothing was loaded, sent or written"]
        if self.cost_line is None:
            lines.append(f"cost: {self.editor} runs locally: no API cost")
        elif self.cost_usd is None:
            lines.append(f"cost: {self.editor}: {self.cost_line}; estimate unknown (no price: pass "
                         f"-M price=USD per edit)")
        else:
            lines.append(f"cost: {self.editor}: {self.cost_line}; estimated ${self.cost_usd:.2f} for "
                         f"{self.to_do} edits (up to ${self.max_edit_usd or 0:.4f} each)")
        return "\n".join(lines)


@dataclass(kw_only=True)
class RunOutcome(Outcome):
    """What :func:`realedit_bench.api.run_model` did."""

    #: The run directory; None when no run was set up (the work went to relaunched processes).
    run_dir: Path | None = None
    #: The manifest as the run left it; None on processes other than the main one and when nothing ran.
    manifest: RunManifest | None = None
    #: Samples this call selected.
    n_selected: int = 0
    #: Samples of the run finished before this call.
    done_before: int = 0
    #: Samples edited (ok) and failed by this call, in this process.
    ok: int = 0
    errors: int = 0
    interrupted: bool = False
    #: Why nothing ran, when that is the case (e.g. Ctrl-C while the model loaded).
    note: str = ""
    #: (sample id, error) of every sample of the run whose last attempt failed.
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: A dry run's plan (nothing ran).
    plan: RunPlan | None = None
    #: A paid API editor's calls and money in this call, and the money of the run's current edits.
    calls: int = 0
    spent_usd: float | None = None
    run_cost_usd: float | None = None
    #: Why a paid editor's run stopped early (budget, fatal API error, a streak of failures).
    stopped: str | None = None

    #: Failed samples listed by name; the rest are counted.
    MAX_LISTED = 5

    def describe(self) -> str:
        """The run's counts and directory, the first failed samples with their errors (the file and the
        problem), a paid editor's spend, and how to resume when it was stopped."""
        if self.plan is not None:
            return self.plan.describe(self.n_selected)
        if self.manifest is None:
            return self.note
        c = self.manifest.counts
        refused = f", {c['refused']} refused by the API" if c.get("refused") else ""
        lines = [
            f"run {self.manifest.run_id}: {c.get('ok', 0)} ok, {c.get('error', 0)} failed{refused}, "
            f"{c.get('not_run', 0)} not run, of {sum(c.values())} in the run ({self.n_selected} selected "
            f"now, {self.done_before} of the run done before) -> {self.run_dir}"
        ]
        lines += [f"  {sid}: {error}" for sid, error in self.failed[: self.MAX_LISTED]]
        if len(self.failed) > self.MAX_LISTED:
            lines.append(f"  ... and {len(self.failed) - self.MAX_LISTED} more (edits.jsonl holds every "
                         "error)")
        if self.spent_usd is not None:
            total = f"${self.run_cost_usd:.4f}" if self.run_cost_usd is not None else "unknown"
            lines.append(f"spent ${self.spent_usd:.4f} on {self.calls} API calls in this run; the run's "
                         f"edits cost {total} in all")
        if self.stopped and self.error is None:
            lines.append(self.stopped)
        if self.interrupted:
            lines.append(STOPPED)
        return "\n".join(lines)


@dataclass(kw_only=True)
class MetricsOutcome(Outcome):
    """What :func:`realedit_bench.api.compute_metrics` did."""

    summary: MetricSummary
    rows_path: Path
    summary_path: Path
    #: Samples measured by this call, and samples whose values were all reused.
    measured: int
    reused: int
    #: (sample id, error) of every sample that could not be measured.
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: Metrics left out because their model could not be loaded (``"clip_i, clip_t"``, one key per model)
    #: -> the line saying so: why, and the way out.
    not_measured: dict[str, str] = field(default_factory=dict)

    #: Failed samples listed by name; the rest are counted.
    MAX_LISTED = 20

    def title(self) -> str:
        """The heading of the table of means."""
        s = self.summary
        return f"{s.model} on {s.benchmark} (reference: {s.reference})"

    def table_rows(self) -> list[tuple[str, str, str, str]]:
        """(metric, mean, 95% CI, n) of every metric measured so far, not only this call's."""
        s = self.summary
        rows = []
        for name in s.labels:
            if name in s.means:
                bounds = s.cis.get(name)
                interval = f"[{bounds[0]:.4f}, {bounds[1]:.4f}]" if bounds else "n/a (one photo)"
                rows.append((s.labels[name], f"{s.means[name]:.4f}", interval, str(s.counts[name])))
            else:
                rows.append((s.labels[name], "-", "-", str(s.counts.get(name, 0))))
        return rows

    def warnings(self) -> list[str]:
        """Metrics left out of the summary, and why (``<metric> left out of the summary: <why>``)."""
        return [f"{name} left out of the summary: {why}" for name, why in self.summary.excluded.items()]

    def notes(self) -> list[str]:
        """Partial metrics, what was measured and written, the samples that failed, the metrics left out."""
        s = self.summary
        n_ok = s.n - s.n_error
        lines = [
            f"{s.labels[name]}: a value for {s.counts.get(name, 0)} of {n_ok} samples (it does not apply to "
            f"the others, e.g. no caption)"
            for name in s.labels
            if 0 < n_ok and s.counts.get(name, 0) < n_ok and name not in s.excluded
        ]
        lines.append(f"{self.measured} samples measured, {self.reused} reused, {s.n_error} errors; "
                     f"wrote {self.rows_path} and {self.summary_path}")
        if s.n_error:
            shown = self.MAX_LISTED
            lines += [f"  {sid}: {error}" for sid, error in self.failed[:shown]]
            more = f" (first {shown} of {len(self.failed)} listed)" if len(self.failed) > shown else ""
            lines.append(f"{s.n_error} samples could not be measured{more}; fix or remake their images "
                         "and rerun")
        if self.not_measured:
            lines.append(f"partly measured: {', '.join(self.not_measured)} not measured (their weights could "
                         f"not be loaded; the 'not measured' lines say how to get them)")
        return lines

    def describe(self) -> str:
        """The metrics left out, the table of means as text, then the warnings and notes."""
        table = [f"  {m}: {mean} {ci} (n={n})" for m, mean, ci, n in self.table_rows()]
        return "\n".join([*self.not_measured.values(), self.title(), *table, *self.warnings(), *self.notes()])


@dataclass(kw_only=True)
class SiteCounts:
    """What a site build wrote: the pages and exports, and how many of each."""

    #: The site's index page (None when only exports were asked for) and the table exports by format.
    index: Path | None
    exports: dict[str, Path] = field(default_factory=dict)
    n_runs: int = 0
    n_tables: int = 0
    n_gallery_pages: int = 0
    thumbs_made: int = 0
    #: One line each, for the console: stale judgments, missing source photos, copied runs.
    warnings: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class ReportOutcome(Outcome, SiteCounts):
    """What :func:`realedit_bench.api.build_report` wrote."""

    runs_dir: Path

    @property
    def written(self) -> list[Path]:
        """The files a script picks up: every export, then the index page (absolute) last."""
        return [*self.exports.values(), *([self.index.resolve()] if self.index is not None else [])]

    def describe(self) -> str:
        """Warnings, the absence of runs (a mistyped folder gives a reference-only site) and the counts."""
        lines = [f"warning: {w}" for w in self.warnings]
        if self.n_runs == 0:
            lines.append(f"no runs found at {self.runs_dir} (the site shows the "
                         "published reference numbers only)")
        lines.append(f"{self.n_runs} run(s), {self.n_tables} leaderboard table(s), {self.n_gallery_pages} "
                     f"gallery page(s), {self.thumbs_made} new thumbnail(s)")
        return "\n".join(lines)


@dataclass(kw_only=True)
class ReproduceOutcome(Outcome):
    """What :func:`realedit_bench.api.reproduce_table` did (or, with ``dry_run``, would do)."""

    table: str
    #: The dry run's text: what would run, the GPU time and the judge's calls and money.
    plan: str = ""
    #: (method, status, what is missing or failed) of every method of the table.
    methods: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: The record written beside the runs, and the reproduction page of the site.
    record: Path | None = None
    page: Path | None = None

    def describe(self) -> str:
        """The plan of a dry run; else each method's fate and where the page is."""
        if self.plan:
            return self.plan
        if self.exit_code == EXIT_INTERRUPTED:
            return STOPPED
        lines = [f"{method}: {status}" + (f" ({why})" if why else "") for method, status, why in self.methods]
        if self.record is not None:
            lines.append(f"record: {self.record}")
        if self.page is not None:
            lines.append(f"reproduction page: {self.page}")
        return "\n".join(lines)


@dataclass(kw_only=True)
class AgreeOutcome(Outcome):
    """What :func:`realedit_bench.api.agree` computed and wrote."""

    report: AgreementReport
    out: Path
    #: The calibration file written with ``fit_calibration``, if any.
    calibration: Path | None = None

    def notes(self, verbose: bool = True) -> list[str]:
        """Where the report went (after the short view: and where the rest of it is)."""
        cal = [f"wrote the calibration {self.calibration}"] if self.calibration is not None else []
        if verbose:
            return [f"wrote {self.out}", *cal]
        return [f"wrote {self.out}", "every statistic, per model and with its notes: in that file, or with "
                "--verbose", *cal]

    def describe(self, verbose: bool = False) -> str:
        """The key numbers (every table with ``verbose``) as plain text, then where they were written."""
        import io

        from rich.console import Console

        from realedit_bench.agreement.console import print_report, print_summary

        buffer = io.StringIO()
        show = print_report if verbose else print_summary
        show(self.report, Console(file=buffer, width=120 if verbose else 80, color_system=None))
        return buffer.getvalue().rstrip("\n") + "\n" + "\n".join(self.notes(verbose))


@dataclass(kw_only=True)
class TemplateOutcome(Outcome):
    """What :func:`realedit_bench.api.agree_template` wrote for human raters."""

    csv_path: Path
    html_path: Path
    n_rows: int
    n_edits: int
    n_perspectives: int
    #: Samples without an edited image (not in the sheet).
    n_missing: int = 0

    def describe(self) -> str:
        """The two files and what they hold."""
        lines = [
            f"wrote {self.csv_path} ({self.n_rows} blank rows: {self.n_edits} edits x {self.n_perspectives} "
            f"perspectives)",
            f"wrote {self.html_path} (open it in a browser; it exports the filled CSV)",
        ]
        if self.n_missing:
            lines.append(f"{self.n_missing} sample(s) have no edited image and are not in the sheet")
        return "\n".join(lines)


@dataclass(kw_only=True)
class TrainOutcome(Outcome):
    """What :func:`realedit_bench.api.train_reward` did."""

    output_dir: Path | None = None
    #: The trained pipeline; None when no step was left to train or nothing ran in this process.
    pipeline_dir: Path | None = None
    start_step: int = 0
    final_step: int = 0
    #: Losses of the steps trained by this call.
    losses: list[float] = field(default_factory=list)
    #: The editor that runs the pipeline: the reward-conditioned one, or plain InstructPix2Pix.
    model: str = "reward-instruct-pix2pix"
    #: Why training stopped early (Ctrl-C), with where it stopped and how to continue.
    note: str = ""

    def describe(self) -> str:
        """The steps trained and how to run the pipeline (or why training stopped)."""
        if self.pipeline_dir is None:
            return self.note
        return (f"trained steps {self.start_step}->{self.final_step}; pipeline: {self.pipeline_dir}\n"
                f"run it: realedit run --model {self.model} --weights {self.pipeline_dir}")


@dataclass(kw_only=True)
class AnnotateOutcome(Outcome):
    """What :func:`realedit_bench.api.annotate_rewards` did."""

    judge: str
    #: The output files: ``annotations``, ``rewards``, ``rewardedit`` and ``summary`` paths.
    paths: Any
    n_tasks: int = 0
    resumed: int = 0
    asked: int = 0
    #: The annotation summary (None on a dry run).
    summary: Any = None
    #: Calls, tokens and estimated money of a dry run (nothing was sent).
    dry_run: dict[str, Any] | None = None
    #: Asks whose calls failed for good (rerun to retry).
    failed: int = 0

    def lines(self) -> list[str]:
        """The estimate of a dry run, or the counts, money and files of a real one."""
        if self.dry_run is not None:
            d = self.dry_run
            priced = d["cost_usd"] is not None
            cost = f"${d['cost_usd']:.4f}" if priced else f"unknown (no price for {self.judge})"
            return [
                f"dry run: {d['tasks']} asks ({d['resumed']} answered before, {d['cached']} in the cache); "
                f"{d['calls']} calls to send; estimated tokens {d['input_tokens']:,} in, at most "
                f"{d['output_tokens_max']:,} out; estimated cost {cost}. Nothing was sent."
            ]
        s = self.summary
        if s is None:
            return []
        return [
            f"{s.n_triplets} triplets: {s.n_complete} fully scored, {s.n_incomplete} with an invalid/refused "
            f"perspective, {s.n_pending} pending; ${s.usage_this_run.cost_usd:.4f} this run, "
            f"{s.usage_this_run.calls} calls",
            f"rewards: {self.paths.rewards}",
            f"RewardEdit layout: {self.paths.rewardedit}",
            f"summary: {self.paths.summary}",
        ]

    def failure_note(self) -> str | None:
        """Asks that failed for good are not answers: a rerun asks them again."""
        return f"{self.failed} asks failed; rerun to retry" if self.failed and self.error is None else None

    def describe(self) -> str:
        """The counts (or the estimate) and what to do about failures."""
        note = self.failure_note()
        return "\n".join([*self.lines(), *([note] if note else []), *([self.error] if self.error else [])])


@dataclass(kw_only=True)
class FetchOutcome(Outcome):
    """What :func:`realedit_bench.api.fetch_data` did."""

    benchmark: str
    target: Path
    #: Warnings about the data (e.g. samples without captions) and files kept aside by ``repair``.
    notes: list[str] = field(default_factory=list)
    #: The closing line: where the data is ready and how much was written or verified.
    ready: str = ""

    def describe(self) -> str:
        """The notes and the closing line, or how to resume after Ctrl-C."""
        if self.exit_code == EXIT_INTERRUPTED:
            return STOPPED
        return "\n".join([*self.notes, self.ready])


@dataclass(kw_only=True)
class VerifyOutcome(Outcome):
    """What :func:`realedit_bench.api.verify_data` checked."""

    line: str

    def describe(self) -> str:
        """What was checked and found in order."""
        return self.line


@dataclass(kw_only=True)
class DataInfo(Outcome):
    """What :func:`realedit_bench.api.data_info` found: where the data is and what it holds."""

    name: str
    data_dir: Path
    #: Samples per category, in the benchmark's order.
    counts: dict[str, int]
    #: What the images are (``photos``; MagicBrush counts ``sessions``) and how many there are.
    unit: str
    n_images: int
    content_sha256: str

    def identity(self) -> str:
        """The images and the content hash of the instructions (on a line of its own: it fits 80 columns)."""
        return f"{self.unit}: {self.n_images}; instructions sha256:\n{self.content_sha256}"

    def describe(self) -> str:
        """Samples per category, then the identity line."""
        lines = [f"{self.name} in {self.data_dir}"]
        lines += [f"  {cat}: {n}" for cat, n in self.counts.items()]
        lines += [f"  total: {sum(self.counts.values())}", self.identity()]
        return "\n".join(lines)


@dataclass(kw_only=True)
class ModelList(Outcome):
    """What :func:`realedit_bench.api.list_models` found: one row per registered editor."""

    #: Column name -> text, per model, in the order ``realedit models`` shows them.
    rows: list[dict[str, str]]

    COLUMNS = ("name", "family", "weights", "steps", "text guid.", "image guid.", "resolution", "licence")

    def describe(self) -> str:
        """One line per model."""
        return "\n".join("  ".join(row[c] for c in self.COLUMNS if row.get(c)) for row in self.rows)


@dataclass(kw_only=True)
class ConvertOutcome(Outcome):
    """What :func:`realedit_bench.api.convert_weights` did."""

    model: str
    source: Path
    #: The converted file or folder.
    target: Path
    #: False when ``target`` already held the conversion of the same source.
    converted: bool

    def describe(self) -> str:
        """Where the conversion is, and how to run it."""
        what = "converted" if self.converted else "already converted"
        return (f"{what}: {self.source} -> {self.target}\n"
                f"run it: realedit run --model {self.model} --weights {self.target}")


@dataclass(kw_only=True)
class ModelSettings(Outcome):
    """What :func:`realedit_bench.api.model_settings` found: the settings of one editor."""

    name: str
    #: (setting, its default as text: ``required``, a repr, or the class's documented default).
    rows: list[tuple[str, str]]
    #: What each documented setting means (from the editor's docstrings).
    help: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line per setting: its default and what it means."""
        return "\n".join(f"{key} = {default}" + (f"  ({self.help[key]})" if key in self.help else "")
                         for key, default in self.rows)
