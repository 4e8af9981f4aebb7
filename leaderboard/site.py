"""Build the static site: ``index.html`` (leaderboards, per-category view, charts, reference, provenance),
``compare.html`` (two runs side by side), ``gallery/`` (one page per source photo of each benchmark),
``thumbs/`` and ``full/`` (cached image copies), and the tables as CSV, JSON and Markdown downloads.

Safety: every string read from a run is untrusted (see :mod:`leaderboard.render`). Links point only at files
this builder writes, except the https links to each model's paper and weights, which come from our own
table (``reference/model_links.csv``), never from a run. Every string a template prints goes through
:func:`leaderboard.redact.redact` (home directories as ``~``, no URL credentials), so a published site
shows no local path of the machine that made the runs.

Determinism: nothing reads the clock; runs, tables and samples are sorted; the bootstrap is seeded; chart
data and images are byte-stable. The same inputs give byte-identical files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leaderboard.charts import chart_series, heat_class
from leaderboard.collect import JudgedSet, RunData, find_runs
from leaderboard.gallery import Images, Photo, bench_words, collect_gallery, no_source_warnings, write_gallery
from leaderboard.judging import has_judging, judging_context
from leaderboard.reference import ReferenceTables, load_reference
from leaderboard.render import (
    COMPARE_PAGE,
    STATIC,
    content_security_policy,
    data_block,
    make_env,
    page_common,
    write_page,
)
from leaderboard.reproduction import find_records, render_reproduction, reproduction_links
from leaderboard.tables import (
    CAUTION_NOTE,
    MIN_PHOTOS,
    NO_VALID_NOTE,
    PARTIAL_NOTE,
    PRESERVATION_NOTE,
    RULE_TEXT,
    TEST_NOTE,
    LeaderboardTable,
    MetricsTable,
    build_tables,
    counts,
    export_csv,
    export_json,
    export_markdown,
    export_metrics_csv,
    few_photos,
    metrics_notes,
    metrics_table,
    settings_cell,
    stale_text,
    subset_note,
)
from realedit_bench.errors import ConfigError
from realedit_bench.outcome import SiteCounts
from realedit_bench.schema.base import CATEGORIES, PERSPECTIVES

__all__ = ["STATIC", "SiteResult", "build_site", "find_agreement_files"]

FORMATS: tuple[str, ...] = ("html", "md", "csv", "json")
EXPORT_NAMES = {"md": "leaderboard.md", "csv": "leaderboard.csv", "json": "leaderboard.json"}
#: ``--format csv`` also writes the automatic-metrics table (a second CSV: its columns differ).
METRICS_CSV = "metrics.csv"
#: What the page offers to download: every table export (an html build writes them all).
DOWNLOADS = (("csv", "CSV"), ("json", "JSON"), ("md", "Markdown"), ("csv-metrics", "metrics CSV"))


@dataclass(kw_only=True)
class SiteResult(SiteCounts):
    """What a build wrote, with the agreement pages."""

    agreement_pages: list[Path] = field(default_factory=list)
    #: The reproduction pages of ``realedit reproduce`` records found beside the runs.
    reproduction_pages: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ page data


def _per_category(js: JudgedSet) -> list[tuple[str, dict[str, Any]]]:
    """(edit type, {perspective: (summary or None, heat class)}) in benchmark order."""
    cats: list[tuple[str, dict[str, Any]]] = []
    for c in CATEGORIES:
        cell: dict[str, Any] = {}
        for p in PERSPECTIVES:
            ps = js.summary.per_category.get(c, {}).get(p)
            cell[p] = (ps, heat_class(ps.score_mean if ps is not None else None))
        cats.append((c, cell))
    return cats


def _table_view(
    index: int,
    table: LeaderboardTable,
    members: list[tuple[RunData, JudgedSet]],
    charts: bool,
    prov: dict[int, int],
) -> dict:
    """What the index shows of one table: its rows with their labels, counts and links, and chart data."""
    labels = [r.label or r.model for r in table.rows]
    view = {
        "id": f"t{index}",
        "bench": bench_words(table.benchmark).display,
        "table": table,
        "labels": labels,
        "counts": [counts(r) for r in table.rows],
        "settings": [settings_cell(r) for r in table.rows],
        "prov": [prov[id(run)] for run, _js in members],
        "ranked": [i for i, r in enumerate(table.rows) if r.rank is not None],
        "unranked": [i for i, r in enumerate(table.rows) if r.rank is None],
        "per_category": [(label, _per_category(js)) for label, (_r, js) in zip(labels, members, strict=True)],
        "charts": None,
        "caution": any(few_photos(c) for r in table.rows for c in r.perspectives.values()),
        "subset_note": subset_note(table) if table.subset else None,
    }
    if charts and table.rows:
        view["charts"] = [
            chart_series(label, js.summary, {p: row.perspectives[p].n_photos for p in PERSPECTIVES})
            for label, row, (_r, js) in zip(labels, table.rows, members, strict=True)
        ]
    return view


def _provenance(runs: Sequence[RunData]) -> list[dict]:
    out = []
    for run in runs:
        m = run.manifest
        out.append(
            {
                "run": run,
                "manifest": m,
                "adapter_params": sorted(m.adapter.params.items()) if m else [],
                "judged": [js.summary for js in run.judged],
                "metrics": run.metrics,
            }
        )
    return out


# ---------------------------------------------------------------------------------------------- agreement


def find_agreement_files(runs_dir: Path, extra: Iterable[Path]) -> list[Path]:
    """``agreement*.json`` files under ``runs_dir`` (any depth) plus those named with ``--agreement``."""
    found = set()
    for p in extra:
        if not Path(p).is_file():
            raise ConfigError(f"--agreement {p} does not exist (write it with 'realedit agree --out FILE')")
        found.add(Path(p))
    if Path(runs_dir).is_dir():
        found.update(Path(runs_dir).rglob("agreement*.json"))
    return sorted(found)


def _agreement_names(files: list[Path]) -> list[str]:
    """``agreement.html``, ``agreement-2.html``, ... one per report."""
    return ["agreement.html" if i == 0 else f"agreement-{i + 1}.html" for i in range(len(files))]


def _render_agreement(
    files: list[Path], out: Path, nav: list, warnings: list[str] | None = None
) -> list[Path]:
    """Render one page per agreement report, with the site's navigation.

    A report whose input files are missing or changed (``run --force``, a new ``judge``) is still shown, with
    an "out of date" banner, and one console line each goes to ``warnings``.
    """
    if not files:
        return []
    from leaderboard.agreement import outdated_inputs, render_agreement_page
    from realedit_bench.jsonio import read_model
    from realedit_bench.schema.agree import AgreementReport

    written = []
    for name, path in zip(_agreement_names(files), files, strict=True):
        report = read_model(path, AgreementReport)
        outdated = outdated_inputs(report, path)
        if outdated and warnings is not None:
            warnings.append(f"{path} is out of date ({'; '.join(outdated)}): rerun realedit agree")
        written.append(render_agreement_page(report, out / name, outdated=outdated, nav=nav))
    return written


# ------------------------------------------------------------------------------------------------ build


def build_site(
    runs_dir: Path,
    out: Path,
    *,
    reference: bool = True,
    rank_by: str = "overall",
    formats: Iterable[str] = ("html",),
    data_dir: Path | None = None,
    agreement: Iterable[Path] = (),
    runs_must_exist: bool = False,
    gallery: bool = True,
    charts: bool = True,
    calibration: Path | None = None,
) -> SiteResult:
    """Read every run under ``runs_dir`` and write the site and/or exports into ``out``.

    Args:
        runs_dir: folder of run directories (or one run directory).
        out: site folder; created if absent. Only files this builder owns are replaced or pruned.
        reference: show the paper's published rows beside measured ones.
        rank_by: ``overall`` or a perspective: what each table's ranking sorts by.
        formats: any of html, md, csv, json. The html site links every export as a download, so it writes
            them all.
        data_dir: Real-Edit data folder for source photos (default: what each manifest recorded, then
            ``$REALEDIT_DATA_DIR`` or the cache). Other benchmarks' runs read the folder they recorded, then
            their default folder, through their own loader.
        agreement: extra ``agreement.json`` files to render as pages.
        runs_must_exist: raise when ``runs_dir`` is absent (the user named it).
        gallery: write the gallery pages and the image copies.
        charts: draw the charts.
        calibration: a calibration file of ``realedit agree --fit-calibration``: calibrated scores are shown
            beside the raw ones, labelled as such.

    Raises:
        ConfigError: an unknown format or ranking, or a missing ``--runs`` folder that was named.
    """
    formats = _formats(formats)
    from leaderboard.tables import RANK_CHOICES

    if rank_by not in RANK_CHOICES:
        raise ConfigError(f"unknown --rank-by {rank_by!r} (choose from {', '.join(RANK_CHOICES)})")
    out = Path(out)
    if runs_must_exist and not Path(runs_dir).exists():
        find_runs(Path(runs_dir), must_exist=True)  # raises its one-line error before --out is made
    _check_out(out)
    runs = find_runs(Path(runs_dir), must_exist=runs_must_exist)
    ref = load_reference() if reference else None
    built = build_tables(runs, rank_by=rank_by, reference=ref)
    result = SiteResult(index=None, n_runs=len(runs), n_tables=len(built), warnings=_run_warnings(runs))
    mtable = metrics_table(runs)
    html = "html" in formats
    _write_exports(out, list(FORMATS) if html else formats, [t for t, _ in built], ref, mtable, runs, result)
    if not html:
        return result

    agreement_files = find_agreement_files(Path(runs_dir), agreement)
    records = find_records(Path(runs_dir)) if ref is not None else []
    has_gallery = gallery and bool(runs)
    has_compare = any(len(members) > 1 for _t, members in built)
    common = page_common(
        gallery=has_gallery, compare=has_compare, agreement_pages=_agreement_names(agreement_files),
        reproduction_pages=reproduction_links(records), judges=has_judging(runs, calibration),
    )
    result.agreement_pages = _render_agreement(agreement_files, out, common["nav"], result.warnings)
    env = make_env()
    # The reproduction pages carry no script: the stricter policy of a page without one.
    plain = {**common, "js": None, "csp": content_security_policy(None)}
    result.reproduction_pages = [render_reproduction(p, out, env, plain, runs, ref) for p in records if ref]
    photos = _write_gallery(out, env, common, runs, data_dir, result) if has_gallery else []
    if has_compare:
        _write_compare(out, env, common, built, photos)
    else:
        (out / COMPARE_PAGE).unlink(missing_ok=True)
    result.index = _write_index(
        out, env, common, built, runs, ref, mtable, charts, result.exports, calibration
    )
    return result


def _write_index(
    out: Path,
    env: Any,
    common: dict[str, Any],
    built: list[tuple[LeaderboardTable, list[tuple[RunData, JudgedSet]]]],
    runs: Sequence[RunData],
    ref: ReferenceTables | None,
    mtable: MetricsTable | None,
    charts: bool,
    exports: dict[str, Path],
    calibration: Path | None = None,
) -> Path:
    """Write ``index.html``: the leaderboards, per-category views, charts, metrics, reference, provenance."""
    prov = {id(run): i for i, run in enumerate(runs)}
    views = [_table_view(i, t, members, charts, prov) for i, (t, members) in enumerate(built)]
    judging = judging_context(views, [m for _t, m in built], runs, calibration)
    html = env.get_template("index.html.j2").render(
        **common,
        **judging,
        root="",
        title="Leaderboard",
        views=views,
        chart_data=data_block({v["id"]: v["charts"] for v in views if v["charts"]}),
        ref=ref,
        runs=runs,
        unjudged=[r for r in runs if not r.judged],
        stale=[(r, stale_text(r.n_stale)) for r in runs if r.n_stale],
        mtable=mtable,
        mnotes=[(ms, why) for ms in (mtable.rows if mtable else []) for why in metrics_notes(ms)],
        notes={
            "partial": PARTIAL_NOTE,
            "test": TEST_NOTE,
            "preservation": PRESERVATION_NOTE,
            "no_valid": NO_VALID_NOTE,
            "caution": CAUTION_NOTE,
        },
        min_photos=MIN_PHOTOS,
        rules=RULE_TEXT,
        downloads=[(exports[k].name, text) for k, text in DOWNLOADS if k in exports],
        has_compare=any(len(m) > 1 for _t, m in built),
        provenance=_provenance(runs),
        perspectives=PERSPECTIVES,
        categories=CATEGORIES,
        citation=_citation(ref),
    )
    index = out / "index.html"
    write_page(index, html)
    return index


def _write_compare(out: Path, env: Any, common: dict[str, Any], built: Any, photos: list[Photo]) -> None:
    """Write ``compare.html``: the pair is chosen in the browser from the data of every table."""
    from leaderboard.compare import compare_data

    html = env.get_template("compare.html.j2").render(
        **common, root="", title="Compare two runs", data=data_block(compare_data(built, photos))
    )
    write_page(out / COMPARE_PAGE, html)


def _formats(formats: Iterable[str]) -> list[str]:
    """The formats asked for, in order, once each: '-f md,csv' as well as '-f md -f csv', as 'realedit
    metrics -m' takes them."""
    wanted = list(dict.fromkeys(f.strip().lower() for item in formats for f in item.split(",") if f.strip()))
    bad = [f for f in wanted if f not in FORMATS]
    if bad:
        raise ConfigError(f"unknown --format {bad[0]!r} (choose from {', '.join(FORMATS)})")
    return wanted


