"""FLUX.1 Kontext [dev] (Black Forest Labs, 2025; arXiv:2506.15742): in-context editing with a flow DiT.

Weights: ``black-forest-labs/FLUX.1-Kontext-dev`` (gated on the hub: accept its licence there first), under
the FLUX.1 [dev] Non-Commercial License: research and other non-commercial use only. Pipeline: diffusers'
``FluxKontextPipeline``. Defaults:

* 28 steps: the pipeline's default and the model card's example;
* guidance 2.5: the model card's and diffusers' documented example (the pipeline's own default is 3.5).
  It is FLUX's embedded (distilled) guidance, one forward pass per step; no true CFG, so no negative prompt;
* size: the input is resized (whole photo, Lanczos) to the one of the pipeline's 17 preferred Kontext
  resolutions nearest the photo's aspect, scaled by ``resolution``/1024 (the pipeline's own choice at the
  default 1024), and the output is asked at that size, then resized back to the source size (``finish``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from PIL import Image

from adapters.base import DiffusersEditor, to_source_size, whole
from realedit_bench.editing import Prepared


def kontext_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """The preferred Kontext resolution nearest the aspect of ``width`` x ``height``, scaled to
    ``resolution`` (1024: as the pipeline picks it), sides multiples of 16."""
    from diffusers.pipelines.flux.pipeline_flux_kontext import PREFERRED_KONTEXT_RESOLUTIONS

    aspect = width / height
    _, w, h = min((abs(aspect - w / h), w, h) for w, h in PREFERRED_KONTEXT_RESOLUTIONS)
    scale = resolution / 1024
    return max(16, round(w * scale / 16) * 16), max(16, round(h * scale / 16) * 16)


class FluxKontext(DiffusersEditor):
    """FLUX.1 Kontext [dev] through ``FluxKontextPipeline``."""

    name: ClassVar[str] = "flux-kontext"
    family: ClassVar[str] = "flux-kontext"
    default_weights: ClassVar[str | None] = "black-forest-labs/FLUX.1-Kontext-dev"
    license: ClassVar[str] = "FLUX.1-dev licence (non-commercial)"
    default_steps: ClassVar[int] = 28
    default_guidance: ClassVar[float] = 2.5
    default_resolution: ClassVar[int] = 1024
    default_negative_prompt: ClassVar[str | None] = None
    pipeline_class: ClassVar[str] = "FluxKontextPipeline"
    resize: ClassVar[str] = "nearest preferred Kontext resolution x resolution/1024, whole photo, Lanczos"
    denoiser: ClassVar[str] = "transformer"
    attention_backends: ClassVar[bool] = True
    quantized: ClassVar[tuple[str, ...]] = ("transformer", "text_encoder_2")

    def prepare(self, image: Image.Image) -> Prepared:
        """The whole photo at its preferred Kontext resolution."""
        return whole(image, kontext_size(*image.size, self.resolution))

    def call_kwargs(self, group: Sequence[Prepared]) -> dict[str, Any]:
        """Embedded guidance; the output asked at the input's size (the pipeline's resize turned off)."""
        width, height = group[0].size
        return {"guidance_scale": self.guidance_scale, "width": width, "height": height,
                "max_area": width * height, "_auto_resize": False}

    def finish(self, edited: Image.Image, source: Image.Image) -> Image.Image:
        """Back to the source size."""
        return to_source_size(edited, source)
