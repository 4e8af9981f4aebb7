"""Load the converted SmartEdit files into their modules, strictly.

Each module is built without allocating its weights (accelerate's empty-weights context; the rotary
buffers stay real), then the converted tensors are assigned. A missing, unexpected or mis-shaped key
is one line naming the key and the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from adapters.smartedit.bridge import Bridge, bridge_config
from adapters.smartedit.convert import part_files
from adapters.smartedit.keymaps import BRIDGE, LLM, UNET
from realedit_bench.errors import WeightsError


def load_strict(
    module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], file: str, *, assign: bool = False
) -> None:
    """``module.load_state_dict(tensors)`` after checking every key and shape; one line on a mismatch."""
    expected = module.state_dict()
    for key, value in expected.items():
        if key not in tensors:
            raise WeightsError(f"missing key {key!r} in {file}")
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise WeightsError(
                f"key {key!r} in {file} has shape {tuple(tensors[key].shape)}, expected {tuple(value.shape)}"
            )
    for key in tensors:
        if key not in expected:
            raise WeightsError(f"unexpected key {key!r} in {file}")
    module.load_state_dict(dict(tensors), strict=True, assign=assign)


def read_part(
    folder: str | Path, part: str, dtype: torch.dtype | None = None
) -> tuple[dict[str, torch.Tensor], str]:
    """All tensors of one converted part (its shards merged) and a name for messages."""
    from safetensors.torch import load_file

    paths = part_files(folder, part)
    missing = [p for p in paths if not p.is_file()]
    if not paths or missing:
        raise WeightsError(
            f"{Path(folder)}: the {part} files are missing; convert the release into an empty folder"
        )
    tensors: dict[str, torch.Tensor] = {}
    for path in paths:
        tensors.update(load_file(str(path), device="cpu"))
    if dtype is not None:
        tensors = {k: v.to(dtype) for k, v in tensors.items()}
    return tensors, f"{Path(folder) / part}-*.safetensors"


def llm_width(folder: str | Path) -> int:
    """The LLM's hidden width in a converted folder, read from a safetensors header (no tensor is loaded)."""
    from safetensors import safe_open

    for path in part_files(folder, LLM):
        with safe_open(str(path), framework="pt") as fh:
            if "model.embed_tokens.weight" in fh.keys():
                return int(fh.get_slice("model.embed_tokens.weight").get_shape()[1])
    raise WeightsError(f"{Path(folder)}: the llm files hold no model.embed_tokens.weight")


def load_llm(folder: str | Path, config: Any, dtype: torch.dtype, device: str) -> Any:
    """The ``LlamaForCausalLM`` (LoRA merged) of a converted folder, in ``dtype`` on ``device``."""
    from accelerate import init_empty_weights
    from transformers import LlamaForCausalLM

    tensors, file = read_part(folder, LLM, dtype)
    llm: Any
    with init_empty_weights(include_buffers=False):
        llm = LlamaForCausalLM(config)
    load_strict(llm, tensors, file, assign=True)
    return llm.to(device).eval()


def load_bridge(folder: str | Path, device: str) -> Bridge:
    """Projector + Q-Former + interaction module (float32), sized from the converted tensors."""
    tensors, file = read_part(folder, BRIDGE, torch.float32)
    bridge = Bridge(bridge_config({k: tuple(v.shape) for k, v in tensors.items()}))
    load_strict(bridge, tensors, file)
    return bridge.to(device).eval()


def load_unet(folder: str | Path, unet_config: Mapping[str, Any], dtype: torch.dtype) -> Any:
    """The released UNet (InstructPix2Pix layout, 8 input channels) built from ``unet_config``."""
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    tensors, file = read_part(folder, UNET, dtype)
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(dict(unet_config))
    load_strict(unet, tensors, file, assign=True)
    return unet.eval()
