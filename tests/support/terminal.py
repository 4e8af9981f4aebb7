"""Running the ``realedit`` console script on a pseudo-terminal, as a person at a terminal sees it."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import NamedTuple


class Screen(NamedTuple):
    """What a command wrote to its terminal (stdout and stderr share it), and its exit code."""

    returncode: int
    text: str


def terminal_env(env: dict[str, str] | None = None, columns: int = 80) -> dict[str, str]:
    """The environment of a command on a terminal ``columns`` wide (no colour forced, none refused)."""
    full = {**os.environ, "HF_HUB_OFFLINE": "1", "TERM": "xterm-256color", "COLUMNS": str(columns),
            **(env or {})}
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE"):
        full.pop(name, None)
    return full


def realedit_on_terminal(*args: str, env: dict[str, str] | None = None, columns: int = 80,
                         timeout: float = 300) -> Screen:
    """Run ``realedit ARGS`` with stdin, stdout and stderr on a pseudo-terminal ``columns`` x 24."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    exe = Path(sys.executable).with_name("realedit")
    proc = subprocess.Popen([str(exe), *args], stdin=slave, stdout=slave, stderr=slave,
                            env=terminal_env(env, columns), close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the command closed the terminal: it has ended
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise TimeoutError(f"realedit {' '.join(args)} ran past {timeout} s")
    finally:
        os.close(master)
    return Screen(proc.wait(timeout=30), b"".join(chunks).decode("utf-8", errors="replace"))
