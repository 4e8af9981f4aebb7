"""``realedit judge``: score every edit from three perspectives with a vision-language model."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import typer

from realedit_bench.errors import ConfigError

DATA_DIR_HELP = (
    "Benchmark data directory (holds eval_instruct.json and imgs/). "
    "Default: $REALEDIT_DATA_DIR, else ~/.cache/realedit/data/<benchmark>."
)


def split_csv(values: list[str] | None) -> list[str]:
    """Flatten ``--x a,b --x c`` into ``[a, b, c]``."""
    return [p.strip() for v in values or [] for p in v.split(",") if p.strip()]


def judge_cmd(
    images: Path | None = typer.Option(
        None, "--images", show_default=False,
        help="A run directory of 'realedit run', or a folder of edited images named <sample_id>.<png|jpg|jpeg|webp> "
        "(e.g. 10-local.png; case is ignored; subfolders are not read). Results go to <it>/judgments/.",
    ),
    judge: str = typer.Option(
        "openai/gpt-4o-2024-08-06", "--judge",
        help="provider/model: openai/<model> (Azure OpenAI when AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY are "
        "set), anthropic/<model>, or openai-api/<base-url>/<model> for vLLM, SGLang, Ollama.",
    ),
    rubric: str = typer.Option(
        "realedit-v1", "--rubric", help="Built-in rubric id (realedit-v1) or a rubric TOML file (format in the docs)."
    ),
    parse: str = typer.Option(
        "robust", "--parse",
        help="robust: JSON / Python dict / code fences, any case of yes/no, range-checked scores, one re-ask. "
        "paper: the authors' released parser exactly ('yes' substring, regex 'score': d.d, no re-ask).",
    ),
    samples: int = typer.Option(1, "--samples", min=1, help="Ask K times per item; reports mean, median and spread."),
    perspective: list[str] = typer.Option(
        None, "--perspective", show_default=False, help="Only these perspectives (following, preserving, quality)."
    ),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Calls in flight at once."),
    timeout: float = typer.Option(60.0, "--timeout", min=0.01, help="Seconds per call, in total."),
    max_retries: int = typer.Option(5, "--max-retries", min=0, help="Retries of a failed call (429, 5xx, timeout)."),
    retry_after_cap: float = typer.Option(120.0, "--retry-after-cap", min=0, help="Longest Retry-After honoured (s)."),
    backoff: float = typer.Option(1.0, "--backoff", min=0, help="First backoff delay in seconds (doubles, jittered)."),
    failure_streak: int = typer.Option(20, "--failure-streak", min=1, help="Stop after this many failed items in a row."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="Sampling temperature."),
    seed: int = typer.Option(0, "--seed", help="Provider sampling seed where supported (OpenAI)."),
    max_cost: float | None = typer.Option(
        None, "--max-cost", min=0.0, show_default=False, help="Stop dispatching before this many USD would be spent."
    ),
    prices: Path | None = typer.Option(
        None, "--prices", show_default=False, help="JSON price file overriding the built-in table (same format)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print calls, tokens and estimated cost; send nothing."),
    batch: bool = typer.Option(
        False, "--batch", help="Use the OpenAI Batch / Anthropic Message Batches API (half price, slow). Batch ids are "
        "recorded, so a later 'realedit judge' collects the results."
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="With batches: wait for them to end, or return at once."),
    poll_interval: float = typer.Option(30.0, "--poll-interval", min=0.0, help="Seconds between batch status polls."),
    cache: Path | None = typer.Option(
        None, "--cache", show_default=False, help="SQLite judge cache (default: <cache root>/judge-cache.sqlite)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the judge cache."),
    benchmark: str | None = typer.Option(None, "--benchmark", show_default=False, help="Benchmark of a plain folder."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP, show_default=False),
    model: str | None = typer.Option(None, "--model", show_default=False, help="Name of the editing model judged."),
    limit: int | None = typer.Option(None, "--limit", min=0, show_default=False, help="Judge only the first N edits."),
    category: list[str] = typer.Option(None, "--category", show_default=False, help="Only these edit types."),
    check: bool = typer.Option(
        False, "--check", help="Only check the judge name, its API key, the rubric and prices, then exit (no "
        "--images needed): worth doing before a long run, as 'make eval JUDGE=...' does."
    ),
) -> None:
    """Judge edited images from three perspectives (following, preserving, quality): verdict, 0-5 score, reason.

    Keys come only from the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY, AZURE_OPENAI_API_KEY,
    OPENAI_COMPAT_API_KEY). Rows are appended to <images>/judgments/<judge>__<rubric>.jsonl as each call
    finishes; rerunning resumes (finished items are never asked again) and repeated requests come from the
    cache at no cost. Writes <judge>__<rubric>.summary.json beside the rows.
    """
    from rich.console import Console
    from rich.markup import escape

    from realedit_bench.datasets import select
    from realedit_bench.inputs import resolve_edits
    from realedit_bench.judges.backends import make_backend
    from realedit_bench.judges.cache import JudgeCache
    from realedit_bench.judges.engine import PARSE_MODES, EngineConfig, JudgeAborted, ParseMode
    from realedit_bench.judges.prices import load_prices
    from realedit_bench.judges.rubric import load_rubric
    from realedit_bench.judges.runner import JudgeOptions, judge_edits, render_table
    from realedit_bench.schema.base import PERSPECTIVES, is_perspective
    from realedit_bench.settings import cache_root

    console = Console()
    err = Console(stderr=True, highlight=False)
    # Everything a user can get wrong is checked before any image is read or any call is made.
    if parse not in PARSE_MODES:
        raise ConfigError(f"--parse must be robust or paper, not {parse!r}")
    parse_mode = cast(ParseMode, parse)  # checked just above
    names = split_csv(perspective) or list(PERSPECTIVES)
    bad = [p for p in names if not is_perspective(p)]
    if bad:
        raise ConfigError(f"unknown perspective {bad[0]!r} (known: {', '.join(PERSPECTIVES)})")
    persp = list(dict.fromkeys(p for p in names if is_perspective(p)))  # a repeated name counts once
    if cache is not None and no_cache:
        raise ConfigError("--cache and --no-cache exclude each other")
    rub = load_rubric(rubric)
    price_table = load_prices(prices)
    backend = make_backend(judge, check_key=not dry_run)  # a missing key: one line and exit code 2
    if batch and not backend.supports_batch:
        raise ConfigError(f"--batch is not available for {backend.provider}/ judges (OpenAI and Anthropic only)")
    if max_cost is not None and price_table.lookup(judge) is None:
        raise ConfigError(f"--max-cost needs a price for {judge}: add it to a --prices file")
    if check:
        if images is not None and not images.exists():
            raise ConfigError(f"--images {images} does not exist (a run directory or a folder of edited images)")
        err.print(f"judge {judge}: name, key, rubric {rub.id} and prices are in order", markup=False, soft_wrap=True)
        return
    if images is None:
        raise ConfigError("--images is required: a run directory or a folder of edited images")

    edits = resolve_edits(images, data_dir=data_dir, benchmark=benchmark, model=model)
    if limit is not None or category:
        # Edits whose output is gone are selected like the others (they become error rows, not silence).
        by_id = {s.sample_id: s for s in edits.benchmark.samples}
        candidates = [it.sample for it in edits.items] + [by_id[sid] for sid, _ in edits.unreadable]
        order = {s.sample_id: i for i, s in enumerate(edits.benchmark.samples)}
        candidates.sort(key=lambda s: order[s.sample_id])
        keep = {s.sample_id for s in select(candidates, limit=limit, categories=split_csv(category) or None)}
        # Missing edits are reported only within the selection (the categories, up to the last selected).
        cats = set(split_csv(category) or ()) or None
        last = max((order[sid] for sid in keep), default=-1)
        in_scope = [m for m in edits.missing if m in order and (cats is None or by_id[m].category in cats)
                    and (limit is None or order[m] < last)]
        edits = edits._replace(items=[it for it in edits.items if it.sample.sample_id in keep],
                               unreadable=tuple(u for u in edits.unreadable if u[0] in keep), missing=in_scope)
    gone = {sid for sid, _ in edits.unreadable}
    edits = edits._replace(missing=[m for m in edits.missing if m not in gone])  # listed as unreadable below
    if edits.n_missing:
        err.print(f"[yellow]missing edits (not judged):[/] {escape(edits.describe_missing())}")
    if edits.unmatched:
        shown = ", ".join(edits.unmatched[:20]) + (
            f" ... ({len(edits.unmatched)} in all)" if len(edits.unmatched) > 20 else "")
        err.print(f"[yellow]files matching no sample id (ignored; edits must sit directly in the folder, "
                  f"named <sample_id>.<png|jpg|jpeg|webp>):[/] {escape(shown)}")
    if not edits.items and not edits.unreadable:
        raise ConfigError(f"{images}: no edited image to judge")

    engine = EngineConfig(
        concurrency=concurrency, timeout=timeout, max_retries=max_retries, backoff_base=backoff,
        retry_after_cap=retry_after_cap, failure_streak=failure_streak, temperature=temperature, seed=seed,
        parse_mode=parse_mode, max_cost=max_cost, batch=batch,
    )
    options = JudgeOptions(judge=judge, samples=samples, perspectives=persp, engine=engine, dry_run=dry_run,
                           wait=wait, poll_interval=poll_interval)
    jc = None if no_cache else JudgeCache(cache or cache_root() / "judge-cache.sqlite")
    try:
        result = judge_edits(edits, backend, rub, options, cache=jc, prices=price_table,
                             log=lambda m: err.print(m, soft_wrap=True))
    finally:
        if jc is not None:
            jc.close()

    def list_unreadable() -> None:
        if result.unreadable:
            err.print(f"[yellow]{len(result.unreadable)} edits could not be read "
                      f"(recorded as error rows, not judged):[/]", soft_wrap=True)
            for line in result.unreadable:
                err.print(f"  {line}", soft_wrap=True, markup=False)

    if result.dry_run is not None:
        list_unreadable()
        d = result.dry_run
        cost = f"${d['cost_usd']:.4f}" if d["priced"] else f"unknown (no price for {judge}; pass --prices)"
        console.print(
            f"dry run: {len(edits.items)} edits x {len(persp)} perspectives x {samples} = "
            f"{len(edits.items) * len(persp) * samples} asks; {result.resumed} already judged; "
            f"{d['cached']} in the cache; {d['calls']} calls to send\n"
            f"estimated tokens: {d['input_tokens']:,} input, at most {d['output_tokens_max']:,} output "
            f"(re-asks of unparseable replies would add more)\n"
            f"estimated cost: {cost}{' (batch price)' if batch else ''}. Nothing was sent."
        )
        return
    rep = result.report
    if result.summary is not None:
        render_table(result.summary, console)
    console.print(f"rows: {result.paths.rows}\nsummary: {result.paths.summary}", markup=False)
    if rep is not None:
        console.print(f"this run: {rep.finished} judged, {result.resumed} resumed, {rep.calls_sent} calls sent")
    if result.relabelled:
        # Remade files whose judged bytes did not change: the rows now name the current file (no call).
        console.print(f"{result.relabelled} judgments kept for edited files remade with the same image "
                      f"(re-labelled with the current file's sha256; nothing asked)")
    if result.batch_pending:
        console.print(f"batches still running: {', '.join(result.batch_pending)}; run the same command again "
                      f"to collect them")
    summ = result.summary
    # Exit codes (README): 0 done; 1 some samples failed (error rows, a rerun retries them); 2 a problem
    # the user must fix first (key, access, quota, budget). Invalid and refused rows are the judge's final
    # answers (a rerun would not change them), so they warn but keep exit 0.
    if summ is not None:
        n_invalid = sum(p.n_invalid for p in summ.perspectives.values())
        n_refused = sum(p.n_refused for p in summ.perspectives.values())
        if n_invalid or n_refused:
            err.print(f"[yellow]warning:[/] {n_invalid} judgments invalid (unparseable{'' if parse_mode == 'paper' else ' after one re-ask'}) and "
                      f"{n_refused} refused: counted, never scored; the rows' reason says why")
    list_unreadable()
    if rep is not None and rep.stopped:
        sent = f"{rep.errors} of the {rep.finished} asks finished in this run failed"
        unsent = f"{rep.not_dispatched} asks not sent" if rep.not_dispatched else "every ask was sent"
        then = {"streak": "; rerun the same command to retry", "fatal": "; fix that, then rerun the same command "
                "to resume"}.get(rep.stop_kind or "", "")  # the budget message says what to do itself
        message = f"{rep.stopped} ({sent}; {unsent}){then}"
        if rep.stop_kind == "streak":
            # The asks themselves failed (recorded as error rows): "some samples failed", not a usage error.
            err.print(message, soft_wrap=True, markup=False)
            raise typer.Exit(1)
        raise JudgeAborted(message)
    failed = sum(p.n_error for p in summ.perspectives.values()) if summ is not None else 0
    if failed:
        # Calls that failed for good are recorded as status "error"; a rerun asks them again.
        remake = (f" ({len(result.unreadable)} edited images could not be read: remake them with 'realedit run' "
                  f"or fix the files first)") if result.unreadable else ""
        err.print(f"{failed} judgments failed (status error, not scored); rerun the same command to retry them"
                  f"{remake}", markup=False)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``realedit judge`` to the app."""
    app.command("judge")(judge_cmd)
