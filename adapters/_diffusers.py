"""Shared plumbing of the diffusers-based adapters: device/dtype choice, weight loading errors, sizing.

Three adapters (InstructPix2Pix, MagicBrush, the reward-conditioned editor) share these few helpers.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from realedit_bench.errors import ConfigError, WeightsError

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; otherwise the device as given."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device} asked for, but no CUDA GPU is visible")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda[:N], got {device!r}")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` -> fp16 on CUDA, fp32 on CPU (GUIDE: float32 on CPU by default)."""
    if dtype == "auto":
        return "fp16" if device.startswith("cuda") else "fp32"
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype must be auto, fp32, fp16 or bf16, got {dtype!r}")
    return dtype


def torch_dtype(name: str) -> Any:
    """The torch dtype object for ``fp32``/``fp16``/``bf16``."""
    import torch

    return getattr(torch, DTYPES[name])


def local_weights_fingerprint(weights: str) -> str | None:
    """For weights on disk, a digest of every file's (relative path, size, mtime); None for a hub id.

    It goes into the adapter's params, hence into the run id: weights retrained or replaced at the same
    path make a new run instead of silently resuming the old one. Size and mtime rather than a content
    hash, so a 5 GB pipeline costs a directory walk, not a read; a copy without preserved times only
    costs a fresh run.
    """
    path = Path(weights).expanduser()
    if not path.exists():
        return None
    if path.is_file():
        files = [(path.name, path)]
    else:
        files = sorted(
            (f.relative_to(path).as_posix(), f) for f in path.rglob("*")
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
    digest = hashlib.sha256()
    for rel, f in files:
        st = f.stat()
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return f"size-mtime:{digest.hexdigest()[:16]}"


def load_pipeline(pipeline_cls: Any, weights: str, *, revision: str | None, dtype: str, **kwargs: Any) -> Any:
    """``pipeline_cls.from_pretrained`` (or ``from_single_file`` for a .ckpt/.safetensors file).

    Any failure to reach or read the weights becomes one line naming the weights and the way out.
    """
    path = Path(weights).expanduser()
    single_file = path.suffix in {".ckpt", ".safetensors", ".pt", ".bin"}
    # A hub id is exactly "org/name"; anything else that looks like a path is a local path.
    looks_local = single_file or weights.startswith((".", "/", "~")) or weights.count("/") != 1
    if looks_local and not path.exists():
        raise WeightsError(
            f"weights {weights!r}: no such {'file' if single_file else 'directory'}; pass --weights DIR "
            f"(a local pipeline directory saved with save_pretrained) or a hub id like org/name"
        )
    import warnings

    import diffusers

    level = diffusers.utils.logging.get_verbosity()
    diffusers.utils.logging.set_verbosity_error()  # its "will try the local cache" lines precede our one line
    try:
        warnings.filterwarnings("ignore", message=".*torch_dtype.*deprecated", category=FutureWarning)
        if single_file:
            return pipeline_cls.from_single_file(str(path), torch_dtype=torch_dtype(dtype), **kwargs)
        return pipeline_cls.from_pretrained(
            str(path) if path.is_dir() else weights, revision=revision, torch_dtype=torch_dtype(dtype), **kwargs
        )
    except (OSError, ValueError) as exc:  # hub errors derive from OSError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        rev = f" at revision {revision!r}" if revision else ""
        raise WeightsError(
            f"cannot load weights {weights!r}{rev}: {first[:200]}; "
            f"download them and pass --weights DIR (a local pipeline directory)"
        ) from exc
    finally:
        diffusers.utils.logging.set_verbosity(level)


def pix2pix_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """Output size of the original InstructPix2Pix edit script.

    The longer side becomes about ``resolution``; the shorter side is rounded up to a multiple of 64
    after scaling and both sides are then floored to multiples of 64 (facts of the released script).
    """
    factor = resolution / max(width, height)
    factor = math.ceil(min(width, height) * factor / 64) * 64 / min(width, height)
    w = max(64, int((width * factor) // 64) * 64)
    h = max(64, int((height * factor) // 64) * 64)
    return w, h


def fit_image(image: Image.Image, resolution: int) -> Image.Image:
    """Resize and centre-crop ``image`` to :func:`pix2pix_size` with Lanczos, as the original script does."""
    size = pix2pix_size(*image.size, resolution)
    return ImageOps.fit(image.convert("RGB"), size, method=Image.Resampling.LANCZOS)


def parse_bool(value: Any) -> bool:
    """Accept true/false/1/0/yes/no from ``-M key=value``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"expected a boolean, got {value!r}")
