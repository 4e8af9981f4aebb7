"""Reward-SmartEdit: the paper's multi-reward condition on SmartEdit (``realedit run --model
reward-smartedit``, ``realedit reward train --base smartedit``).

The paper's best editor puts the reward module of Reward-InstructPix2Pix (:mod:`reward_model.mrc`, the
released variant by default) into SmartEdit's UNet. Both residuals sit after ``conv_in``: SmartEdit's
interaction-module residual is added first and the reward encoder reads the sum (the paper does not say
in which order; see :mod:`reward_model.mrc`). The reward inputs are those of ``reward-instruct-pix2pix``:
three scores 0-5 and the joined failure texts, encoded by InstructPix2Pix's CLIP text encoder (pooled),
the same condition in all three guidance branches; at inference 5,5,5 and "None; None; None".

No Reward-SmartEdit weights were released, so they are trained here, with the existing trainer on reward
data and the paper's settings (AdamW 5e-5, 256 px, batch 4 x 4, 10,000 steps, EMA): ``realedit reward
train --base smartedit --pretrained <SmartEdit release or converted folder>``. What is trained, a choice
(the paper says it only for InstructPix2Pix): the UNet and the new reward modules. The multimodal LLM,
CLIP, the Q-Former and the interaction module stay as released and run frozen, with teacher forcing (the
trained answer is fed and the 32 image-token states read in one pass, as in SmartEdit's own training),
so each training example costs one LLM forward. The reward modules' output layers start at zero
(:meth:`reward_model.mrc.RewardUNet.zero_init_outputs`): training starts from SmartEdit's function exactly.

A trained folder (``<out>/pipeline``) is a reward pipeline (``unet/``, ``reward/``, and
InstructPix2Pix's ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``) plus ``smartedit.json``,
which names the SmartEdit weights the training used (the folder given to it and the sha256 of their
conversion) and the base parts. The LLM and bridge are loaded from those weights (``-M
smartedit_weights=DIR`` if they moved; the sha256 of their conversion must match).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from adapters.smartedit.adapter import SmartEdit
from realedit_bench.errors import ConfigError, WeightsError
from reward_model.adapter import RewardCondition, peek_reward_config

RECORD = "smartedit.json"
_FORMAT = "realedit-reward-smartedit"
_FORMAT_VERSION = 1
#: ``-M`` settings of ``reward train --base smartedit``: where the frozen parts come from.
BASE_SETTINGS = ("size", "llm_base", "clip", "ip2p", "llm_dtype")


def write_record(folder: Path, source: Path, sha256: dict[str, str], parts: dict[str, Any]) -> Path:
    """Write ``folder/smartedit.json``: the SmartEdit weights (as given to training; the sha256 of their
    conversion) and the base parts."""
    record = {
        "format": _FORMAT, "format_version": _FORMAT_VERSION, "smartedit_weights": str(source),
        "weights_sha256": sha256, **{k: parts.get(k) for k in ("size", "llm_base", "clip")},
    }
    path = Path(folder) / RECORD
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def read_record(folder: Path) -> dict[str, Any]:
    """The record of a trained Reward-SmartEdit folder.

    Raises:
        WeightsError: the folder holds none, or one of another format.
    """
    path = Path(folder) / RECORD
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(
            f"{folder} is not a Reward-SmartEdit folder (no readable {RECORD}); pass the pipeline/ folder "
            "written by realedit reward train --base smartedit"
        ) from exc
    if not isinstance(record, dict) or record.get("format") != _FORMAT or record.get("format_version", 0) > 1:
        raise WeightsError(f"{path} is not a Reward-SmartEdit record this realedit reads")
    return record


class RewardSmartEdit(RewardCondition, SmartEdit):
    """SmartEdit whose UNet is conditioned on three reward scores and failure texts (trained by realedit).

    Args:
        reward_scores: ``"F,P,Q"``, the scores 0-5 the edit is conditioned on (default 5,5,5).
        reward_text: The failure texts, ``"following; preserving; quality"`` (default "None; None; None").
        smartedit_weights: The SmartEdit weights (release or converted folder) the LLM and bridge come from;
            default: those the training used, as its ``smartedit.json`` names them.
        **settings: The settings of :class:`adapters.smartedit.adapter.SmartEdit`; ``weights`` is the
            trained folder (``<out>/pipeline`` of ``realedit reward train --base smartedit``).
    """

    name: ClassVar[str] = "reward-smartedit"
    weights_hint: ClassVar[str] = "none released: reward train --base smartedit"
    license: ClassVar[str] = "as smartedit's weights (LLaMA-1-derived: non-commercial); code Apache-2.0"
    no_weights: ClassVar[str] = (
        "no Reward-SmartEdit weights were released; train them with: realedit reward train --base smartedit "
        "--pretrained <SmartEdit weights folder> --rewards <reward file> --out DIR, then pass "
        "--weights DIR/pipeline"
    )

    def __init__(
        self,
        *,
        reward_scores: str | None = None,
        reward_text: str | None = None,
        smartedit_weights: str | None = None,
        **settings: Any,
    ) -> None:
        self._set_reward(reward_scores, reward_text)
        self._smartedit_weights = smartedit_weights
        self._record: dict[str, Any] | None = None
        super().__init__(**settings)
        expected = self._read_record()["weights_sha256"]
        if self.weights_sha256 != expected:
            raise WeightsError(
                f"the SmartEdit weights at {self.converted} are not those {self.weights} was trained on "
                "(their sha256 differ); pass -M smartedit_weights=DIR with those weights"
            )
        self._drop_unused_inputs(peek_reward_config(Path(self.weights)), self.weights)
        self._reward_unet: Any = None

    def _read_record(self) -> dict[str, Any]:
        if self._record is None:
            self._record = read_record(Path(self.weights))
        return self._record

    def smartedit_weights(self) -> str:
        """``-M smartedit_weights``, else the SmartEdit weights the training used."""
        return self._smartedit_weights or str(self._read_record()["smartedit_weights"])

    def base_defaults(self) -> dict[str, str | None]:
        """The training's base parts; InstructPix2Pix's parts are in the trained folder itself."""
        record = self._read_record()
        return {"size": record.get("size"), "llm_base": record.get("llm_base"), "clip": record.get("clip"),
                "ip2p": self.weights}

    def params(self) -> dict[str, Any]:
        """Every resolved setting of SmartEdit, with the reward condition and the SmartEdit weights."""
        out = super().params()
        out.update({"smartedit_weights": self.smartedit_weights(), **self.reward_params()})
        return out

    def load_unet(self, parts: Any) -> Any:
        """The trained reward U-Net (``unet/`` + ``reward/``); the pipeline runs its inner U-Net."""
        from adapters.base import torch_dtype
        from reward_model.mrc import RewardUNet

        self._reward_unet = RewardUNet.from_pretrained(self.weights, torch_dtype=torch_dtype(self.dtype))
        return self._reward_unet.unet

    def adapt(self, pipe: Any) -> Any:
        """The negative prompt encoded, and the pipeline's U-Net conditioned on the reward."""
        pipe = super().adapt(pipe)
        pipe.unet = self.conditioned_unet(pipe, self._reward_unet.to(self.device).eval(), self.device)
        return pipe

    def residual(self, pipe: Any, residual: Any) -> Any:
        """The interaction-module residual goes in through the reward U-Net, before its reward encoder."""
        return pipe.unet.residual(residual)


