"""Training of the reward-conditioned InstructPix2Pix (``realedit reward train``).

The loop follows the paper (section 6.1) and the authors' released training script for what the paper
leaves out: the MRC module, reward encoder and U-Net start from a pretrained InstructPix2Pix pipeline
(the new modules randomly initialised) and are all optimised; the VAE and the text encoder stay frozen.
The loss is the usual noise-prediction MSE with the reward condition as an extra input.

Defaults and where they come from:

* AdamW, learning rate 5e-5, weight decay 1e-2, constant schedule without warm-up, 256 px with random
  crop and flip: the paper, section 6.1 (its text says "Adam", its released script uses AdamW);
* batch 4 x gradient accumulation 4, 10,000 steps, checkpoints every 500 steps, conditioning dropout
  0.05: the released training command (README of bytedance/Multi-Reward-Editing);
* gradient clipping 1.0, EMA of the U-Net weights (diffusers ``EMAModel``, decay 0.9999), gradient
  checkpointing, mixed precision: the released script, which follows diffusers'
  ``train_instruct_pix2pix.py``;
* conditioning dropout as in InstructPix2Pix (section 3.2.1 of its paper, diffusers' script): with
  probability p the instruction is dropped, with p the source image, with p both; the reward
  condition itself is never dropped (as in the released script).

``--base smartedit`` trains Reward-SmartEdit the same way (:mod:`reward_model.smartedit`): ``--pretrained``
is a SmartEdit release or converted folder, the UNet and the reward modules are trained, SmartEdit's
multimodal stage runs frozen and gives the text condition and the ``conv_in`` residual of each example,
and the reward modules' output layers start at zero.

Multi-GPU and multi-node training run through ``accelerate launch``; every random draw (which
examples, crops, flips, noise, timesteps, dropout) is derived from (seed, step, process), so a run
resumed from a checkpoint replays exactly what an uninterrupted run would have done.

Output directory::

    <out>/training_settings.json     every setting, resolved values, data joins, versions, history
    <out>/train_log.jsonl            one line per optimisation step: step, loss, lr, seconds (a resume
                                     drops the lines after its checkpoint, so every step appears once)
    <out>/logs/                      TensorBoard (or W&B) logs
    <out>/checkpoints/checkpoint-<step>/   accelerate state + ema_unet.safetensors + trainer_state.json
                                           (the step and the run's settings, checked on --resume)
    <out>/pipeline/                  the final pipeline (EMA weights), loadable by the adapter
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from realedit_bench.errors import ConfigError, DataError, RealEditError, WeightsError
from realedit_bench.jsonio import JsonlAppender, atomic_write_json
from realedit_bench.launch import command_to_relaunch, launch, launch_command
from realedit_bench.outcome import ProgressCallback, report_phase
from realedit_bench.provenance import command_line, git_sha, library_versions, utc_now
from reward_model.data import (
    DrawSampler,
    JoinReport,
    RewardTrainingSet,
    collate,
    derive_seed,
    load_examples,
)

#: Folder names inside the output directory.
CHECKPOINTS_DIR = "checkpoints"
PIPELINE_DIR = "pipeline"
SETTINGS_FILE = "training_settings.json"
LOG_FILE = "train_log.jsonl"
EMA_FILE = "ema_unet.safetensors"
TRAINER_STATE_FILE = "trainer_state.json"

class NonFiniteLossError(RealEditError):
    """The training loss became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says where it stopped and how to continue."""


#: Settings a resumed run must share with the run it resumes (anything else may change).
RESUME_INVARIANTS = (
    "base", "pretrained", "variant", "reward_inputs", "reward_integration", "resolution", "batch_size",
    "gradient_accumulation_steps", "seed", "use_ema",
)


class TrainConfig(BaseModel):
    """Every setting of ``realedit reward train``; defaults are the paper's and the authors' release."""

    model_config = ConfigDict(extra="forbid")

    pretrained: str = Field(description="InstructPix2Pix pipeline to start from: a local folder or a hub id "
                            "(--base smartedit: a SmartEdit release or converted folder).")
    base: Literal["instruct-pix2pix", "smartedit"] = Field(
        default="instruct-pix2pix", description="The editor the reward condition is trained into."
    )
    base_settings: dict[str, str] = Field(
        default_factory=dict, description="Settings of --base smartedit (-M size, llm_base, clip, ip2p, "
                                          "llm_dtype): where its frozen parts come from."
    )
    revision: str | None = Field(default=None, description="Hub revision of --pretrained.")
    output_dir: Path = Field(description="Where checkpoints, logs and the final pipeline go.")
    reward_files: list[Path] = Field(description="RewardEdit-20K .json and/or realedit reward .jsonl files.")
    triplets: str | None = Field(
        default=None, description="Triplets for RewardEdit-20K keys: folder, "
                                  ".jsonl manifest or hf:<dataset id>."
    )
    allow_missing: bool = Field(
        default=False, description="Skip (and count) examples whose keys lack a triplet "
                                   "or whose images are unreadable."
    )
    variant: Literal["released", "paper"] = Field(
        default="released", description="MRC architecture: the authors' released "
                                        "checkpoint or the paper's text."
    )
    reward_inputs: Literal["both", "score", "text", "none"] = Field(
        default="both",
        description="Reward inputs (paper Table 4): scores, failure texts, both; 'none' fine-tunes the plain "
        "InstructPix2Pix U-Net on the same data (a baseline).",
    )
    reward_integration: Literal["both", "attention", "addition"] = Field(
        default="both", description="How c_R enters the U-Net (paper Table 5): reward "
                                    "encoder, per-block addition, both."
    )
    resolution: int = Field(default=256, description="Training crop size in pixels.")
    center_crop: bool = Field(default=False, description="Centre crop instead of a random crop.")
    random_flip: bool = Field(default=True, description="Random horizontal flip (same for source and edit).")
    batch_size: int = Field(default=4, description="Examples per process per micro-batch.")
    gradient_accumulation_steps: int = Field(default=4, description="Micro-batches per optimisation step.")
    max_steps: int = Field(default=10_000, description="Optimisation steps to "
                                                       "train to (total, across resumes).")
    learning_rate: float = Field(default=5e-5, description="AdamW learning rate.")
    weight_decay: float = Field(default=1e-2, description="AdamW weight decay.")
    adam_beta1: float = Field(default=0.9, description="AdamW beta1.")
    adam_beta2: float = Field(default=0.999, description="AdamW beta2.")
    adam_epsilon: float = Field(default=1e-8, description="AdamW epsilon.")
    lr_scheduler: str = Field(default="constant", description="diffusers scheduler name (constant, cosine, "
                                                              "...).")
    lr_warmup_steps: int = Field(default=0, description="Warm-up steps of the schedule.")
    max_grad_norm: float = Field(default=1.0, description="Gradient clipping norm (0 disables).")
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = Field(
        default="auto", description="auto: bf16 on a GPU that supports it, else fp16 on GPU, no on CPU."
    )
    gradient_checkpointing: bool = Field(default=True, description="Recompute activations to save memory.")
    use_ema: bool = Field(default=True, description="Keep an EMA of the trained "
                                                    "weights; the final save uses it.")
    ema_decay: float = Field(default=0.9999, description="Largest EMA decay "
                                                         "(diffusers EMAModel warms up to it).")
    conditioning_dropout: float = Field(
        default=0.05, description="InstructPix2Pix conditioning dropout p (text, image and both each with p)."
    )
    checkpoint_every: int = Field(default=500, description="Save a resumable "
                                                           "checkpoint every N steps (0: never).")
    checkpoints_total_limit: int | None = Field(default=None, description="Keep at most this many "
                                                                          "checkpoints.")
    resume: str | None = Field(default=None, description="'latest' or a checkpoint folder to resume from.")
    seed: int = Field(default=42, description="Seed of every random draw (data, noise, dropout).")
    report_to: Literal["tensorboard", "wandb", "none"] = Field(default="tensorboard", description="Logger.")
    num_workers: int = Field(default=2, description="Data-loader worker processes.")
    allow_tf32: bool = Field(default=True, description="Allow TF32 matmuls on Ampere or newer GPUs.")


class TrainResult(NamedTuple):
    """What a finished (or resumed and finished) training produced."""

    output_dir: Path
    pipeline_dir: Path | None
    start_step: int
    final_step: int
    losses: list[float]


# --------------------------------------------------------------------------------------------------
# Checks before anything heavy happens
# --------------------------------------------------------------------------------------------------


def check_config(cfg: TrainConfig) -> None:
    """Refuse bad settings before any model loads.

    Raises:
        ConfigError: A setting is out of range, a file is absent, or a logger is not installed.
    """
    positive = {
        "resolution": cfg.resolution, "batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps, "max_steps": cfg.max_steps,
    }
    for name, value in positive.items():
        if value <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
    if cfg.resolution % 8:
        raise ConfigError(f"--resolution must be a multiple of 8 (the VAE's factor), got {cfg.resolution}")
    if not 0 <= cfg.conditioning_dropout <= 1 / 3:
        raise ConfigError(f"--conditioning-dropout must be in [0, 1/3], got {cfg.conditioning_dropout}")
    if cfg.learning_rate <= 0 or cfg.weight_decay < 0 or cfg.max_grad_norm < 0:
        raise ConfigError("--learning-rate must be > 0, --weight-decay and --max-grad-norm >= 0")
    if not 0 < cfg.ema_decay < 1:
        raise ConfigError(f"--ema-decay must be in (0, 1), got {cfg.ema_decay}")
    limit = cfg.checkpoints_total_limit
    if cfg.checkpoint_every < 0 or (limit is not None and limit < 1):
        raise ConfigError("--checkpoint-every must be >= 0 and --checkpoints-total-limit >= 1")
    for path in cfg.reward_files:
        if not Path(path).expanduser().is_file():
            raise ConfigError(f"--rewards {path} does not exist")
    _check_base(cfg)
    local = Path(cfg.pretrained).expanduser()
    if cfg.base == "instruct-pix2pix" and local.exists():
        if not (local / "model_index.json").is_file() or not (local / "unet" / "config.json").is_file():
            raise ConfigError(f"--pretrained {local} is not a diffusers pipeline folder "
                              "(no model_index.json or unet/)")
        in_channels = json.loads((local / "unet" / "config.json").read_text()).get("in_channels")
        if in_channels != 8:
            raise ConfigError(
                f"--pretrained {local}: its U-Net takes {in_channels} input channels; an InstructPix2Pix "
                f"pipeline (8 channels: noisy latent + source latent) is needed"
            )
    if cfg.mixed_precision in ("fp16", "bf16"):
        import torch

        # Without CUDA accelerate's autocast and our half-precision frozen encoders disagree (a dtype
        # RuntimeError at the first step); refuse rather than silently train in another precision.
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--mixed-precision {cfg.mixed_precision} needs a CUDA GPU; on CPU use --mixed-precision no "
                f"(or auto, which picks it)"
            )
    if cfg.report_to == "wandb":
        import importlib.util

        if importlib.util.find_spec("wandb") is None:
            raise ConfigError("--report-to wandb needs the wandb package (pip install 'realedit[wandb]')")
    if cfg.resume not in (None, "latest"):
        ckpt = Path(cfg.resume).expanduser()
        if not ckpt.is_dir():
            raise ConfigError(f"--resume {cfg.resume}: no such checkpoint folder (or use --resume latest)")
        if not (ckpt / TRAINER_STATE_FILE).is_file():
            raise ConfigError(
                f"--resume {cfg.resume}: not a complete checkpoint (no {TRAINER_STATE_FILE}; a "
                f"checkpoint-<step> folder under <out>/{CHECKPOINTS_DIR} is expected)"
            )
    try:
        from diffusers.optimization import SchedulerType

        SchedulerType(cfg.lr_scheduler)
    except ValueError as exc:
        raise ConfigError(f"--lr-scheduler {cfg.lr_scheduler!r} is not a diffusers scheduler name") from exc


class BaseSpec(NamedTuple):
    """What ``--base`` changes in training."""

    #: ``"module:function"`` of ``(pretrained, revision, base settings, device) -> Components``.
    loader: str
    #: The editor that runs the trained pipeline.
    editor: str
    #: The reward modules' output layers start at zero (training starts from the base's function).
    zero_init: bool


BASES = {
    "instruct-pix2pix": BaseSpec("reward_model.train:load_pix2pix_base", "reward-instruct-pix2pix", False),
    "smartedit": BaseSpec("reward_model.train:load_smartedit_base", "reward-smartedit", True),
}


def editor_of(cfg: TrainConfig) -> str:
    """The editor that runs what ``cfg`` trains (plain InstructPix2Pix for ``--reward-inputs none``)."""
    return "instruct-pix2pix" if cfg.reward_inputs == "none" else BASES[cfg.base].editor


def _check_base(cfg: TrainConfig) -> None:
    """``--base smartedit``: a local SmartEdit folder, known ``-M`` keys, a reward to train."""
    if cfg.base == "instruct-pix2pix":
        if cfg.base_settings:
            raise ConfigError(f"-M {next(iter(cfg.base_settings))}: only --base smartedit takes -M settings")
        return
    from reward_model.smartedit import check_base_settings, check_pretrained

    check_base_settings(cfg.base_settings)
    check_pretrained(cfg.pretrained)
    if cfg.reward_inputs == "none":
        raise ConfigError(
            "--reward-inputs none fine-tunes a plain InstructPix2Pix; it does not apply to --base smartedit"
        )


def resolve_mixed_precision(choice: str) -> str:
    """``auto`` -> bf16 on a GPU that has it, fp16 on an older GPU, no on CPU."""
    if choice != "auto":
        return choice
    import torch

    if not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def find_checkpoint(output_dir: Path, resume: str | None) -> Path | None:
    """The checkpoint ``--resume`` names: ``latest`` is the highest step under ``<out>/checkpoints``."""
    if resume is None:
        return None
    if resume != "latest":
        return Path(resume).expanduser()
    root = Path(output_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return None
    found = [
        (int(p.name.split("-", 1)[1]), p)
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith("checkpoint-") and p.name.split("-", 1)[1].isdigit()
        and (p / TRAINER_STATE_FILE).is_file()  # a checkpoint cut off mid-save has no trainer state
    ]
    return max(found)[1] if found else None


# --------------------------------------------------------------------------------------------------
# Model pieces
# --------------------------------------------------------------------------------------------------


class Components(NamedTuple):
    """The frozen parts and the U-Net of the pretrained pipeline."""

    tokenizer: Any
    text_encoder: Any
    vae: Any
    unet: Any
    scheduler: Any
    noise_scheduler: Any
    #: ``(source images, instructions) -> (text condition, conv_in residual)`` for a base whose condition is
    #: not the CLIP text of the instruction (SmartEdit); None for InstructPix2Pix.
    conditioner: Any = None


def load_components(pretrained: str, revision: str | None = None) -> Components:
    """Load an InstructPix2Pix pipeline's parts (no safety checker) and a DDPM noise schedule for training."""
    from diffusers import DDPMScheduler, StableDiffusionInstructPix2PixPipeline

    try:
        pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(
            pretrained, revision=revision, safety_checker=None, feature_extractor=None,
            requires_safety_checker=False,
        )
    except (OSError, ValueError) as exc:
        raise WeightsError(f"could not load --pretrained {pretrained}: {exc}") from exc
    if pipe.unet.config.in_channels != 8:
        raise ConfigError(f"--pretrained {pretrained} is not an InstructPix2Pix "
                          "pipeline (U-Net in_channels != 8)")
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    return Components(pipe.tokenizer, pipe.text_encoder, pipe.vae, pipe.unet, pipe.scheduler, noise_scheduler)


