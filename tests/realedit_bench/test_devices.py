"""``--device`` and ``--dtype`` checked before any work."""

from __future__ import annotations

import pytest

from realedit_bench.devices import check_device, check_dtype
from realedit_bench.errors import ConfigError


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_devices_every_machine_has(device: str) -> None:
    assert check_device(device) == device


@pytest.mark.parametrize(("device", "says"), [
    ("tpu", "expected auto, cpu, cuda or cuda:N"),
    ("mps", "expected auto, cpu, cuda or cuda:N"),
    ("cuda:x", "expected auto, cpu, cuda or cuda:N"),
    ("cuda:97", "cuda:97"),
])
def test_devices_that_cannot_be_used(device: str, says: str) -> None:
    import torch

    if device == "cuda:97" and torch.cuda.device_count() > 97:
        pytest.skip("this machine has 98 GPUs")
    with pytest.raises(ConfigError, match=says):
        check_device(device)


def test_cuda_needs_a_visible_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA GPU is visible"):
        check_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda:1") == "cuda:1"
    with pytest.raises(ConfigError, match="has 2 visible GPU"):
        check_device("cuda:2")


def test_dtypes() -> None:
    assert [check_dtype(d) for d in ("auto", "fp32", "fp16", "bf16")] == ["auto", "fp32", "fp16", "bf16"]
    with pytest.raises(ConfigError, match="--dtype 'fp8'"):
        check_dtype("fp8")
