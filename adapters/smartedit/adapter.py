"""SmartEdit (Huang et al., "SmartEdit: Exploring Complex Instruction-based Image Editing with Multimodal
Large Language Models", CVPR 2024, arXiv:2312.06739), run natively on transformers + diffusers.

Weights: ``TencentARC/SmartEdit-7B`` / ``-13B`` on Hugging Face. The model card says Apache-2.0, but the
weights embed LLaMA-1-derived weights (through Vicuna-1.1 / LLaVA-1.1: the LLaMA licence, non-commercial
research) and an SD-1.5 UNet (CreativeML OpenRAIL-M); the code repository has no licence file. Download a
release folder and pass ``--weights DIR``: it is converted once, with a progress bar, into compact
safetensors under the realedit cache (``<cache>/weights/smartedit/``), or give a folder converted by
``realedit weights convert smartedit SRC DST``. The run records the sha256 of the converted files.

Base parts (hub ids or local folders): the Vicuna-1.1 tokenizer and config (``-M llm_base``; default
``lmsys/vicuna-7b-v1.1`` or ``-13b-v1.1`` by ``-M size``, itself read from the weights when not given),
CLIP ViT-L/14 (``-M clip``), and InstructPix2Pix's VAE, text encoder, scheduler and UNet config (``-M ip2p``).

Defaults are those behind the paper's numbers (the official test script): 256 x 256 input (a square,
bicubic: the aspect ratio is not kept, as in the original), 100 steps, Euler ancestral, text guidance 7.5,
image guidance 1.5, UNet and VAE in fp16 on CUDA (``--dtype``).

Where this differs from the original (each recorded in the run's parameters):

- the user turn is the first of the 30 released phrasings, not one drawn at random;
- ``-M llm_decoding=sampled`` (default) samples at temperature 0.7 like the original, but from a generator
  seeded with each sample's seed (the original drew from the global RNG), so an edit does not depend on
  its batch or on the order of samples; ``greedy`` takes the most likely token; ``teacher_forced`` feeds
  the trained answer and reads the 32 image-token states in one pass;
- the LLM runs in bf16 on CUDA (``-M llm_dtype=fp32`` is the original's precision) and fp32 on CPU;
- the prompt is tokenised piece by piece around the added tokens, as the tokenizer of the training did
  (newer tokenizers keep the spaces next to added tokens, which would change the ids);
- samples are batched (a left-padded LLM prefill, one pipeline call), and before diffusion the LLM moves
  to the CPU when less than 4 GiB of GPU memory is free (it comes back for the next batch);
- a sample whose LLM answer ends before its 32 image tokens is recorded as failed (the original asserts).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from adapters.base import DiffusersEditor, torch_dtype
from adapters.smartedit.base_parts import CLIP, IP2P, BaseParts, resolve_base_parts
from adapters.smartedit.convert import converted_sha256, ensure_converted
from adapters.smartedit.decode import MODES, TEMPERATURE
from adapters.smartedit.loading import llm_width
from adapters.smartedit.model import LLM_DTYPES
from realedit_bench.editing import Prepared, WeightsConversion
from realedit_bench.errors import ConfigError, WeightsError

#: Free GPU memory below which the LLM goes to the CPU before diffusion (256 px diffusion needs far less).
DIFFUSION_HEADROOM = 4 << 30


class SmartEdit(DiffusersEditor):
    """SmartEdit: a multimodal LLM reads the image and instruction and conditions an InstructPix2Pix UNet.

    Args:
        size: ``7b`` or ``13b``; default: read from the weights.
        llm_base: Vicuna-1.1 tokenizer and config, hub id or folder (default by ``size``).
        clip: CLIP ViT-L/14, hub id or folder.
        ip2p: InstructPix2Pix (VAE, text encoder, scheduler, UNet config), hub id or folder.
        llm_dtype: ``bf16``, ``fp16`` or ``fp32``; default bf16 on CUDA, fp32 on CPU.
        llm_decoding: ``sampled`` (temperature 0.7, seeded per sample), ``greedy`` or ``teacher_forced``.
        **settings: The settings of :class:`adapters.base.DiffusersEditor`; ``weights`` is a SmartEdit
            release folder or a converted one.
    """

    name: ClassVar[str] = "smartedit"
    family: ClassVar[str] = "smartedit"
    weights_hint: ClassVar[str] = "--weights TencentARC/SmartEdit-7B|13B folder"
    license: ClassVar[str] = (
        "Apache-2.0 tag, but embeds LLaMA-1-derived weights (non-commercial) and SD-1.5 (OpenRAIL-M); "
        "code: none"
    )
    default_steps: ClassVar[int] = 100
    default_guidance: ClassVar[float] = 7.5
    default_image_guidance: ClassVar[float | None] = 1.5
    default_resolution: ClassVar[int] = 256
    default_scheduler: ClassVar[str | None] = "euler_ancestral"
    pipeline_class: ClassVar[str] = "StableDiffusionInstructPix2PixPipeline"
    resize: ClassVar[str] = "resolution x resolution square, bicubic (aspect ratio not kept)"
    default_clip: ClassVar[str] = CLIP
    default_ip2p: ClassVar[str] = IP2P
    #: The one line said when no weights are given.
    no_weights: ClassVar[str] = (
        "smartedit needs the released weights: download TencentARC/SmartEdit-7B (or -13B) from Hugging Face "
        "(huggingface-cli download TencentARC/SmartEdit-7B --local-dir DIR) and pass --weights DIR"
    )

    def __init__(
        self,
        *,
        size: str | None = None,
        llm_base: str | None = None,
        clip: str | None = None,
        ip2p: str | None = None,
        llm_dtype: str | None = None,
        llm_decoding: str = "sampled",
        **settings: Any,
    ) -> None:
        cls = type(self)
        if not settings.get("weights"):
            raise WeightsError(cls.no_weights)
        if settings.get("revision"):
            raise ConfigError(
                f"model {cls.name!r} reads --weights from a local folder; --revision does not apply"
            )
        super().__init__(**settings)
        if self.resolution % 8:
            raise ConfigError(f"resolution must be a multiple of 8 (the VAE's factor), got {self.resolution}")
        if llm_decoding not in MODES:
            raise ConfigError(f"llm_decoding must be one of {', '.join(MODES)}, got {llm_decoding!r}")
        self.llm_decoding = llm_decoding
        self.llm_dtype = llm_dtype or ("bf16" if self.device.startswith("cuda") else "fp32")
        if self.llm_dtype not in LLM_DTYPES:
            raise ConfigError(f"llm_dtype must be one of {', '.join(LLM_DTYPES)}, got {self.llm_dtype!r}")
        # Converted now (a no-op once done): the sha256 of what is loaded is part of params(), which the
        # runner reads before loading.
        self.converted = ensure_converted(self.smartedit_weights())
        self.weights_sha256 = converted_sha256(self.converted)
        given = {"size": size, "llm_base": llm_base, "clip": clip, "ip2p": ip2p}
        defaults = self.base_defaults()
        chosen = {k: v if v is not None else defaults.get(k) for k, v in given.items()}
        self.base: BaseParts = resolve_base_parts(llm_width(self.converted), **chosen)
        self._model: Any = None
        self._negative: Any = None

    # -- what subclasses change ---------------------------------------------------------------------
    def smartedit_weights(self) -> str:
        """The SmartEdit release or converted folder whose LLM and bridge (and here UNet) are loaded."""
        return self.weights

    def base_defaults(self) -> dict[str, str | None]:
        """Defaults of ``size``, ``llm_base``, ``clip``, ``ip2p`` before the built-in ones (none here)."""
        return {}

    def load_unet(self, parts: Any) -> Any:
        """The UNet the pipeline runs: SmartEdit's, on InstructPix2Pix's UNet config."""
        from adapters.smartedit.loading import load_unet

        return load_unet(self.converted, parts.unet_config, torch_dtype(self.dtype))

    def residual(self, pipe: Any, residual: Any) -> AbstractContextManager[None]:
        """Within the block, the pipeline's UNet adds ``residual`` after its ``conv_in``."""
        from adapters.smartedit.residual import conv_in_residual

        return conv_in_residual(pipe.unet, residual)

    # -- contract -----------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Every resolved setting, the base parts and the sha256 of the converted weights."""
        out = super().params()
        out.update(
            {
                "size": self.base.size,
                "llm_base": self.base.llm_base,
                "clip": self.base.clip,
                "ip2p": self.base.ip2p,
                "llm_dtype": self.llm_dtype,
                "llm_decoding": self.llm_decoding,
                "llm_temperature": TEMPERATURE if self.llm_decoding == "sampled" else None,
                "prompt_template": 0,
                "weights_sha256": dict(self.weights_sha256),
            }
        )
        return out

    @classmethod
    def convert_weights(cls, src: str | Path, dst: str | Path, *, progress: bool = True) -> WeightsConversion:
        """Convert a SmartEdit release folder ``src`` into ``dst`` (``realedit weights convert``)."""
        from adapters.smartedit.convert import convert_smartedit

        done = convert_smartedit(src, dst, progress=progress)
        return WeightsConversion(done.folder, done.converted)

    def load_weights(self) -> Any:
        """The multimodal LLM stage (on its device) and an InstructPix2Pix pipeline with SmartEdit's UNet."""
        from diffusers import StableDiffusionInstructPix2PixPipeline

        from adapters.smartedit.base_parts import load_pix2pix_parts
        from adapters.smartedit.model import load_smartedit

        self._model = load_smartedit(
            self.converted, llm_base=self.base.llm_base, clip=self.base.clip, device=self.device,
            llm_dtype=self.llm_dtype, decoding=self.llm_decoding,
        )
        parts = load_pix2pix_parts(self.base.ip2p, dtype=torch_dtype(self.dtype))
        return StableDiffusionInstructPix2PixPipeline(
            vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer,
            unet=self.load_unet(parts), scheduler=parts.scheduler, safety_checker=None,
            feature_extractor=None, requires_safety_checker=False,
        )

    def adapt(self, pipe: Any) -> Any:
        """Encode the negative prompt once: it is the text of the two unconditional guidance branches."""
        import torch

        tokens = pipe.tokenizer(
            [self.negative_prompt], padding="max_length", max_length=pipe.tokenizer.model_max_length,
            truncation=True, return_tensors="pt",
        )
        with torch.no_grad():
            self._negative = pipe.text_encoder(tokens.input_ids.to(pipe.text_encoder.device))[0]
        return pipe

    def prepare(self, image: Image.Image) -> Prepared:
        """The whole photo resized to a ``resolution`` square with bicubic filtering, as the original."""
        rgb = image.convert("RGB")
        size = (self.resolution, self.resolution)
        box = (0.0, 0.0, float(rgb.width), float(rgb.height))
        return Prepared(rgb.resize(size, Image.Resampling.BICUBIC), box, size)

    def edit_batch(
        self, images: Sequence[Image.Image], instructions: Sequence[str], *, seeds: Sequence[int]
    ) -> list[Image.Image]:
        """Edit several images: one LLM pass for the batch, then one pipeline call."""
        import torch

        self.load()
        prepared = [self.prepare(im) for im in images]
        width, height = prepared[0].size
        inputs = [p.image for p in prepared]
        factor = self._pipe.vae_scale_factor
        cond = self._model.conditions(inputs, instructions, seeds, (height // factor, width // factor))
        self._model.offload_llm(DIFFUSION_HEADROOM)
        with self.residual(self._pipe, cond.residual):
            result = self._pipe(
                image=inputs, prompt_embeds=cond.text,
                negative_prompt_embeds=self._negative.expand(len(inputs), -1, -1),
                num_inference_steps=self.steps,
                # A CPU generator per sample: the same latents on any device, any batch, any order.
                generator=[torch.Generator("cpu").manual_seed(int(s)) for s in seeds],
                output_type="pil", **self.call_kwargs(prepared),
            )
        return [self.finish(edited, source) for edited, source in zip(result.images, images, strict=True)]
