"""``--device`` and ``--dtype``, checked before any work: a device that is not one realedit can use, a GPU
index the machine does not have or an unknown dtype is one line with what to give instead (exit code 2),
not a failure after the model has loaded."""

from __future__ import annotations

import re

from realedit_bench.errors import ConfigError

#: What ``--dtype`` accepts.
DTYPES = ("auto", "fp32", "fp16", "bf16")

_CUDA = re.compile(r"cuda(?::(\d+))?")


def check_device(device: str) -> str:
    """``device`` when it is ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` with GPU N visible.

    Raises:
        ConfigError: another name (``tpu``, ``mps``, a typo), CUDA without a visible GPU, or a GPU index the
            machine does not have.
    """
    if device in ("auto", "cpu"):
        return device
    cuda = _CUDA.fullmatch(device)
    if cuda is None:
        raise ConfigError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N")
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ConfigError(f"--device {device}: no CUDA GPU is visible (use --device cpu)")
    if cuda.group(1) is not None and int(cuda.group(1)) >= count:
        raise ConfigError(f"--device {device}: this machine has {count} visible GPU(s), cuda:0 to "
                          f"cuda:{count - 1}")
    return device


def check_dtype(dtype: str) -> str:
    """``dtype`` when it is one of :data:`DTYPES`.

    Raises:
        ConfigError: another name.
    """
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype {dtype!r}: expected {', '.join(DTYPES)}")
    return dtype
