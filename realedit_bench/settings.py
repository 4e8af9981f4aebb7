"""Where things live by default (every path can be overridden by a flag or an environment variable), and
the check that an output folder can hold results."""

from __future__ import annotations

import os
from pathlib import Path

from realedit_bench.errors import ConfigError

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


def check_out_dir(path: Path, what: str) -> None:
    """Create the output folder ``path`` now, so a path that cannot hold results fails in one line before
    any slow work (a file in the way, a read-only or virtual file system, no permission).

    Args:
        path: The folder.
        what: The option that named it, for the message (e.g. ``--out``).

    Raises:
        ConfigError: The folder cannot be created or written.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file; give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".realedit-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot create or write it ({exc.strerror or exc})") from exc
