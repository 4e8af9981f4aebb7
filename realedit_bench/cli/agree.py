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

import typer

from realedit_bench.errors import ConfigError

HUMAN_HELP = (
    "Human ratings, one row per rating: sample_id, model, perspective, rater, score (0-5) [, verdict yes/no] "
    "[, image_id] [, comment]. Accepted: .csv (comma, or ';' / tab as regional Excel writes it), .tsv, .jsonl, "
    "and .json (an array of objects); UTF-8 (with or without BOM). Headers match case-insensitively; other "
    "columns are ignored with a warning; N/A, NA, NaN, -, none and blank mean missing; sample ids match "
    "case-insensitively. Repeat for several files."
)


def _judgment_files(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Expand run directories and judgments folders into their ``*.jsonl`` files.

    Returns (files, skipped). A folder's ``*.paper-parse.jsonl`` files are skipped: they are the same judge
    re-read with the authors' parser, not more asks, and count only when named explicitly (then as a
    judge of their own). A file named twice (directly and through its folder) is read once.
    """
    from realedit_bench.agreement.compute import PAPER_PARSE_SUFFIX

    out: list[Path] = []
    skipped: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_file():
            found = [p]
        elif p.is_dir():
            folder = p / "judgments" if (p / "judgments").is_dir() else p
            # Per-item spreads of --samples K (*.items.jsonl) are not judgments.
            found = sorted(f for f in folder.glob("*.jsonl") if not f.name.endswith(".items.jsonl"))
            skipped.extend(f for f in found if f.name.endswith(PAPER_PARSE_SUFFIX))
            found = [f for f in found if not f.name.endswith(PAPER_PARSE_SUFFIX)]
            if not found:
                raise ConfigError(
                    f"--judgments {p}: no *.jsonl judgments file in {folder}"
                    + (" (only paper-parse files: name one to use it)" if skipped else "")
                )
        else:
            raise ConfigError(f"--judgments {p} does not exist (give a judgments .jsonl file, or a run directory)")
        for f in found:
            if f.resolve() not in {o.resolve() for o in out}:
                out.append(f)
    named = {o.resolve() for o in out}
    return out, [s for s in skipped if s.resolve() not in named]


def agree_cmd(
    human: list[Path] = typer.Option(None, "--human", help=HUMAN_HELP, show_default=False),
    judgments: list[Path] = typer.Option(
        None, "--judgments", show_default=False,
        help="Judgments of 'realedit judge': a .jsonl file, a run directory or its judgments/ folder. Repeat for "
        "several models or judges. The last row per sample, perspective and repeat counts (as in 'realedit "
        "judge'); only status 'ok' rows count; repeats are averaged. A folder's *.paper-parse.jsonl files "
        "(--parse paper) are skipped; name one to compare it as a judge of its own.",
    ),
    judge_ratings: list[Path] = typer.Option(
        None, "--judge-ratings", show_default=False,
        help="Judge scores made elsewhere, in the same file shapes as --human; the rater column names the judge.",
    ),
    template: Path | None = typer.Option(
        None, "--template", show_default=False,
        help="Instead of computing: write an empty ratings sheet and an annotation page for this run directory "
        "(or folder of edited images named <sample_id>.png).",
    ),
    out: Path | None = typer.Option(
        None, "--out", show_default=False,
        help="Where to write agreement.json (default: beside the run directories of --judgments, e.g. "
        "runs/agreement.json, where 'realedit report' finds it; else ./agreement.json); with --template, the output folder "
        "(default <run>/ratings/).",
    ),
    resamples: int = typer.Option(2000, "--resamples", min=0, help="Bootstrap resamples of source photos."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    level: float = typer.Option(0.95, "--level", min=0.5, max=0.999, help="Interval level."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", show_default=False,
        help="Benchmark data directory for --template (default: from the run manifest, $REALEDIT_DATA_DIR, ...).",
    ),
    thumb_size: int = typer.Option(
        384, "--thumb-size", min=64, max=2048, help="Longest side in pixels of the thumbnails the annotation page embeds."
    ),
) -> None:
    """Hold a judge's scores against human ratings: correlations, kappa, alpha, bias and model ranking."""
    if template is not None:
        if human or judgments or judge_ratings:
            raise ConfigError("--template writes a blank sheet; use it without --human/--judgments/--judge-ratings")
        _template(template, out, data_dir, thumb_size)
        return
    if not human:
        raise ConfigError("give --human ratings.csv (or --template RUN to make a ratings sheet); see --help")
    if not judgments and not judge_ratings:
        raise ConfigError("give the judge's scores: --judgments runs/<id>/judgments/<file>.jsonl or --judge-ratings FILE")
    _compute(human, judgments or [], judge_ratings or [], out or _default_out(judgments or []), resamples, seed, level)


def _default_out(judgments: list[Path]) -> Path:
    """``<runs>/agreement.json`` when the judgments live in run directories under one parent, so that
    ``realedit report --runs <runs>`` renders it; else ``./agreement.json``."""
    parents = set()
    for p in judgments:
        p = Path(p).resolve()
        run = p.parent.parent if p.is_file() and p.parent.name == "judgments" else (
            p.parent if p.name == "judgments" else p)
        if not (run / "manifest.json").is_file() and not (run / "judgments").is_dir():
            return Path("agreement.json")
        parents.add(run.parent)
    return parents.pop() / "agreement.json" if len(parents) == 1 else Path("agreement.json")


