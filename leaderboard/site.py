"""Build the static site: ``index.html`` (leaderboards, per-category view, charts, reference, provenance),
``gallery/`` (one page per source photo of each benchmark) and ``thumbs/`` (cached thumbnails).

Safety: every string read from a run is untrusted. Templates autoescape everything; the only values marked
safe are our own CSS, our own script and the SVG that matplotlib wrote (it escapes the text it draws). A
Content-Security-Policy meta tag allows only the one inline script by its hash, images from the site, and
nothing from the network. Links point only at files this builder writes. Every string a template prints
goes through :func:`leaderboard.redact.redact` (home directories as ``~``, no URL credentials), so a
published site shows no local path of the machine that made the runs.

Determinism: nothing reads the clock; runs, tables and samples are sorted; the bootstrap is seeded; charts
and thumbnails are byte-stable. The same inputs give byte-identical files.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from leaderboard.charts import Series, heatmap_chart, histogram_chart, perspective_chart
from leaderboard.collect import REAL_EDIT, JudgedSet, RunData, find_runs
from leaderboard.redact import redact_printed
from leaderboard.reference import ReferenceTables, load_reference
from leaderboard.tables import (
    PARTIAL_NOTE,
    PRESERVATION_NOTE,
    TEST_NOTE,
    LeaderboardTable,
    MetricsTable,
    build_tables,
    counts,
    coverage_text,
    export_csv,
    export_json,
    export_markdown,
    export_metrics_csv,
    fmt_num,
    fmt_pct,
    metric_value,
    metrics_notes,
    metrics_table,
    stale_text,
    vs_text,
)
from leaderboard.thumbs import Thumb, ThumbCache
from realedit_bench import __version__
from realedit_bench.datasets import Sample
from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.jsonio import atomic_write_text
from realedit_bench.outcome import SiteCounts
from realedit_bench.schema.base import CATEGORIES, PERSPECTIVES
from realedit_bench.settings import DATA_DIR_ENV

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
FORMATS: tuple[str, ...] = ("html", "md", "csv", "json")
EXPORT_NAMES = {"md": "leaderboard.md", "csv": "leaderboard.csv", "json": "leaderboard.json"}
#: ``--format csv`` also writes the automatic-metrics table (a second CSV: its columns differ).
METRICS_CSV = "metrics.csv"


@dataclass(kw_only=True)
class SiteResult(SiteCounts):
    """What a build wrote, with the agreement pages."""

    agreement_pages: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- helpers


def _write(path: Path, text: str) -> None:
    """Atomic write, then readable by everyone: a static host serves the files as another user."""
    atomic_write_text(path, text)
    os.chmod(path, 0o644)


def _slug(text: str, taken: set[str]) -> str:
    """A file-name-safe, unique name for ``text`` (run strings never reach a path unfiltered)."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:48] or "x"
    name = base
    if name != text or name in taken:
        name = f"{base}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    while name in taken:  # only on a hash clash; keeps the name unique and deterministic
        name += "_"
    taken.add(name)
    return name


