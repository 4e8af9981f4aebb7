"""``realedit run``: run an editing model over a benchmark into a resumable run directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from realedit_bench.cli._common import (
    DataDir,
    FollowSymlinks,
    WaitForLock,
    finish,
    parse_key_values,
    split_csv,
)
from realedit_bench.cli._progress import ProgressDisplay

Model = Annotated[str, typer.Option("--model", "-m", help="Editing model name (see 'realedit models').")]
Out = Annotated[Path, typer.Option("--out", help="Parent directory of run directories.")]
RunId = Annotated[str | None, typer.Option(
    "--run-id", help="Run directory name. Default: <model>-<benchmark>-<hash of settings>, so rerunning the "
    "same command resumes the same run.")]
Weights = Annotated[str | None, typer.Option("--weights", help="Weights: a hub id or a local directory.")]
Revision = Annotated[str | None, typer.Option(
    "--revision", help="Hub revision (branch, tag or commit) of the weights.")]
Overrides = Annotated[list[str] | None, typer.Option(
    "-M", "--model-arg", help="Model setting key=value, repeatable (e.g. -M steps=20). 'realedit models "
    "--params NAME' lists them.")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu or cuda[:N].")]
Dtype = Annotated[str, typer.Option("--dtype", help="auto (fp16 on CUDA, fp32 on CPU), fp32, fp16 or bf16.")]
Seed = Annotated[int, typer.Option(
    "--seed", help="Base seed; each sample's seed derives from it and the sample id.")]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Samples per pipeline call.")]
Limit = Annotated[int | None, typer.Option("--limit", help="Run only the first N selected samples.")]
Category = Annotated[list[str] | None, typer.Option(
    "--category", help="Only these edit types (local, remove, add, texture, background, global, style).")]
Samples = Annotated[str | None, typer.Option(
    "--samples", help="Only these sample ids, comma separated (e.g. 10-local,10-add).")]
Benchmark = Annotated[str, typer.Option("--benchmark", help="Benchmark name (real-edit, magicbrush).")]
Force = Annotated[bool, typer.Option(
    "--force", help="Redo selected samples even if already finished. If the run directory holds a run with "
    "other settings, replace that run: its images are deleted, its records moved to replaced/.")]
NumProcesses = Annotated[int, typer.Option(
    "--num-processes", help="Shard samples over N processes with accelerate (one per GPU).")]
Label = Annotated[str | None, typer.Option(
    "--label", show_default=False, help="Display name of the run (manifest and leaderboard). Default: the "
    "model's name and the settings that differ from its defaults, e.g. 'instruct-pix2pix (steps=20)'.")]
DryRun = Annotated[bool, typer.Option(
    "--dry-run", help="Say how many samples would be edited and, for an editor behind a paid API, what they "
    "would cost; load, send and write nothing (no API key needed).")]
MaxCost = Annotated[float | None, typer.Option(
    "--max-cost", help="USD a paid API editor may spend in this run: no call is sent that could cross it "
    "(each call in flight reserves its estimate). Rerun with a higher value to finish.", show_default=False)]


def run_cmd(
    model: Model, out: Out = Path("runs"), run_id: RunId = None, weights: Weights = None,
    revision: Revision = None, overrides: Overrides = None, device: Device = "auto", dtype: Dtype = "auto",
    seed: Seed = 0, batch_size: BatchSize = 1, limit: Limit = None, category: Category = None,
    samples: Samples = None, benchmark: Benchmark = "real-edit", data_dir: DataDir = None,
    force: Force = False, num_processes: NumProcesses = 1, label: Label = None, dry_run: DryRun = False,
    max_cost: MaxCost = None, wait_for_lock: WaitForLock = False, follow_symlinks: FollowSymlinks = False,
) -> None:
    """Run an editing model over the benchmark.

    Writes <out>/<run_id>/ with manifest.json (how the run was made), edits.jsonl (one row per sample)
    and images/. Rerunning the same command resumes: finished samples are skipped. A sample that fails
    is recorded and the run goes on. One process writes a run directory at a time. Editors behind a paid API
    (gpt-image, gemini-image, flux-kontext-api, seededit) read their key from the environment; see
    --dry-run and --max-cost. Ctrl-C or SIGTERM stops after the current batch. Exit code: 0 all samples ok
    (or refused by an API's moderation), 1 some failed, 2 bad input (or the budget or the API stopped the
    run), 130 stopped.
    """
    from rich.console import Console

    from realedit_bench.api import run_model

    console = Console(stderr=True)
    with ProgressDisplay(model, console=console) as progress:
        outcome = run_model(
            model, out=out, run_id=run_id, weights=weights, revision=revision,
            settings=parse_key_values(overrides), device=device, dtype=dtype, seed=seed,
            batch_size=batch_size, limit=limit, categories=split_csv(category), samples=samples,
            benchmark=benchmark, data_dir=data_dir, force=force, num_processes=num_processes,
            relaunch_argv=sys.argv[1:], label=label, wait_for_lock=wait_for_lock,
            follow_symlinks=follow_symlinks, on_progress=progress,
            log=lambda line: console.print(line, markup=False), dry_run=dry_run, max_cost=max_cost,
        )
    if outcome.plan is not None:  # the estimate is the result: on stdout
        typer.echo(outcome.describe())
        finish(outcome)
    lines = outcome.describe().splitlines()
    if lines:  # one line in logs; the path must stay whole to be copied
        console.print(lines[0], soft_wrap=True, markup=False)
    if outcome.manifest is not None:
        # The run directory alone on stdout: scripts (make eval) read it; the rest went to stderr.
        typer.echo(str(outcome.run_dir))
    for line in lines[1:]:
        console.print(line, markup=False, soft_wrap=True)
    finish(outcome)


def register(app: typer.Typer) -> None:
    """Add ``realedit run``."""
    app.command("run")(run_cmd)
