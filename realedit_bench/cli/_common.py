"""Options and helpers shared by several verbs."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from realedit_bench.errors import ConfigError

DATA_DIR_HELP = (
    "Benchmark data directory (holds eval_instruct.json and imgs/). "
    "Default: $REALEDIT_DATA_DIR, else ~/.cache/realedit/data/<benchmark>."
)


def data_dir_option() -> Path | None:
    """The ``--data-dir`` option."""
    return typer.Option(None, "--data-dir", help=DATA_DIR_HELP, show_default=False)


def check_out_dir(path: Path, what: str) -> None:
    """Create the output folder ``path`` now, so a path that cannot hold results fails in one line before
    any slow work (a file in the way, a read-only or virtual file system, no permission)."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file; give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".realedit-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot create or write it ({exc.strerror or exc})") from exc


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