def _write_exports(
    out: Path,
    formats: list[str],
    tables: list[LeaderboardTable],
    ref: ReferenceTables | None,
    mtable: MetricsTable | None,
    runs: Sequence[RunData],
    result: SiteResult,
) -> None:
    """Write the md/csv/json exports asked for (csv also the metrics table), noted in ``result``."""
    unjudged = [r.run_id for r in runs if not r.judged]
    writers = {
        "md": lambda: export_markdown(tables, ref, mtable, unjudged),
        "csv": lambda: export_csv(tables, ref),
        "json": lambda: export_json(tables, ref, mtable, unjudged),
    }
    for fmt in formats:
        if fmt in writers:
            path = out / EXPORT_NAMES[fmt]
            write_page(path, writers[fmt]())
            result.exports[fmt] = path
    if "csv" in formats:
        path = out / METRICS_CSV
        write_page(path, export_metrics_csv(mtable))
        result.exports["csv-metrics"] = path


def _write_gallery(
    out: Path,
    env: Any,
    common: dict[str, Any],
    runs: Sequence[RunData],
    data_dir: Path | None,
    result: SiteResult,
) -> list[Photo]:
    """Write the gallery and its images; prune images no longer used. Returns its pages."""
    images = Images(out)
    no_source: dict[str, dict[str, str | None]] = {}
    photos = collect_gallery(runs, images, data_dir, no_source)
    result.warnings.extend(no_source_warnings(no_source))
    write_gallery(out, env, common, photos, result)
    images.prune()
    result.thumbs_made = images.made
    return photos


