"""HIVE (Zhang et al., "HIVE: Harnessing Human Feedback for Instructional Visual Editing", CVPR 2024,
arXiv:2303.09618): InstructPix2Pix fine-tuned with human-feedback rewards.

Weights: the four released LDM checkpoints, ``hive_rw.ckpt`` and ``hive_rw_condition.ckpt`` (SD-1.5
backbone, ``-M version=v1``) and ``hive_v2_rw.ckpt`` and ``hive_v2_rw_condition.ckpt`` (SD-2.1-base, ``v2``),
from ``https://storage.googleapis.com/sfr-hive-data-research/checkpoints/<name>`` (the original hosting,
which may move: any local copy works). Pass ``--weights FILE.ckpt``: it is converted once, in a separate
process that reads the pickle with the restricted unpickler only, into safetensors of the state dict with
the EMA weights on the UNet (the original samples with EMA), under the realedit cache
(``<cache>/weights/hive/``); or pass a ``.safetensors`` made by ``realedit weights convert hive CKPT DST``.
Code Apache-2.0 (Salesforce); the weights derive from SD-1.5 (CreativeML OpenRAIL-M) and SD-2.1-base
(OpenRAIL++-M) and name no licence of their own.

Loading goes through diffusers' single-file loader with an explicit config folder (SD-1.5 or SD-2.1-base
with the 8-channel InstructPix2Pix input, epsilon prediction; diffusers' own guess for v2 is the 768-px
v-prediction model, which is wrong), written by :func:`adapters.hive.config.write_pipeline_config`;
``-M config=DIR`` names another diffusers config folder. ``-M version`` is read from the weights when not
given (text context 768: v1, 1024: v2). ``-M variant=condition`` (the ``*_condition`` checkpoints, chosen
by default when the file name says ``condition``) appends ", image quality is five out of five" to the
instruction, as the original does for them.

Defaults are HIVE's (its README and edit scripts): 100 steps, text guidance 7.5, image guidance 1.5,
the longer side about 512 px with both sides multiples of 64 (Lanczos fit), Euler ancestral. The original
samples with k-diffusion's Euler-ancestral sampler on log-interpolated sigmas; diffusers' scheduler
interpolates linearly, so edits differ slightly from the original's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

from adapters.base import DiffusersEditor, load_pipeline
from adapters.hive.config import VERSIONS, write_pipeline_config
from adapters.hive.prompt import VARIANTS, hive_instruction
from realedit_bench.editing import WeightsConversion
from realedit_bench.errors import ConfigError, WeightsError

URL = "https://storage.googleapis.com/sfr-hive-data-research/checkpoints/"
#: (version, variant) -> the released checkpoint.
CHECKPOINTS = {
    ("v1", "weighted"): "hive_rw.ckpt",
    ("v1", "condition"): "hive_rw_condition.ckpt",
    ("v2", "weighted"): "hive_v2_rw.ckpt",
    ("v2", "condition"): "hive_v2_rw_condition.ckpt",
}
#: Width of the UNet's text context -> HIVE version.
CONTEXT_WIDTHS = {768: "v1", 1024: "v2"}


def _cache() -> Path:
    from realedit_bench.settings import cache_root

    return cache_root() / "weights" / "hive"


def converted_path(ckpt: Path) -> Path:
    """Where ``ckpt`` is converted on first use, keyed by its resolved path, size and modification time."""
    stat = ckpt.stat()
    key = hashlib.sha256(json.dumps([str(ckpt.resolve()), stat.st_size, stat.st_mtime_ns]).encode())
    return _cache() / f"{ckpt.stem}-{key.hexdigest()[:12]}.safetensors"


def ensure_converted(weights: Path) -> tuple[Path, dict[str, str]]:
    """The safetensors to load and its header metadata: a ``.ckpt`` converted once, a ``.safetensors`` as is.

    Raises:
        WeightsError: the file is not a HIVE checkpoint we can read.
    """
    from filelock import FileLock

    from adapters.hive.convert import convert_hive_checkpoint, read_metadata

    if weights.suffix == ".safetensors":
        return weights, read_metadata(weights) or {}
    dst = converted_path(weights)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dst.with_name(dst.name + ".lock"))):
        done = convert_hive_checkpoint(weights, dst)
    return done.path, done.metadata


def context_width(path: Path) -> int | None:
    """The text-context width of the UNet's cross-attention in an LDM safetensors file (header only)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            keys = list(fh.keys())
            if any(k.startswith("model_ema.") for k in keys):
                raise WeightsError(
                    f"{path} holds EMA weights beside the raw ones; convert the original .ckpt with "
                    "realedit weights convert hive CKPT DST"
                )
            for key in keys:
                if key.startswith("model.diffusion_model.") and key.endswith("attn2.to_k.weight"):
                    return int(fh.get_slice(key).get_shape()[1])
    except SafetensorError as exc:
        raise WeightsError(f"{path} is not a readable safetensors file ({exc})") from exc
    return None


