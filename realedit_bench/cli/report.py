"""``realedit report``: build the static leaderboard site (and table exports) from result files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realedit_bench.cli._common import finish

Runs = Annotated[Path | None, typer.Option(
    "--runs", help="Folder of run directories (or one run directory); default: runs/.", show_default=False)]
Out = Annotated[Path, typer.Option("--out", help="Folder to write the site into.")]
Formats = Annotated[list[str], typer.Option(
    "--format", "-f", help="What to write: html (the site), md, csv, json (the leaderboard table). Repeat or "
    "comma-separate for several.")]
Reference = Annotated[bool, typer.Option(
    "--reference/--no-reference", help="Show the paper's published rows (Tables "
                                       "1-3) apart from measured rows.")]
RankBy = Annotated[str, typer.Option(
    "--rank-by", help="Rank each table by: overall (mean of the three scores), "
                      "following, preserving, quality.")]
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="Real-Edit data folder for the gallery's source photos; default: the folder each run "
    "recorded.")]
Agreement = Annotated[list[Path], typer.Option(
    "--agreement", help="An agreement.json from 'realedit agree' to add as a page (runs/**/agreement*.json "
    "are found anyway).")]
NoGallery = Annotated[bool, typer.Option("--no-gallery", help="Skip the gallery pages and thumbnails.")]
Calibration = Annotated[Path | None, typer.Option(
    "--calibration", show_default=False, help="A calibration file of 'realedit agree --fit-calibration': the "
    "site shows calibrated scores (on the human scale) beside the raw ones, labelled as such.")]


def report_cmd(
    runs: Runs = None, out: Out = Path("site"), formats: Formats = ["html"],  # noqa: B006 - typer's default
    reference: Reference = True, rank_by: RankBy = "overall", data_dir: DataDir = None,
    agreement: Agreement = [],  # noqa: B006 - typer's default
    no_gallery: NoGallery = False, calibration: Calibration = None,
) -> None:
    """Build a self-contained static site (site/index.html) from every run under --runs.

    The site opens from disk with no server and no network. With no runs at all it still shows the published
    reference numbers.
    """
    from realedit_bench.api import build_report

    outcome = build_report(runs, out=out, formats=formats, reference=reference, rank_by=rank_by,
                           data_dir=data_dir, agreement=agreement, gallery=not no_gallery,
                           calibration=calibration)
    # Warnings and counts on stderr; the files written on stdout, the page last, for 'make eval' and scripts.
    for line in outcome.describe().splitlines():
        typer.echo(line, err=True)
    for path in outcome.written:
        typer.echo(str(path))
    finish(outcome)


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the ``realedit`` app."""
    app.command("report")(report_cmd)
