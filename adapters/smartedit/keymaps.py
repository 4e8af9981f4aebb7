"""Explicit maps from the released SmartEdit key names to ours.

A release folder (``TencentARC/SmartEdit-7B`` / ``-13B``) holds four pickled state dicts:

- ``LLM-15000/adapter_model.bin``: the peft-wrapped LLaMA, ``model.base_model.model.*``, with the LoRA
  factors of ``q_proj``/``v_proj`` unmerged (``lora_A``/``lora_B.default.weight``);
- ``embeddings_qformer/checkpoint-15000_embeddings_qformer.bin``: ``sd_query_tokens``, the LAVIS-named
  ``sd_qformer.*``, ``mm_projector.*`` and the LLM's ``lm_head.weight``;
- ``modulate-15000/adapter_model.bin``: the interaction module (``modulate_*``, ``pe_layer.*``,
  ``dimension_reduction_head_*``);
- ``unet-15000/adapter_model.bin``: the whole diffusers UNet under ``unet.``.

Each rule maps one released key to a :class:`Target` (converted file, our key, role), returns None
for a key deliberately dropped (buffers that are rebuilt, unused duplicates) and raises
:class:`UnexpectedKey` for anything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

#: Converted files: the ``LlamaForCausalLM`` state dict, the bridge's, the UNet's.
LLM, BRIDGE, UNET = "llm", "bridge", "unet"
LLM_PREFIX = "model.base_model.model."
#: Weights of one LLaMA decoder layer, by their transformers names.
LAYER_WEIGHTS = (
    "self_attn.q_proj.weight",
    "self_attn.k_proj.weight",
    "self_attn.v_proj.weight",
    "self_attn.o_proj.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
    "input_layernorm.weight",
    "post_attention_layernorm.weight",
)
LORA_TARGETS = ("q_proj", "v_proj")


class Target(NamedTuple):
    """Where a released tensor goes. ``role`` is ``weight``, ``lora_A`` or ``lora_B``."""

    file: str
    key: str
    role: str = "weight"


class UnexpectedKey(KeyError):
    """A released key that no rule knows."""


def map_llm(key: str) -> Target | None:
    """``model.base_model.model.X`` -> ``model.X`` of ``LlamaForCausalLM``; LoRA factors by role."""
    if not key.startswith(LLM_PREFIX):
        raise UnexpectedKey(key)
    rest = key[len(LLM_PREFIX) :]
    if rest in ("embed_tokens.weight", "norm.weight"):
        return Target(LLM, f"model.{rest}")
    layer = re.fullmatch(r"layers\.(\d+)\.(.+)", rest)
    if layer is None:
        raise UnexpectedKey(key)
    index, sub = layer.groups()
    if sub in LAYER_WEIGHTS:
        return Target(LLM, f"model.{rest}")
    if sub == "self_attn.rotary_emb.inv_freq":  # recomputed by transformers
        return None
    lora = re.fullmatch(r"self_attn\.(q_proj|v_proj)\.lora_([AB])\.default\.weight", sub)
    if lora is None:
        raise UnexpectedKey(key)
    return Target(LLM, f"model.layers.{index}.self_attn.{lora.group(1)}.weight", f"lora_{lora.group(2)}")


_QFORMER_KEPT = r"attention\.output|crossattention\.output|intermediate_query|output_query"


def map_embeddings(key: str) -> Target | None:
    """Q-Former (LAVIS names -> ``Blip2QFormerModel``), its queries, the projector and ``lm_head``."""
    fixed = {
        "sd_query_tokens": Target(BRIDGE, "qformer.query_tokens"),
        "mm_projector.weight": Target(BRIDGE, "projector.weight"),
        "mm_projector.bias": Target(BRIDGE, "projector.bias"),
        "lm_head.weight": Target(LLM, "lm_head.weight"),
        "sd_qformer.embeddings.LayerNorm.weight": Target(BRIDGE, "qformer.model.layernorm.weight"),
        "sd_qformer.embeddings.LayerNorm.bias": Target(BRIDGE, "qformer.model.layernorm.bias"),
    }
    if key in fixed:
        return fixed[key]
    # position_ids: a constant buffer; embed_tokens: the LLM file's copy is the one used.
    if key in ("sd_qformer.embeddings.position_ids", f"{LLM_PREFIX}embed_tokens.weight"):
        return None
    attn = re.fullmatch(r"sd_qformer\.encoder\.layer\.(\d+)\.(attention|crossattention)\.self\.(.+)", key)
    if attn:
        index, kind, rest = attn.groups()
        return Target(BRIDGE, f"qformer.model.encoder.layer.{index}.{kind}.attention.{rest}")
    kept = re.fullmatch(rf"sd_qformer\.(encoder\.layer\.\d+\.(?:{_QFORMER_KEPT})\..+)", key)
    if kept:
        return Target(BRIDGE, f"qformer.model.{kept.group(1)}")
    raise UnexpectedKey(key)


_MODULATE = {
    "modulate_head.": "interaction.query_in.",
    "modulate_transformer.": "interaction.transformer.",
    "dimension_reduction_head_qformer_out.": "interaction.text_out.",
    "dimension_reduction_head_zeroconv.": "interaction.image_out.",
}


def map_modulate(key: str) -> Target | None:
    """The interaction module: ``modulate_*``, ``pe_layer.*``, ``dimension_reduction_head_*``."""
    if key == "pe_layer.positional_encoding_gaussian_matrix":
        return Target(BRIDGE, "interaction.position.gaussian")
    for prefix, ours in _MODULATE.items():
        if key.startswith(prefix):
            return Target(BRIDGE, ours + key[len(prefix) :])
    raise UnexpectedKey(key)


def map_unet(key: str) -> Target | None:
    """``unet.X`` -> ``X`` of a diffusers ``UNet2DConditionModel``."""
    if not key.startswith("unet."):
        raise UnexpectedKey(key)
    return Target(UNET, key[len("unet.") :])


#: Released file (glob under the release folder) -> its rule, in conversion order.
RELEASE: dict[str, Callable[[str], Target | None]] = {
    "LLM-*/adapter_model.bin": map_llm,
    "embeddings_qformer/checkpoint-*_embeddings_qformer.bin": map_embeddings,
    "modulate-*/adapter_model.bin": map_modulate,
    "unet-*/adapter_model.bin": map_unet,
}


def llm_keys(layers: int) -> set[str]:
    """Every key of a ``LlamaForCausalLM`` state dict with ``layers`` decoder layers."""
    keys = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"}
    keys |= {f"model.layers.{i}.{w}" for i in range(layers) for w in LAYER_WEIGHTS}
    return keys
