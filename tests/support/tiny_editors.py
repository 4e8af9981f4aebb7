"""Tiny random-weight pipelines of today's editors, built offline and saved with ``save_pretrained``.

FLUX.1 Kontext, Qwen-Image-Edit-Plus, FLUX.2 klein and LongCat-Image-Edit, each small enough to run 2
steps on a CPU in seconds, then loaded back by the adapters from the saved folder. Every tokenizer and
processor is made here from a byte-level vocabulary (256 byte symbols, no merges, the special tokens
each pipeline's prompt template uses): nothing comes from the hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Special tokens of the Qwen chat and vision templates, then the ones CLIP and T5 roles use.
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>", "<pad>", "</s>", "<unk>", "<|startoftext|>")
#: A chat template in the Qwen style (FLUX.2 klein formats its prompt with ``apply_chat_template``).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _byte_vocab() -> tuple[dict[str, int], list[str]]:
    """The 256 byte symbols of byte-level BPE (no merges), then the special tokens."""
    from tokenizers import pre_tokenizers

    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {s: i for i, s in enumerate(symbols)}
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    return vocab, []


def qwen_tokenizer(max_length: int = 512) -> Any:
    """A Qwen2 tokenizer over the byte vocabulary (Qwen roles: Qwen2.5-VL, Qwen3)."""
    from transformers import Qwen2Tokenizer

    vocab, merges = _byte_vocab()
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, unk_token="<|endoftext|>", eos_token="<|im_end|>",
                         pad_token="<|endoftext|>", model_max_length=max_length)
    tok.add_special_tokens({"additional_special_tokens": [t for t in SPECIAL_TOKENS[1:7]]})
    tok.chat_template = CHAT_TEMPLATE
    return tok


def fast_tokenizer(max_length: int, *, bos: str | None, eos: str, pad: str) -> Any:
    """A ``PreTrainedTokenizerFast`` over the byte vocabulary (CLIP and T5 roles)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab, _ = _byte_vocab()
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=max_length, bos_token=bos,
                                   eos_token=eos, pad_token=pad, unk_token="<unk>")


def qwen_vl_processor(tokenizer: Any) -> Any:
    """A Qwen2-VL processor (image and video processors with their defaults, our tokenizer)."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    return Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer,
                            video_processor=Qwen2VLVideoProcessor(), chat_template=CHAT_TEMPLATE)


def qwen25_vl(tokenizer: Any) -> Any:
    """A tiny Qwen2.5-VL text encoder whose vision token ids are our tokenizer's."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = tokenizer.convert_tokens_to_ids
    config = Qwen2_5_VLConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": len(tokenizer),
                     "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
                     "rope_theta": 1000000.0, "bos_token_id": ids("<|im_start|>"),
                     "eos_token_id": ids("<|im_end|>"), "pad_token_id": ids("<|endoftext|>")},
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2,
                       "out_hidden_size": 16},
        hidden_size=16, vocab_size=len(tokenizer), vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"), image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"), bos_token_id=ids("<|im_start|>"), eos_token_id=ids("<|im_end|>"),
    )
    return Qwen2_5_VLForConditionalGeneration(config)


def _vae_kwargs(levels: int, channels: int, latent_channels: int) -> dict[str, Any]:
    """A FLUX-style VAE of ``levels`` levels (scale factor 2 ** (levels - 1)), one layer per block."""
    return {"sample_size": 32, "in_channels": 3, "out_channels": 3,
            "block_out_channels": (channels,) * levels, "down_block_types": ("DownEncoderBlock2D",) * levels,
            "up_block_types": ("UpDecoderBlock2D",) * levels, "layers_per_block": 1,
            "latent_channels": latent_channels, "norm_num_groups": 1, "use_quant_conv": False,
            "use_post_quant_conv": False}