def check_base_settings(settings: dict[str, str]) -> None:
    """Refuse ``-M`` keys that ``reward train --base smartedit`` does not take.

    Raises:
        ConfigError: an unknown key.
    """
    unknown = sorted(set(settings) - set(BASE_SETTINGS))
    if unknown:
        raise ConfigError(
            f"-M {unknown[0]}: reward train --base smartedit takes -M {', '.join(BASE_SETTINGS)}"
        )


def check_pretrained(pretrained: str) -> None:
    """``--pretrained`` of ``--base smartedit`` must be a SmartEdit release or converted folder.

    Raises:
        ConfigError: it is not.
    """
    from adapters.smartedit.convert import find_release, read_manifest

    path = Path(pretrained).expanduser()
    if read_manifest(path) is not None:
        return
    try:
        find_release(path)
    except WeightsError as exc:
        raise ConfigError(f"--pretrained: {exc}") from None


class SmartEditConditioner:
    """SmartEdit's frozen stage before diffusion, for training: source images and instructions -> the text
    condition and the ``conv_in`` residual (teacher-forced LLM)."""

    def __init__(self, model: Any, source: Path, converted: Path, base: Any, latent_factor: int) -> None:
        from adapters.smartedit.convert import converted_sha256

        self.model, self.source, self.base, self.latent_factor = model, source, base, latent_factor
        self.sha256 = converted_sha256(converted)

    def to(self, device: Any) -> SmartEditConditioner:
        """Move the LLM, CLIP and the bridge to ``device``."""
        for module in (self.model.llm, self.model.vision.model, self.model.bridge):
            module.to(device)
        self.model.device = str(device)
        return self

    def __call__(self, source: Any, instructions: list[str]) -> Any:
        """Conditions for source images ``[B, 3, H, W]`` in [-1, 1] (the training crops) and instructions."""
        from PIL import Image

        pixels = ((source.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255).byte()
        images = [Image.fromarray(p.permute(1, 2, 0).numpy()) for p in pixels]
        size = (source.shape[-2] // self.latent_factor, source.shape[-1] // self.latent_factor)
        return self.model.conditions(images, instructions, [0] * len(images), size)

    def save(self, folder: Path) -> None:
        """Record in a trained folder which SmartEdit weights and base parts it builds on."""
        write_record(folder, self.source, self.sha256, self.base._asdict())


def load_components(pretrained: str, settings: dict[str, str], device: Any) -> Any:
    """The training components of ``--base smartedit``: InstructPix2Pix's frozen parts, SmartEdit's UNet
    (trained) and its frozen multimodal stage as the conditioner.

    Args:
        pretrained: A SmartEdit release folder (converted into the cache once) or a converted folder.
        settings: ``-M`` settings (:data:`BASE_SETTINGS`).
        device: Where the frozen multimodal stage runs.
    """
    import torch
    from diffusers import DDPMScheduler

    from adapters.smartedit.base_parts import load_pix2pix_parts, resolve_base_parts
    from adapters.smartedit.convert import ensure_converted
    from adapters.smartedit.loading import llm_width, load_unet
    from adapters.smartedit.model import load_smartedit
    from reward_model.train import Components

    converted = ensure_converted(pretrained)
    given = {k: settings.get(k) for k in ("size", "llm_base", "clip", "ip2p")}
    base = resolve_base_parts(llm_width(converted), **given)
    model = load_smartedit(
        converted, llm_base=base.llm_base, clip=base.clip, device=str(device),
        llm_dtype=settings.get("llm_dtype"), decoding="teacher_forced",
    )
    parts = load_pix2pix_parts(base.ip2p)
    unet = load_unet(converted, parts.unet_config, torch.float32)
    factor = 2 ** (len(parts.vae.config.block_out_channels) - 1)  # the pipeline's vae_scale_factor
    source = Path(pretrained).expanduser().resolve()
    conditioner = SmartEditConditioner(model, source, converted, base, factor)
    noise = DDPMScheduler.from_config(parts.scheduler.config)
    return Components(
        parts.tokenizer, parts.text_encoder, parts.vae, unet, parts.scheduler, noise, conditioner
    )
