"""Synthetic benchmark data and full-size random-weight pipelines for the benchmark scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))  # the tiny-model builders live with the tests


def synthetic_real_edit(root: Path, n_photos: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> Path:
    """A Real-Edit-shaped data directory of random photos with 7 instructions each."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    mapping = {}
    cats = ("Local", "Remove", "Add", "Texture", "Background", "Global", "Style")
    for i in range(n_photos):
        name = f"{i + 1}.jpeg"
        arr = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / "imgs" / name, quality=90)
        mapping[name] = [
            f"{k + 1}. {c}: make the scene number {i} look {c.lower()}" for k, c in enumerate(cats)
        ]
    (root / "eval_instruct.json").write_text(json.dumps(mapping))
    return root


def build_sd15_pix2pix(directory: Path, dtype: str = "fp16") -> Path:
    """A full-size SD-1.5 InstructPix2Pix architecture with random weights, saved with save_pretrained."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionInstructPix2PixPipeline,
        UNet2DConditionModel,
    )
    from tiny_models import build_clip_tokenizer
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=8,
        out_channels=4,
        layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280),
        cross_attention_dim=768,
        attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        layers_per_block=2,
        sample_size=512,
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            hidden_size=768,
            intermediate_size=3072,
            num_attention_heads=12,
            num_hidden_layers=12,
            max_position_embeddings=77,
            vocab_size=49408,
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
        )
    )
    try:
        tok = build_clip_tokenizer(Path(directory).parent / "_tok")
    except ImportError:  # no open_clip on the machine: a byte-level vocabulary does for timing
        from transformers import CLIPTokenizer

        vocab = {chr(i) + "</w>": i for i in range(256)} | {chr(i): 256 + i for i in range(256)}
        vocab |= {"<|startoftext|>": 49406, "<|endoftext|>": 49407}
        tok = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    sched = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    pipe = StableDiffusionInstructPix2PixPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text,
        tokenizer=tok,
        scheduler=sched,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    if dtype == "fp16":
        pipe.to(torch.float16)
    pipe.save_pretrained(directory)
    return Path(directory)
