"""Qwen-Image-Edit-2511 (Qwen team, Alibaba; Qwen-Image technical report, arXiv:2508.02324), and the weights
that share its pipeline: Qwen-Image-Edit-2509 and FireRed-Image-Edit (FireRed team, Xiaohongshu).

Weights: ``Qwen/Qwen-Image-Edit-2511`` by default; ``--weights`` also takes the short names ``2511``,
``2509`` (``Qwen/Qwen-Image-Edit-2509``), ``firered`` (``FireRedTeam/FireRed-Image-Edit-1.1``) and
``firered-1.0``. All Apache-2.0. Pipeline: diffusers' ``QwenImageEditPlusPipeline`` (20B MMDiT, Qwen2.5-VL
text encoder). Defaults are the model card's example (also used by GEditBench v2's generation code):

* 40 steps (the pipeline's own default is 50);
* true classifier-free guidance 4.0 (``true_cfg_scale``) with the negative prompt ``" "``: the pipeline
  runs true CFG only when a negative prompt is given, and the card gives one; its ``guidance_scale`` is for
  guidance-distilled transformers only and is not sent;
* size: the photo is handed over whole (the pipeline resizes it to about 384x384 for the VL encoder and
  about 1 MP for the VAE itself); the output is asked at the photo's aspect with an area of
  ``resolution``\\ :sup:`2` by the pipeline's own rule (at 1024 exactly its default size), then resized back
  to the source size (``finish``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from PIL import Image

from adapters.base import DiffusersEditor, to_source_size, whole
from realedit_bench.editing import Prepared

#: Short names ``--weights`` accepts -> hub ids of weights that run on this pipeline.
WEIGHTS = {
    "2511": "Qwen/Qwen-Image-Edit-2511",
    "2509": "Qwen/Qwen-Image-Edit-2509",
    "firered": "FireRedTeam/FireRed-Image-Edit-1.1",
    "firered-1.1": "FireRedTeam/FireRed-Image-Edit-1.1",
    "firered-1.0": "FireRedTeam/FireRed-Image-Edit-1.0",
}


class QwenImageEdit(DiffusersEditor):
    """Qwen-Image-Edit-2511 (or 2509, FireRed-Image-Edit) through ``QwenImageEditPlusPipeline``.

    Args:
        weights: A hub id, a local directory, or a short name of :data:`WEIGHTS`.
        **settings: The base's settings.
    """

    name: ClassVar[str] = "qwen-image-edit"
    family: ClassVar[str] = "qwen-image-edit"
    default_weights: ClassVar[str | None] = WEIGHTS["2511"]
    license: ClassVar[str] = "Apache-2.0"
    default_steps: ClassVar[int] = 40
    default_guidance: ClassVar[float] = 4.0
    default_resolution: ClassVar[int] = 1024
    default_negative_prompt: ClassVar[str | None] = " "
    pipeline_class: ClassVar[str] = "QwenImageEditPlusPipeline"
    resize: ClassVar[str] = "whole photo to the pipeline; output at the photo's aspect, area resolution^2"
    denoiser: ClassVar[str] = "transformer"
    attention_backends: ClassVar[bool] = True
    quantized: ClassVar[tuple[str, ...]] = ("transformer", "text_encoder")
    batch_images: ClassVar[bool] = False

    def __init__(self, *, weights: str | None = None, **settings: Any) -> None:
        super().__init__(weights=WEIGHTS.get(weights, weights) if weights else None, **settings)

    def prepare(self, image: Image.Image) -> Prepared:
        """The whole photo: the pipeline sizes its inputs itself."""
        return whole(image)

    def call_kwargs(self, group: Sequence[Prepared]) -> dict[str, Any]:
        """True CFG, and the output size by the pipeline's rule at an area of ``resolution`` squared."""
        from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_plus import calculate_dimensions

        width, height = group[0].size
        out_w, out_h = calculate_dimensions(self.resolution**2, width / height)
        return {"true_cfg_scale": self.guidance_scale, "width": out_w, "height": out_h}

    def finish(self, edited: Image.Image, source: Image.Image) -> Image.Image:
        """Back to the source size."""
        return to_source_size(edited, source)
