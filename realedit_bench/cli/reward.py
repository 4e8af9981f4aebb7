"""``realedit reward``: train the paper's reward-conditioned editor and make reward data for it.

``realedit reward train`` fine-tunes an InstructPix2Pix pipeline with the multi-reward condition
(``reward_model.train``); ``realedit reward annotate`` asks a vision-language judge for a 0-5 score and
a failure description per perspective on editing triplets (``reward_model.labels``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from realedit_bench.cli._common import (
    Backoff,
    Cache,
    Concurrency,
    DryRun,
    JudgeSeed,
    MaxCost,
    MaxRetries,
    NoCache,
    RetryAfterCap,
    Temperature,
    Timeout,
    WaitForLock,
    finish,
    parse_key_values,
)
from realedit_bench.cli._progress import ProgressDisplay

reward_app = typer.Typer(
    name="reward",
    help="The paper's method: train a reward-conditioned InstructPix2Pix (or SmartEdit), and "
         "annotate triplets with rewards.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

TRAIN_EPILOG = (
    "Multi-GPU on one machine: add --num-processes N (runs 'accelerate launch' for you). Multi-node, or any "
    "accelerate setting: accelerate launch --num_machines M --machine_rank R --main_process_ip IP "
    "--num_processes N -m realedit_bench.cli.main reward train ... . Resume an interrupted run with the same "
    "command plus --resume latest."
)

TRIPLET_LAYOUTS = (
    "a folder (<id>/source.png, edited.png, instruction.txt; or the InstructPix2Pix release layout "
    "<id>/prompt.json, <seed>_0.jpg, <seed>_1.jpg)"
)

# ------------------------------------------------------------------------------------ train options
# Parameters are named as the fields of reward_model.train.TrainConfig, which checks every value.

Pretrained = Annotated[str, typer.Option(
    "--pretrained", help="InstructPix2Pix pipeline to start from: a local diffusers folder or a hub id (the "
    "authors start from their stage-1 InstructPix2Pix; timbrooks/instruct-pix2pix works too). With --base "
    "smartedit: a TencentARC/SmartEdit-7B or -13B release folder, or one converted by realedit weights.")]
Base = Annotated[str, typer.Option(
    "--base", help="The editor the reward is trained into: instruct-pix2pix, or smartedit (Reward-SmartEdit: "
    "the UNet and the reward modules are trained, SmartEdit's LLM stage runs frozen).")]
BaseSettings = Annotated[list[str] | None, typer.Option(
    "-M", "--model-arg", help="Setting of --base smartedit, key=value, repeatable: size, llm_base, clip, "
    "ip2p, llm_dtype (as for 'realedit run --model smartedit').")]
Rewards = Annotated[list[Path], typer.Option(
    "--rewards", help="Reward file(s): RewardEdit-20K .json ({sample: [{Score, Negative Prompt} x3]}, needs "
    "--triplets) or a .jsonl written by 'realedit reward annotate' (holds its own image paths). Repeatable.")]
OutputDir = Annotated[Path, typer.Option(
    "--out", help="Checkpoints, logs and the final pipeline go here.")]
TrainTriplets = Annotated[str | None, typer.Option(
    "--triplets", show_default=False,
    help=f"Images for RewardEdit-20K keys: {TRIPLET_LAYOUTS}, a .jsonl manifest ({{id, source, edited, "
    "instruction}), or hf:timbrooks/instructpix2pix-clip-filtered (needs 'datasets').")]
AllowMissing = Annotated[bool, typer.Option(
    "--allow-missing",
    help="Skip (and count) examples whose keys lack a triplet or whose images are missing or unreadable.")]
Variant = Annotated[str, typer.Option(
    "--variant", help="MRC architecture: released (authors' checkpoint) or paper.")]
RewardInputs = Annotated[str, typer.Option(
    "--reward-inputs", help="score, text or both (paper Table 4); none = plain InstructPix2Pix baseline.")]
RewardIntegration = Annotated[str, typer.Option(
    "--reward-integration", help="attention, addition or both (paper Table 5).")]
Resolution = Annotated[int, typer.Option("--resolution", help="Training crop size (px).")]
CenterCrop = Annotated[bool, typer.Option("--center-crop", help="Centre crop instead of a random crop.")]
RandomFlip = Annotated[bool, typer.Option("--random-flip/--no-random-flip", help="Random horizontal flip.")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Examples per GPU per micro-batch.")]
GradAccum = Annotated[int, typer.Option(
    "--gradient-accumulation-steps", help="Micro-batches per optimisation step.")]
MaxSteps = Annotated[int, typer.Option("--max-steps", help="Optimisation steps in total (across resumes).")]
LearningRate = Annotated[float, typer.Option("--learning-rate", "--lr", help="AdamW learning rate.")]
WeightDecay = Annotated[float, typer.Option("--weight-decay", help="AdamW weight decay.")]
LrScheduler = Annotated[str, typer.Option("--lr-scheduler", help="diffusers schedule name.")]
LrWarmup = Annotated[int, typer.Option("--lr-warmup-steps", help="Warm-up steps.")]
MaxGradNorm = Annotated[float, typer.Option("--max-grad-norm", help="Gradient clipping norm (0 disables).")]
MixedPrecision = Annotated[str, typer.Option("--mixed-precision", help="auto, no, fp16 or bf16.")]
GradCheckpointing = Annotated[bool, typer.Option(
    "--gradient-checkpointing/--no-gradient-checkpointing", help="Trade compute for memory.")]
Ema = Annotated[bool, typer.Option(
    "--ema/--no-ema", help="Keep an EMA of the weights; the final pipeline uses it.")]
EmaDecay = Annotated[float, typer.Option("--ema-decay", help="EMA decay.")]
CondDropout = Annotated[float, typer.Option(
    "--conditioning-dropout", help="InstructPix2Pix conditioning dropout (text, image, both: each p).")]
CheckpointEvery = Annotated[int, typer.Option(
    "--checkpoint-every", help="Resumable checkpoint every N steps (0: none).")]
CheckpointsLimit = Annotated[int | None, typer.Option(
    "--checkpoints-total-limit", show_default=False, help="Keep only the newest N checkpoints.")]
Resume = Annotated[str | None, typer.Option(
    "--resume", show_default=False, help="'latest' (newest checkpoint in "
                                         "--out) or a checkpoint folder.")]
TrainSeed = Annotated[int, typer.Option("--seed", help="Seed of every random draw.")]
ReportTo = Annotated[str, typer.Option("--report-to", help="tensorboard, wandb (if installed) or none.")]
NumWorkers = Annotated[int, typer.Option("--num-workers", help="Data-loader worker processes.")]
NumProcesses = Annotated[int, typer.Option(
    "--num-processes", min=1, help="GPUs on this machine; >1 re-runs this "
                                   "command under 'accelerate launch'.")]


def train_cmd(
    pretrained: Pretrained, reward_files: Rewards, output_dir: OutputDir, triplets: TrainTriplets = None,
    base: Base = "instruct-pix2pix", base_settings: BaseSettings = None,
    allow_missing: AllowMissing = False, variant: Variant = "released", reward_inputs: RewardInputs = "both",
    reward_integration: RewardIntegration = "both", resolution: Resolution = 256,
    center_crop: CenterCrop = False, random_flip: RandomFlip = True, batch_size: BatchSize = 4,
    gradient_accumulation_steps: GradAccum = 4, max_steps: MaxSteps = 10_000,
    learning_rate: LearningRate = 5e-5, weight_decay: WeightDecay = 1e-2,
    lr_scheduler: LrScheduler = "constant", lr_warmup_steps: LrWarmup = 0, max_grad_norm: MaxGradNorm = 1.0,
    mixed_precision: MixedPrecision = "auto",
    gradient_checkpointing: GradCheckpointing = True, use_ema: Ema = True, ema_decay: EmaDecay = 0.9999,
    conditioning_dropout: CondDropout = 0.05, checkpoint_every: CheckpointEvery = 500,
    checkpoints_total_limit: CheckpointsLimit = None, resume: Resume = None, seed: TrainSeed = 42,
    report_to: ReportTo = "tensorboard", num_workers: NumWorkers = 2, num_processes: NumProcesses = 1,
    wait_for_lock: WaitForLock = False,
) -> None:
    """Train the reward-conditioned InstructPix2Pix (paper defaults: AdamW 5e-5, wd 1e-2, constant lr,
    256 px).

    Writes <out>/training_settings.json, train_log.jsonl, logs/ (TensorBoard), checkpoints/ and,
    at the end, pipeline/ (EMA weights) for 'realedit run --model reward-instruct-pix2pix --weights
    <out>/pipeline' (reward-smartedit with --base smartedit).
    """
    settings = dict(locals())  # every option but these two is a TrainConfig field of the same name
    del settings["num_processes"], settings["wait_for_lock"]
    settings["base_settings"] = parse_key_values(base_settings)
    from rich.console import Console

    from realedit_bench.api import train_reward

    with ProgressDisplay("train", console=Console(stderr=True), unit="steps") as progress:
        outcome = train_reward(settings, num_processes=num_processes, relaunch_argv=sys.argv[1:],
                               wait_for_lock=wait_for_lock, on_progress=progress,
                               log=lambda line: typer.echo(line, err=True))
    text = outcome.describe()
    if text:
        typer.echo(text, err=outcome.exit_code != 0)
    finish(outcome)


# --------------------------------------------------------------------------------- annotate options

Triplets = Annotated[Path, typer.Option(
    "--triplets", help=f"Triplets to annotate: {TRIPLET_LAYOUTS} or a .jsonl manifest ({{id, source, edited, "
    "instruction}, paths relative to it).")]
AnnotateOut = Annotated[Path, typer.Option("--out", help="Where annotations and reward files go.")]
Judge = Annotated[str, typer.Option(
    "--judge", help="provider/model, as for 'realedit judge' (openai/..., anthropic/..., "
    "openai-api/<base-url>/<model>).")]
Rubric = Annotated[str | None, typer.Option(
    "--rubric", show_default=False,
    help="Reward rubric TOML (default: realedit-reward-v1, shipped). Its reason "
         "key is read as the failure text.")]
Limit = Annotated[int | None, typer.Option(
    "--limit", min=0, show_default=False, help="Only the first N triplets.")]
FailureStreak = Annotated[int, typer.Option(
    "--failure-streak", min=1, help="Stop after this many failed asks in a row.")]
Prices = Annotated[Path | None, typer.Option(
    "--prices", show_default=False, help="JSON price file overriding the table.")]


def annotate_cmd(
    triplets: Triplets, out: AnnotateOut, judge: Judge = "openai/gpt-4o-2024-08-06",
    rubric: Rubric = None, limit: Limit = None, concurrency: Concurrency = 8, timeout: Timeout = 60.0,
    max_retries: MaxRetries = 5, retry_after_cap: RetryAfterCap = 120.0, backoff: Backoff = 1.0,
    failure_streak: FailureStreak = 20, temperature: Temperature = 0.0, seed: JudgeSeed = 0,
    max_cost: MaxCost = None, prices: Prices = None, dry_run: DryRun = False, cache: Cache = None,
    no_cache: NoCache = False,
) -> None:
    """Annotate editing triplets with multi-perspective rewards (0-5 score + failure text) using a VLM judge.

    Writes <out>/annotations.jsonl (one line per answer, appended as it arrives), rewards.jsonl
    (for 'realedit reward train --rewards'), rewardedit.json (RewardEdit-20K layout) and
    annotate_summary.json (counts, tokens, money). Rerunning resumes; repeated requests come from the cache.
    Keys come only from the environment, as for 'realedit judge'.
    """
    from rich.console import Console

    from realedit_bench.api import annotate_rewards

    err = Console(stderr=True, highlight=False)
    with ProgressDisplay("annotate", console=err, unit="asks") as progress:
        outcome = annotate_rewards(
            triplets, out, judge=judge, rubric=rubric, limit=limit, concurrency=concurrency,
            timeout=timeout, max_retries=max_retries, retry_after_cap=retry_after_cap, backoff=backoff,
            failure_streak=failure_streak, temperature=temperature, seed=seed, max_cost=max_cost,
            prices=prices, dry_run=dry_run, cache=cache, no_cache=no_cache, on_progress=progress,
            log=lambda line: err.print(line, soft_wrap=True, markup=False),
        )
    if outcome.lines():
        Console().print("\n".join(outcome.lines()), markup=False)
    note = outcome.failure_note()
    if note:
        # As 'realedit judge': asks whose calls failed for good are not answers; a rerun asks them again.
        err.print(note)
    finish(outcome)


def register(app: typer.Typer) -> None:
    """Add ``realedit reward train`` and ``realedit reward annotate`` to the root app."""
    reward_app.command("train", epilog=TRAIN_EPILOG)(train_cmd)
    reward_app.command("annotate")(annotate_cmd)
    app.add_typer(reward_app, name="reward")
