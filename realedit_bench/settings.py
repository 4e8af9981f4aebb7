"""Where things live by default. Every path can be overridden by a flag or an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the Real-Edit data directory.
DATA_DIR_ENV = "REALEDIT_DATA_DIR"


def cache_root() -> Path:
    """``$REALEDIT_CACHE`` or ``$XDG_CACHE_HOME/realedit`` or ``~/.cache/realedit``."""
    if env := os.environ.get("REALEDIT_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "realedit"


def default_data_dir(benchmark: str = "real-edit") -> Path:
    """The data directory: ``$REALEDIT_DATA_DIR`` (Real-Edit only) or ``<cache_root>/data/<benchmark>``."""
    if benchmark == "real-edit" and (env := os.environ.get(DATA_DIR_ENV)):
        return Path(env).expanduser()
    return cache_root() / "data" / benchmark


def resolve_data_dir(given: Path | None, benchmark: str = "real-edit") -> Path:
    """``--data-dir`` if given, else the default for ``benchmark``."""
    return Path(given).expanduser() if given is not None else default_data_dir(benchmark)
