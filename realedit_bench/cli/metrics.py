"""``realedit metrics``: CLIP-I, DINO, L1, L2 (and CLIP-T, directional CLIP where captions exist)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from realedit_bench.cli._common import DataDir, FollowSymlinks, WaitForLock, finish, split_csv
from realedit_bench.cli._progress import ProgressDisplay

if TYPE_CHECKING:
    from rich.console import Console

    from realedit_bench.outcome import MetricsOutcome

Images = Annotated[Path, typer.Option(
    "--images", help="A run directory of 'realedit run', or a folder of "
                     "edited images named <sample_id>.png.")]
Metric = Annotated[list[str] | None, typer.Option(
    "--metric", show_default=False,
    help="Metric(s) to compute (repeat or comma-separate): l1, l2, clip_i, dino, clip_t, clip_dir. Default: "
    "every metric the benchmark supports (Real-Edit: l1, l2, clip_i, dino). l1 and l2 need no weights; a "
    "metric whose default weights cannot be downloaded is left out with a line saying how to get them "
    "(exit code 1).")]
Benchmark = Annotated[str | None, typer.Option(
    "--benchmark", show_default=False,
    help="Benchmark of a plain folder (default real-edit); a run directory names its own.")]
Model = Annotated[str | None, typer.Option(
    "--model", help="Name of the editing model (default: from the run or folder name).", show_default=False)]
ClipWeights = Annotated[Path | None, typer.Option(
    "--clip-weights", show_default=False,
    help="Local CLIP: a directory with open_clip_config.json + checkpoint, or a checkpoint file for "
    "--clip-model. Default: OpenAI ViT-B/32 through open_clip (Hugging Face cache).")]
ClipModel = Annotated[str, typer.Option("--clip-model", help="open_clip architecture.")]
ClipPretrained = Annotated[str, typer.Option("--clip-pretrained", help="open_clip pretrained tag (hub "
                                                                       "default).")]
DinoWeights = Annotated[Path | None, typer.Option(
    "--dino-weights", show_default=False,
    help="Local DINO: a transformers save_pretrained directory. Default: facebook/dino-vits16 (Hugging Face "
    "cache).")]
DinoRevision = Annotated[str, typer.Option("--dino-revision", help="Hub revision of facebook/dino-vits16.")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Samples per model forward.")]
Out = Annotated[Path | None, typer.Option(
    "--out", show_default=False, help="Where metrics.jsonl and metrics_summary.json go (default: --images).")]
Resamples = Annotated[int, typer.Option(
    "--resamples", min=100, help="Bootstrap resamples (over source photos).")]
Seed = Annotated[int, typer.Option("--seed", help="Bootstrap seed.")]


def metrics_cmd(
    images: Images, metric: Metric = None, benchmark: Benchmark = None,
    data_dir: DataDir = None, model: Model = None, clip_weights: ClipWeights = None,
    clip_model: ClipModel = "ViT-B-32-quickgelu", clip_pretrained: ClipPretrained = "openai",
    dino_weights: DinoWeights = None, dino_revision: DinoRevision = "main", device: Device = "auto",
    batch_size: BatchSize = 32, out: Out = None, resamples: Resamples = 2000, seed: Seed = 0,
    wait_for_lock: WaitForLock = False, follow_symlinks: FollowSymlinks = False,
) -> None:
    """Compute automatic metrics of edited images, as the MagicBrush protocol computes them.

    On Real-Edit (no ground-truth edits) the image metrics compare each edit with its source photo:
    they measure preservation, not edit quality. On MagicBrush they compare with the ground-truth target
    (single-turn) and CLIP-T uses the local captions. Results merge per metric: a value already measured
    on the same edited image, reference and metric weights is reused, and computing a subset of the
    metrics keeps the others. Writes metrics.jsonl (one row per sample) and metrics_summary.json (every
    metric measured so far). Exit code 1 when some samples or metrics could not be measured.
    """
    from rich.console import Console

    from realedit_bench.api import compute_metrics

    console = Console(stderr=True)
    with ProgressDisplay("metrics", console=console) as bar:
        outcome = compute_metrics(
            images, metrics=split_csv(metric), benchmark=benchmark, data_dir=data_dir, model=model,
            clip_weights=clip_weights, clip_model=clip_model, clip_pretrained=clip_pretrained,
            dino_weights=dino_weights, dino_revision=dino_revision, device=device, batch_size=batch_size,
            out=out, resamples=resamples, seed=seed, wait_for_lock=wait_for_lock,
            follow_symlinks=follow_symlinks, on_progress=bar,
            log=lambda line: _print_note(console, line, warning=_is_warning(line)),
        )
    _print_outcome(outcome, console)
    finish(outcome)


def _is_warning(line: str) -> bool:
    """A note about the inputs (missing edits, unmatched files), or a metric left out."""
    from realedit_bench.metrics.runner import MISSING_NOTE, UNMATCHED_NOTE

    return line.startswith((MISSING_NOTE, UNMATCHED_NOTE)) or " not measured: " in line.partition(";")[0]


def _print_note(console: Console, line: str, *, warning: bool) -> None:
    """A line of user text (never markup), whole (never wrapped); a warning's heading, up to its first
    ': ', in yellow."""
    from rich.text import Text

    head, sep, rest = line.partition(": ")
    if warning and sep:
        console.print(Text.assemble((head + ":", "yellow"), " " + rest), soft_wrap=True)
    else:
        console.print(line, markup=False, soft_wrap=True)


def _print_outcome(outcome: MetricsOutcome, console: Console) -> None:
    """The table of means on stdout (every metric measured so far, not only this command's), then the
    notes."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(outcome.title()))  # user text, not markup
    for col in ("metric", "mean", "95% CI", "n"):
        table.add_column(col)
    for row in outcome.table_rows():
        table.add_row(*row)
    Console().print(table)
    for line in outcome.warnings():
        _print_note(console, line, warning=True)
    for line in outcome.notes():  # whole lines: they hold paths and errors to copy
        console.print(line, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``realedit metrics`` to the app."""
    app.command("metrics")(metrics_cmd)
