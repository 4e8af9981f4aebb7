"""``realedit reproduce table1|table2|table3``: the paper's tables beside ours, cell by cell, on a page of the
site. The options are declared here; the work is :func:`realedit_bench.api.reproduce_table`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realedit_bench.cli._common import DataDir, finish, parse_key_values, print_lines, split_csv
from realedit_bench.cli._progress import ProgressDisplay
from realedit_bench.errors import ConfigError

Table = Annotated[str, typer.Argument(
    help="table1 (GPT-4o judge on Real-Edit, with the authors' protocol), table2 (CLIP-I and CLIP-T on the "
    "MagicBrush test set) or table3 (human ratings on Real-Edit).", show_default=False)]
Runs = Annotated[Path, typer.Option(
    "--runs", help="The folder of run directories: each method's run (resumed when it exists) and the record "
    "reproduction-<table>.json.")]
Out = Annotated[Path, typer.Option("--out", help="The site folder the reproduction page is written into.")]
Judge = Annotated[str | None, typer.Option(
    "--judge", show_default=False, help="Table 1's judge (default: the authors' openai/gpt-4o-2024-05-13; "
    "another is sent instead and recorded).")]
Models = Annotated[list[str] | None, typer.Option(
    "--models", show_default=False, help="Only these editors of the table, comma separated (default: all).")]
Weights = Annotated[list[str] | None, typer.Option(
    "--weights", show_default=False, help="EDITOR=WEIGHTS (a hub id or a local folder), repeatable: weights "
    "of an editor without defaults (smartedit, hive, reward-smartedit) or other weights (recorded).")]
Settings = Annotated[list[str] | None, typer.Option(
    "-M", "--model-arg", show_default=False, help="EDITOR:key=value, repeatable: a setting of one editor "
    "(e.g. -M instruct-pix2pix:steps=20); recorded, and listed on the page.")]
Limit = Annotated[int | None, typer.Option(
    "--limit", min=0, show_default=False,
    help="Only the first N samples (a subset: not the paper's numbers).")]
Samples = Annotated[str | None, typer.Option(
    "--samples", show_default=False, help="Only these sample ids, comma separated.")]
Seed = Annotated[int, typer.Option(
    "--seed", help="Base seed of the runs; each sample's seed derives from it (the authors seeded one "
    "generator with 42).")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:N].")]
Dtype = Annotated[str, typer.Option("--dtype", help="auto (fp16 on CUDA, fp32 on CPU), fp32, fp16 or bf16.")]
Human = Annotated[list[Path] | None, typer.Option(
    "--human", show_default=False,
    help="Table 3: human ratings (the format of 'realedit agree'), repeatable.")]
ClipWeights = Annotated[Path | None, typer.Option(
    "--clip-weights", show_default=False, help="Table 2: local CLIP weights (as 'realedit metrics').")]
MaxCost = Annotated[float | None, typer.Option(
    "--max-cost", min=0.0, show_default=False, help="Table 1: USD the judge may spend on each method's run.")]
DryRun = Annotated[bool, typer.Option(
    "--dry-run", help="Say what would run, what is missing, the GPU time expected (an estimate) and the "
    "judge's calls and cost; run, send and write nothing.")]


def _by_editor(items: list[str] | None, sep: str, flag: str) -> dict[str, str]:
    """``EDITOR<sep>rest`` items as editor -> rest."""
    out = {}
    for item in items or []:
        editor, found, rest = item.partition(sep)
        if not found or not editor.strip() or not rest:
            raise ConfigError(f"{flag} {item!r}: expected EDITOR{sep}...")
        out[editor.strip()] = rest
    return out


def _settings(items: list[str] | None) -> dict[str, dict[str, str]]:
    """``-M EDITOR:key=value`` items as editor -> {key: value}."""
    out: dict[str, dict[str, str]] = {}
    for item in items or []:
        editor, found, kv = item.partition(":")
        if not found or not editor.strip():
            raise ConfigError(f"-M {item!r}: expected EDITOR:key=value")
        out.setdefault(editor.strip(), {}).update(parse_key_values([kv]))
    return out


def reproduce_cmd(
    table: Table, runs: Runs = Path("runs"), out: Out = Path("site"), data_dir: DataDir = None,
    judge: Judge = None, models: Models = None, weights: Weights = None, settings: Settings = None,
    limit: Limit = None, samples: Samples = None, seed: Seed = 42, device: Device = "auto",
    dtype: Dtype = "auto", human: Human = None, clip_weights: ClipWeights = None, max_cost: MaxCost = None,
    dry_run: DryRun = False,
) -> None:
    """Reproduce a table of the paper: run every method that has an editor (a finished run resumes), judge
    with --protocol paper (Table 1), measure CLIP-I/CLIP-T on MagicBrush (Table 2) or average the human
    ratings (Table 3), and write a page into the site: the paper's value, ours with its 95% interval and
    whether it lies inside, every remaining difference from the authors' protocol and each model's
    settings. Methods without an editor stay published rows. Start with --dry-run. Exit code 1: a method
    with an editor could not be reproduced (the output says what is missing).
    """
    from rich.console import Console

    from realedit_bench.api import reproduce_table

    console = Console(stderr=True)
    with ProgressDisplay(f"reproduce {table}", console=console) as progress:
        outcome = reproduce_table(
            table, runs=runs, out=out, data_dir=data_dir, judge=judge, models=split_csv(models),
            weights=_by_editor(weights, "=", "--weights"), settings=_settings(settings), limit=limit,
            samples=samples, seed=seed, device=device, dtype=dtype, human=human or [],
            clip_weights=clip_weights, max_cost=max_cost, dry_run=dry_run, on_progress=progress,
            log=lambda line: console.print(line, markup=False, soft_wrap=True),
        )
    if outcome.plan:  # the dry run's plan is the result: on stdout
        typer.echo(outcome.plan)
    else:
        print_lines(console, outcome.describe(), soft_wrap=True)
    finish(outcome)


def register(app: typer.Typer) -> None:
    """Add ``realedit reproduce``."""
    app.command("reproduce")(reproduce_cmd)
