"""Released key names -> ours, rule by rule."""

from __future__ import annotations

import pytest

from adapters.smartedit.keymaps import (
    Target,
    UnexpectedKey,
    llm_keys,
    map_embeddings,
    map_llm,
    map_modulate,
    map_unet,
)


@pytest.mark.parametrize(
    ("rule", "released", "ours"),
    [
        (map_llm, "model.base_model.model.embed_tokens.weight", Target("llm", "model.embed_tokens.weight")),
        (
            map_llm,
            "model.base_model.model.layers.3.mlp.down_proj.weight",
            Target("llm", "model.layers.3.mlp.down_proj.weight"),
        ),
        (
            map_llm,
            "model.base_model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
            Target("llm", "model.layers.0.self_attn.q_proj.weight", "lora_A"),
        ),
        (
            map_llm,
            "model.base_model.model.layers.1.self_attn.v_proj.lora_B.default.weight",
            Target("llm", "model.layers.1.self_attn.v_proj.weight", "lora_B"),
        ),
        (map_llm, "model.base_model.model.layers.1.self_attn.rotary_emb.inv_freq", None),
        (map_embeddings, "sd_query_tokens", Target("bridge", "qformer.query_tokens")),
        (map_embeddings, "lm_head.weight", Target("llm", "lm_head.weight")),
        (map_embeddings, "mm_projector.bias", Target("bridge", "projector.bias")),
        (
            map_embeddings,
            "sd_qformer.embeddings.LayerNorm.weight",
            Target("bridge", "qformer.model.layernorm.weight"),
        ),
        (map_embeddings, "sd_qformer.embeddings.position_ids", None),
        (
            map_embeddings,
            "sd_qformer.encoder.layer.2.crossattention.self.key.weight",
            Target("bridge", "qformer.model.encoder.layer.2.crossattention.attention.key.weight"),
        ),
        (
            map_embeddings,
            "sd_qformer.encoder.layer.5.output_query.LayerNorm.bias",
            Target("bridge", "qformer.model.encoder.layer.5.output_query.LayerNorm.bias"),
        ),
        (
            map_modulate,
            "pe_layer.positional_encoding_gaussian_matrix",
            Target("bridge", "interaction.position.gaussian"),
        ),
        (
            map_modulate,
            "modulate_transformer.layers.1.norm4.bias",
            Target("bridge", "interaction.transformer.layers.1.norm4.bias"),
        ),
        (
            map_modulate,
            "dimension_reduction_head_zeroconv.weight",
            Target("bridge", "interaction.image_out.weight"),
        ),
        (map_unet, "unet.conv_in.weight", Target("unet", "conv_in.weight")),
    ],
)
def test_released_keys_map_to_ours(rule, released, ours):
    assert rule(released) == ours


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        (map_llm, "base_model.model.layers.0.mlp.up_proj.weight"),
        (map_llm, "model.base_model.model.layers.0.self_attn.k_proj.lora_A.default.weight"),
        (map_embeddings, "sd_qformer.encoder.layer.0.intermediate.dense.weight"),
        (map_modulate, "modulate_extra.weight"),
        (map_unet, "vae.decoder.conv_in.weight"),
    ],
)
def test_unknown_released_keys_are_refused(rule, key):
    with pytest.raises(UnexpectedKey):
        rule(key)


def test_llm_keys_name_every_weight_of_a_llama_causal_lm():
    from accelerate import init_empty_weights
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=2,
        vocab_size=50,
        tie_word_embeddings=False,
    )
    with init_empty_weights():
        model = LlamaForCausalLM(config)
    assert set(model.state_dict()) == llm_keys(3)
