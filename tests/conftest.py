"""Shared fixtures: paths to ../shared data and a tiny InstructPix2Pix pipeline saved once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Tiny models gain nothing from intra-op threads, and on a 2-core machine that also runs subprocesses,
# oversubscribed threads made steps ten times slower. Subprocesses inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL_EDIT = SHARED / "seed-data" / "real-edit"

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/ helpers (tiny_models, servers)


@pytest.fixture(scope="session")
def real_edit_dir() -> Path:
    """The real Real-Edit benchmark in ../shared (CI has it there)."""
    if not (REAL_EDIT / "eval_instruct.json").is_file():
        pytest.fail(f"Real-Edit seed data not found at {REAL_EDIT}")
    return REAL_EDIT


@pytest.fixture(scope="session")
def tiny_pix2pix_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight InstructPix2Pix pipeline, saved with save_pretrained."""
    from tiny_models import build_tiny_pix2pix

    return build_tiny_pix2pix(tmp_path_factory.mktemp("tiny") / "pipe")


def realedit_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300):
    """Run the installed ``realedit`` console script in a subprocess."""
    import subprocess

    exe = Path(sys.executable).with_name("realedit")
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout)


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
