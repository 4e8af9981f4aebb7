"""LongCat-Image-Edit (Meituan LongCat team, 2025; the LongCat-Image technical report).

Weights: ``meituan-longcat/LongCat-Image-Edit``, Apache-2.0 (the ``-Edit-Turbo`` weights run with
``-M steps=8 -M guidance_scale=1``, the Turbo card's settings). Pipeline: diffusers'
``LongCatImageEditPipeline`` (6B DiT, Qwen2.5-VL text encoder). Defaults are the model card's example:
50 steps (also the pipeline's default), classifier-free guidance 4.5, an empty negative prompt. Size: the
pipeline takes no height or width: it always edits at about 1 MP at the photo's aspect, so ``resolution``
stays 1024 (another value is refused) and the output is resized back to the source size (``finish``).
Text to render belongs in quotes in the instruction (the pipeline encodes quoted text by character).
"""

from __future__ import annotations

from typing import Any, ClassVar

from PIL import Image

from adapters.base import DiffusersEditor, to_source_size, whole
from realedit_bench.editing import Prepared
from realedit_bench.errors import ConfigError


class LongCatEdit(DiffusersEditor):
    """LongCat-Image-Edit through ``LongCatImageEditPipeline``."""

    name: ClassVar[str] = "longcat-edit"
    family: ClassVar[str] = "longcat"
    default_weights: ClassVar[str | None] = "meituan-longcat/LongCat-Image-Edit"
    license: ClassVar[str] = "Apache-2.0"
    default_steps: ClassVar[int] = 50
    default_guidance: ClassVar[float] = 4.5
    default_resolution: ClassVar[int] = 1024
    pipeline_class: ClassVar[str] = "LongCatImageEditPipeline"
    resize: ClassVar[str] = "whole photo to the pipeline, which edits at ~1 MP at the photo's aspect"
    denoiser: ClassVar[str] = "transformer"
    attention_backends: ClassVar[bool] = True
    quantized: ClassVar[tuple[str, ...]] = ("transformer", "text_encoder")
    batch_images: ClassVar[bool] = False

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        if self.resolution != self.default_resolution:
            raise ConfigError(f"model {self.name!r} always edits at about 1 MP; leave out -M resolution")

    def prepare(self, image: Image.Image) -> Prepared:
        """The whole photo: the pipeline sizes it itself."""
        return whole(image)

    def finish(self, edited: Image.Image, source: Image.Image) -> Image.Image:
        """Back to the source size."""
        return to_source_size(edited, source)
