"""``realedit data fetch|verify|info``: get and check benchmark data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realedit_bench.cli._common import (
    DATA_DIR_HELP,
    DataDir,
    FollowSymlinks,
    WaitForLock,
    finish,
    print_lines,
)
from realedit_bench.cli._progress import ProgressDisplay
from realedit_bench.errors import ConfigError

data_app = typer.Typer(help="Get, verify and describe benchmark data.", no_args_is_help=True)

Benchmark = Annotated[str, typer.Option("--benchmark", help="real-edit or magicbrush.")]
Dest = Annotated[Path | None, typer.Option(
    "--data-dir", help="Where to put the data. " + DATA_DIR_HELP, show_default=False)]
From = Annotated[Path | None, typer.Option(
    "--from", help="Import from a local copy instead of downloading. Real-Edit: a folder holding the "
    "instruction JSON and its image folder. MagicBrush: the password-protected test zip, or (faster: no "
    "decryption in Python) the folder made by 'unzip -P MagicBrush test.zip'.", show_default=False)]
Source = Annotated[str, typer.Option(
    "--source", help="github: the public copy in bytedance/SuperEdit at a pinned commit; hf: the gated "
    "Hugging Face dataset Gstar666/RewardEdit (needs HF_TOKEN). Ignored with --from and for MagicBrush.")]
Repair = Annotated[bool, typer.Option(
    "--repair", help="Replace files in the destination that differ from the release (without it they are "
    "refused); each replaced file is kept as <name>.orig.")]


What = Annotated[str | None, typer.Argument(
    metavar="[paper-prompts]", show_default=False,
    help="paper-prompts: the authors' judge prompts for 'realedit judge --protocol paper' instead of a "
    "benchmark (benchmarks are named with --benchmark), read from their scripts "
    "(bytedance/Multi-Reward-Editing at a pinned commit, Apache-2.0) and cached in "
    "<cache root>/data/paper-prompts; --from DIR imports their gpt_eval/eval_*.py files or the six prompt "
    ".txt files.")]


@data_app.command("fetch")
def fetch_cmd(
    what: What = None, benchmark: Benchmark = "real-edit", data_dir: Dest = None, from_dir: From = None,
    source: Source = "github", repair: Repair = False, wait_for_lock: WaitForLock = False,
) -> None:
    """Download (or import) benchmark data, or the authors' judge prompts, and verify every file's sha256.

    Resumable: files already present and correct are kept; a partial download continues where it stopped.
    Files you changed are never replaced without --repair. Exit code 130 on Ctrl-C (rerun to resume).
    """
    from rich.console import Console

    from realedit_bench.api import PAPER_PROMPTS, fetch_data

    if what is not None and what != PAPER_PROMPTS:  # one vocabulary: a benchmark is named by --benchmark
        raise ConfigError(f"data fetch names {PAPER_PROMPTS} or --benchmark NAME, not {what!r} (--benchmark "
                          f"{what})")
    if what is not None and benchmark != "real-edit":
        raise ConfigError(f"fetch {what} or --benchmark {benchmark}: name one of them")
    name = what or benchmark
    console = Console(stderr=True)
    unit = "samples" if name == "magicbrush" else "files"
    with ProgressDisplay(name, console=console, unit=unit) as progress:
        outcome = fetch_data(name, data_dir=data_dir, from_dir=from_dir, source=source, repair=repair,
                             wait_for_lock=wait_for_lock, on_progress=progress)
    print_lines(console, outcome.describe(), soft_wrap=True)
    finish(outcome)


@data_app.command("verify")
def verify_cmd(
    data_dir: DataDir = None,
    benchmark: Benchmark = "real-edit",
    no_hash: Annotated[bool, typer.Option(
        "--no-hash", help="Skip the sha256 check (a modified or custom data set).")] = False,
    follow_symlinks: FollowSymlinks = False,
) -> None:
    """Check that the data parses, matches the released hashes and that every image decodes safely.

    MagicBrush (no public hashes: its test split is not redistributed) is checked for a parsable
    samples.jsonl and for every source, target and mask image existing and decoding.
    """
    from rich.console import Console

    from realedit_bench.api import verify_data

    outcome = verify_data(benchmark, data_dir=data_dir, check_hashes=not no_hash,
                          follow_symlinks=follow_symlinks)
    print_lines(Console(), outcome.describe(), soft_wrap=True)


@data_app.command("info")
def info_cmd(data_dir: DataDir = None, benchmark: Benchmark = "real-edit") -> None:
    """Describe the data: where it is, how many samples per category, its content hash."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from realedit_bench.api import data_info

    info = data_info(benchmark, data_dir=data_dir)
    console = Console()
    # The folder on a line of its own, never split: it is copied into other commands.
    console.print(f"{info.name} in {info.data_dir}", markup=False, highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("category")
    table.add_column("samples", justify="right")
    for cat, n in info.counts.items():
        table.add_row(escape(cat), str(n))
    table.add_row("[bold]total", f"[bold]{sum(info.counts.values())}")
    console.print(table)
    console.print(info.identity(), markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``realedit data``."""
    app.add_typer(data_app, name="data")
