"""``realedit reward``: train the paper's reward-conditioned editor and make reward data for it.

``realedit reward train`` fine-tunes an InstructPix2Pix pipeline with the multi-reward condition
(``reward_model.train``); ``realedit reward annotate`` asks a vision-language judge for a 0-5 score and
a failure description per perspective on editing triplets (``reward_model.labels``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Literal, cast

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


# The choices of TrainConfig's Literal fields, for the casts in train_cmd (mypy flags any drift from
# reward_model.train.TrainConfig, which stays the one place the values are checked at run time).
_Variant = Literal["released", "paper"]
_RewardInputs = Literal["both", "score", "text", "none"]
_RewardIntegration = Literal["both", "attention", "addition"]
_MixedPrecision = Literal["auto", "no", "fp16", "bf16"]
_ReportTo = Literal["tensorboard", "wandb", "none"]


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
    allow_missing: bool = typer.Option(
        False, "--allow-missing",
        help="Skip (and count) examples whose keys lack a triplet or whose images are missing or unreadable.",
    ),
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

    from reward_model.train import TrainConfig, TrainingInterrupted, check_config, train

    try:
        # typer hands these over as plain strings; TrainConfig (pydantic) checks each against its choices
        # on construction and a bad one becomes a ConfigError below, so the casts claim nothing unchecked.
        cfg = TrainConfig(
            pretrained=pretrained, output_dir=output_dir, reward_files=list(rewards), triplets=triplets,
            allow_missing=allow_missing, variant=cast(_Variant, variant),
            reward_inputs=cast(_RewardInputs, reward_inputs),
            reward_integration=cast(_RewardIntegration, reward_integration), resolution=resolution,
            center_crop=center_crop, random_flip=random_flip, batch_size=batch_size, gradient_accumulation_steps=grad_accum,
            max_steps=max_steps, learning_rate=learning_rate, weight_decay=weight_decay, lr_scheduler=lr_scheduler,
            lr_warmup_steps=lr_warmup_steps, max_grad_norm=max_grad_norm,
            mixed_precision=cast(_MixedPrecision, mixed_precision),
            gradient_checkpointing=gradient_checkpointing, use_ema=ema, ema_decay=ema_decay,
            conditioning_dropout=conditioning_dropout, checkpoint_every=checkpoint_every,
            checkpoints_total_limit=checkpoints_total_limit, resume=resume, seed=seed,
            report_to=cast(_ReportTo, report_to),
            num_workers=num_workers,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "--" + str(first["loc"][0]).replace("_", "-")
        raise ConfigError(f"{name}: {first['msg']}") from exc
    check_config(cfg)
    if num_processes > 1 and not _under_launcher():
        import torch

        if torch.cuda.device_count() < num_processes:
            raise ConfigError(
                f"--num-processes {num_processes} needs that many GPUs; this machine has {torch.cuda.device_count()}"
            )
        cmd = [
            sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes), "--multi_gpu",
            "-m", "realedit_bench.cli.main", *_argv_without(sys.argv[1:], "--num-processes"),
        ]
        typer.echo("launching: " + " ".join(cmd), err=True)
        raise typer.Exit(subprocess.call(cmd))
    try:
        result = train(cfg)
    except TrainingInterrupted as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(130) from None
    if result.pipeline_dir is not None:
        typer.echo(
            f"trained steps {result.start_step}->{result.final_step}; pipeline: {result.pipeline_dir}\n"
            f"run it: realedit run --model reward-instruct-pix2pix --weights {result.pipeline_dir}"
            if cfg.reward_inputs != "none" else
            f"trained steps {result.start_step}->{result.final_step}; pipeline: {result.pipeline_dir}\n"
            f"run it: realedit run --model instruct-pix2pix --weights {result.pipeline_dir}"
        )


def annotate_cmd(
    triplets: Path = typer.Option(
        ..., "--triplets",
        help="Triplets to annotate: a folder (<id>/source.png, edited.png, instruction.txt; or the InstructPix2Pix "
        "release layout <id>/prompt.json, <seed>_0.jpg, <seed>_1.jpg) or a .jsonl manifest "
        "({id, source, edited, instruction}, paths relative to it).",
    ),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Where annotations and reward files go."),
    judge: str = typer.Option(
        "openai/gpt-4o-2024-08-06", "--judge",
        help="provider/model, as for 'realedit judge' (openai/..., anthropic/..., openai-api/<base-url>/<model>).",
    ),
    rubric: str | None = typer.Option(
        None, "--rubric", show_default=False,
        help="Reward rubric TOML (default: realedit-reward-v1, shipped). Its reason key is read as the failure text.",
    ),
    limit: int | None = typer.Option(None, "--limit", min=0, show_default=False, help="Only the first N triplets."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="Calls in flight at once."),
    timeout: float = typer.Option(60.0, "--timeout", min=0.01, help="Seconds per call, in total."),
    max_retries: int = typer.Option(5, "--max-retries", min=0, help="Retries of a failed call (429, 5xx, timeout)."),
    retry_after_cap: float = typer.Option(120.0, "--retry-after-cap", min=0, help="Longest Retry-After honoured (s)."),
    backoff: float = typer.Option(1.0, "--backoff", min=0, help="First backoff delay in seconds (doubles, jittered)."),
    failure_streak: int = typer.Option(20, "--failure-streak", min=1, help="Stop after this many failed asks in a row."),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="Sampling temperature."),
    seed: int = typer.Option(0, "--seed", help="Provider sampling seed where supported (OpenAI)."),
    max_cost: float | None = typer.Option(
        None, "--max-cost", min=0.0, show_default=False, help="Stop dispatching before this many USD would be spent."
    ),
    prices: Path | None = typer.Option(None, "--prices", show_default=False, help="JSON price file overriding the table."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print calls, tokens and estimated cost; send nothing."),
    cache: Path | None = typer.Option(
        None, "--cache", show_default=False, help="SQLite judge cache (default: <cache root>/judge-cache.sqlite)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the judge cache."),
) -> None:
    """Annotate editing triplets with multi-perspective rewards (0-5 score + failure text) using a VLM judge.

    Writes <output-dir>/annotations.jsonl (one line per answer, appended as it arrives), rewards.jsonl
    (for 'realedit reward train --rewards'), rewardedit.json (RewardEdit-20K layout) and
    annotate_summary.json (counts, tokens, money). Rerunning resumes; repeated requests come from the cache.
    Keys come only from the environment, as for 'realedit judge'.
    """
    from rich.console import Console

    from realedit_bench.judges.backends import make_backend
    from realedit_bench.judges.cache import JudgeCache
    from realedit_bench.judges.engine import EngineConfig, JudgeAborted
    from realedit_bench.judges.prices import load_prices
    from realedit_bench.judges.rubric import load_rubric
    from realedit_bench.settings import cache_root
    from reward_model.data import open_triplets
    from reward_model.labels import DEFAULT_REWARD_RUBRIC, annotate

    console = Console()
    err = Console(stderr=True, highlight=False)
    if cache is not None and no_cache:
        raise ConfigError("--cache and --no-cache exclude each other")
    if str(triplets).startswith("hf:"):
        raise ConfigError("--triplets: annotate reads a folder or a .jsonl manifest, not a hub dataset")
    rub = load_rubric(rubric or DEFAULT_REWARD_RUBRIC)
    price_table = load_prices(prices)
    backend = make_backend(judge)  # checks the key before any image is read
    if max_cost is not None and price_table.lookup(judge) is None:
        raise ConfigError(f"--max-cost needs a price for {judge}: add it to a --prices file")
    source = open_triplets(triplets)
    engine = EngineConfig(
        concurrency=concurrency, timeout=timeout, max_retries=max_retries, backoff_base=backoff,
        retry_after_cap=retry_after_cap, failure_streak=failure_streak, temperature=temperature, seed=seed,
        max_cost=max_cost,
    )
    jc = None if no_cache else JudgeCache(cache or cache_root() / "judge-cache.sqlite")
    try:
        result = annotate(source, output_dir, backend=backend, rubric=rub, config=engine, cache=jc,
                          prices=price_table, limit=limit, dry_run=dry_run, log=lambda m: err.print(m, soft_wrap=True))
    finally:
        if jc is not None:
            jc.close()
    if result.dry_run is not None:
        d = result.dry_run
        cost = f"${d['cost_usd']:.4f}" if d["cost_usd"] is not None else f"unknown (no price for {judge})"
        console.print(
            f"dry run: {d['tasks']} asks ({d['resumed']} answered before, {d['cached']} in the cache); "
            f"{d['calls']} calls to send; estimated tokens {d['input_tokens']:,} in, at most "
            f"{d['output_tokens_max']:,} out; estimated cost {cost}. Nothing was sent."
        )
        return
    s = result.summary
    if s is not None:
        console.print(
            f"{s.n_triplets} triplets: {s.n_complete} fully scored, {s.n_incomplete} with an invalid/refused "
            f"perspective, {s.n_pending} pending; ${s.usage_this_run.cost_usd:.4f} this run, "
            f"{s.usage_this_run.calls} calls\nrewards: {result.paths.rewards}\nRewardEdit layout: "
            f"{result.paths.rewardedit}\nsummary: {result.paths.summary}"
        )
    if result.stopped:
        raise JudgeAborted(f"{result.stopped}; rerun to resume")
    failed = sum(c.get("error", 0) for c in s.status_counts.values()) if s is not None else 0
    if failed:
        # As 'realedit judge': asks whose calls failed for good are not answers; a rerun asks them again.
        err.print(f"{failed} asks failed; rerun to retry")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``realedit reward train`` and ``realedit reward annotate`` to the root app."""
    reward_app.command("train", epilog=TRAIN_EPILOG)(train_cmd)
    reward_app.command("annotate")(annotate_cmd)
    app.add_typer(reward_app, name="reward")
