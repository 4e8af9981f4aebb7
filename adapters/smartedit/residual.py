"""Add SmartEdit's image residual after a diffusers UNet's ``conv_in``, through a removable hook.

The stock InstructPix2Pix pipeline runs the UNet on three guidance branches stacked along the batch
([text+image, image only, neither] for B samples gives 3B rows, branch by branch). SmartEdit adds the
same residual in all three branches, so the [B, C, h, w] residual is tiled over the branches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


def add_residual(output: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """``output`` [k*B, C, h, w] plus ``residual`` [B, C, h, w] repeated over the k stacked branches."""
    rows = residual.shape[0]
    if output.shape[0] % rows or output.shape[1:] != residual.shape[1:]:
        raise ValueError(
            f"residual {tuple(residual.shape)} does not fit conv_in output {tuple(output.shape)}"
        )
    tiled = residual.to(device=output.device, dtype=output.dtype).repeat(output.shape[0] // rows, 1, 1, 1)
    return output + tiled


@contextmanager
def conv_in_residual(unet: Any, residual: torch.Tensor) -> Iterator[None]:
    """Within the block, every UNet call adds ``residual`` to its ``conv_in`` output; removed after."""

    def hook(_module: Any, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return add_residual(output, residual)

    handle = unet.conv_in.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
