"""HQ-Edit (Hui et al., 2024, arXiv:2404.09990): InstructPix2Pix fine-tuned on the HQ-Edit data set (about
200,000 edits made with GPT-4V and DALL-E 3).

Weights: ``MudeHui/HQ-Edit``, an SD-1.5 InstructPix2Pix pipeline in diffusers format (the final README of
``UCSC-VLAA/HQ-Edit``, 2024-04-17, loads it with ``StableDiffusionInstructPix2PixPipeline``; an earlier README
named an SDXL model, ``UCSC-VLAA/HQ-Edit``, at 768 px and guidance 3.0). Licence: the README states none (see
the model card); the base weights are Stable Diffusion 1.5's (CreativeML OpenRAIL-M).

Defaults from that README: Euler-ancestral sampler, 30 steps, 512 px, image guidance 1.5, text guidance 7.0.
The README's own snippet has two slips, not copied here: it passes ``guidance_scale=image_guidance_scale``
(1.5) although it sets ``guidance_scale = 7.0`` just before, and ``height``/``width``, which the
InstructPix2Pix pipeline ignores (its output takes the input's size). It also squashes the input to a
512 x 512 square; realedit keeps the InstructPix2Pix fit of every other editor of this family (longer side
about 512 px, sides multiples of 64, aspect kept), which the judge's ``--protocol paper`` reconstructs.
"""

from __future__ import annotations

from typing import ClassVar

from adapters.instruct_pix2pix import InstructPix2Pix


class HQEdit(InstructPix2Pix):
    """InstructPix2Pix fine-tuned on HQ-Edit."""

    name: ClassVar[str] = "hq-edit"
    default_weights: ClassVar[str | None] = "MudeHui/HQ-Edit"
    license: ClassVar[str] = "not stated in its README (see the model card); SD-1.5 base: OpenRAIL-M"
    default_steps: ClassVar[int] = 30
    default_guidance: ClassVar[float] = 7.0
    default_image_guidance: ClassVar[float | None] = 1.5
    default_resolution: ClassVar[int] = 512
    default_scheduler: ClassVar[str | None] = "euler_ancestral"