def load_pix2pix_base(
    pretrained: str, revision: str | None, settings: dict[str, str], device: Any
) -> Components:
    """:func:`load_components` as a ``--base`` loader."""
    return load_components(pretrained, revision)


def load_smartedit_base(
    pretrained: str, revision: str | None, settings: dict[str, str], device: Any
) -> Components:
    """SmartEdit's parts (:func:`reward_model.smartedit.load_components`) as a ``--base`` loader."""
    from reward_model.smartedit import load_components as load_smartedit

    return load_smartedit(pretrained, settings, device)


def reward_config(cfg: TrainConfig) -> Any:
    """Part A's ``RewardConfig`` for the ablation switches of ``cfg``."""
    from reward_model.mrc import RewardConfig

    return RewardConfig(
        variant=cfg.variant,
        use_scores=cfg.reward_inputs in ("score", "both"),
        use_text=cfg.reward_inputs in ("text", "both"),
        use_attention=cfg.reward_integration in ("attention", "both"),
        use_addition=cfg.reward_integration in ("addition", "both"),
    )


def build_model(unet: Any, cfg: TrainConfig, text_dim: int) -> Any:
    """The trainable network: the reward U-Net around ``unet``, or ``unet`` itself for
    ``reward_inputs='none'``."""
    if cfg.reward_inputs == "none":
        return unet
    from reward_model.mrc import RewardUNet

    return RewardUNet.from_unet(unet, reward_config(cfg), text_dim)


