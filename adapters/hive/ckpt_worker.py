"""Convert one HIVE ``.ckpt`` to safetensors; run as ``python -m adapters.hive.ckpt_worker SRC DST``.

It runs in its own process so that nothing a checkpoint names can touch the user's process. The pickle
is only ever read with ``torch.load(weights_only=True)``. A PyTorch-Lightning checkpoint that also holds
training state (callbacks keyed by their classes, optimizer objects) names globals that this
restricted unpickler refuses; those are listed without running anything
(``get_unsafe_globals_in_checkpoint``) and allow-listed as inert stand-ins: a class or function named
in the file becomes an empty placeholder, so no code from the file ever runs. Only the state dict is
kept, with the EMA weights on the UNet keys, and written as safetensors with the provenance in its
header metadata. The last stdout line is a JSON summary; on failure one ``error:`` line goes to stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

FORMAT = "realedit-hive"
FORMAT_VERSION = "1"


class StandIn:
    """An inert placeholder for a global named in the checkpoint: creating or filling it does nothing."""

    def __new__(cls, *_args: Any, **_kwargs: Any) -> StandIn:
        return super().__new__(cls)

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        """Ignore every argument."""

    def __setstate__(self, _state: Any) -> None:
        """Ignore the pickled state."""


def stand_ins(names: list[str]) -> list[Callable[..., Any] | tuple[Callable[..., Any], str]]:
    """One distinct inert class per dotted name, in the form ``add_safe_globals`` takes."""
    return [(type(name.rsplit(".", 1)[-1], (StandIn,), {}), name) for name in names]


def load_checkpoint(path: Path) -> tuple[Any, list[str]]:
    """The unpickled checkpoint and the globals that were replaced by stand-ins (empty when none)."""
    import torch

    def restricted_load() -> Any:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))

    try:
        return restricted_load(), []
    except pickle.UnpicklingError:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        if not names:
            raise
    torch.serialization.add_safe_globals(stand_ins(names))
    return restricted_load(), names


def tensors_of(checkpoint: Any) -> dict[str, Any]:
    """The tensors of the checkpoint's ``state_dict`` (or of the checkpoint itself when it is one)."""
    import torch

    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        raise ValueError("the checkpoint holds no state dict")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError("the checkpoint's state dict holds no tensors")
    return tensors


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def convert(src: Path, dst: Path) -> dict[str, str]:
    """Write ``dst`` from ``src``; returns the metadata stored in its header."""
    from safetensors.torch import save_file

    from adapters.hive.ema import apply_ema

    checkpoint, replaced = load_checkpoint(src)
    result = apply_ema(tensors_of(checkpoint))
    del checkpoint
    tensors = {k: v.detach().clone().contiguous() for k, v in result.state.items()}
    stat = src.stat()
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "source_name": src.name,
        "source_size": str(stat.st_size),
        "source_mtime_ns": str(stat.st_mtime_ns),
        "source_sha256": _sha256(src),
        "ema": "applied" if result.applied else "absent",
        "stand_ins": json.dumps(replaced),
    }
    partial = dst.with_name(f".{dst.name}.partial-{os.getpid()}")
    save_file(tensors, str(partial), metadata=metadata)
    os.replace(partial, dst)
    return metadata


def main(argv: list[str]) -> int:
    """Entry point: ``SRC DST``."""
    from realedit_bench.errors import WeightsError

    src, dst = Path(argv[0]), Path(argv[1])
    try:
        metadata = convert(src, dst)
    except (WeightsError, ValueError, OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"error: {first[:300]}", file=sys.stderr)
        return 2
    print(json.dumps(metadata))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
