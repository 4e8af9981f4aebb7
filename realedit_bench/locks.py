"""One writer per folder: an advisory ``flock`` on a lock file inside it, dropped by the OS when the process
ends however it ends (the empty file itself stays). Used by ``data fetch`` and ``reward train``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from realedit_bench.errors import ConfigError


@contextlib.contextmanager
def folder_lock(folder: Path, name: str, busy: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (file ``folder/name``) for the ``with`` block.

    Args:
        folder: the folder written; created when missing.
        name: the lock file's name.
        busy: the one-line message when another process holds the lock.

    Raises:
        ConfigError: another process holds the lock, or the folder cannot be written.
    """
    import fcntl

    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ConfigError(f"cannot write in {folder}: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(busy) from None
        yield
    finally:
        os.close(fd)