class Hive(DiffusersEditor):
    """HIVE's InstructPix2Pix-layout model from a released checkpoint.

    Args:
        version: ``v1`` (SD-1.5) or ``v2`` (SD-2.1-base); default: read from the weights.
        variant: ``weighted`` or ``condition`` (the reward as text: the instruction gets the best score
            appended); default ``condition`` when the file name says so, else ``weighted``.
        config: A diffusers pipeline config folder to load the checkpoint with (default: the explicit
            config of ``version``, written into the realedit cache).
        **settings: The settings of :class:`adapters.base.DiffusersEditor`; ``weights`` is a ``.ckpt``
            or a converted ``.safetensors``.
    """

    name: ClassVar[str] = "hive"
    family: ClassVar[str] = "hive"
    weights_hint: ClassVar[str] = "--weights hive_*.ckpt (HIVE release)"
    license: ClassVar[str] = "Apache-2.0 (code); weights from SD-1.5 / SD-2.1-base (OpenRAIL-M / ++-M)"
    default_steps: ClassVar[int] = 100
    default_guidance: ClassVar[float] = 7.5
    default_image_guidance: ClassVar[float | None] = 1.5
    default_resolution: ClassVar[int] = 512
    default_scheduler: ClassVar[str | None] = "euler_ancestral"
    pipeline_class: ClassVar[str] = "StableDiffusionInstructPix2PixPipeline"

    def __init__(
        self,
        *,
        version: str | None = None,
        variant: str | None = None,
        config: str | None = None,
        **settings: Any,
    ) -> None:
        if version is not None and version not in VERSIONS:
            raise ConfigError(f"-M version must be one of {', '.join(VERSIONS)}, got {version!r}")
        if variant is not None and variant not in VARIANTS:
            raise ConfigError(f"-M variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        hint = CHECKPOINTS[(version or "v1", variant or "weighted")]
        if not settings.get("weights"):
            raise WeightsError(
                f"hive needs a released checkpoint: download {URL}{hint} (the others: "
                f"{', '.join(c for c in CHECKPOINTS.values() if c != hint)}) and pass --weights FILE"
            )
        super().__init__(**settings)
        path = Path(self.weights)
        if not path.is_file() or path.suffix not in (".ckpt", ".safetensors"):
            raise WeightsError(
                f"--weights {self.weights}: no such .ckpt or .safetensors file; download {URL}{hint} "
                "and pass --weights FILE"
            )
        if config is not None and not (Path(config).expanduser() / "model_index.json").is_file():
            raise ConfigError(f"-M config={config}: not a diffusers pipeline folder (no model_index.json)")
        self.config = str(Path(config).expanduser().resolve()) if config is not None else None
        self.converted, self.metadata = ensure_converted(path)
        found = CONTEXT_WIDTHS.get(context_width(self.converted) or 0)
        if version is not None and found is not None and version != found:
            raise ConfigError(
                f"--weights {path.name} is HIVE {found}; pass -M version={found} or leave it out"
            )
        self.version = version or found
        if self.version is None and self.config is None:
            raise ConfigError(f"cannot tell the HIVE version of {path.name}; pass -M version=v1 or v2")
        self.variant = variant or ("condition" if "condition" in path.name else "weighted")

    def params(self) -> dict[str, Any]:
        """Every resolved setting, the variant and the sha256 of the source checkpoint."""
        out = super().params()
        out.update(
            {
                "version": self.version,
                "variant": self.variant,
                "config": self.config,
                "source_sha256": self.metadata.get("source_sha256"),
                "ema": self.metadata.get("ema"),
            }
        )
        return out

    @classmethod
    def convert_weights(cls, src: str | Path, dst: str | Path, *, progress: bool = True) -> WeightsConversion:
        """Convert a HIVE ``.ckpt`` into a ``.safetensors`` file ``dst`` (or ``dst/<name>.safetensors``)."""
        from adapters.hive.convert import convert_hive_checkpoint

        target = Path(dst)
        if target.suffix != ".safetensors":
            target = target / f"{Path(src).stem}.safetensors"
        done = convert_hive_checkpoint(src, target)
        return WeightsConversion(done.path, done.converted)

    def load_weights(self) -> Any:
        """The pipeline from the converted file, by diffusers' single-file loader and the config folder."""
        from filelock import FileLock

        folder = Path(self.config) if self.config else _cache() / f"config-{self.version}"
        if self.config is None:
            folder.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(folder.with_name(folder.name + ".lock"))):
                write_pipeline_config(folder, str(self.version))
        return load_pipeline(
            self.pipeline_class, str(self.converted), revision=None, dtype=self.dtype, config=str(folder),
            local_files_only=True, safety_checker=None, requires_safety_checker=False,
        )

    def prompt(self, instruction: str) -> str:
        """The instruction, with the best score appended for the ``condition`` variant."""
        return hive_instruction(instruction, self.variant)
