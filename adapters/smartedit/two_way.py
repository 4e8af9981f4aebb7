"""The two-way transformer of SmartEdit's interaction module, and its random-Fourier positions.

The architecture is the mask decoder's of Segment Anything (Kirillov et al., 2023): sparse query
tokens and dense image tokens update each other in turn. Each block runs self-attention on the
queries (the first block without query positions and without a residual), queries -> image
cross-attention, an MLP on the queries, then image -> queries cross-attention; a final queries ->
image attention and LayerNorm close the stack. Module names follow the released weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention whose projections may shrink the width by ``downsample``."""

    def __init__(self, dim: int, heads: int, downsample: int = 1) -> None:
        super().__init__()
        inner = dim // downsample
        if inner % heads:
            raise ValueError(f"{heads} heads do not divide the attention width {inner}")
        self.heads = heads
        self.q_proj = nn.Linear(dim, inner)
        self.k_proj = nn.Linear(dim, inner)
        self.v_proj = nn.Linear(dim, inner)
        self.out_proj = nn.Linear(inner, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attend from ``q`` to ``k``/``v`` ([B, N, dim] each)."""
        out = F.scaled_dot_product_attention(
            self._split(self.q_proj(q)), self._split(self.k_proj(k)), self._split(self.v_proj(v))
        )
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, -1))


class MLP(nn.Module):
    """Linear, ReLU, linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP."""
        return self.lin2(F.relu(self.lin1(x)))


class TwoWayBlock(nn.Module):
    """One block: queries self-attend, read the image, pass an MLP; then the image reads the queries."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, downsample: int, first: bool) -> None:
        super().__init__()
        self.first = first
        self.self_attn = Attention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.cross_attn_token_to_image = Attention(dim, heads, downsample)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.norm4 = nn.LayerNorm(dim)
        self.cross_attn_image_to_token = Attention(dim, heads, downsample)

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor, key_pe: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Update (queries, image tokens)."""
        if self.first:  # the first block replaces the queries: no positions, no residual
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        queries = self.norm2(
            queries + self.cross_attn_token_to_image(queries + query_pe, keys + key_pe, keys)
        )
        queries = self.norm3(queries + self.mlp(queries))
        keys = self.norm4(keys + self.cross_attn_image_to_token(keys + key_pe, queries + query_pe, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    """``depth`` two-way blocks and a final queries -> image attention."""

    def __init__(self, depth: int, dim: int, heads: int, mlp_dim: int, downsample: int = 2) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayBlock(dim, heads, mlp_dim, downsample, first=(i == 0)) for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(dim, heads, downsample)
        self.norm_final_attn = nn.LayerNorm(dim)

    def forward(
        self, image: torch.Tensor, image_pe: torch.Tensor, queries: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Image tokens [B, N, dim] with positions [B, N, dim], queries [B, Q, dim] (also their PE).

        Returns:
            The updated queries [B, Q, dim] and image tokens [B, N, dim].
        """
        query_pe, keys, q = queries, image, queries
        for layer in self.layers:
            q, keys = layer(q, keys, query_pe, image_pe)
        q = q + self.final_attn_token_to_image(q + query_pe, keys + image_pe, keys)
        return self.norm_final_attn(q), keys


class RandomFourierPositions(nn.Module):
    """Positions of a grid from a fixed Gaussian matrix [2, F]: sin and cos of 2 pi (coords @ G)."""

    gaussian: torch.Tensor

    def __init__(self, features: int) -> None:
        super().__init__()
        self.register_buffer("gaussian", torch.randn(2, features))

    def forward(self, height: int, width: int) -> torch.Tensor:
        """Encoding [height * width, 2F] of the cell centres in row-major order (x before y)."""
        dev, dtype = self.gaussian.device, self.gaussian.dtype
        ys = (torch.arange(height, device=dev, dtype=dtype) + 0.5) / height
        xs = (torch.arange(width, device=dev, dtype=dtype) + 0.5) / width
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
        angles = 2 * math.pi * ((2 * grid - 1) @ self.gaussian)
        return torch.cat([angles.sin(), angles.cos()], dim=-1)
