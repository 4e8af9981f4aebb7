"""CLIP ViT-L/14 patch features, as LLaVA-1.1 and SmartEdit read them.

The image is resized to the tower's square input with bicubic filtering (so the processor's own
resize and centre crop change nothing), normalised by the CLIP processor, and the features are the
second-to-last layer's hidden states without the CLS token: 256 patches x 1024 at 224 px.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PIL import Image


def clip_pixels(processor: Any, images: Sequence[Image.Image]) -> Any:
    """Pixel tensor [B, 3, S, S] for the vision tower (S = the processor's crop size)."""
    crop = processor.crop_size
    size = (int(crop["width"]), int(crop["height"]))
    square = [im.convert("RGB").resize(size, resample=Image.Resampling.BICUBIC) for im in images]
    return processor(images=square, return_tensors="pt")["pixel_values"]


def patch_features(vision: Any, pixels: Any) -> Any:
    """Patch features [B, N, C] of the penultimate layer, CLS dropped."""
    out = vision(pixel_values=pixels, output_hidden_states=True)
    return out.hidden_states[-2][:, 1:]