def _enable_gradient_checkpointing(model: Any) -> None:
    for target in (model, getattr(model, "unet", None)):
        fn = getattr(target, "enable_gradient_checkpointing", None)
        if fn is None:
            continue
        try:
            fn()
            return
        except ValueError:  # a ModelMixin that does not declare support: try the inner U-Net
            continue
    raise ConfigError("this model does not support gradient checkpointing; pass --no-gradient-checkpointing")


def _model_output(out: Any) -> Any:
    if hasattr(out, "sample"):
        return out.sample
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


class StepInputs(NamedTuple):
    """Everything one forward pass of the trained network takes besides its weights."""

    latent_input: Any
    timesteps: Any
    text_hidden: Any
    reward_scores: Any
    reward_text_hidden: Any
    reward_text_pooled: Any
    target: Any
    #: Added after ``conv_in`` (SmartEdit's interaction-module residual); None for InstructPix2Pix.
    image_residual: Any = None


class Trainer:
    """Holds the frozen encoders and turns a batch into the loss (shared by training and the benchmark)."""

    def __init__(self, comps: Components, cfg: TrainConfig, device: Any, weight_dtype: Any) -> None:
        import torch

        self.comps = comps
        self.cfg = cfg
        self.device = device
        self.weight_dtype = weight_dtype
        tok = comps.tokenizer
        with torch.no_grad():
            ids = self.tokenize([""])
            self.null_text = comps.text_encoder(ids)[0]
        self.max_length = tok.model_max_length

    def tokenize(self, texts: list[str]) -> Any:
        """Token ids padded to the tokenizer's length (77 for SD)."""
        tok = self.comps.tokenizer
        return tok(
            texts, max_length=tok.model_max_length, padding="max_length", truncation=True, return_tensors="pt"
        ).input_ids.to(self.device)

    def inputs(self, batch: dict[str, Any], generator: Any) -> StepInputs:
        """Encode a batch: latents, noise, timesteps, conditioning dropout, reward condition."""
        import torch

        comps, cfg, dev, dt = self.comps, self.cfg, self.device, self.weight_dtype
        with torch.no_grad():
            edited = batch["edited"].to(dev, dtype=dt)
            source = batch["source"].to(dev, dtype=dt)
            latents = comps.vae.encode(edited).latent_dist.sample(generator=generator)
            latents = latents * comps.vae.config.scaling_factor
            noise = torch.randn(latents.shape, generator=generator, device=dev, dtype=latents.dtype)
            bsz = latents.shape[0]
            timesteps = torch.randint(
                0, comps.noise_scheduler.config.num_train_timesteps, (bsz,), generator=generator, device=dev
            ).long()
            noisy = comps.noise_scheduler.add_noise(latents, noise, timesteps)
            residual = None
            if comps.conditioner is None:
                text_hidden = comps.text_encoder(self.tokenize(batch["instruction"]))[0]
            else:
                cond = comps.conditioner(batch["source"], batch["instruction"])
                text_hidden, residual = cond.text.to(dev, dtype=dt), cond.residual.to(dev, dtype=dt)
            # The source latent is the distribution's mode, as in InstructPix2Pix.
            source_latent = comps.vae.encode(source).latent_dist.mode()
            p = cfg.conditioning_dropout
            if p > 0:
                u = torch.rand(bsz, generator=generator, device=dev)
                drop_text = (u < 2 * p).reshape(bsz, 1, 1)
                text_hidden = torch.where(drop_text, self.null_text.to(text_hidden.dtype), text_hidden)
                keep_image = 1 - ((u >= p) & (u < 3 * p)).to(source_latent.dtype)
                source_latent = source_latent * keep_image.reshape(bsz, 1, 1, 1)
            latent_input = torch.cat([noisy, source_latent], dim=1)
            if comps.noise_scheduler.config.prediction_type == "epsilon":
                target = noise
            elif comps.noise_scheduler.config.prediction_type == "v_prediction":
                target = comps.noise_scheduler.get_velocity(latents, noise, timesteps)
            else:
                raise ConfigError("unsupported prediction type "
                                  f"{comps.noise_scheduler.config.prediction_type}")
            scores = r_hidden = r_pooled = None
            if cfg.reward_inputs != "none":
                scores = batch["scores"].to(dev)
                if cfg.reward_inputs in ("text", "both"):
                    from reward_model.mrc import encode_reward_text, join_failure_texts

                    texts = [join_failure_texts(*t) for t in batch["texts"]]
                    r_hidden, r_pooled = encode_reward_text(comps.tokenizer, comps.text_encoder, texts)
        return StepInputs(latent_input, timesteps, text_hidden, scores, r_hidden, r_pooled, target, residual)

    def loss(self, model: Any, x: StepInputs) -> Any:
        """Noise-prediction MSE of ``model`` on prepared inputs."""
        import torch.nn.functional as F

        if self.cfg.reward_inputs == "none":
            out = model(x.latent_input, x.timesteps, x.text_hidden, return_dict=False)
        else:
            out = model(
                x.latent_input, x.timesteps, x.text_hidden, reward_scores=x.reward_scores,
                reward_text_hidden=x.reward_text_hidden, reward_text_pooled=x.reward_text_pooled,
                image_residual=x.image_residual,
            )
        pred = _model_output(out)
        return F.mse_loss(pred.float(), x.target.float(), reduction="mean")


