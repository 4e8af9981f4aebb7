"""SmartEdit's Q-Former: 77 learned queries read the LLM's 32 image-token states.

It is a BLIP-2-style BERT of 6 layers without word or position embeddings, cross-attending to the
LLM states every second layer, which transformers' ``Blip2QFormerModel`` implements; the queries go
through its input LayerNorm first, as in the original. Its output [B, 77, 768] lives in the space of
the CLIP text encoder the UNet was trained with.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

#: Facts of the release that its tensors do not show.
HEADS = 12
CROSS_ATTENTION_FREQUENCY = 2


def qformer_config(hidden: int, layers: int, ffn: int, encoder_hidden: int) -> Any:
    """The ``Blip2QFormerConfig`` of SmartEdit's Q-Former for the given sizes (bert-base otherwise)."""
    from transformers import Blip2QFormerConfig

    return Blip2QFormerConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=HEADS,
        intermediate_size=ffn,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        cross_attention_frequency=CROSS_ATTENTION_FREQUENCY,
        encoder_hidden_size=encoder_hidden,
    )


class QFormer(nn.Module):
    """Learned queries + ``Blip2QFormerModel``; ``forward(states [B, T, llm]) -> [B, Q, hidden]``."""

    def __init__(self, config: Any, queries: int = 77) -> None:
        from transformers import Blip2QFormerModel

        super().__init__()
        self.query_tokens = nn.Parameter(torch.zeros(1, queries, config.hidden_size))
        self.model = Blip2QFormerModel(config)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """Queries cross-attend to every one of ``states`` (no mask: they are all image tokens)."""
        queries = self.query_tokens.expand(states.shape[0], -1, -1)
        return self.model(query_embeds=queries, encoder_hidden_states=states).last_hidden_state
