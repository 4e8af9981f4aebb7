"""Options and helpers shared by several verbs."""

from __future__ import annotations

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
