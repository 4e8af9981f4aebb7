"""``realedit reward``: train the paper's reward-conditioned editor and make reward data for it.

``realedit reward train`` fine-tunes an InstructPix2Pix pipeline with the multi-reward condition
(``reward_model.train``); ``realedit reward annotate`` asks a vision-language judge for a 0-5 score and
a failure description per perspective on editing triplets (``reward_model.annotate``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

from realedit_bench.errors import ConfigError

reward_app = typer.Typer(
    name="reward",
    help="The paper's method: train a reward-conditioned InstructPix2Pix, and annotate triplets with rewards.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

TRAIN_EPILOG = (
    "Multi-GPU on one machine: add --num-processes N (runs 'accelerate launch' for you). Multi-node, or any "
    "accelerate setting: accelerate launch --num_machines M --machine_rank R --main_process_ip IP "
    "--num_processes N -m realedit_bench.cli.main reward train ... . Resume an interrupted run with the same "
    "command plus --resume latest."
)


def _under_launcher() -> bool:
    """True inside a process started by ``accelerate launch`` / torchrun."""
    return "LOCAL_RANK" in os.environ or "ACCELERATE_LAUNCH_PARAMS" in os.environ


def _argv_without(argv: list[str], flag: str) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == flag:
            skip = True
            continue
        if arg.startswith(flag + "="):
            continue
        out.append(arg)
    return out


def train_cmd(
    pretrained: str = typer.Option(
        ..., "--pretrained",
        help="InstructPix2Pix pipeline to start from: a local diffusers folder or a hub id "
        "(the authors start from their stage-1 InstructPix2Pix; timbrooks/instruct-pix2pix works too).",
    ),
    rewards: list[Path] = typer.Option(
        ..., "--rewards",
        help="Reward file(s): RewardEdit-20K .json ({sample: [{Score, Negative Prompt} x3]}, needs --triplets) "
        "or a .jsonl written by 'realedit reward annotate' (holds its own image paths). Repeatable.",
    ),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Checkpoints, logs and the final pipeline go here."),
    triplets: str | None = typer.Option(
        None, "--triplets", show_default=False,
        help="Images for RewardEdit-20K keys: a folder (<id>/source.png, edited.png, instruction.txt; or the "
        "InstructPix2Pix release layout <id>/prompt.json, <seed>_0.jpg, <seed>_1.jpg), a .jsonl manifest "
        "({id, source, edited, instruction}), or hf:timbrooks/instructpix2pix-clip-filtered (needs 'datasets').",
    ),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="Train on the joined part when keys lack triplets."),
    variant: str = typer.Option("released", "--variant", help="MRC architecture: released (authors' checkpoint) or paper."),
    reward_inputs: str = typer.Option(
        "both", "--reward-inputs", help="score, text or both (paper Table 4); none = plain InstructPix2Pix baseline."
    ),
    reward_integration: str = typer.Option(
        "both", "--reward-integration", help="attention, addition or both (paper Table 5)."
    ),
    resolution: int = typer.Option(256, "--resolution", help="Training crop size (px)."),
    center_crop: bool = typer.Option(False, "--center-crop", help="Centre crop instead of a random crop."),
    random_flip: bool = typer.Option(True, "--random-flip/--no-random-flip", help="Random horizontal flip."),
    batch_size: int = typer.Option(4, "--batch-size", help="Examples per GPU per micro-batch."),
    grad_accum: int = typer.Option(4, "--gradient-accumulation-steps", help="Micro-batches per optimisation step."),
    max_steps: int = typer.Option(10_000, "--max-steps", help="Optimisation steps in total (across resumes)."),
    learning_rate: float = typer.Option(5e-5, "--learning-rate", "--lr", help="AdamW learning rate."),
    weight_decay: float = typer.Option(1e-2, "--weight-decay", help="AdamW weight decay."),
    lr_scheduler: str = typer.Option("constant", "--lr-scheduler", help="diffusers schedule name."),
    lr_warmup_steps: int = typer.Option(0, "--lr-warmup-steps", help="Warm-up steps."),
    max_grad_norm: float = typer.Option(1.0, "--max-grad-norm", help="Gradient clipping norm (0 disables)."),
    mixed_precision: str = typer.Option("auto", "--mixed-precision", help="auto, no, fp16 or bf16."),
    gradient_checkpointing: bool = typer.Option(
        True, "--gradient-checkpointing/--no-gradient-checkpointing", help="Trade compute for memory."
    ),
    ema: bool = typer.Option(True, "--ema/--no-ema", help="Keep an EMA of the weights; the final pipeline uses it."),
    ema_decay: float = typer.Option(0.9999, "--ema-decay", help="EMA decay."),
    conditioning_dropout: float = typer.Option(
        0.05, "--conditioning-dropout", help="InstructPix2Pix conditioning dropout (text, image, both: each p)."
    ),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", help="Resumable checkpoint every N steps (0: none)."),
    checkpoints_total_limit: int | None = typer.Option(
        None, "--checkpoints-total-limit", show_default=False, help="Keep only the newest N checkpoints."
    ),
    resume: str | None = typer.Option(
        None, "--resume", show_default=False, help="'latest' (newest checkpoint in --output-dir) or a checkpoint folder."
    ),
    seed: int = typer.Option(42, "--seed", help="Seed of every random draw."),
    report_to: str = typer.Option("tensorboard", "--report-to", help="tensorboard, wandb (if installed) or none."),
    num_workers: int = typer.Option(2, "--num-workers", help="Data-loader worker processes."),
    num_processes: int = typer.Option(
        1, "--num-processes", min=1, help="GPUs on this machine; >1 re-runs this command under 'accelerate launch'."
    ),
) -> None:
    """Train the reward-conditioned InstructPix2Pix (paper defaults: AdamW 5e-5, wd 1e-2, constant lr, 256 px).

    Writes <output-dir>/training_settings.json, train_log.jsonl, logs/ (TensorBoard), checkpoints/ and,
    at the end, pipeline/ (EMA weights) for 'realedit run --model reward-instruct-pix2pix --weights
    <output-dir>/pipeline'.
    """
    from pydantic import ValidationError

    from reward_model.train import TrainConfig, check_config, train

    try:
        cfg = TrainConfig(
            pretrained=pretrained, output_dir=output_dir, reward_files=list(rewards), triplets=triplets,
            allow_missing=allow_missing, variant=variant, reward_inputs=reward_inputs,
            reward_integration=reward_integration, resolution=resolution, center_crop=center_crop,
            random_flip=random_flip, batch_size=batch_size, gradient_accumulation_steps=grad_accum,
            max_steps=max_steps, learning_rate=learning_rate, weight_decay=weight_decay, lr_scheduler=lr_scheduler,
            lr_warmup_steps=lr_warmup_steps, max_grad_norm=max_grad_norm, mixed_precision=mixed_precision,
            gradient_checkpointing=gradient_checkpointing, use_ema=ema, ema_decay=ema_decay,
            conditioning_dropout=conditioning_dropout, checkpoint_every=checkpoint_every,
            checkpoints_total_limit=checkpoints_total_limit, resume=resume, seed=seed, report_to=report_to,
            num_workers=num_workers,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "--" + str(first["loc"][0]).replace("_", "-")
        raise ConfigError(f"{name}: {first['msg']}") from exc
    check_config(cfg)
    if num_processes > 1 and not _under_launcher():
        cmd = [
            sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes), "--multi_gpu",
            "-m", "realedit_bench.cli.main", *_argv_without(sys.argv[1:], "--num-processes"),
        ]
        typer.echo("launching: " + " ".join(cmd), err=True)
        raise typer.Exit(subprocess.call(cmd))
    result = train(cfg)
    if result.pipeline_dir is not None:
        typer.echo(
            f"trained steps {result.start_step}->{result.final_step}; pipeline: {result.pipeline_dir}\n"
            f"run it: realedit run --model reward-instruct-pix2pix --weights {result.pipeline_dir}"
            if cfg.reward_inputs != "none" else
            f"trained steps {result.start_step}->{result.final_step}; pipeline: {result.pipeline_dir}\n"
            f"run it: realedit run --model instruct-pix2pix --weights {result.pipeline_dir}"
        )


def register(app: typer.Typer) -> None:
    """Add ``realedit reward train`` (and ``annotate`` when present) to the root app."""
    reward_app.command("train", epilog=TRAIN_EPILOG)(train_cmd)
    annotate = globals().get("annotate_cmd")
    if annotate is not None:
        reward_app.command("annotate")(annotate)
    app.add_typer(reward_app, name="reward")
