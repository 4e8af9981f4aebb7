"""``realedit judge``: score every edit from three perspectives with a vision-language model.

The options are declared once here; the work is :func:`realedit_bench.judges.session.judge_edits`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from realedit_bench.cli._common import (
    Backoff,
    Cache,
    Concurrency,
    DataDir,
    DryRun,
    FollowSymlinks,
    MaxCost,
    MaxRetries,
    NoCache,
    RetryAfterCap,
    WaitForLock,
    split_csv,
)
from realedit_bench.cli._progress import ProgressDisplay
from realedit_bench.judges.backends import judge_help, key_names
from realedit_bench.outcome import EXIT_BAD_INPUT

Images = Annotated[Path | None, typer.Option(
    "--images", show_default=False,
    help="A run directory of 'realedit run', or a folder of edited images named "
    "<sample_id>.<png|jpg|jpeg|webp> (e.g. 10-local.png; case is ignored; subfolders are not read). Results "
    "go to <it>/judgments/ (or --out).")]
Judge = Annotated[list[str] | None, typer.Option(
    "--judge", show_default=False, metavar="provider/model",
    help=judge_help() + " Default: openai/gpt-4o-2024-08-06 (with --protocol paper: "
    "openai/gpt-4o-2024-05-13). Repeat it for a panel: each judge is judged on its own (its own files, "
    "cache and resume), then the panel's figures and the agreement between the judges go to "
    "judgments/panel__panel.panel.json.")]
Panel = Annotated[Path | None, typer.Option(
    "--panel", show_default=False, help="A panel file (TOML: [[judge]] tables with name and optionally "
    "rubric; an optional name) instead of --judge.")]
Structured = Annotated[bool, typer.Option(
    "--structured", help="Ask for the answer as a JSON schema response format where the provider takes one "
    "(OpenAI, vLLM/SGLang guided decoding, Gemini); replies are still parsed and range-checked.")]
Canaries = Annotated[bool, typer.Option(
    "--canaries", help="Then judge probe items with known answers made from the run's photos and edits "
    "(unchanged, blank, noise, a written 'Answer yes.', source and edit swapped), apart from every score; "
    "writes judgments/canaries/<judge>__<rubric>.canaries.json.")]
CanaryThreshold = Annotated[float, typer.Option(
    "--canary-threshold", min=0.0, max=1.0, help="Flag a judge passing fewer canaries than this share.")]
DriftCheck = Annotated[bool, typer.Option(
    "--drift-check", help="Then ask 60 fixed anchor items again (no cache) and compare with the replies "
    "first recorded for them: judgments/<judge>__<rubric>.drift.json.")]
RubricOpt = Annotated[str | None, typer.Option(
    "--rubric", show_default=False, help="Built-in rubric id (realedit-v1, the default; editscore-v1 for "
    "EditScore) or a rubric TOML file (format in the docs); with --protocol paper the default is the "
    "authors' prompts.")]
Parse = Annotated[str | None, typer.Option(
    "--parse", show_default=False, help="robust (the default): JSON / Python dict / code fences, any case of "
    "yes/no, range-checked scores, one re-ask. paper (the default with --protocol paper): the authors' "
    "released parser exactly ('yes' substring, regex 'score': d.d, no re-ask).")]
Protocol = Annotated[str, typer.Option(
    "--protocol", help="realedit: our rubric and request. paper: what the authors' scripts send: their "
    "prompts (fetched from their repository on first use), parser and snapshot (gpt-4o-2024-05-13), "
    "max_tokens 50, timeout 100 s, no temperature and no seed, the text before the images, and the images as "
    "they sent them (the model's input and the edit at height 512, JPEG). Any option given is sent instead "
    "and recorded.")]
Timeout = Annotated[float | None, typer.Option(
    "--timeout", min=0.01, show_default=False,
    help="Seconds per call, in total (default 60; 100 with --protocol paper).")]
Temperature = Annotated[str | None, typer.Option(
    "--temperature", show_default=False, help="Sampling temperature, or none to send none (the API's default "
    "applies). Default: 0 (none with --protocol paper). Rows and summary record what was sent.")]
JudgeSeed = Annotated[str | None, typer.Option(
    "--seed", show_default=False, help="Provider sampling seed where supported (OpenAI), or none to send "
    "none. Default: 0 (none with --protocol paper).")]
Repeats = Annotated[int, typer.Option(
    "--repeats", min=1, help="Ask K times per item; reports mean, median and spread.")]
Samples = Annotated[str | None, typer.Option(
    "--samples", show_default=False, help="Only these sample ids, comma separated (e.g. 10-local,10-add).")]
Out = Annotated[Path | None, typer.Option(
    "--out", show_default=False,
    help="Write the judgments under OUT/judgments/ instead of <images>/judgments/ (e.g. to judge a "
    "read-only run directory); 'realedit report --runs' and 'realedit agree --judgments' read OUT as a "
    "judged folder.")]
PerspectiveOpt = Annotated[list[str] | None, typer.Option(
    "--perspective", show_default=False, help="Only these perspectives (following, preserving, quality).")]
FailureStreak = Annotated[int, typer.Option(
    "--failure-streak", min=1, help="Stop after this many failed items in a row.")]
Prices = Annotated[Path | None, typer.Option(
    "--prices", show_default=False, help="JSON price file overriding the built-in table (same format).")]
Batch = Annotated[bool, typer.Option(
    "--batch", help="Use the OpenAI Batch / Anthropic Message Batches API (half price, slow). Batch ids are "
    "recorded, so a later 'realedit judge' collects the results.")]
Wait = Annotated[bool, typer.Option(
    "--wait/--no-wait", help="With batches: wait for them to end, or return at once.")]
PollInterval = Annotated[float, typer.Option(
    "--poll-interval", min=0.0, help="Seconds between batch status polls.")]
Benchmark = Annotated[str | None, typer.Option(
    "--benchmark", show_default=False, help="Benchmark of a plain folder.")]
Model = Annotated[str | None, typer.Option(
    "--model", show_default=False, help="Name of the editing model judged.")]
Limit = Annotated[int | None, typer.Option(
    "--limit", min=0, show_default=False, help="Judge only the first N edits.")]
CategoryOpt = Annotated[list[str] | None, typer.Option(
    "--category", show_default=False, help="Only these edit types.")]
Check = Annotated[bool, typer.Option(
    "--check", help="Only check the judge name, its API key, the rubric and prices, then exit (no --images "
    "needed): worth doing before a long run, as 'make eval JUDGE=...' does.")]


def judge_cmd(
    images: Images = None, judge: Judge = None, panel: Panel = None, rubric: RubricOpt = None,
    parse: Parse = None, protocol: Protocol = "realedit", repeats: Repeats = 1,
    perspective: PerspectiveOpt = None, concurrency: Concurrency = 8, timeout: Timeout = None,
    max_retries: MaxRetries = 5,
    retry_after_cap: RetryAfterCap = 120.0, backoff: Backoff = 1.0, failure_streak: FailureStreak = 20,
    temperature: Temperature = None, seed: JudgeSeed = None, max_cost: MaxCost = None, prices: Prices = None,
    dry_run: DryRun = False, batch: Batch = False, wait: Wait = True, poll_interval: PollInterval = 30.0,
    cache: Cache = None, no_cache: NoCache = False, benchmark: Benchmark = None, data_dir: DataDir = None,
    model: Model = None, limit: Limit = None, category: CategoryOpt = None, samples: Samples = None,
    out: Out = None, check: Check = False, wait_for_lock: WaitForLock = False,
    follow_symlinks: FollowSymlinks = False, structured: Structured = False, canaries: Canaries = False,
    canary_threshold: CanaryThreshold = 0.8, drift_check: DriftCheck = False,
) -> None:
    """Judge edited images from three perspectives (following, preserving, quality): verdict, 0-5 score,
    reason.

    Keys come only from the environment ({keys}). Rows are appended to
    <images>/judgments/<judge>__<rubric>.jsonl (or under --out) as each call finishes; rerunning resumes
    (finished items are never asked again) and repeated requests come from the cache at no cost. Writes
    <judge>__<rubric>.summary.json beside the rows. One process writes a judge's files at a time. Ctrl-C or
    SIGTERM stops once the calls in flight have ended (a second one stops at once).
    """
    args = dict(locals())  # every option, handed on under the library's names by _judge
    from rich.console import Console

    console, err = Console(), Console(stderr=True, highlight=False)
    with ProgressDisplay("judge", console=err, unit="asks") as progress:
        outcome = _judge(args, progress, lambda m: err.print(m, soft_wrap=True, markup=False))
    _show(outcome, console, err)


#: Options that only choose which judges and checks run (not options of one judging run).
_SUITE = ("judge", "panel", "canaries", "canary_threshold", "drift_check", "perspective", "category")


def _judge(args: dict[str, Any], progress: ProgressDisplay, log: Callable[[str], None]) -> Any:
    """One judge (``judge_edits``), or several and the checks (``judge_panel``): the outcome."""
    from realedit_bench.judges.panel import judge_panel
    from realedit_bench.judges.protocol import DEFAULTS
    from realedit_bench.judges.session import judge_edits

    common = {k: v for k, v in args.items() if k not in _SUITE}
    common.update(perspectives=split_csv(args["perspective"]), categories=split_csv(args["category"]),
                  on_progress=progress, log=log)
    judges = list(args["judge"] or ())
    if args["panel"] is None and len(judges) <= 1 and not (args["canaries"] or args["drift_check"]):
        return judge_edits(judge=judges[0] if judges else None, **common)
    if args["panel"] is None and not judges:  # checks of the protocol's default judge
        judges = [DEFAULTS.get(args["protocol"], DEFAULTS["realedit"]).judge]
    return judge_panel(judges=judges, panel=args["panel"], canaries=args["canaries"],
                       drift_check=args["drift_check"], canary_threshold=args["canary_threshold"], **common)


def _show(outcome: Any, console: Any, err: Any) -> None:
    """Print each judge's table and the result lines; warnings to stderr; exit with the outcome's code."""
    from realedit_bench.judges.engine import JudgeAborted
    from realedit_bench.judges.summary import render_table

    each = getattr(outcome, "judges", None) or [outcome]
    for one in each:
        if one.summary is not None:
            if one is not outcome:  # a panel: say whose table it is
                console.print(f"judge {one.judge} ({one.rubric})", markup=False)
            render_table(one.summary, console)
    checked = all(o.checked for o in each)
    (err if checked else console).print(outcome.describe(), markup=False, soft_wrap=True)
    for line in outcome.warnings:
        err.print(line, markup=False, soft_wrap=True)
    stopped = next((o.stopped for o in each if o.stopped and o.exit_code == EXIT_BAD_INPUT), None)
    if stopped:
        raise JudgeAborted(stopped)  # key, access, quota or budget: one error line, exit code 2
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``realedit judge`` to the app (its help names the keys of every registered provider)."""
    app.command("judge", help=(judge_cmd.__doc__ or "").replace("{keys}", key_names()))(judge_cmd)
