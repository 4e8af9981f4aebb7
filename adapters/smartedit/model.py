"""SmartEdit before diffusion: images + instructions -> text conditions and ``conv_in`` residuals.

CLIP patch features go through the projector into the LLM (see ``decode``), the 32 image-token states
through the Q-Former, and both through the interaction module. The LLM runs in bf16 on a GPU unless
``llm_dtype`` says otherwise (the original ran it in float32); CLIP and the small modules run in
float32. The LLM can be moved to the CPU before diffusion when GPU memory is short and comes back on
the next call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from adapters.smartedit.base_parts import CLIP, LlmBase, Vision, load_llm_base, load_vision
from adapters.smartedit.bridge import Bridge
from adapters.smartedit.convert import converted_sha256
from adapters.smartedit.decode import MODES, TEMPERATURE, image_token_states
from adapters.smartedit.interaction import Conditions
from adapters.smartedit.loading import load_bridge, load_llm
from adapters.smartedit.vision import clip_pixels, patch_features
from realedit_bench.errors import ConfigError

LLM_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class SmartEditModel:
    """The multimodal LLM stage and the bridge modules, ready to condition a diffusion model."""

    def __init__(
        self,
        base: LlmBase,
        vision: Vision,
        llm: Any,
        bridge: Bridge,
        *,
        device: str,
        decoding: str,
        weights_sha256: dict[str, str],
    ) -> None:
        if decoding not in MODES:
            raise ConfigError(f"llm_decoding must be one of {', '.join(MODES)}, got {decoding!r}")
        self.base, self.vision, self.llm, self.bridge = base, vision, llm, bridge
        self.device, self.decoding, self.weights_sha256 = device, decoding, weights_sha256

    def params(self) -> dict[str, Any]:
        """Settings of this stage that change the output (for the run manifest)."""
        return {
            "llm_decoding": self.decoding,
            "llm_temperature": TEMPERATURE if self.decoding == "sampled" else None,
            "llm_dtype": str(self.llm.dtype).removeprefix("torch."),
            "prompt_template": 0,
            "weights_sha256": dict(self.weights_sha256),
        }

    @torch.no_grad()
    def conditions(
        self,
        images: Sequence[Image.Image],
        instructions: Sequence[str],
        seeds: Sequence[int],
        latent_size: tuple[int, int],
    ) -> Conditions:
        """Text conditions [B, 77, 768] and residuals [B, 320, h, w] (float32) for one batch.

        Args:
            images: source images (any size; CLIP sees them resized to its square input).
            instructions: one edit instruction per image.
            seeds: one seed per image; it seeds the LLM's sampling in ``sampled`` mode.
            latent_size: (h, w) of the diffusion latents, i.e. the edited image's size / 8.
        """
        if self.llm.device.type != torch.device(self.device).type:
            self.llm.to(self.device)
        pixels = clip_pixels(self.vision.processor, images).to(self.device, self.vision.model.dtype)
        patches = patch_features(self.vision.model, pixels).float()
        projected = self.bridge.projector(patches).to(self.llm.dtype)
        states = image_token_states(
            self.llm, self.base.tokenizer, self.base.ids, instructions, projected, seeds, self.decoding
        )
        queries = self.bridge.qformer(states.float())
        return self.bridge.interaction(patches, queries, latent_size)

    def offload_llm(self, min_free_bytes: int = 0) -> bool:
        """Move the LLM to the CPU when fewer than ``min_free_bytes`` are free on its GPU (0: always).

        Returns:
            Whether it was moved.
        """
        if self.llm.device.type != "cuda":
            return False
        free, _ = torch.cuda.mem_get_info(self.llm.device)
        if min_free_bytes and free >= min_free_bytes:
            return False
        self.llm.to("cpu")
        torch.cuda.empty_cache()
        return True


def load_smartedit(
    weights: str | Path,
    *,
    llm_base: str,
    clip: str = CLIP,
    device: str = "cpu",
    llm_dtype: str | None = None,
    decoding: str = "sampled",
) -> SmartEditModel:
    """Build :class:`SmartEditModel` from a converted folder and the base parts.

    Args:
        weights: a folder written by :func:`adapters.smartedit.convert.convert_smartedit`.
        llm_base: Vicuna-1.1 tokenizer/config, hub id or folder.
        clip: CLIP ViT-L/14, hub id or folder.
        device: ``cpu`` or ``cuda[:N]``.
        llm_dtype: ``fp32``, ``bf16`` or ``fp16``; default bf16 on CUDA, fp32 on CPU.
        decoding: ``sampled``, ``greedy`` or ``teacher_forced``.
    """
    dtype_name = llm_dtype or ("bf16" if device.startswith("cuda") else "fp32")
    if dtype_name not in LLM_DTYPES:
        raise ConfigError(f"llm_dtype must be one of {', '.join(LLM_DTYPES)}, got {dtype_name!r}")
    if decoding not in MODES:
        raise ConfigError(f"llm_decoding must be one of {', '.join(MODES)}, got {decoding!r}")
    sha = converted_sha256(weights)
    base = load_llm_base(llm_base)
    vision = load_vision(clip)
    vision.model.to(device)
    llm = load_llm(weights, base.config, LLM_DTYPES[dtype_name], device)
    bridge = load_bridge(weights, device)
    return SmartEditModel(base, vision, llm, bridge, device=device, decoding=decoding, weights_sha256=sha)