# --------------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------------


def _trainable(model: Any) -> list[tuple[str, Any]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def save_ema(ema: Any, model: Any, path: Path) -> None:
    """Write EMA shadow weights by parameter name (safetensors) so a checkpoint is readable without pickle."""
    from safetensors.torch import save_file

    names = [n for n, _ in _trainable(model)]
    tensors = {n: s.detach().cpu().contiguous() for n, s in zip(names, ema.shadow_params, strict=True)}
    save_file(tensors, str(path))


def load_ema(ema: Any, model: Any, path: Path) -> None:
    """Load EMA shadow weights written by :func:`save_ema` (names must match the model's)."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    names = [n for n, _ in _trainable(model)]
    if set(names) != set(tensors):
        missing = sorted(set(names) - set(tensors))[:3]
        extra = sorted(set(tensors) - set(names))[:3]
        raise ConfigError(f"{path}: EMA weights do not match the model (missing "
                          f"{missing}, unexpected {extra})")
    for name, shadow in zip(names, ema.shadow_params, strict=True):
        shadow.data.copy_(tensors[name].to(shadow.device, dtype=shadow.dtype))


def save_pipeline(comps: Components, model: Any, out: Path, cfg: TrainConfig) -> Path:
    """Write the final pipeline folder: the pretrained VAE, text encoder, tokenizer, scheduler and trained
    U-Net.

    With ``reward_inputs='none'`` this is a plain InstructPix2Pix pipeline; otherwise it is the reward
    checkpoint layout of :func:`reward_model.mrc.save_reward_pipeline` (``unet/`` + ``reward/``), which
    ``realedit run --model reward-instruct-pix2pix --weights DIR`` loads.
    """
    from diffusers import StableDiffusionInstructPix2PixPipeline

    out = Path(out)
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    if cfg.reward_inputs == "none":
        pipe = StableDiffusionInstructPix2PixPipeline(
            vae=comps.vae, text_encoder=comps.text_encoder, tokenizer=comps.tokenizer, unet=model,
            scheduler=comps.scheduler, safety_checker=None, feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.save_pretrained(tmp)
    else:
        _save_reward_pipeline(comps, model, tmp)
    if comps.conditioner is not None:
        comps.conditioner.save(tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def _save_reward_pipeline(comps: Components, model: Any, directory: Path) -> None:
    from diffusers import StableDiffusionInstructPix2PixPipeline

    from reward_model.mrc import save_reward_pipeline

    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=comps.vae, text_encoder=comps.text_encoder, tokenizer=comps.tokenizer, unet=model.unet,
        scheduler=comps.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    save_reward_pipeline(directory, model, pipe)


# --------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------


def _settings_doc(
    cfg: TrainConfig, resolved: dict[str, Any], reports: list[JoinReport], previous: dict | None,
    start_step: int, resumed_from: Path | None,
) -> dict[str, Any]:
    history = list(previous.get("history", [])) if previous else []
    history.append({
        "started_at": utc_now(), "start_step": start_step, "max_steps": cfg.max_steps,
        "resumed_from": str(resumed_from) if resumed_from else None, "command": command_line(),
    })
    return {
        "schema_version": 1,
        "config": cfg.model_dump(mode="json"),
        "resolved": resolved,
        "data": [r._asdict() for r in reports],
        "library_versions": library_versions(),
        "git_sha": git_sha(),
        "history": history,
    }


def pretrained_key(value: str) -> str:
    """``--pretrained`` as compared across resumes: a local folder by its resolved path, a hub id as
    written."""
    local = Path(value).expanduser()
    return str(local.resolve()) if local.exists() else value


def _run_settings(cfg: TrainConfig) -> dict[str, Any]:
    """The settings a checkpoint carries, so that any later --resume of it can be checked."""
    return {"config": cfg.model_dump(mode="json"), "pretrained_resolved": pretrained_key(cfg.pretrained)}


def _checkpoint_settings(checkpoint: Path) -> dict[str, Any]:
    """The run settings ``checkpoint`` carries (written by :func:`save_checkpoint`).

    Raises:
        ConfigError: The checkpoint records none, so it cannot be checked against this run.
    """
    state_path = checkpoint / TRAINER_STATE_FILE
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        state = None
    run = state.get("run") if isinstance(state, dict) else None
    if not isinstance(run, dict):
        raise ConfigError(
            f"--resume {checkpoint}: {state_path} records no run settings, so the checkpoint cannot be "
            f"checked against this run; train into a new --out"
        )
    return run


def _check_resume_compatible(previous: dict[str, Any], cfg: TrainConfig, checkpoint: Path | str) -> None:
    """Refuse to continue ``previous`` (a run's settings) with other model or data-stream settings."""
    old = dict(previous.get("config", {}))
    new = cfg.model_dump(mode="json")
    if "pretrained" in old:
        # The same local folder may be written "tinyp2p" or "/abs/tinyp2p/": compare resolved paths (the
        # old run's own resolution: its cwd may differ from ours).
        old["pretrained"] = previous.get("pretrained_resolved")
        new["pretrained"] = pretrained_key(cfg.pretrained)
    changed = [k for k in RESUME_INVARIANTS if k in old and old[k] != new[k]]
    if changed:
        diffs = ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in changed)
        raise ConfigError(f"cannot resume from {checkpoint} with different settings ({diffs})")


def check_output_dir(cfg: TrainConfig) -> tuple[Path | None, dict | None]:
    """The checkpoint to resume from and the output folder's previous settings; refuse to overwrite a run.

    Raises:
        ConfigError: The folder holds a run and ``--resume`` is not given; ``--resume latest`` finds no
            checkpoint of a finished run; or the run resumed from has other settings.
    """
    out = Path(cfg.output_dir).expanduser()
    checkpoint = find_checkpoint(out, cfg.resume)
    previous = None
    if (out / SETTINGS_FILE).is_file():
        try:
            previous = json.loads((out / SETTINGS_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{out / SETTINGS_FILE} is not valid JSON ({exc}); choose a new --out"
            ) from exc
        saved_nothing = find_checkpoint(out, "latest") is None and not (out / PIPELINE_DIR).exists()
        if saved_nothing and (cfg.resume in (None, "latest")):
            # An earlier start stopped before its first checkpoint (out of memory, a NaN at step 2): nothing
            # of it can be lost or mixed, so it starts afresh, with new settings if the user changed them.
            return None, None
        if cfg.resume is None:
            raise ConfigError(
                f"{out} already holds a training run ({SETTINGS_FILE}); pass --resume latest to continue it "
                f"from its newest checkpoint, or choose another --out"
            )
        if checkpoint is None and (out / PIPELINE_DIR).exists():
            raise ConfigError(
                f"{out} holds a finished run without checkpoints ({PIPELINE_DIR}/, no {CHECKPOINTS_DIR}/): "
                f"there is nothing to resume; choose another --out"
            )
    if checkpoint is not None:
        _check_resume_compatible(_checkpoint_settings(checkpoint), cfg, checkpoint)
    return checkpoint, previous


def _trim_log(path: Path, keep_through: int) -> None:
    """Keep the log lines of steps <= ``keep_through`` (those a resume does not replay); 0 empties it."""
    from realedit_bench.jsonio import atomic_write_text

    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut off by a kill
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= keep_through:
            kept.append(line + "\n")
    atomic_write_text(path, "".join(kept))


def _tracker_config(cfg: TrainConfig) -> dict[str, Any]:
    # TensorBoard's hparams take scalars only.
    flat = cfg.model_dump(mode="json")
    return {k: (v if isinstance(v, (int, float, str, bool)) else json.dumps(v)) for k, v in flat.items()}


#: Held by the main process of a training while it writes its output folder.
LOCK_NAME = ".realedit-train.lock"


def as_config(settings: TrainConfig | Mapping[str, Any]) -> TrainConfig:
    """``settings`` as a :class:`TrainConfig`; a value outside its field's choices is one line naming the
    option (``--reward-integration: Input should be ...``).

    Raises:
        ConfigError: A setting is unknown or of the wrong type or choice.
    """
    if isinstance(settings, TrainConfig):
        return settings
    try:
        return TrainConfig(**settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "--" + str(first["loc"][0]).replace("_", "-")
        raise ConfigError(f"{name}: {first['msg']}") from exc


def relaunch(num_processes: int, argv: Sequence[str] | None, log: Callable[[str], None] | None = None) -> int:
    """Run the command line ``argv`` under ``accelerate launch`` with one process per GPU; its exit code.

    Raises:
        ConfigError: This machine has fewer GPUs than ``num_processes``.
    """
    args = command_to_relaunch(argv, num_processes, "reward train")
    import torch

    if torch.cuda.device_count() < num_processes:
        raise ConfigError(
            f"--num-processes {num_processes} needs that many GPUs; this machine "
            f"has {torch.cuda.device_count()}"
        )
    launcher = ["accelerate.commands.launch", "--num_processes", str(num_processes), "--multi_gpu"]
    cmd = launch_command(launcher, args)
    if log is not None:
        log("launching: " + " ".join(cmd))
    return launch(cmd)


def train(
    cfg: TrainConfig, on_progress: ProgressCallback | None = None, *, wait_for_lock: bool = False
) -> TrainResult:
    """Train (or resume training) per ``cfg``; see the module docstring for the output layout.

    One training per output folder at a time: the main process holds a lock on it (the same command
    started twice, or a scheduler requeue, would otherwise train two runs into one folder); another one
    writing it is an error, or is waited for with ``wait_for_lock``.
    ``on_progress`` (main process) is told the loading phases, then (steps trained, steps to train).

    Returns:
        The output folder, the final pipeline folder (None if no step was left to train), the start and
        final step, and the losses logged in this session.
    """
    import contextlib

    from realedit_bench.locks import folder_lock

    check_config(cfg)
    out = Path(cfg.output_dir).expanduser()
    # Read before accelerate exists; torchrun and accelerate set RANK.
    main_process = int(os.environ.get("RANK", "0")) == 0
    lock = (folder_lock(out, LOCK_NAME, "realedit reward train", wait=wait_for_lock) if main_process
            else contextlib.nullcontext())
    with lock:
        return _train(cfg, out, on_progress if main_process else None)


def _train(cfg: TrainConfig, out: Path, on_progress: ProgressCallback | None) -> TrainResult:
    """:func:`train` once the output folder is held."""
    # Before the data (whose images are all checked) and the models: a refusal should come at once.
    checkpoint, previous = check_output_dir(cfg)
    report_phase(on_progress, "reading and checking the reward data")
    examples, reports = load_examples(cfg.reward_files, cfg.triplets, allow_missing=cfg.allow_missing)
    report_phase(on_progress, f"loading {cfg.pretrained}")
    s = _set_up(cfg, out)
    start_step = _restore(s, checkpoint, cfg, out)
    per_step = cfg.batch_size * cfg.gradient_accumulation_steps * s.accelerator.num_processes
    resolved = {
        "mixed_precision": s.accelerator.mixed_precision, "num_processes": s.accelerator.num_processes,
        "device": str(s.accelerator.device), "total_batch_size": per_step, "n_examples": len(examples),
        "trainable_parameters": sum(p.numel() for p in s.params),
        "prediction_type": s.comps.noise_scheduler.config.prediction_type,
        "pretrained_resolved": pretrained_key(cfg.pretrained),
    }
    if s.accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        doc = _settings_doc(cfg, resolved, reports, previous, start_step, checkpoint)
        atomic_write_json(out / SETTINGS_FILE, doc)
        if cfg.report_to != "none":
            s.accelerator.init_trackers(editor_of(cfg), config=_tracker_config(cfg))
    if start_step >= cfg.max_steps:
        s.accelerator.print(f"already at step {start_step} >= --max-steps {cfg.max_steps}; nothing to train")
        s.accelerator.end_training()
        return TrainResult(out, None, start_step, start_step, [])
    loader = _loader(examples, cfg, start_step, per_step, s.accelerator)
    trainer = Trainer(s.comps, cfg, s.accelerator.device, s.weight_dtype)
    state = _LoopState(step=start_step, last_checkpoint=start_step if checkpoint is not None else None,
                       on_progress=on_progress)
    _loop(s, trainer, loader, cfg, out, state)
    return TrainResult(out, _save_final(s, cfg, out), start_step, state.step, state.losses)


class _Session(NamedTuple):
    """The pieces of one training: accelerate, the frozen parts, the trained model and its optimiser."""

    accelerator: Any
    comps: Components
    model: Any
    params: list[Any]
    ema: Any
    optimizer: Any
    lr_scheduler: Any
    weight_dtype: Any


def _set_up(cfg: TrainConfig, out: Path) -> _Session:
    """Accelerate, the pretrained parts (VAE and text encoder frozen), the model, EMA and optimiser."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import ProjectConfiguration
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    accelerator = Accelerator(
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        mixed_precision=resolve_mixed_precision(cfg.mixed_precision),
        log_with=None if cfg.report_to == "none" else cfg.report_to,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
    )
    if cfg.allow_tf32 and torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = True
    dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16}
    weight_dtype = dtypes.get(accelerator.mixed_precision, torch.float32)
    from realedit_bench.registry import import_string

    spec = BASES[cfg.base]
    loader = cast(Callable[..., Components], import_string(spec.loader))
    comps = loader(cfg.pretrained, cfg.revision, cfg.base_settings, accelerator.device)
    # Frozen encoders run in the mixed-precision dtype; cast only when it differs (diffusers warns otherwise).
    for frozen in (comps.vae, comps.text_encoder):
        frozen.requires_grad_(False)
        frozen.to(accelerator.device)
        if weight_dtype != torch.float32:
            frozen.to(dtype=weight_dtype)
    if comps.conditioner is not None:
        comps.conditioner.to(accelerator.device)
    torch.manual_seed(derive_seed(cfg.seed, "init"))  # the new modules' random initialisation
    model = build_model(comps.unet, cfg, comps.text_encoder.config.hidden_size)
    if spec.zero_init:
        model.zero_init_outputs()
    model.train()
    if cfg.gradient_checkpointing:
        _enable_gradient_checkpointing(model)
    params = [p for _, p in _trainable(model)]
    ema = EMAModel(params, decay=cfg.ema_decay) if cfg.use_ema else None
    optimizer = torch.optim.AdamW(
        params, lr=cfg.learning_rate, betas=(cfg.adam_beta1, cfg.adam_beta2),
        weight_decay=cfg.weight_decay, eps=cfg.adam_epsilon,
    )
    lr_scheduler = get_scheduler(
        cfg.lr_scheduler, optimizer=optimizer,
        num_warmup_steps=cfg.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=cfg.max_steps * accelerator.num_processes,
    )
    model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)
    if ema is not None:
        ema.to(accelerator.device)
    return _Session(accelerator, comps, model, params, ema, optimizer, lr_scheduler, weight_dtype)


def _restore(s: _Session, checkpoint: Path | None, cfg: TrainConfig, out: Path) -> int:
    """Load the checkpoint's state (model, optimiser, schedule, EMA) when resuming; the step to start at."""
    if checkpoint is None:
        if cfg.resume == "latest":
            s.accelerator.print(f"no checkpoint under {out / CHECKPOINTS_DIR}; starting a new run")
        return 0
    s.accelerator.print(f"resuming from {checkpoint}")
    try:
        s.accelerator.load_state(str(checkpoint))
    except (RuntimeError, KeyError, ValueError) as exc:  # torch's state_dict mismatch and kin
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise ConfigError(
            f"--resume {checkpoint}: its saved state does not fit this model ({first[:200]}); resume it with "
            f"the settings of the run that wrote it"
        ) from exc
    state = json.loads((checkpoint / TRAINER_STATE_FILE).read_text(encoding="utf-8"))
    start_step = int(state["global_step"])
    if s.ema is not None:
        load_ema(s.ema, s.accelerator.unwrap_model(s.model), checkpoint / EMA_FILE)
        s.ema.optimization_step = int(state["ema_optimization_step"])
    return start_step


def _loader(examples: list[Any], cfg: TrainConfig, start_step: int, per_step: int, accelerator: Any) -> Any:
    """The data loader of this process: the draws of the steps still to train, in the run's order."""
    import torch

    dataset = RewardTrainingSet(
        examples, cfg.resolution, seed=cfg.seed, random_crop=not cfg.center_crop, random_flip=cfg.random_flip
    )
    sampler = DrawSampler(
        len(examples), cfg.seed, start_step * per_step, cfg.max_steps * per_step,
        batch_size=cfg.batch_size, rank=accelerator.process_index, world=accelerator.num_processes,
    )
    return torch.utils.data.DataLoader(
        cast(Any, dataset), batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate,
        num_workers=cfg.num_workers, persistent_workers=False,
    )


@dataclass
class _LoopState:
    """Where the loop stands: the optimisation step, the micro-batch within it and its summed loss."""

    step: int
    last_checkpoint: int | None
    micro: int = 0
    acc_loss: float = 0.0
    t0: float = field(default_factory=time.perf_counter)
    #: Loss of every optimisation step trained in this session.
    losses: list[float] = field(default_factory=list)
    #: Told (steps trained in this session, steps to train in it) after each step (main process).
    on_progress: ProgressCallback | None = None


def _loop(s: _Session, trainer: Trainer, loader: Any, cfg: TrainConfig, out: Path, st: _LoopState) -> None:
    """Train until ``max_steps``; Ctrl-C says where it stopped and how to continue."""
    log: JsonlAppender | None = None
    if s.accelerator.is_main_process:
        # Steps after the checkpoint are trained again: drop their old lines (a fresh start drops all).
        _trim_log(out / LOG_FILE, st.step)
        log = JsonlAppender(out / LOG_FILE)
    first = st.step
    if st.on_progress is not None:
        st.on_progress(0, cfg.max_steps - first)
    try:
        for batch in loader:
            st.acc_loss += _micro_step(s, trainer, batch, cfg, st)
            st.micro += 1
            if not s.accelerator.sync_gradients:
                continue
            _end_step(s, cfg, out, st, log)
            if st.on_progress is not None:
                st.on_progress(st.step - first, cfg.max_steps - first)
            if st.step >= cfg.max_steps:
                break
    except KeyboardInterrupt as exc:
        saved = st.last_checkpoint
        where = f"last checkpoint {saved}" if saved is not None else "no checkpoint saved yet"
        raise TrainingInterrupted(
            f"interrupted at step {st.step}; {where}; rerun with --resume latest"
        ) from exc
    finally:
        if log is not None:
            log.close()


def _micro_step(
    s: _Session, trainer: Trainer, batch: dict[str, Any], cfg: TrainConfig, st: _LoopState
) -> float:
    """Forward and backward one micro-batch (the optimiser steps when accelerate says the step is full);
    its share of the step's loss, averaged over processes."""
    import torch

    acc = s.accelerator
    if "error" in batch:
        raise DataError(
            f"at step {st.step + 1}: {batch['error'][0]}; the file changed after the data was checked: fix "
            f"it and rerun with --resume latest"
        )
    gen = torch.Generator(device=acc.device).manual_seed(
        derive_seed(cfg.seed, "step", st.step, st.micro, acc.process_index)
    )
    # Layers that draw from the global generator (the reward encoder's dropout) get a seed that depends on
    # the step only, so a resumed run draws what an uninterrupted one would have.
    torch.manual_seed(derive_seed(cfg.seed, "global", st.step, st.micro, acc.process_index))
    with acc.accumulate(s.model):
        loss = trainer.loss(s.model, trainer.inputs(batch, gen))
        acc.backward(loss)
        if acc.sync_gradients and cfg.max_grad_norm > 0:
            acc.clip_grad_norm_(s.params, cfg.max_grad_norm)
        s.optimizer.step()
        s.lr_scheduler.step()
        s.optimizer.zero_grad(set_to_none=True)
    return float(acc.gather(loss.detach().reshape(1)).mean().item()) / cfg.gradient_accumulation_steps


def _end_step(s: _Session, cfg: TrainConfig, out: Path, st: _LoopState, log: JsonlAppender | None) -> None:
    """A full optimisation step: EMA, the loss checked and logged, a checkpoint when one is due."""
    if s.ema is not None:
        s.ema.step(s.params)
    st.step += 1
    lr = s.lr_scheduler.get_last_lr()[0]
    if not math.isfinite(st.acc_loss):
        raise NonFiniteLossError(
            f"loss is {st.acc_loss} at step {st.step}: check the reward data (scores 0-5, images) and lower "
            f"--learning-rate (or use --mixed-precision no); last checkpoint: "
            f"{st.last_checkpoint if st.last_checkpoint is not None else 'none'}"
        )
    st.losses.append(st.acc_loss)
    s.accelerator.log({"train/loss": st.acc_loss, "train/lr": lr}, step=st.step)
    if log is not None:
        log.append({"step": st.step, "loss": st.acc_loss, "lr": lr,
                    "seconds": round(time.perf_counter() - st.t0, 4), "time": utc_now()})
    st.acc_loss, st.micro, st.t0 = 0.0, 0, time.perf_counter()
    if cfg.checkpoint_every and st.step % cfg.checkpoint_every == 0:
        save_checkpoint(s.accelerator, s.model, s.ema, out, st.step, cfg)
        st.last_checkpoint = st.step


def _save_final(s: _Session, cfg: TrainConfig, out: Path) -> Path | None:
    """Save the final pipeline with the EMA weights (main process); None on the other processes."""
    s.accelerator.wait_for_everyone()
    pipeline_dir = None
    if s.accelerator.is_main_process:
        final = s.accelerator.unwrap_model(s.model)
        if s.ema is not None:
            s.ema.store(s.params)
            s.ema.copy_to(s.params)
        pipeline_dir = save_pipeline(s.comps, final, out / PIPELINE_DIR, cfg)
        if s.ema is not None:
            s.ema.restore(s.params)
    s.accelerator.wait_for_everyone()
    s.accelerator.end_training()
    return pipeline_dir


def save_checkpoint(accelerator: Any, model: Any, ema: Any, out: Path, step: int, cfg: TrainConfig) -> Path:
    """``accelerator.save_state`` plus EMA weights and the step; prune beyond ``checkpoints_total_limit``."""
    root = Path(out) / CHECKPOINTS_DIR
    path = root / f"checkpoint-{step}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        if ema is not None:
            save_ema(ema, accelerator.unwrap_model(model), path / EMA_FILE)
        # Written last: its presence marks the checkpoint complete (find_checkpoint skips others).
        atomic_write_json(path / TRAINER_STATE_FILE, {
            "global_step": step,
            "ema_optimization_step": ema.optimization_step if ema is not None else None,
            "saved_at": utc_now(),
            "run": _run_settings(cfg),
        })
        if cfg.checkpoints_total_limit:
            done = sorted(
                (int(p.name.split("-", 1)[1]), p) for p in root.iterdir()
                if p.is_dir() and p.name.startswith("checkpoint-") and p.name.split("-", 1)[1].isdigit()
            )
            for _, old in done[: max(0, len(done) - cfg.checkpoints_total_limit)]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path
