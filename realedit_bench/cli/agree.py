"""``realedit agree``: how far can a judge be trusted? Judge scores held against human ratings.

Two uses:

* ``realedit agree --human ratings.csv --judgments runs/<id>/judgments/<file>.jsonl [...]`` prints the
  agreement tables and writes ``agreement.json`` (``--out``); ``realedit report`` renders it as a page.
* ``realedit agree --template runs/<id>`` writes an empty ratings sheet and an annotation page (one HTML
  file with inline thumbnails, no server) for human raters, into ``runs/<id>/ratings/`` (or ``--out DIR``).

The ratings format is described in :mod:`realedit_bench.agreement.ratings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realedit_bench.cli._common import FollowSymlinks, finish, print_lines
from realedit_bench.cli._progress import ProgressDisplay
from realedit_bench.errors import ConfigError

HUMAN_HELP = (
    "Human ratings, one row per rating: sample_id, model, perspective, rater, score (0-5) [, verdict yes/no] "
    "[, image_id] [, comment]. Accepted: .csv (comma, or ';' / tab as regional Excel writes it), .tsv, "
    ".jsonl, and .json (an array of objects); UTF-8 (with or without BOM). Headers match "
    "case-insensitively; other columns are ignored with a warning; N/A, NA, NaN, -, none and blank mean "
    "missing; sample ids match case-insensitively. Repeat for several files."
)

Human = Annotated[list[Path] | None, typer.Option("--human", help=HUMAN_HELP, show_default=False)]
Judgments = Annotated[list[Path] | None, typer.Option(
    "--judgments", show_default=False,
    help="Judgments of 'realedit judge': a .jsonl file, a run directory or its judgments/ folder. Repeat for "
    "several models or judges. The last row per sample, perspective and repeat counts (as in 'realedit "
    "judge'); only status 'ok' rows count; repeats are averaged. A folder's *.paper-parse.jsonl files "
    "(--parse paper) are skipped; name one to compare it as a judge of its own.")]
JudgeRatings = Annotated[list[Path] | None, typer.Option(
    "--judge-ratings", show_default=False,
    help="Judge scores made elsewhere, in the same file shapes as --human; "
         "the rater column names the judge.")]
Template = Annotated[Path | None, typer.Option(
    "--template", show_default=False,
    help="Instead of computing: write an empty ratings sheet and an annotation page for this run directory "
    "(or folder of edited images named <sample_id>.png).")]
Out = Annotated[Path | None, typer.Option(
    "--out", show_default=False,
    help="Where to write agreement.json (default: beside the run directories of --judgments, e.g. "
    "runs/agreement.json, where 'realedit report' finds it; else ./agreement.json); with --template, the "
    "output folder (default <run>/ratings/).")]
Resamples = Annotated[int, typer.Option("--resamples", min=0, help="Bootstrap resamples of source photos.")]
Seed = Annotated[int, typer.Option("--seed", help="Bootstrap seed.")]
Level = Annotated[float, typer.Option("--level", min=0.5, max=0.999, help="Interval level.")]
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", show_default=False,
    help="Benchmark data directory for --template (default: from the run "
         "manifest, $REALEDIT_DATA_DIR, ...).")]
Verbose = Annotated[bool, typer.Option(
    "--verbose", help="Print every statistic, the per-model figures and the notes (default: the key numbers; "
    "agreement.json holds everything).")]
ThumbSize = Annotated[int, typer.Option(
    "--thumb-size", min=64, max=2048, help="Longest side in pixels of the "
                                           "thumbnails the annotation page embeds.")]


FitCalibration = Annotated[Path | None, typer.Option(
    "--fit-calibration", show_default=False,
    help="Also fit a monotone (isotonic) map from each judge's scores to the human scale, per perspective, "
    "with its cross-validated error, and write it to this file; 'realedit report --calibration FILE' shows "
    "calibrated scores beside the raw ones.")]


def agree_cmd(
    human: Human = None, judgments: Judgments = None, judge_ratings: JudgeRatings = None,
    template: Template = None, out: Out = None, resamples: Resamples = 2000, seed: Seed = 0,
    level: Level = 0.95, data_dir: DataDir = None, thumb_size: ThumbSize = 384, verbose: Verbose = False,
    follow_symlinks: FollowSymlinks = False, fit_calibration: FitCalibration = None,
) -> None:
    """Hold a judge's scores against human ratings: correlations, kappa, alpha, bias and model ranking."""
    from rich.console import Console

    from realedit_bench.api import agree, agree_template

    if template is not None:
        if human or judgments or judge_ratings:
            raise ConfigError("--template writes a blank sheet; use it without "
                              "--human/--judgments/--judge-ratings")
        done = agree_template(template, out=out, data_dir=data_dir, thumb_size=thumb_size,
                              follow_symlinks=follow_symlinks)
        print_lines(Console(stderr=True), done.describe())
        finish(done)
    err = Console(stderr=True, highlight=False)
    with ProgressDisplay("agree", console=err, unit="perspectives") as progress:
        outcome = agree(human or [], judgments or [], judge_ratings or [], out=out, resamples=resamples,
                        seed=seed, level=level, on_progress=progress,
                        log=lambda line: err.print(line, markup=False), fit_calibration=fit_calibration)
    from realedit_bench.agreement.console import print_report, print_summary

    (print_report if verbose else print_summary)(outcome.report, Console())
    print_lines(err, "\n".join(outcome.notes(verbose)), soft_wrap=True)
    finish(outcome)


def register(app: typer.Typer) -> None:
    """Add ``realedit agree`` to the CLI."""
    app.command("agree")(agree_cmd)
