"""Options and helpers shared by several verbs: parsing, printing, and exiting with an outcome (the progress
display is :mod:`realedit_bench.cli._progress`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from realedit_bench.errors import ConfigError, RealEditError

if TYPE_CHECKING:
    from rich.console import Console

    from realedit_bench.outcome import Outcome

DATA_DIR_HELP = (
    "Benchmark data directory (holds eval_instruct.json and imgs/). "
    "Default: $REALEDIT_DATA_DIR, else ~/.cache/realedit/data/<benchmark>."
)
DataDir = Annotated[Path | None, typer.Option("--data-dir", help=DATA_DIR_HELP, show_default=False)]

# Options of the verbs that ask a judge ('judge' and 'reward annotate'): calls, retries, money, cache.
Concurrency = Annotated[int, typer.Option("--concurrency", min=1, help="Calls in flight at once.")]
Timeout = Annotated[float, typer.Option("--timeout", min=0.01, help="Seconds per call, in total.")]
MaxRetries = Annotated[int, typer.Option(
    "--max-retries", min=0, help="Retries of a failed call (429, 5xx, timeout).")]
RetryAfterCap = Annotated[float, typer.Option(
    "--retry-after-cap", min=0, help="Longest Retry-After honoured (s).")]
Backoff = Annotated[float, typer.Option(
    "--backoff", min=0, help="First backoff delay in seconds (doubles, jittered).")]
Temperature = Annotated[float, typer.Option("--temperature", min=0.0, help="Sampling temperature.")]
JudgeSeed = Annotated[int, typer.Option("--seed", help="Provider sampling seed where supported (OpenAI).")]
MaxCost = Annotated[float | None, typer.Option(
    "--max-cost", min=0.0, show_default=False, help="Stop dispatching before this many USD would be spent.")]
DryRun = Annotated[bool, typer.Option(
    "--dry-run", help="Print calls, tokens and estimated cost; send nothing.")]
Cache = Annotated[Path | None, typer.Option(
    "--cache", show_default=False, help="SQLite judge cache (default: <cache root>/judge-cache.sqlite).")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the judge cache.")]

# One writer per output, and data read only from its folder: the same options in every verb.
WaitForLock = Annotated[bool, typer.Option(
    "--wait-for-lock", help="When another realedit process is writing the same output, wait for it to finish "
    "(without it: stop at once, saying which process holds it).")]
FollowSymlinks = Annotated[bool, typer.Option(
    "--follow-symlinks", help="Read data and image files that symlinks lead outside their folder (without it "
    "they are refused, so that nothing outside the data folder is read).")]


def parse_key_values(items: list[str] | None, flag: str = "-M") -> dict[str, str]:
    """Parse repeated ``key=value`` options."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: expected key=value")
        out[key.strip()] = value
    return out


def split_csv(values: list[str] | None) -> list[str]:
    """Flatten ``--x a,b --x c`` into ``[a, b, c]``."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def print_lines(console: Console, text: str, **options: Any) -> None:
    """Print each line of ``text`` literally (never as rich markup: it holds paths and user text)."""
    for line in text.splitlines():
        console.print(line, markup=False, **options)


def finish(outcome: Outcome) -> NoReturn:
    """Exit with the outcome's code; a problem found after the work started is printed as the one-line
    error."""
    if outcome.error is not None:
        raise RealEditError(outcome.error)
    raise typer.Exit(outcome.exit_code)