def _inside(root: Path, rel: str | None) -> Path | None:
    """``root / rel`` when ``rel`` stays inside ``root``; None for absolute or climbing paths."""
    if not rel:
        return None
    pure = PurePosixPath(rel.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        return None
    return root / Path(*pure.parts)


def script_hash(js: str) -> str:
    """The CSP source expression allowing exactly the inline script ``js``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode() + "'"


def content_security_policy(js: str) -> str:
    """Nothing from the network; images from the site; our one inline script by hash.

    Inline styles stay allowed because matplotlib's SVG uses style attributes, and ``data:`` images because
    its heat maps embed their pixels as PNG; every run string is escaped.
    """
    return (
        "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
        f"script-src {script_hash(js)}; base-uri 'none'; form-action 'none'"
    )


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        finalize=redact_printed,
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its extension
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = fmt_pct
    env.filters["num"] = fmt_num
    env.filters["cmd"] = lambda argv: shlex.join(argv) if argv else "–"
    env.filters["coverage"] = coverage_text
    env.filters["vs"] = vs_text
    env.globals["metric_value"] = metric_value
    return env


# ------------------------------------------------------------------------------------------ page data


def _series(label: str, js: JudgedSet) -> Series:
    s = js.summary
    values = {}
    for p, ps in s.perspectives.items():
        values[p] = (ps.accuracy, ps.accuracy_ci, ps.score_mean, ps.score_ci)
    return Series(label, values, {p: dict(ps.score_histogram) for p, ps in s.perspectives.items()})


def _row_label(model: str, run_label: str, duplicates: set[str]) -> str:
    return f"{model} ({run_label})" if model in duplicates else model


def _table_view(
    index: int,
    table: LeaderboardTable,
    members: list[tuple[RunData, JudgedSet]],
    charts: bool,
    prov: dict[int, int],
) -> dict:
    models = [r.model for r in table.rows]
    dups = {m for m in models if models.count(m) > 1}
    labels = [_row_label(r.model, r.run_label or r.run_id or "", dups) for r in table.rows]
    per_category = []
    grid: dict[str, list[list[float | None]]] = {p: [] for p in PERSPECTIVES}
    for label, (_run, js) in zip(labels, members, strict=True):
        cats = []
        for c in CATEGORIES:
            cell = {}
            for p in PERSPECTIVES:
                cell[p] = js.summary.per_category.get(c, {}).get(p)
            cats.append((c, cell))
        per_category.append((label, cats))
        for p in PERSPECTIVES:
            grid[p].append(
                [
                    (
                        js.summary.per_category.get(c, {}).get(p).score_mean  # type: ignore[union-attr]
                        if js.summary.per_category.get(c, {}).get(p) is not None
                        else None
                    )
                    for c in CATEGORIES
                ]
            )
    title = f"{table.judge} · {table.rubric}"
    view = {
        "id": f"t{index}",
        "bench": bench_words(table.benchmark).display,
        "table": table,
        "labels": labels,
        "counts": [counts(r) for r in table.rows],
        "prov": [prov[id(run)] for run, _js in members],
        "per_category": per_category,
        "charts": None,
    }
    if charts and table.rows:
        series = [_series(label, js) for label, (_r, js) in zip(labels, members, strict=True)]
        view["charts"] = {
            "perspective": perspective_chart(series, f"Accuracy and score per perspective — {title}"),
            "histogram": histogram_chart(series, f"Score distributions — {title}"),
            "heatmap": heatmap_chart(labels, grid, f"Mean score per edit type — {title}"),
        }
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


# --------------------------------------------------------------------------------------------- gallery


@dataclass
class _Card:
    run_id: str
    model: str
    thumb: Thumb | None
    error: str | None
    judgments: list[dict]


@dataclass
class _Item:
    category: str
    instruction: str | None
    cards: list[_Card] = field(default_factory=list)
    #: This item's own source image: a MagicBrush turn K > 1 starts from the ground-truth output of turn K-1.
    source: Path | None = None
    thumb: Thumb | None = None
    #: Ground truth the edit is compared with (benchmarks with targets, e.g. MagicBrush).
    target: Path | None = None
    target_thumb: Thumb | None = None
    #: The benchmark compares this item with a ground truth (shown beside the input).
    has_target: bool = False


class BenchWords(NamedTuple):
    """How the gallery names a benchmark and its parts."""

    display: str
    #: What one gallery page shows: a Real-Edit photo, a MagicBrush session.
    page: str
    #: What one section of a page shows: an instruction, a turn.
    item: str


_BENCH_WORDS: dict[str, BenchWords] = {
    "real-edit": BenchWords("Real-Edit", "Photo", "instruction"),
    "magicbrush": BenchWords("MagicBrush", "Session", "turn"),
}


def bench_words(benchmark: str) -> BenchWords:
    """Display words for ``benchmark``; a third-party benchmark shows its registry name."""
    return _BENCH_WORDS.get(benchmark, BenchWords(benchmark, "Image", "instruction"))


@dataclass
class _Photo:
    image_id: str
    benchmark: str = REAL_EDIT
    slug: str = ""
    source: Path | None = None
    thumb: Thumb | None = None
    items: dict[str, _Item] = field(default_factory=dict)

    @property
    def noun(self) -> str:
        """What one page of this benchmark shows: a Real-Edit photo, a MagicBrush session."""
        return bench_words(self.benchmark).page

    @property
    def bench_label(self) -> str:
        return bench_words(self.benchmark).display

    @property
    def item_word(self) -> str:
        return bench_words(self.benchmark).item

    @property
    def title(self) -> str:
        return f"{self.noun} {self.image_id}"

    @property
    def ordered_items(self) -> list[_Item]:
        """Real-Edit's edit types in benchmark order, then other benchmarks' types (turn2 before turn10)."""
        from realedit_bench.agreement.compute import natural_key

        rank: dict[str, int] = {c: i for i, c in enumerate(CATEGORIES)}
        return [
            self.items[c] for c in sorted(self.items, key=lambda c: (rank.get(c, len(rank)), natural_key(c)))
        ]


class _BenchIndex(NamedTuple):
    """A benchmark's samples by id, or why they could not be read."""

    samples: dict[str, Sample]
    error: str | None


class _Benchmarks:
    """Loads each benchmark's samples once per (benchmark, data folder), through its own loader."""

    def __init__(self, data_dir: Path | None) -> None:
        self.data_dir = data_dir
        self._cache: dict[tuple[str, Path], _BenchIndex] = {}

    def _load(self, name: str, folder: Path) -> _BenchIndex:
        key = (name, folder)
        if key not in self._cache:
            from realedit_bench.registry import BENCHMARKS

            try:
                bench = BENCHMARKS.get(name)().load(folder)
                self._cache[key] = _BenchIndex({s.sample_id: s for s in bench.samples}, None)
            except RealEditError as exc:  # unknown benchmark, data missing or malformed
                self._cache[key] = _BenchIndex({}, str(exc))
        return self._cache[key]

    def index(self, name: str, recorded: str | None) -> _BenchIndex:
        """Samples of benchmark ``name``: from --data-dir (Real-Edit), the folder the run recorded, the
        default.

        ``--data-dir`` is the Real-Edit folder, so for Real-Edit it comes first (the recorded folder may have
        moved); for another benchmark it is only a last try. The first folder that loads wins; otherwise the
        first folder's error says what is missing, in the benchmark's own words.
        """
        from realedit_bench.settings import default_data_dir

        given = [Path(self.data_dir).expanduser()] if self.data_dir is not None else []
        rec = [Path(recorded)] if recorded else []
        tries = (
            [*given, *rec, default_data_dir(name)]
            if name == REAL_EDIT
            else [*rec, default_data_dir(name), *given]
        )
        first: _BenchIndex | None = None
        for folder in dict.fromkeys(tries):
            got = self._load(name, folder)
            if got.error is None:
                return got
            first = first or got
        assert first is not None  # tries always holds the default folder
        return first


def _plain_folder_images(root: Path) -> dict[str, Path]:
    from realedit_bench.inputs import IMAGE_SUFFIXES

    return {
        p.stem: p
        for p in sorted(root.iterdir())
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    }


def _no_source_warning(benchmark: str, labels: list[str], error: str | None) -> str:
    """One console line: which runs' source images are missing, the loader's reason, what to do."""
    what = "source photos" if benchmark == REAL_EDIT else f"{bench_words(benchmark).display} source images"
    why = f" ({error})" if error else ""
    hint = (
        f"; give the Real-Edit data folder with --data-dir DIR or ${DATA_DIR_ENV}"
        if benchmark == REAL_EDIT
        else ""
    )
    return f"{what} not found for {', '.join(labels)}{why}: the gallery shows edits without originals{hint}"


def _judgment_view(js: JudgedSet) -> dict[str, list[dict]]:
    """sample id -> compact judgments, in perspective then repeat order."""
    out: dict[str, list[dict]] = {}
    order = {p: i for i, p in enumerate(PERSPECTIVES)}
    rows = sorted(js.rows, key=lambda r: (r.sample_id, order.get(r.perspective, 9), r.repeat))
    for r in rows:
        out.setdefault(r.sample_id, []).append(
            {
                "judge": f"{r.judge} · {r.rubric}",
                "perspective": r.perspective,
                "repeat": r.repeat,
                "status": r.status,
                "verdict": r.verdict,
                "score": r.score,
                "reason": r.reason,
            }
        )
    return out


class _Entry(NamedTuple):
    """One sample of one run, as the gallery shows it."""

    sample_id: str
    image_id: str
    category: str
    instruction: str | None
    output: Path | None
    sha256: str | None
    error: str | None
    sample: Sample | None


def _judged_by_sample(run: RunData) -> dict[str, list[dict]]:
    """sample id -> the compact judgments of every judged set of ``run``."""
    judged: dict[str, list[dict]] = {}
    for js in run.judged:
        for sid, items in _judgment_view(js).items():
            judged.setdefault(sid, []).extend(items)
    return judged


def _folder_entries(run: RunData, index: _BenchIndex) -> list[_Entry]:
    """A plain folder of edited images (no manifest): the samples its judgments or file names name."""
    files = _plain_folder_images(run.root)
    seen: dict[str, tuple[str, str]] = {}
    for js in run.judged:
        for r in js.rows:
            seen.setdefault(r.sample_id, (r.image_id, r.category))
    for sid in files:
        if sid not in seen and sid in index.samples:
            seen[sid] = (index.samples[sid].image_id, index.samples[sid].category)
    entries = []
    for sid, (image_id, category) in sorted(seen.items()):
        sample = index.samples.get(sid)
        error = None if sid in files else "no edited image in the folder"
        entries.append(
            _Entry(
                sid,
                image_id,
                category,
                sample.instruction if sample else None,
                files.get(sid),
                None,
                error,
                sample,
            )
        )
    return entries


def _run_entries(run: RunData, index: _BenchIndex) -> list[_Entry]:
    """The samples of ``run`` the gallery shows: its edit rows, or the images of a plain folder."""
    if run.manifest is None:
        return _folder_entries(run, index)
    entries = []
    for e in run.edits:
        out_path = _inside(run.root, e.output) if e.status == "ok" else None
        entries.append(
            _Entry(
                e.sample_id,
                e.image_id,
                e.category,
                e.instruction,
                out_path,
                e.output_sha256,
                e.error,
                index.samples.get(e.sample_id),
            )
        )
    return entries


def _item_of(photo: _Photo, en: _Entry) -> _Item:
    """The item of ``photo`` that ``en`` belongs to, filled in with what ``en`` knows of it."""
    item = photo.items.setdefault(en.category, _Item(en.category, en.instruction))
    if item.instruction is None:
        item.instruction = en.instruction
    if en.sample is None:
        return item
    if item.source is None and en.sample.image.is_file():
        item.source = en.sample.image
    if en.sample.target is not None:
        item.has_target = True
        if item.target is None and en.sample.target.is_file():
            item.target = en.sample.target
    return item


def _order_pages(photos: Iterable[_Photo], thumbs: ThumbCache) -> list[_Photo]:
    """Pages in order, each with its slug and its items' source and target thumbnails.

    Real-Edit first (its pages keep their plain slugs, so existing links hold), then other benchmarks by
    name; photo 2 before photo 10.
    """
    from realedit_bench.agreement.compute import natural_key

    ordered = sorted(photos, key=lambda p: (p.benchmark != REAL_EDIT, p.benchmark, natural_key(p.image_id)))
    taken: set[str] = set()
    by_path: dict[Path, Thumb | None] = {}  # a Real-Edit photo serves seven items: hash it once

    def thumb_of(path: Path | None) -> Thumb | None:
        if path is None:
            return None
        if path not in by_path:
            by_path[path] = thumbs.get(path)
        return by_path[path]

    for p in ordered:
        p.slug = _slug(p.image_id if p.benchmark == REAL_EDIT else f"{p.benchmark}-{p.image_id}", taken)
        for item in p.ordered_items:
            item.thumb = thumb_of(item.source)
            item.target_thumb = thumb_of(item.target)
            if p.source is None and item.source is not None:
                # The index shows the first item's source: Real-Edit's photo, MagicBrush's session input.
                p.source, p.thumb = item.source, item.thumb
    return ordered


def _collect_gallery(
    runs: Sequence[RunData],
    thumbs: ThumbCache,
    data_dir: Path | None,
    no_source: dict[str, dict[str, str | None]] | None = None,
) -> list[_Photo]:
    """The gallery's pages, one per (benchmark, source image id): benchmarks reuse ids (MagicBrush session 2
    is not Real-Edit photo 2). ``no_source`` collects, per benchmark, the labels of runs whose source images
    were not found and the loader's reason."""
    photos: dict[tuple[str, str], _Photo] = {}
    benches = _Benchmarks(data_dir)
    for run in runs:
        bench_name = run.benchmark
        judged = _judged_by_sample(run)
        recorded = run.manifest.benchmark.data_dir if run.manifest is not None else None
        index = benches.index(bench_name, recorded)
        if index.error is not None and no_source is not None and (run.edits or run.manifest is None):
            no_source.setdefault(bench_name, {}).setdefault(run.label, index.error)
        for en in _run_entries(run, index):
            photo = photos.setdefault((bench_name, en.image_id), _Photo(en.image_id, bench_name))
            item = _item_of(photo, en)
            error = en.error
            thumb = thumbs.get(en.output, en.sha256) if en.output is not None else None
            if thumb is None and error is None:
                error = "edited image missing or unreadable"
            item.cards.append(_Card(run.label, run.model, thumb, error, judged.get(en.sample_id, [])))
    return _order_pages(photos.values(), thumbs)


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


def _render_agreement(
    files: list[Path], out: Path, page_kwargs: dict, warnings: list[str] | None = None
) -> list[Path]:
    """Render one page per agreement report (``agreement.html``, ``agreement-2.html``, ...).

    A report whose input files are missing or changed (``run --force``, a new ``judge``) is still shown, with
    an "out of date" banner, and one console line each goes to ``warnings``.
    """
    if not files:
        return []
    from leaderboard.agreement import outdated_inputs, render_agreement_page
    from realedit_bench.jsonio import read_model
    from realedit_bench.schema.agree import AgreementReport

    written = []
    for i, path in enumerate(files):
        target = out / ("agreement.html" if i == 0 else f"agreement-{i + 1}.html")
        report = read_model(path, AgreementReport)
        outdated = outdated_inputs(report, path)
        if outdated and warnings is not None:
            warnings.append(f"{path} is out of date ({'; '.join(outdated)}): rerun realedit agree")
        render_agreement_page(report, target, outdated=outdated, **page_kwargs)
        written.append(target)
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
) -> SiteResult:
    """Read every run under ``runs_dir`` and write the site and/or exports into ``out``.

    Args:
        runs_dir: folder of run directories (or one run directory).
        out: site folder; created if absent. Only files this builder owns are replaced or pruned.
        reference: show the paper's published rows beside measured ones.
        rank_by: ``overall`` or a perspective: what each table's ranking sorts by.
        formats: any of html, md, csv, json.
        data_dir: Real-Edit data folder for source photos (default: what each manifest recorded, then
            ``$REALEDIT_DATA_DIR`` or the cache). Other benchmarks' runs read the folder they recorded, then
            their default folder, through their own loader.
        agreement: extra ``agreement.json`` files to render as pages.
        runs_must_exist: raise when ``runs_dir`` is absent (the user named it).
        gallery: write the gallery pages and thumbnails.
        charts: draw the charts.

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
    _write_exports(out, formats, [t for t, _ in built], ref, mtable, runs, result)
    if "html" not in formats:
        return result

    env, common = _page_env(gallery and bool(runs))
    agreement_files = find_agreement_files(Path(runs_dir), agreement)
    result.agreement_pages = _render_agreement(
        agreement_files, out, {"csp": common["csp"], "root": ""}, result.warnings
    )
    common["agreement_pages"] = [p.name for p in result.agreement_pages]
    if gallery and runs:
        _write_gallery(out, env, common, runs, data_dir, result)

    result.index = _write_index(out, env, common, built, runs, ref, mtable, charts)
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
) -> Path:
    """Write ``index.html``: the leaderboards, per-category views, charts, metrics, reference, provenance."""
    prov = {id(run): i for i, run in enumerate(runs)}
    views = [_table_view(i, t, members, charts, prov) for i, (t, members) in enumerate(built)]
    html = env.get_template("index.html.j2").render(
        **common,
        root="",
        title="Leaderboard",
        views=views,
        ref=ref,
        runs=runs,
        unjudged=[r for r in runs if not r.judged],
        stale=[(r, stale_text(r.n_stale)) for r in runs if r.n_stale],
        mtable=mtable,
        mnotes=[(ms, why) for ms in (mtable.rows if mtable else []) for why in metrics_notes(ms)],
        notes={"partial": PARTIAL_NOTE, "test": TEST_NOTE, "preservation": PRESERVATION_NOTE},
        provenance=_provenance(runs),
        perspectives=PERSPECTIVES,
        categories=CATEGORIES,
        citation=_citation(ref),
    )
    index = out / "index.html"
    _write(index, html)
    return index


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
            _write(path, writers[fmt]())
            result.exports[fmt] = path
    if "csv" in formats:
        path = out / METRICS_CSV
        _write(path, export_metrics_csv(mtable))
        result.exports["csv-metrics"] = path


def _page_env(has_gallery: bool) -> tuple[Any, dict[str, Any]]:
    """The template environment and the values every page gets (assets, CSP, version)."""
    from markupsafe import Markup

    js = (STATIC / "site.js").read_text(encoding="utf-8")
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    common = {
        "csp": content_security_policy(js),
        # Our own static assets, not run strings: marked safe so the script bytes match the CSP hash.
        "js": Markup(js),
        "css": Markup(css),
        "version": __version__,
        "has_gallery": has_gallery,
    }
    return _env(), common


def _write_gallery(
    out: Path,
    env: Any,
    common: dict[str, Any],
    runs: Sequence[RunData],
    data_dir: Path | None,
    result: SiteResult,
) -> None:
    """Write one page per source image and the gallery index; prune pages and thumbnails no longer used."""
    thumbs = ThumbCache(out / "thumbs")
    no_source: dict[str, dict[str, str | None]] = {}
    photos = _collect_gallery(runs, thumbs, data_dir, no_source)
    result.warnings.extend(_no_source_warnings(no_source))
    gdir = out / "gallery"
    written = set()
    page = env.get_template("gallery_photo.html.j2")
    for i, photo in enumerate(photos):
        prev_p = photos[i - 1] if i > 0 else None
        next_p = photos[i + 1] if i + 1 < len(photos) else None
        # The filters offer what this page holds: a MagicBrush page has turns, not Real-Edit's edit types.
        items = photo.ordered_items
        models = sorted({c.model for it in items for c in it.cards})
        html = page.render(
            **common,
            root="../",
            photo=photo,
            prev=prev_p,
            next=next_p,
            models=models,
            categories=[it.category for it in items],
            title=photo.title,
        )
        _write(gdir / f"{photo.slug}.html", html)
        written.add(f"{photo.slug}.html")
    groups: dict[str, list[_Photo]] = {}
    for photo in photos:
        groups.setdefault(photo.benchmark, []).append(photo)
    _write(
        gdir / "index.html",
        env.get_template("gallery_index.html.j2").render(
            **common,
            root="../",
            groups=[(bench_words(b).display, ps) for b, ps in groups.items()],
            title="Gallery",
        ),
    )
    written.add("index.html")
    # Pages of photos no longer present would be stale: remove only our own .html files.
    for p in gdir.glob("*.html"):
        if p.name not in written:
            p.unlink()
    thumbs.prune()
    result.thumbs_made = thumbs.made
    result.n_gallery_pages = len(photos)


def _no_source_warnings(no_source: dict[str, dict[str, str | None]]) -> list[str]:
    """One line per benchmark and reason: the loader's own message says what is missing and how to get it."""
    lines = []
    for bench_name, labels in sorted(no_source.items()):
        by_reason: dict[str | None, list[str]] = {}
        for label, why in labels.items():
            by_reason.setdefault(why, []).append(label)
        for why, names in by_reason.items():
            lines.append(_no_source_warning(bench_name, names, why))
    return lines


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