def _check_out(out: Path) -> None:
    """Make ``out`` (a writable folder) before any work, or say in one line why it cannot be."""
    for parent in [out, *out.parents]:
        if parent.exists():
            if not parent.is_dir():
                what = (
                    "exists and is not a directory"
                    if parent == out
                    else f"is under {parent}, which is a file"
                )
                raise ConfigError(f"--out {out} {what}")
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".realedit-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"--out {out} cannot be written ({exc.strerror or exc.__class__.__name__})"
        ) from exc


def _run_warnings(runs: Sequence[RunData]) -> list[str]:
    """Console lines about runs whose numbers need care: stale judgments, copies of one run."""
    out = [f"{r.label}: {stale_text(r.n_stale)}" for r in runs if r.n_stale]
    out += [f"{r.label}: {line}" for r in runs for line in r.metrics_warnings]
    folders: dict[str, list[str]] = {}
    for r in runs:
        folders.setdefault(r.run_id, []).append(r.root.name + "/")
    for run_id, names in folders.items():
        if len(names) > 1:
            out.append(
                f"run id {run_id} is in {len(names)} folders ({', '.join(names)}): copies of one run? "
                "The rows are labelled by folder"
            )
    return out


def _citation(ref: ReferenceTables | None) -> str | None:
    if ref is None:
        return None
    c = ref.citation
    return f"{c.authors}. {c.title}. {c.venue}. arXiv:{c.arxiv}."