def _compute(
    human: list[Path], judgments: list[Path], judge_ratings: list[Path], out: Path, resamples: int, seed: int, level: float
) -> None:
    from rich.console import Console

    from realedit_bench import __version__
    from realedit_bench.agreement.compute import (
        JudgmentFile,
        compute_agreement,
        current_rows,
        judges_from_judgment_files,
        judges_from_ratings,
        natural_key,
        parse_mode_of,
    )
    from realedit_bench.agreement.ratings import read_ratings
    from realedit_bench.images import sha256_file
    from realedit_bench.jsonio import atomic_write_json, read_rows
    from realedit_bench.judges.stale import drop_stale, edit_history
    from realedit_bench.provenance import command_line, utc_now
    from realedit_bench.schema.agree import AgreementReport, InputFile
    from realedit_bench.schema.judge import JudgmentRow

    err = Console(stderr=True, highlight=False)
    notes: list[str] = []
    # Every input is read and validated before any statistic is computed.
    hs = read_ratings(human, what="--human")
    inputs = [
        InputFile(path=str(p), kind="human", sha256=sha256_file(p), rows=n) for p, n in zip(hs.sources, hs.per_source, strict=True)
    ]
    judges = []
    jfiles, skipped = _judgment_files(judgments)
    files: list[JudgmentFile] = []
    for p in jfiles:
        file_rows = read_rows(p, JudgmentRow)
        if not file_rows:
            raise ConfigError(f"--judgments {p} holds no judgment rows")
        # Inside a run directory, judgments of images a later 'realedit run' redid are not the run's any more.
        history = edit_history(p.parent.parent) if p.parent.name == "judgments" else None
        file_rows, n_stale = drop_stale(file_rows, history)
        if n_stale:
            notes.append(f"{p}: left out {n_stale} judgment(s) (sample, perspective, repeat) of images that 'realedit "
                         "run' has since redone or removed; rerun 'realedit judge' on the run to judge the current images")
        if not file_rows:
            raise ConfigError(f"--judgments {p}: every row judged an image the run has since redone; rerun realedit judge")
        files.append(JudgmentFile(str(p), file_rows, parse_mode_of(p.name)))
        inputs.append(InputFile(path=str(p), kind="judgments", sha256=sha256_file(p), rows=len(current_rows(file_rows)[0])))
    if skipped:
        notes.append(
            f"skipped {len(skipped)} paper-parse judgments file(s) ({', '.join(str(p) for p in skipped)}): the same "
            "judge re-read with the authors' parser; name such a file with --judgments to compare it as its own judge"
        )
    if files:
        judges.extend(judges_from_judgment_files(files))
    warnings = list(hs.warnings)
    if judge_ratings:
        js = read_ratings(judge_ratings, what="--judge-ratings")
        warnings.extend(js.warnings)
        judges.extend(judges_from_ratings(js.ratings))
        for p, n in zip(js.sources, js.per_source, strict=True):
            inputs.append(InputFile(path=str(p), kind="judge-ratings", sha256=sha256_file(p), rows=n))
    for w in warnings:
        err.print(f"warning: {w}", markup=False)
    notes.extend(warnings)
    human_models = {r.model for r in hs.ratings}
    human_keys = {(r.sample_id.casefold(), r.model, r.perspective) for r in hs.ratings}
    for j in judges:
        overlap = sum((r.sample_id.casefold(), r.model, r.perspective) in human_keys for r in j.ratings)
        if overlap == 0:
            jm = sorted({r.model for r in j.ratings}, key=natural_key)
            raise ConfigError(
                f"judge {j.name!r} scored no edit the humans rated: its models are {', '.join(jm) or 'none'}, "
                f"the humans' are {', '.join(sorted(human_models, key=natural_key))} (model and sample_id must match)"
            )
        extra = sorted({r.model for r in j.ratings} - human_models, key=natural_key)
        if extra:
            notes.append(f"judge {j.name!r} also scored models no human rated (left out): {', '.join(extra)}")
    results = compute_agreement(hs.ratings, judges, n_resamples=resamples, seed=seed, level=level)
    report = AgreementReport(
        created_at=utc_now(),
        realedit_version=__version__,
        command=command_line(),
        inputs=inputs,
        n_resamples=resamples,
        seed=seed,
        level=level,
        raters=sorted({r.rater for r in hs.ratings}, key=natural_key),
        models=sorted(human_models, key=natural_key),
        n_blank_rows=hs.n_blank,
        judges=results,
        notes=notes,
    )
    atomic_write_json(out, report)
    from realedit_bench.agreement.console import print_report

    print_report(report, Console())
    err.print(f"wrote {out}")


def _template(run: Path, out: Path | None, data_dir: Path | None, thumb_size: int) -> None:
    from rich.console import Console

    from realedit_bench.agreement.ratings import write_ratings_csv
    from realedit_bench.inputs import resolve_edits
    from realedit_bench.schema.base import PERSPECTIVES

    edits = resolve_edits(Path(run), data_dir=data_dir)
    if not edits.items:
        raise ConfigError(f"--template {run}: the run has no edited image to rate")
    folder = Path(out) if out is not None else Path(run) / "ratings"
    rows = [
        {"sample_id": it.sample.sample_id, "model": edits.model, "perspective": p}
        for it in edits.items
        for p in PERSPECTIVES
    ]
    csv_path = folder / "ratings_template.csv"
    n = write_ratings_csv(csv_path, rows)
    from leaderboard.rating_page import write_annotation_page

    html_path = write_annotation_page(edits, folder / "annotate.html", thumb_size=thumb_size)
    con = Console(stderr=True)
    con.print(f"wrote {csv_path} ({n} blank rows: {len(edits.items)} edits x {len(PERSPECTIVES)} perspectives)")
    con.print(f"wrote {html_path} (open it in a browser; it exports the filled CSV)")
    if edits.n_missing:
        con.print(f"{edits.n_missing} sample(s) have no edited image and are not in the sheet")


def register(app: typer.Typer) -> None:
    """Add ``realedit agree`` to the CLI."""
    app.command("agree")(agree_cmd)
