"""InstructPix2Pix (Brooks, Holynski, Efros; CVPR 2023, arXiv:2211.09800).

Weights: ``timbrooks/instruct-pix2pix`` (diffusers format), CreativeML OpenRAIL-M; code MIT.
Defaults are those of the original release's edit script (``edit_cli.py``): Euler-ancestral sampler,
100 steps, text guidance 7.5, image guidance 1.5, input resized so the longer side is about 512 px with
both sides multiples of 64. Every setting is a constructor argument and is reported by ``params()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from adapters._diffusers import (
    fit_image,
    load_pipeline,
    local_weights_fingerprint,
    resolve_device,
    resolve_dtype,
)
from realedit_bench.errors import ConfigError

#: Sampler names accepted by ``-M scheduler=...`` -> diffusers scheduler class.
SCHEDULERS = {
    "euler_ancestral": "EulerAncestralDiscreteScheduler",
    "euler": "EulerDiscreteScheduler",
    "ddim": "DDIMScheduler",
    "dpmpp_2m": "DPMSolverMultistepScheduler",
    "pndm": "PNDMScheduler",
}


class InstructPix2Pix:
    """Adapter for InstructPix2Pix-family pipelines (``StableDiffusionInstructPix2PixPipeline``)."""

    name: ClassVar[str] = "instruct-pix2pix"
    family: ClassVar[str] = "instruct-pix2pix"
    default_weights: ClassVar[str | None] = "timbrooks/instruct-pix2pix"
    license: ClassVar[str] = "CreativeML OpenRAIL-M (weights), MIT (code)"
    default_steps: ClassVar[int] = 100
    default_guidance: ClassVar[float] = 7.5
    default_image_guidance: ClassVar[float] = 1.5
    default_resolution: ClassVar[int] = 512
    default_scheduler: ClassVar[str] = "euler_ancestral"

    def __init__(
        self,
        weights: str | None = None,
        revision: str | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        resolution: int | None = None,
        scheduler: str | None = None,
        negative_prompt: str = "",
        device: str = "auto",
        dtype: str = "auto",
    ) -> None:
        cls = type(self)
        resolved = weights or cls.default_weights
        if not resolved:
            raise ConfigError(f"model {cls.name!r} has no default weights; pass --weights")
        if Path(resolved).expanduser().exists():
            # One spelling per folder ('w', './w/', '/abs/w'): the path is part of the run id.
            resolved = str(Path(resolved).expanduser().resolve())
        self.weights: str = resolved
        self.revision = revision
        # Read once: params() must stay the same for the whole run (the runner compares it on resume).
        self._weights_fingerprint = local_weights_fingerprint(self.weights)
        self.steps = int(steps if steps is not None else cls.default_steps)
        self.guidance_scale = float(guidance_scale if guidance_scale is not None else cls.default_guidance)
        self.image_guidance_scale = float(
            image_guidance_scale if image_guidance_scale is not None else cls.default_image_guidance
        )
        self.resolution = int(resolution if resolution is not None else cls.default_resolution)
        self.scheduler = scheduler or cls.default_scheduler
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"unknown scheduler {self.scheduler!r} (known: {', '.join(SCHEDULERS)})")
        if self.steps < 1 or self.resolution < 64:
            raise ConfigError("steps must be >= 1 and resolution >= 64")
        self.negative_prompt = negative_prompt
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self._pipe: Any = None

    # -- contract -----------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Every resolved setting that influences the output."""
        return {
            "weights": self.weights,
            "weights_fingerprint": self._weights_fingerprint,
            "revision": self.revision,
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "image_guidance_scale": self.image_guidance_scale,
            "resolution": self.resolution,
            "resize": "longer side ~resolution, sides multiples of 64, Lanczos centre fit",
            "scheduler": self.scheduler,
            "negative_prompt": self.negative_prompt,
            "device": self.device,
            "dtype": self.dtype,
            "generator": "torch.Generator('cpu') per sample",
        }

    def load(self) -> None:
        """Load the pipeline once (the runner times this separately)."""
        if self._pipe is not None:
            return
        import diffusers
        import transformers
        from diffusers import StableDiffusionInstructPix2PixPipeline

        # The runner shows its own progress; the libraries' per-component bars would interleave with it.
        diffusers.utils.logging.disable_progress_bar()
        transformers.utils.logging.disable_progress_bar()

        pipe = load_pipeline(
            StableDiffusionInstructPix2PixPipeline,
            self.weights,
            revision=self.revision,
            dtype=self.dtype,
            safety_checker=None,
            requires_safety_checker=False,
        )
        scheduler_cls = getattr(diffusers, SCHEDULERS[self.scheduler])
        pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config)
        pipe = self._prepare(pipe)
        pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe

    def _prepare(self, pipe: Any) -> Any:
        """Hook for subclasses that alter the loaded pipeline (e.g. a reward-conditioned U-Net)."""
        return pipe

    def edit(self, image: Image.Image, instruction: str, *, seed: int) -> Image.Image:
        """Edit one image."""
        return self.edit_batch([image], [instruction], seeds=[seed])[0]

    def edit_batch(
        self, images: Sequence[Image.Image], instructions: Sequence[str], *, seeds: Sequence[int]
    ) -> list[Image.Image]:
        """Edit several images; those that resize to the same size share one pipeline call."""
        import torch

        self.load()
        fitted = [fit_image(im, self.resolution) for im in images]
        out: list[Image.Image | None] = [None] * len(fitted)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(fitted):
            groups.setdefault(im.size, []).append(i)
        for idx in groups.values():
            # A CPU generator per sample: the same latents on any device, any batch, any order.
            gens = [torch.Generator("cpu").manual_seed(int(seeds[i])) for i in idx]
            result = self._pipe(
                prompt=[instructions[i] for i in idx],
                image=[fitted[i] for i in idx],
                negative_prompt=[self.negative_prompt] * len(idx) if self.negative_prompt else None,
                num_inference_steps=self.steps,
                guidance_scale=self.guidance_scale,
                image_guidance_scale=self.image_guidance_scale,
                generator=gens,
                output_type="pil",
                **self._call_kwargs(len(idx)),
            )
            for i, im in zip(idx, result.images, strict=True):
                out[i] = im
        return [im for im in out if im is not None]

    def _call_kwargs(self, batch: int) -> dict[str, Any]:
        """Extra pipeline-call arguments (subclasses)."""
        return {}
