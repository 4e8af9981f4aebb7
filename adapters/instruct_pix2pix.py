"""InstructPix2Pix (Brooks, Holynski, Efros; CVPR 2023, arXiv:2211.09800).

Weights: ``timbrooks/instruct-pix2pix`` (diffusers format), CreativeML OpenRAIL-M; code MIT.
Defaults are those of the original release's edit script (``edit_cli.py``): Euler-ancestral sampler,
100 steps, text guidance 7.5, image guidance 1.5, input resized so the longer side is about 512 px with
both sides multiples of 64 (the base's :func:`adapters.base.fit`). Every setting is a constructor
argument and is reported by ``params()``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from adapters.base import DiffusersEditor


class InstructPix2Pix(DiffusersEditor):
    """Adapter for InstructPix2Pix-family pipelines (``StableDiffusionInstructPix2PixPipeline``)."""

    name: ClassVar[str] = "instruct-pix2pix"
    family: ClassVar[str] = "instruct-pix2pix"
    default_weights: ClassVar[str | None] = "timbrooks/instruct-pix2pix"
    license: ClassVar[str] = "CreativeML OpenRAIL-M (weights), MIT (code)"
    default_steps: ClassVar[int] = 100
    default_guidance: ClassVar[float] = 7.5
    default_image_guidance: ClassVar[float | None] = 1.5
    default_resolution: ClassVar[int] = 512
    default_scheduler: ClassVar[str | None] = "euler_ancestral"
    pipeline_class: ClassVar[str] = "StableDiffusionInstructPix2PixPipeline"

    def load_kwargs(self) -> dict[str, Any]:
        """No safety checker: an evaluation records what the model made."""
        return {"safety_checker": None, "requires_safety_checker": False}
