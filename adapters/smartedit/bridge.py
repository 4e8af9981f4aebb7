"""The small trained modules between CLIP, the LLM and the UNet, as one loadable unit.

``projector`` (one linear layer, LLaVA-1.1 style) maps CLIP patches into the LLM; ``qformer`` turns the
LLM's 32 image-token states into 77 text-condition tokens; ``interaction`` mixes those with the CLIP
patches. Their sizes are read from the tensor shapes of the converted file, so the same code builds
the 7B, the 13B and the tiny test models.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
from torch import nn

from adapters.smartedit.interaction import InteractionConfig, InteractionModule
from adapters.smartedit.qformer import QFormer, qformer_config


@dataclass(frozen=True)
class BridgeConfig:
    """Every size of the bridge."""

    vision_dim: int
    llm_dim: int
    queries: int
    qformer_layers: int
    qformer_ffn: int
    interaction: InteractionConfig

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)


def _layers(shapes: Mapping[str, tuple[int, ...]], pattern: str) -> int:
    found = {int(m.group(1)) for key in shapes if (m := re.match(pattern, key))}
    return max(found) + 1 if found else 0


def bridge_config(shapes: Mapping[str, tuple[int, ...]]) -> BridgeConfig:
    """Sizes from the shapes of a bridge state dict (our key names)."""
    llm_dim, vision_dim = shapes["projector.weight"]
    _, queries, text_dim = shapes["qformer.query_tokens"]
    ffn = shapes["qformer.model.encoder.layer.0.intermediate_query.dense.weight"][0]
    dim = shapes["interaction.query_in.weight"][0]
    inner = shapes["interaction.transformer.final_attn_token_to_image.q_proj.weight"][0]
    interaction = InteractionConfig(
        dim=dim,
        mlp_dim=shapes["interaction.transformer.layers.0.mlp.lin1.weight"][0],
        depth=_layers(shapes, r"interaction\.transformer\.layers\.(\d+)\."),
        downsample=dim // inner,
        text_dim=text_dim,
        unet_channels=shapes["interaction.image_out.weight"][0],
    )
    layers = _layers(shapes, r"qformer\.model\.encoder\.layer\.(\d+)\.")
    return BridgeConfig(vision_dim, llm_dim, queries, layers, ffn, interaction)


class Bridge(nn.Module):
    """``projector`` + ``qformer`` + ``interaction``."""

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__()
        self.config = config
        self.projector = nn.Linear(config.vision_dim, config.llm_dim)
        text_dim = config.interaction.text_dim
        self.qformer = QFormer(
            qformer_config(text_dim, config.qformer_layers, config.qformer_ffn, config.llm_dim),
            config.queries,
        )
        self.interaction = InteractionModule(config.interaction)


def bridge_keys(config: BridgeConfig) -> dict[str, tuple[int, ...]]:
    """Every key and shape of a :class:`Bridge`, built without allocating its weights."""
    with torch.device("meta"):
        bridge = Bridge(config)
    return {k: tuple(v.shape) for k, v in bridge.state_dict().items()}
