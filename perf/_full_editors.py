"""Full-size random-weight pipelines of today's editors, built in memory for ``perf/bench_editors.py``.

Nothing is downloaded: every module is made from its configuration with random weights, directly on the
target device in the target dtype (``torch.device`` as a context), so a 20B transformer costs seconds, not
a 40 GB download. Tokenizers and processors are the byte-level ones of the offline tests (token ids stay
inside every vocabulary). The configurations are the released models' as far as diffusers' and
transformers' defaults and the model cards give them; the FLUX.2 klein 4B and LongCat 6B transformers are
approximations of that size (the parameter counts are printed). ``build(name, "meta")`` checks a
configuration without memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _qwen25_vl_7b(tokenizer: Any) -> Any:
    """Qwen2.5-VL-7B (the text encoder of Qwen-Image-Edit and LongCat-Image-Edit)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = tokenizer.convert_tokens_to_ids
    return Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config={"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                     "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
                     "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default",
                                      "type": "default"},
                     "rope_theta": 1000000.0, "max_position_embeddings": 128000},
        vision_config={"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                       "out_hidden_size": 3584, "fullatt_block_indexes": [7, 15, 23, 31], "window_size": 112},
        vocab_size=152064, vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"), image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
    ))


def _flux_vae() -> Any:
    """The FLUX.1 VAE (16 latent channels, 4 levels)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=16,
                         down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, use_quant_conv=False,
                         use_post_quant_conv=False, shift_factor=0.1159, scaling_factor=0.3611)


def _kontext(tok: Any) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxKontextPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    clip_tok = tok.fast_tokenizer(77, bos="<|startoftext|>", eos="<|endoftext|>", pad="<|endoftext|>")
    t5_tok = tok.fast_tokenizer(512, bos=None, eos="</s>", pad="<pad>")
    clip = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                        num_hidden_layers=12, projection_dim=768, vocab_size=49408,
                                        max_position_embeddings=77, eos_token_id=clip_tok.eos_token_id))
    t5 = T5EncoderModel(T5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24,  # T5-XXL
                                 num_heads=64, feed_forward_proj="gated-gelu",
                                 pad_token_id=t5_tok.pad_token_id, eos_token_id=t5_tok.eos_token_id))
    transformer = FluxTransformer2DModel(in_channels=64, guidance_embeds=True)  # FLUX.1 [dev]: 12B
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True)
    return FluxKontextPipeline(scheduler=scheduler, vae=_flux_vae(), text_encoder=clip, tokenizer=clip_tok,
                               text_encoder_2=t5, tokenizer_2=t5_tok, transformer=transformer)


def _qwen(tok: Any) -> Any:
    from diffusers import (
        AutoencoderKLQwenImage,
        FlowMatchEulerDiscreteScheduler,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )

    tokenizer = tok.qwen_tokenizer(1024)
    transformer = QwenImageTransformer2DModel(in_channels=64, out_channels=16, num_layers=60,
                                              attention_head_dim=128, num_attention_heads=24,
                                              joint_attention_dim=3584)  # 20B
    return QwenImageEditPlusPipeline(scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True),
                                     vae=AutoencoderKLQwenImage(), text_encoder=_qwen25_vl_7b(tokenizer),
                                     tokenizer=tokenizer, processor=tok.qwen_vl_processor(tokenizer),
                                     transformer=transformer)


def _klein(tok: Any) -> Any:
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tokenizer = tok.qwen_tokenizer(512)
    encoder = Qwen3ForCausalLM(Qwen3Config(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                                           num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                                           vocab_size=151936, tie_word_embeddings=True))  # Qwen3-4B
    # Approximately the 4B klein transformer: 5 double and 20 single blocks of 24 x 128 heads.
    transformer = Flux2Transformer2DModel(in_channels=128, num_layers=5, num_single_layers=20,
                                          num_attention_heads=24, attention_head_dim=128,
                                          joint_attention_dim=3 * 2560, guidance_embeds=False)
    return Flux2KleinPipeline(scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True),
                              vae=AutoencoderKLFlux2(), text_encoder=encoder, tokenizer=tokenizer,
                              transformer=transformer, is_distilled=True)


def _longcat(tok: Any) -> Any:
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        LongCatImageEditPipeline,
        LongCatImageTransformer2DModel,
    )

    tokenizer = tok.qwen_tokenizer(1024)
    # Approximately the 6B transformer: 10 double and 20 single blocks.
    transformer = LongCatImageTransformer2DModel(num_layers=10, num_single_layers=20)
    return LongCatImageEditPipeline(scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True),
                                    vae=_flux_vae(), text_encoder=_qwen25_vl_7b(tokenizer),
                                    tokenizer=tokenizer, text_processor=tok.qwen_vl_processor(tokenizer),
                                    transformer=transformer)


BUILDERS = {"flux-kontext": _kontext, "qwen-image-edit": _qwen, "flux2-klein": _klein,
            "longcat-edit": _longcat}


def build(name: str, device: str, dtype: Any = None) -> Any:
    """The full-size pipeline of editor ``name``, its weights made on ``device`` in ``dtype``."""
    import sys

    import torch

    sys.path.insert(0, str(REPO / "tests" / "support"))
    import tiny_editors

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype or torch.bfloat16)
    try:
        with torch.device(device):
            torch.manual_seed(0)
            return BUILDERS[name](tiny_editors)
    finally:
        torch.set_default_dtype(previous)


def parameters(pipe: Any) -> dict[str, float]:
    """Billions of parameters per model component."""
    import torch

    return {name: sum(p.numel() for p in module.parameters()) / 1e9
            for name, module in pipe.components.items() if isinstance(module, torch.nn.Module)}
