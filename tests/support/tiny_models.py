"""Tiny random-weight models for offline tests, saved with ``save_pretrained`` like real checkpoints.

The CLIP tokenizer is built from the BPE vocabulary that ships inside ``open_clip_torch``, so nothing
is downloaded.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

#: Constructor arguments of the tiny InstructPix2Pix U-Net (8 input channels: noisy and source latents;
#: cross-attention 32 wide, the tiny text encoder's width).
TINY_UNET: dict[str, Any] = dict(
    block_out_channels=(32, 64),
    layers_per_block=1,
    sample_size=32,
    in_channels=8,
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=32,
    attention_head_dim=4,
    norm_num_groups=16,
)


@lru_cache(maxsize=1)
def _clip_bpe() -> tuple[dict[str, int], list[str]]:
    """CLIP's byte-level BPE vocabulary and merges, rebuilt from open_clip's packaged vocab file."""
    import open_clip.tokenizer as oct

    path = Path(oct.__file__).with_name("bpe_simple_vocab_16e6.txt.gz")
    merges = gzip.open(path).read().decode("utf-8").split("\n")
    merges = merges[1 : 49152 - 256 - 2 + 1]
    pairs = [tuple(m.split()) for m in merges]
    base = list(oct.bytes_to_unicode().values())
    vocab = base + [v + "</w>" for v in base] + ["".join(p) for p in pairs]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(vocab)}, [" ".join(p) for p in pairs]


def build_clip_tokenizer(directory: Path):
    """Write a CLIP tokenizer (vocab.json + merges.txt) to ``directory`` and return it loaded."""
    from transformers import CLIPTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = _clip_bpe()
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    try:  # transformers >= 5 takes the vocabulary itself
        tok = CLIPTokenizer(vocab=vocab, merges=[tuple(m.split()) for m in merges], model_max_length=77)
    except TypeError:  # transformers 4 takes file paths
        tok = CLIPTokenizer(
            vocab_file=str(directory / "vocab.json"),
            merges_file=str(directory / "merges.txt"),
            model_max_length=77,
        )
    tok.save_pretrained(directory)
    return tok


def build_tiny_unet(**overrides: Any):
    """A random-weight U-Net of the ``TINY_UNET`` layout; ``overrides`` change its constructor arguments."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**{**TINY_UNET, **overrides})


def build_tiny_pix2pix_components(work: Path, seed: int = 0) -> dict:
    """Random-weight components of an InstructPix2Pix pipeline small enough to run 2 steps at 64 px."""
    import torch
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = build_tiny_unet()
    vae = AutoencoderKL(
        block_out_channels=(16, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=16,
        sample_size=64,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
            hidden_size=32,
            intermediate_size=37,
            layer_norm_eps=1e-5,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=49408,
            max_position_embeddings=77,
            projection_dim=32,
        )
    )
    tokenizer = build_clip_tokenizer(Path(work) / "_tokenizer")
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000
    )
    return {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": scheduler,
        "safety_checker": None,
        "feature_extractor": None,
    }


def build_tiny_pix2pix(directory: Path, seed: int = 0) -> Path:
    """Build a tiny InstructPix2Pix pipeline and ``save_pretrained`` it to ``directory``."""
    from diffusers import StableDiffusionInstructPix2PixPipeline

    directory = Path(directory)
    comps = build_tiny_pix2pix_components(directory.parent, seed)
    pipe = StableDiffusionInstructPix2PixPipeline(**comps, requires_safety_checker=False)
    pipe.save_pretrained(directory)
    return directory


class CallRecorder:
    """Stands between an editor and its loaded pipeline and keeps the arguments of every call."""

    def __init__(self, pipe: Any) -> None:
        self.pipe, self.calls = pipe, []

    def __call__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return self.pipe(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipe, name)
