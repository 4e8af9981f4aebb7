"""FLUX.2 [klein] 4B (Black Forest Labs, 2026): a step-distilled FLUX.2 for generation and reference editing.

Weights: ``black-forest-labs/FLUX.2-klein-4B``, Apache-2.0. The 9B weights (``-klein-9B``, ``-klein-9b-kv``)
are under the FLUX Non-Commercial License; the undistilled ``-klein-base-4B`` wants 50 steps and guidance
4.0 (``-M steps=50 -M guidance_scale=4``). Pipeline: diffusers' ``Flux2KleinPipeline`` (Qwen3 text encoder).
Defaults: 4 steps and guidance 1.0, the model card's settings of the distilled model (the pipeline turns
CFG off for a distilled model; it takes no negative prompt). Size: the pipeline edits at the reference
image's size, capped at 1 MP with sides multiples of 16, and rejects sides under 64 px; the photo is
resized (whole, Lanczos) to that size (area at most ``resolution``\\ :sup:`2`, both sides at least 64), the
output asked at it, then resized back to the source size (``finish``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from PIL import Image

from adapters.base import DiffusersEditor, to_source_size, whole
from realedit_bench.editing import Prepared

#: The pipeline refuses reference images with a side under this many pixels.
MIN_SIDE = 64


def klein_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """The photo's size scaled down to an area of at most ``resolution`` squared (never up, except to
    reach :data:`MIN_SIDE`), sides floored to multiples of 16."""
    scale = min(1.0, resolution / math.sqrt(width * height))
    scale = max(scale, MIN_SIDE / min(width, height))
    return (max(MIN_SIDE, int(width * scale) // 16 * 16), max(MIN_SIDE, int(height * scale) // 16 * 16))


class Flux2Klein(DiffusersEditor):
    """FLUX.2 [klein] through ``Flux2KleinPipeline``."""

    name: ClassVar[str] = "flux2-klein"
    family: ClassVar[str] = "flux2"
    default_weights: ClassVar[str | None] = "black-forest-labs/FLUX.2-klein-4B"
    license: ClassVar[str] = "Apache-2.0 (4B; 9B: non-commercial)"
    default_steps: ClassVar[int] = 4
    default_guidance: ClassVar[float] = 1.0
    default_resolution: ClassVar[int] = 1024
    default_negative_prompt: ClassVar[str | None] = None
    pipeline_class: ClassVar[str] = "Flux2KleinPipeline"
    resize: ClassVar[str] = "whole photo, area <= resolution^2, sides >= 64 and multiples of 16, Lanczos"
    denoiser: ClassVar[str] = "transformer"
    attention_backends: ClassVar[bool] = True
    quantized: ClassVar[tuple[str, ...]] = ("transformer", "text_encoder")
    batch_images: ClassVar[bool] = False

    def prepare(self, image: Image.Image) -> Prepared:
        """The whole photo at the size the pipeline edits at."""
        return whole(image, klein_size(*image.size, self.resolution))

    def call_kwargs(self, group: Sequence[Prepared]) -> dict[str, Any]:
        """Guidance, and the output at the reference's size."""
        width, height = group[0].size
        return {"guidance_scale": self.guidance_scale, "width": width, "height": height}

    def finish(self, edited: Image.Image, source: Image.Image) -> Image.Image:
        """Back to the source size."""
        return to_source_size(edited, source)