def build_tiny_kontext(directory: Path, seed: int = 0) -> Path:
    """FLUX.1 Kontext: a 1+1-block transformer, tiny CLIP and T5, a 2-level VAE."""
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxKontextPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    clip_tok = fast_tokenizer(77, bos="<|startoftext|>", eos="<|endoftext|>", pad="<|endoftext|>")
    t5_tok = fast_tokenizer(512, bos=None, eos="</s>", pad="<pad>")
    clip = CLIPTextModel(CLIPTextConfig(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, projection_dim=32,
        vocab_size=len(clip_tok), max_position_embeddings=77, bos_token_id=clip_tok.bos_token_id,
        eos_token_id=clip_tok.eos_token_id, pad_token_id=clip_tok.pad_token_id))
    t5 = T5EncoderModel(T5Config(
        vocab_size=len(t5_tok), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        pad_token_id=t5_tok.pad_token_id, eos_token_id=t5_tok.eos_token_id,
        decoder_start_token_id=t5_tok.pad_token_id))
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=(4, 4, 8))
    vae = AutoencoderKL(**_vae_kwargs(2, 8, 4), shift_factor=0.0609, scaling_factor=1.5035)
    pipe = FluxKontextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=clip, tokenizer=clip_tok,
        text_encoder_2=t5, tokenizer_2=t5_tok, transformer=transformer)
    pipe.save_pretrained(directory)
    return Path(directory)


def build_tiny_qwen_edit_plus(directory: Path, seed: int = 0) -> Path:
    """Qwen-Image-Edit-Plus (2509/2511, FireRed): a 2-layer MMDiT, tiny Qwen2.5-VL, a 3-level Wan VAE."""
    import torch
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )

    torch.manual_seed(seed)
    tokenizer = qwen_tokenizer(1024)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16,
        num_attention_heads=3, joint_attention_dim=16, axes_dims_rope=(8, 4, 4))
    # Scale factor 8: the pipeline encodes its condition image at about 1 MP whatever the output size.
    vae = AutoencoderKLQwenImage(
        base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    pipe = QwenImageEditPlusPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=qwen25_vl(tokenizer),
        tokenizer=tokenizer, processor=qwen_vl_processor(tokenizer), transformer=transformer)
    pipe.save_pretrained(directory)
    return Path(directory)


def build_tiny_flux2_klein(directory: Path, seed: int = 0) -> Path:
    """FLUX.2 klein: a 1+1-block transformer, a Qwen3 deep enough for the default layers (9, 18, 27)."""
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    tokenizer = qwen_tokenizer(512)
    # 28 layers of width 16: the pipeline reads hidden states 9, 18 and 27 and stays cheap.
    encoder = Qwen3ForCausalLM(Qwen3Config(
        hidden_size=16, intermediate_size=16, num_hidden_layers=28, num_attention_heads=2,
        num_key_value_heads=2, head_dim=8, vocab_size=len(tokenizer), max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id))
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=48, timestep_guidance_channels=256,
        axes_dims_rope=(4, 4, 4, 4), guidance_embeds=False)
    vae = AutoencoderKLFlux2(**_vae_kwargs(2, 4, 1))
    pipe = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=encoder, tokenizer=tokenizer,
        transformer=transformer, is_distilled=True)
    pipe.save_pretrained(directory)
    return Path(directory)


def build_tiny_longcat_edit(directory: Path, seed: int = 0) -> Path:
    """LongCat-Image-Edit: a 1+1-block transformer, tiny Qwen2.5-VL, a 4-level VAE (16 latent channels).

    The pipeline always edits at about 1 MP; a 4-level VAE (scale factor 8) keeps the tokens few.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        LongCatImageEditPipeline,
        LongCatImageTransformer2DModel,
    )

    torch.manual_seed(seed)
    tokenizer = qwen_tokenizer(1024)
    transformer = LongCatImageTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=16, pooled_projection_dim=16, axes_dims_rope=[4, 4, 8])
    vae = AutoencoderKL(**_vae_kwargs(4, 4, 16), shift_factor=0.0609, scaling_factor=1.5035)
    pipe = LongCatImageEditPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=qwen25_vl(tokenizer),
        tokenizer=tokenizer, text_processor=qwen_vl_processor(tokenizer), transformer=transformer)
    pipe.save_pretrained(directory)
    return Path(directory)


#: Registry name -> builder of its tiny pipeline.
BUILDERS = {
    "flux-kontext": build_tiny_kontext,
    "qwen-image-edit": build_tiny_qwen_edit_plus,
    "flux2-klein": build_tiny_flux2_klein,
    "longcat-edit": build_tiny_longcat_edit,
}
