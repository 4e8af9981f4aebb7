"""Convert a HIVE ``.ckpt`` once into safetensors of its state dict (EMA applied), in a separate process.

The released checkpoints are PyTorch-Lightning pickles; some may hold training state whose classes the
restricted unpickler refuses. They are never unpickled without ``weights_only`` in the user's process:
a child process (``adapters.hive.ckpt_worker``) reads them through the restricted unpickler, with
inert stand-ins for any named class, and writes the safetensors. A later run finds the file, checks
its header against the source's size and modification time, and does nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from adapters.hive.ckpt_worker import FORMAT, FORMAT_VERSION
from realedit_bench.errors import WeightsError


class HiveConverted(NamedTuple):
    """The safetensors file, its header metadata, and whether this call wrote it."""

    path: Path
    metadata: dict[str, str]
    converted: bool


def read_metadata(path: str | Path) -> dict[str, str] | None:
    """The header metadata of a converted file, or None when it is not one of ours."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
    except (OSError, SafetensorError):  # absent, truncated or not safetensors
        return None
    return metadata if metadata.get("format") == FORMAT else None


def _up_to_date(metadata: dict[str, str] | None, src: Path) -> bool:
    stat = src.stat()
    return metadata is not None and (
        metadata.get("format_version"),
        metadata.get("source_size"),
        metadata.get("source_mtime_ns"),
    ) == (FORMAT_VERSION, str(stat.st_size), str(stat.st_mtime_ns))


def convert_hive_checkpoint(
    src: str | Path, dst: str | Path, *, timeout: float | None = None
) -> HiveConverted:
    """Convert ``src`` (a HIVE ``.ckpt``) into ``dst`` (``.safetensors``) unless that is already done.

    Raises:
        WeightsError: ``src`` is missing, or the child process could not convert it (its one line).
    """
    source, target = Path(src).expanduser().resolve(), Path(dst).expanduser().resolve()
    if not source.is_file():
        raise WeightsError(f"HIVE checkpoint {source} not found")
    existing = read_metadata(target) if target.is_file() else None
    if existing is not None and _up_to_date(existing, source):
        return HiveConverted(target, existing, False)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The child imports this package from wherever the parent found it.
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(
        [sys.executable, "-m", "adapters.hive.ckpt_worker", str(source), str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
        why = (
            lines[-1].removeprefix("error: ")
            if lines
            else (proc.stderr.strip().splitlines() or ["no output"])[-1]
        )
        raise WeightsError(f"cannot convert HIVE checkpoint {source}: {why}")
    metadata = read_metadata(target)
    if metadata is None:
        raise WeightsError(f"converting {source} left no readable {target}")
    return HiveConverted(target, metadata, True)
