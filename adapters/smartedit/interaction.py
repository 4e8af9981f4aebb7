"""SmartEdit's bidirectional interaction module (BIM).

The Q-Former output and the CLIP patch features (before the LLM projector) exchange information in a
two-way transformer. Its two outputs condition the diffusion model:

- text condition = Q-Former output + 0.5 x a linear map of the updated queries ([B, 77, 768]);
- image residual = the updated patch grid, bilinearly upsampled to the latent size (H/8, W/8), then a
  1x1 conv to the UNet's first width (320), added after the UNet's ``conv_in``.

Both output heads are zero-initialised, so an untrained module leaves the Q-Former output and the UNet
untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from adapters.smartedit.two_way import RandomFourierPositions, TwoWayTransformer

#: Weight of the modulated queries in the text condition (a constant of the original).
TEXT_MIX = 0.5
#: Heads of every attention in the two-way transformer (a fact of the release, not in its tensors).
HEADS = 8


@dataclass(frozen=True)
class InteractionConfig:
    """Sizes of the module; the release has dim 1024, MLP 2048, depth 2, downsample 2, 768, 320."""

    dim: int = 1024
    mlp_dim: int = 2048
    depth: int = 2
    downsample: int = 2
    text_dim: int = 768
    unet_channels: int = 320


class Conditions(NamedTuple):
    """What SmartEdit hands to the diffusion model."""

    text: torch.Tensor
    residual: torch.Tensor


class InteractionModule(nn.Module):
    """``forward(patches, queries, latent_size) -> Conditions``."""

    def __init__(self, config: InteractionConfig) -> None:
        super().__init__()
        self.query_in = nn.Linear(config.text_dim, config.dim)
        self.position = RandomFourierPositions(config.dim // 2)
        self.transformer = TwoWayTransformer(
            config.depth, config.dim, HEADS, config.mlp_dim, config.downsample
        )
        self.text_out = nn.Linear(config.dim, config.text_dim)
        self.image_out = nn.Conv2d(config.dim, config.unet_channels, kernel_size=1)
        for param in [*self.text_out.parameters(), *self.image_out.parameters()]:
            nn.init.zeros_(param)

    def forward(
        self, patches: torch.Tensor, queries: torch.Tensor, latent_size: tuple[int, int]
    ) -> Conditions:
        """Combine CLIP patches [B, N, dim] (N a square) and Q-Former output [B, Q, text_dim].

        Args:
            patches: CLIP patch features before the LLM projector, row-major.
            queries: the Q-Former output.
            latent_size: (height, width) of the diffusion latents.
        """
        b, n, c = patches.shape
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(f"{n} patches do not form a square grid")
        pe = self.position(side, side).to(patches.dtype).unsqueeze(0).expand(b, -1, -1)
        q, keys = self.transformer(patches, pe, self.query_in(queries))
        grid = keys.transpose(1, 2).reshape(b, c, side, side)
        grid = F.interpolate(grid, size=latent_size, mode="bilinear", align_corners=False)
        return Conditions(queries + TEXT_MIX * self.text_out(q), self.image_out(grid))
