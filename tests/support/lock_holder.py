"""Another process holding one of realedit's output locks, for the one-writer tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_HOLD = """
import sys
from pathlib import Path
from realedit_bench.locks import folder_lock
with folder_lock(Path(sys.argv[1]), sys.argv[2], "realedit test-holder"):
    print("held", flush=True)
    sys.stdin.readline()
"""


class LockHolder:
    """A subprocess holding ``folder/name`` (as a verb would) until :meth:`release` or the block's end."""

    def __init__(self, folder: Path, name: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD, str(folder), name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "held"

    @property
    def pid(self) -> int:
        """The holder's process id (the one the messages name)."""
        return self.proc.pid

    def release(self) -> None:
        """Let go of the lock and end the process."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
