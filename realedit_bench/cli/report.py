"""``realedit report``: build the static leaderboard site (and table exports) from result files."""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_RUNS = Path("runs")
DEFAULT_OUT = Path("site")


def report_cmd(
    runs: Path = typer.Option(
        None, "--runs", help="Folder of run directories (or one run directory); default: runs/.", show_default=False
    ),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Folder to write the site into."),
    formats: list[str] = typer.Option(
        ["html"], "--format", "-f",
        help="What to write: html (the site), md, csv, json (the leaderboard table). Repeat or comma-separate for several.",
    ),
    reference: bool = typer.Option(
        True, "--reference/--no-reference", help="Show the paper's published rows (Tables 1-3) apart from measured rows."
    ),
    rank_by: str = typer.Option(
        "overall", "--rank-by", help="Rank each table by: overall (mean of the three scores), following, preserving, quality."
    ),
    data_dir: Path = typer.Option(
        None, "--data-dir", help="Real-Edit data folder for the gallery's source photos; default: the folder each run recorded."
    ),
    agreement: list[Path] = typer.Option(
        [], "--agreement", help="An agreement.json from 'realedit agree' to add as a page (runs/**/agreement*.json are found anyway)."
    ),
    no_gallery: bool = typer.Option(False, "--no-gallery", help="Skip the gallery pages and thumbnails."),
) -> None:
    """Build a self-contained static site (site/index.html) from every run under --runs.

    The site opens from disk with no server and no network. With no runs at all it still shows the published reference numbers.
    """
    from leaderboard.site import build_site

    runs_dir = runs if runs is not None else DEFAULT_RUNS
    result = build_site(
        runs_dir,
        out,
        reference=reference,
        rank_by=rank_by,
        formats=formats,
        data_dir=data_dir,
        agreement=agreement,
        runs_must_exist=runs is not None,
        gallery=not no_gallery,
    )
    err = typer.echo
    for line in result.warnings:
        err(f"warning: {line}", err=True)
    if result.n_runs == 0:
        # Say so: a mistyped working directory would otherwise give a reference-only site without a word.
        err(f"no runs found at {runs_dir} (the site shows the published reference numbers only)", err=True)
    err(
        f"{result.n_runs} run(s), {result.n_tables} leaderboard table(s), {result.n_gallery_pages} gallery page(s), "
        f"{result.thumbs_made} new thumbnail(s)",
        err=True,
    )
    for path in result.exports.values():
        typer.echo(str(path))
    # The page path last, on stdout, so 'make eval' and scripts can pick it up.
    if result.index is not None:
        typer.echo(str(result.index.resolve()))


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the ``realedit`` app."""
    app.command("report")(report_cmd)
