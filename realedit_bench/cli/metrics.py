"""``realedit metrics``: CLIP-I, DINO, L1, L2 (and CLIP-T, directional CLIP where captions exist)."""

from __future__ import annotations

from pathlib import Path

import typer

from realedit_bench.cli._common import DATA_DIR_HELP, check_out_dir, split_csv


def metrics_cmd(
    images: Path = typer.Option(
        ..., "--images", help="A run directory of 'realedit run', or a folder of edited images named <sample_id>.png."
    ),
    metric: list[str] = typer.Option(
        None, "--metric", "-m", show_default=False,
        help="Metric(s) to compute (repeat or comma-separate): l1, l2, clip_i, dino, clip_t, clip_dir. "
        "Default: every metric the benchmark supports (Real-Edit: l1, l2, clip_i, dino).",
    ),
    benchmark: str | None = typer.Option(
        None, "--benchmark", show_default=False,
        help="Benchmark of a plain folder (default real-edit); a run directory names its own.",
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP, show_default=False),
    model: str | None = typer.Option(None, "--model", help="Name of the editing model (default: from the run or folder name).", show_default=False),
    clip_weights: Path | None = typer.Option(
        None, "--clip-weights", show_default=False,
        help="Local CLIP: a directory with open_clip_config.json + checkpoint, or a checkpoint file for --clip-model. "
        "Default: OpenAI ViT-B/32 through open_clip (Hugging Face cache).",
    ),
    clip_model: str = typer.Option("ViT-B-32-quickgelu", "--clip-model", help="open_clip architecture."),
    clip_pretrained: str = typer.Option("openai", "--clip-pretrained", help="open_clip pretrained tag (hub default)."),
    dino_weights: Path | None = typer.Option(
        None, "--dino-weights", show_default=False,
        help="Local DINO: a transformers save_pretrained directory. Default: facebook/dino-vits16 (Hugging Face cache).",
    ),
    dino_revision: str = typer.Option("main", "--dino-revision", help="Hub revision of facebook/dino-vits16."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Samples per model forward."),
    out: Path | None = typer.Option(
        None, "--out", show_default=False, help="Where metrics.jsonl and metrics_summary.json go (default: --images)."
    ),
    bootstrap: int = typer.Option(2000, "--bootstrap", min=100, help="Bootstrap resamples (over source photos)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
) -> None:
    """Compute automatic metrics of edited images, as the MagicBrush protocol computes them.

    On Real-Edit (no ground-truth edits) the image metrics compare each edit with its source photo:
    they measure preservation, not edit quality. On MagicBrush they compare with the ground-truth target
    (single-turn) and CLIP-T uses the local captions. Results merge per metric: a value already measured
    on the same edited image, reference and metric weights is reused, and computing a subset of the
    metrics keeps the others. Writes metrics.jsonl (one row per sample) and metrics_summary.json (every
    metric measured so far).
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table
    from rich.text import Text

    from realedit_bench.inputs import resolve_edits
    from realedit_bench.metrics.encoders import describe_refs, load_encoders, resolve_device
    from realedit_bench.metrics.runner import choose_metrics, compute_metrics
    from realedit_bench.provenance import command_line

    console = Console(stderr=True)
    # Every check a user can fix happens before a model loads.
    edits = resolve_edits(images, data_dir=data_dir, benchmark=benchmark, model=model)
    chosen = choose_metrics(split_csv(metric), edits.benchmark)
    dev = resolve_device(device)
    check_out_dir(out if out is not None else edits.root, "--out" if out is not None else "--images")
    encoders = load_encoders(
        chosen, clip_weights=clip_weights, clip_model=clip_model, clip_pretrained=clip_pretrained,
        dino_weights=dino_weights, dino_revision=dino_revision, device=dev,
    )
    # After the checks (an error stays one line), before the work: a misnamed file is the usual reason
    # an edit seems to be missing.
    if edits.n_missing:
        shown = edits.describe_missing()
        console.print(f"[yellow]missing edits (not measured):[/] {escape(shown)}")
    if edits.unmatched:
        shown = ", ".join(edits.unmatched[:20]) + (
            f" ... ({len(edits.unmatched)} in all)" if len(edits.unmatched) > 20 else "")
        console.print(f"[yellow]files matching no sample id (ignored):[/] {escape(shown)}")
    refs = {k: e.ref for k, e in encoders.items()}
    console.print(
        f"{edits.model}: {len(edits.items)} edits on {edits.benchmark.name} "
        f"({edits.n_missing} missing); metrics {', '.join(m.name for m in chosen)} on {dev}"
        + (f"; {describe_refs(refs)}" if refs else ""),
        markup=False,
    )
    with Progress(
        TextColumn("metrics"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("metrics", total=len(edits.items))
        result = compute_metrics(
            edits, chosen, encoders, out_dir=out, batch_size=batch_size, n_resamples=bootstrap, seed=seed,
            command=command_line(), on_progress=lambda n: progress.advance(task, n),
        )
    s = result.summary
    table = Table(title=Text(f"{s.model} on {s.benchmark} (reference: {s.reference})"))  # user text, not markup
    for col in ("metric", "mean", "95% CI", "n"):
        table.add_column(col)
    # Every metric measured so far, not only this command's: results merge per metric.
    for name in s.labels:
        if name in s.means:
            bounds = s.cis.get(name)
            interval = f"[{bounds[0]:.4f}, {bounds[1]:.4f}]" if bounds else "n/a (one photo)"
            table.add_row(s.labels[name], f"{s.means[name]:.4f}", interval, str(s.counts[name]))
        else:
            table.add_row(s.labels[name], "-", "-", str(s.counts.get(name, 0)))
    Console().print(table)
    for name, why in s.excluded.items():
        console.print(f"[yellow]{name} left out of the summary:[/] {escape(why)}")
    n_ok = s.n - s.n_error
    for name in s.labels:
        if 0 < n_ok and s.counts.get(name, 0) < n_ok and name not in s.excluded:
            console.print(f"{s.labels[name]}: a value for {s.counts.get(name, 0)} of {n_ok} samples (it does not "
                          f"apply to the others, e.g. no caption)", markup=False)
    console.print(
        f"{result.measured} samples measured, {result.skipped} reused, {s.n_error} errors; "
        f"wrote {result.rows_path} and {result.summary_path}",
        markup=False,
    )
    if s.n_error:
        from realedit_bench.jsonio import read_rows
        from realedit_bench.schema.metrics import MetricRow

        failed = [r for r in {r.sample_id: r for r in read_rows(result.rows_path, MetricRow)}.values()
                  if r.status == "error"]
        for r in failed[:20]:
            console.print(f"  {r.sample_id}: {r.error}", markup=False, soft_wrap=True)
        more = f" (first 20 of {len(failed)} listed)" if len(failed) > 20 else ""
        console.print(f"{s.n_error} samples could not be measured{more}; fix or remake their images and rerun",
                      markup=False)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``realedit metrics`` to the app."""
    app.command("metrics")(metrics_cmd)
