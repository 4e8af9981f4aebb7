"""``realedit run``: run an editing model over a benchmark into a resumable run directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import typer

from realedit_bench.cli._common import DATA_DIR_HELP, check_out_dir, parse_key_values, split_csv


def run_cmd(
    model: str = typer.Option(..., "--model", "-m", help="Editing model name (see 'realedit models')."),
    out: Path = typer.Option(Path("runs"), "--out", help="Parent directory of run directories."),
    run_id: str | None = typer.Option(
        None, "--run-id", help="Run directory name. Default: <model>-<benchmark>-<hash of settings>, so "
        "rerunning the same command resumes the same run."
    ),
    weights: str | None = typer.Option(None, "--weights", help="Weights: a hub id or a local directory."),
    revision: str | None = typer.Option(None, "--revision", help="Hub revision (branch, tag or commit) of the weights."),
    overrides: list[str] | None = typer.Option(
        None, "-M", "--model-arg", help="Model setting key=value, repeatable (e.g. -M steps=20). "
        "'realedit models --params NAME' lists them."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (fp16 on CUDA, fp32 on CPU), fp32, fp16 or bf16."),
    seed: int = typer.Option(0, "--seed", help="Base seed; each sample's seed derives from it and the sample id."),
    batch_size: int = typer.Option(1, "--batch-size", help="Samples per pipeline call."),
    limit: int | None = typer.Option(None, "--limit", help="Run only the first N selected samples."),
    category: list[str] | None = typer.Option(
        None, "--category", help="Only these edit types (local, remove, add, texture, background, global, style)."
    ),
    samples: str | None = typer.Option(None, "--samples", help="Only these sample ids, comma separated (e.g. 10-local,10-add)."),
    benchmark: str = typer.Option("real-edit", "--benchmark", help="Benchmark name (real-edit, magicbrush)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP, show_default=False),
    force: bool = typer.Option(False, "--force", help="Redo selected samples even if already finished. If the run directory holds a run with "
                               "other settings, replace that run: its images are deleted, its records moved to replaced/."),
    num_processes: int = typer.Option(
        1, "--num-processes", help="Shard samples over N processes with accelerate (one per GPU)."
    ),
) -> None:
    """Run an editing model over the benchmark.

    Writes <out>/<run_id>/ with manifest.json (how the run was made), edits.jsonl (one row per sample)
    and images/. Rerunning the same command resumes: finished samples are skipped. A sample that fails
    is recorded and the run goes on. Exit code: 0 all samples ok, 1 some failed, 2 bad input, 130 stopped.
    """
    from rich.console import Console

    from realedit_bench.datasets import select
    from realedit_bench.editing import coerce_overrides
    from realedit_bench.errors import ConfigError
    from realedit_bench.inputs import load_benchmark
    from realedit_bench.registry import ADAPTERS
    from realedit_bench.runner import Runner, run_id_for

    console = Console(stderr=True)
    adapter_cls = ADAPTERS.get(model)
    bench = load_benchmark(benchmark, data_dir)
    chosen = select(bench.samples, limit=limit, categories=split_csv(category), sample_ids=split_csv([samples] if samples else None))
    if not chosen:
        raise ConfigError("the filters select no sample")
    if num_processes < 1:
        raise ConfigError("--num-processes must be >= 1")
    if run_id is not None and (not run_id.strip() or run_id in {".", ".."} or "/" in run_id or "\\" in run_id):
        raise ConfigError(f"--run-id {run_id!r} must be a plain folder name (no '/', not '.' or '..')")

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if num_processes > 1 and world == 1:
        _relaunch(num_processes)
        return
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world > 1 and device == "auto":
        import torch

        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"

    kwargs = coerce_overrides(adapter_cls, parse_key_values(overrides))
    for key, value in (("weights", weights), ("revision", revision)):
        if value is not None:
            kwargs[key] = value
    kwargs.setdefault("device", device)
    kwargs.setdefault("dtype", dtype)
    editor = _construct(adapter_cls, model, kwargs, explicit={"weights": weights, "revision": revision})
    rid = run_id or run_id_for(model, bench.name, editor.params(), seed)
    filters = {"limit": limit, "category": split_csv(category) or None, "samples": samples}
    runner = Runner(
        editor, model_name=model, family=getattr(adapter_cls, "family", ""), bench=bench, samples=chosen,
        filters=filters, run_dir=out / rid, base_seed=seed, batch_size=batch_size, force=force,
        process_index=rank, num_processes=world,
    )
    if rank == 0:
        runner.check_existing()
        check_out_dir(out, "--out")  # the runs folder; the run directory itself only after the model loads
        if runner.replaces:
            console.print(f"--force: replacing the run in {runner.run_dir} ({', '.join(runner.replaces)} differ); "
                          "its images are deleted; its manifest, edits, judgments and metrics move to replaced/", markup=False)
    t0 = time.perf_counter()
    try:
        if hasattr(editor, "load"):
            editor.load()
    except KeyboardInterrupt:
        console.print("stopped by Ctrl-C while loading the model; nothing was run")
        raise typer.Exit(130) from None
    load_seconds = time.perf_counter() - t0
    if rank == 0:  # only now: a model that fails to load leaves no empty run directory behind
        try:
            runner.run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the run directory {runner.run_dir}: {exc.strerror or exc}") from exc
    result = _run_with_progress(runner, console, load_seconds, show=rank == 0)
    if world > 1:
        _finish_sharded(runner, load_seconds)
    if rank == 0:
        _report(runner, console, result)


def _construct(adapter_cls, model: str, kwargs: dict, explicit: dict):
    """Build the editor. The generic flags (device, dtype, weights, revision) go only to a constructor that
    takes them: a third-party editor may accept none. A flag the user gave that the editor cannot take, or a
    constructor that refuses its arguments, is one line, not a traceback."""
    import inspect

    from realedit_bench.errors import ConfigError

    params = inspect.signature(adapter_cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in ("device", "dtype", "weights", "revision"):
        if key in kwargs and not takes_any and key not in params:
            if explicit.get(key) is not None:
                raise ConfigError(f"model {model!r} takes no --{key}")
            kwargs.pop(key)
    try:
        return adapter_cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"model {model!r} could not be built with {sorted(kwargs)}: {exc}") from exc


def _run_with_progress(runner, console, load_seconds: float, show: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not show, transient=False) as progress:
        task = progress.add_task(runner.model_name, total=None, rate="")
        t0 = time.perf_counter()
        done = [0]

        def advance(n: int, total: int) -> None:
            done[0] += n
            elapsed = time.perf_counter() - t0
            rate = f"{elapsed / done[0]:.2f} s/sample" if done[0] else ""
            progress.update(task, advance=n, total=total, rate=rate)

        return runner.run(advance, load_seconds=load_seconds)


def _finish_sharded(runner, load_seconds: float) -> None:
    """All processes wait; rank 0 then writes the final manifest from the merged rows."""
    runner.barrier()
    if runner.process_index == 0:
        counts = runner.counts()
        status = "complete" if counts["ok"] == sum(counts.values()) else "failed"
        runner.write_manifest(status, counts, {"load": round(load_seconds, 3)})


def _report(runner, console, result) -> None:
    from realedit_bench.jsonio import read_model
    from realedit_bench.schema.run import RunManifest

    manifest = read_model(runner.manifest_path, RunManifest)
    c = manifest.counts
    console.print(
        f"run {manifest.run_id}: {c.get('ok', 0)} ok, {c.get('error', 0)} failed, {c.get('not_run', 0)} not run, "
        f"of {sum(c.values())} in the run ({len(runner.samples)} selected now, {result.done_before} of the run "
        f"done before) -> {runner.run_dir}",
        soft_wrap=True,  # one line in logs; the path must stay whole to be copied
        markup=False,
    )
    # The run directory alone on stdout: scripts (make eval) read it; the rest went to stderr.
    typer.echo(str(runner.run_dir))
    if result.interrupted:
        console.print("stopped by Ctrl-C; rerun the same command to resume")
        raise typer.Exit(130)
    if manifest.status != "complete":
        raise typer.Exit(1)


def _relaunch(num_processes: int) -> None:
    """Re-run this same command under ``accelerate launch`` with N processes."""
    argv = [a for a in sys.argv[1:]]
    cleaned: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--num-processes":
            skip = True
            continue
        if a.startswith("--num-processes="):
            continue
        cleaned.append(a)
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() >= num_processes:
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
               str(num_processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    else:
        # No GPU per process: plain torchrun processes on the CPU (gloo), e.g. to check sharding.
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
               str(num_processes)]
    cmd += ["-m", "realedit_bench.cli.main", *cleaned]
    raise typer.Exit(subprocess.call(cmd))


def register(app: typer.Typer) -> None:
    """Add ``realedit run``."""
    app.command("run")(run_cmd)
