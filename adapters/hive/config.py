"""Explicit diffusers pipeline configs for HIVE's two backbones, written as a local folder.

diffusers' single-file loader guesses a config from the checkpoint; for HIVE v2 it picks the 768-px
v-prediction SD-2.1 with 4 input channels, which is wrong. HIVE v2 is SD-2.1-base (512 px, epsilon
prediction, OpenCLIP ViT-H text encoder read at its penultimate layer, so 23 layers) with the
InstructPix2Pix 8-channel input; HIVE v1 is SD-1.5 with the same input. The folder built here (no hub
download) serves ``from_single_file(..., config=folder)`` and the model-level loaders (``subfolder=``).
Sampling follows HIVE's k-diffusion Euler-ancestral sampler as closely as diffusers allows
(``EulerAncestralDiscreteScheduler``, epsilon, linspace timesteps).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

VERSIONS = ("v1", "v2")

_DOWN = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
_UP = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]


def unet_config(version: str) -> dict[str, Any]:
    """SD-1.5 (v1) or SD-2.1-base (v2) UNet with 8 input channels (image latents beside the noise)."""
    v2 = version == "v2"
    return {
        "_class_name": "UNet2DConditionModel",
        "sample_size": 64,
        "in_channels": 8,
        "out_channels": 4,
        "down_block_types": _DOWN,
        "up_block_types": _UP,
        "block_out_channels": [320, 640, 1280, 1280],
        "layers_per_block": 2,
        "downsample_padding": 1,
        "mid_block_scale_factor": 1,
        "act_fn": "silu",
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "flip_sin_to_cos": True,
        "freq_shift": 0,
        "center_input_sample": False,
        "upcast_attention": False,
        "cross_attention_dim": 1024 if v2 else 768,
        "attention_head_dim": [5, 10, 20, 20] if v2 else 8,
        "use_linear_projection": v2,
    }


def vae_config() -> dict[str, Any]:
    """The KL-f8 autoencoder shared by SD-1.5 and SD-2.1-base."""
    return {
        "_class_name": "AutoencoderKL",
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "block_out_channels": [128, 256, 512, 512],
        "layers_per_block": 2,
        "act_fn": "silu",
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "norm_num_groups": 32,
        "sample_size": 512,
        "scaling_factor": 0.18215,
    }


def text_encoder_config(version: str) -> dict[str, Any]:
    """CLIP ViT-L/14 text tower (v1) or OpenCLIP ViT-H/14 up to its penultimate layer (v2)."""
    v2 = version == "v2"
    return {
        "architectures": ["CLIPTextModel"],
        "model_type": "clip_text_model",
        "vocab_size": 49408,
        "max_position_embeddings": 77,
        "layer_norm_eps": 1e-5,
        "attention_dropout": 0.0,
        "dropout": 0.0,
        "initializer_range": 0.02,
        "initializer_factor": 1.0,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "pad_token_id": 1,
        "hidden_size": 1024 if v2 else 768,
        "intermediate_size": 4096 if v2 else 3072,
        "num_attention_heads": 16 if v2 else 12,
        "num_hidden_layers": 23 if v2 else 12,
        "hidden_act": "gelu" if v2 else "quick_gelu",
        "projection_dim": 512 if v2 else 768,
    }


def scheduler_config() -> dict[str, Any]:
    """Euler ancestral on SD's scaled-linear betas, epsilon prediction, linspace timesteps."""
    return {
        "_class_name": "EulerAncestralDiscreteScheduler",
        "num_train_timesteps": 1000,
        "beta_start": 0.00085,
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "trained_betas": None,
        "prediction_type": "epsilon",
        "steps_offset": 1,
        "timestep_spacing": "linspace",
    }


def _clip_vocabulary() -> tuple[dict[str, int], list[str]]:
    """CLIP's byte-level BPE (vocabulary, merges), from the merges file that open_clip ships."""
    import open_clip.tokenizer as oct

    lines = (
        gzip.open(Path(oct.__file__).with_name("bpe_simple_vocab_16e6.txt.gz")).read().decode().split("\n")
    )
    merges = lines[1 : 49152 - 256 - 2 + 1]
    base = list(oct.bytes_to_unicode().values())
    tokens = base + [b + "</w>" for b in base] + ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(tokens)}, merges


def _write_tokenizer(folder: Path, version: str) -> None:
    vocab, merges = _clip_vocabulary()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    # SD-2.x pads with "!" (id 0) like OpenCLIP; SD-1.x pads with the end-of-text token. As with the
    # hub's SD-2 tokenizer, a "!" in the text then reads as that pad token (OpenCLIP would not do so).
    pad = "!" if version == "v2" else "<|endoftext|>"
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "do_lower_case": True,
        "errors": "replace",
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": pad,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def write_pipeline_config(folder: str | Path, version: str) -> Path:
    """Write the config folder of HIVE ``version`` (``v1`` or ``v2``) and return it.

    Raises:
        ValueError: unknown version.
    """
    if version not in VERSIONS:
        raise ValueError(f"HIVE version must be one of {', '.join(VERSIONS)}, got {version!r}")
    import diffusers

    root = Path(folder)
    index = {
        "_class_name": "StableDiffusionInstructPix2PixPipeline",
        "_diffusers_version": diffusers.__version__,
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "scheduler": ["diffusers", "EulerAncestralDiscreteScheduler"],
        "safety_checker": [None, None],
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "requires_safety_checker": False,
    }
    files = {
        "model_index.json": index,
        "unet/config.json": unet_config(version),
        "vae/config.json": vae_config(),
        "text_encoder/config.json": text_encoder_config(version),
        "scheduler/scheduler_config.json": scheduler_config(),
    }
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(json.dumps(content, indent=2) + "\n")
    _write_tokenizer(root / "tokenizer", version)
    return root
