"""One writer per output: an advisory ``flock`` on a lock file, dropped by the OS when the process ends
however it ends (the file itself stays, empty once released).

``run`` (a run directory), ``judge`` (one judge's files of a run), ``metrics``, ``reward train`` and
``data fetch`` hold one while they write. The holder writes who it is into the lock file (pid, host,
command, since when), so a second process says in one line who holds it and stops (exit code 2), or, with
``--wait-for-lock``, says once what it waits for and waits.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from realedit_bench.errors import ConfigError

#: The option that waits for a lock instead of stopping (the same in every verb that writes).
WAIT_OPTION = "--wait-for-lock"
#: Seconds between two tries while waiting.
POLL_SECONDS = 0.5


def _holder_text() -> str:
    """Who this process is, as written into a lock it holds."""
    from realedit_bench.provenance import command_line, utc_now

    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(command_line()),
                       "since": utc_now()})


def describe_holder(fd: int) -> str:
    """``pid 123 on host h since <time>: <command>`` from a lock file's content, or a plain phrase."""
    try:
        data = json.loads(os.pread(fd, 1 << 16, 0).decode("utf-8"))
        return (f"pid {int(data['pid'])} on host {data['host']} since {data['since']}: "
                f"{str(data['command'])[:200]}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "a process that did not say who it is"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _open_lock(path: Path) -> int:
    """A read-write descriptor of the lock file (created), refusing anything but a regular file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise ConfigError(f"cannot write in {path.parent}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ConfigError(f"lock file {path} is not a file; remove it")
    return fd


@contextlib.contextmanager
def folder_lock(folder: Path, name: str, what: str, *, wait: bool = False,
                log: Callable[[str], None] | None = None, target: Path | None = None) -> Iterator[None]:
    """Hold an exclusive lock on what is written in ``folder`` (lock file ``folder/name``) for the block.

    Args:
        folder: The folder written; created when missing.
        name: The lock file's name (one folder may hold locks of several outputs).
        what: What holds such a lock, for the message: ``realedit judge`` says "another realedit judge is
            writing <folder>".
        wait: Wait for the holder to finish instead of raising.
        log: Receives the one line saying what this process waits for (with ``wait``; default stderr).
        target: What the messages say is written, when not ``folder`` itself (a run directory whose lock
            sits beside it).

    Raises:
        ConfigError: another process holds the lock (and ``wait`` is off), or the folder cannot be written.
    """
    import fcntl

    fd = _open_lock(Path(folder) / name)
    try:
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                busy = f"another {what} is writing {target or folder} ({describe_holder(fd)})"
                if not wait:
                    raise ConfigError(f"{busy}; let it finish or stop it, or pass {WAIT_OPTION} to wait "
                                      "for it") from None
                if not said:
                    (log or _say)(f"waiting: {busy}")
                said = True
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder_text().encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # released: nobody holds it any more
    finally:
        os.close(fd)
