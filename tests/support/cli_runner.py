"""Running the ``realedit`` command line from a test: in a subprocess or in this process."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def realedit_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300):
    """Run the installed ``realedit`` console script in a subprocess."""
    import subprocess

    exe = Path(sys.executable).with_name("realedit")
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout
    )


class Result:
    """Outcome of an in-process CLI call."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def invoke(*args: str) -> Result:
    """Run ``realedit ARGS`` in this process through the same entry point as the console script.

    Cheaper than a subprocess (no second torch import); the kill -9 tests still use real subprocesses.
    """
    import contextlib
    import io

    from realedit_bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    old_argv = sys.argv
    sys.argv = ["realedit", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main.run()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old_argv
    return Result(code, out.getvalue(), err.getvalue())
