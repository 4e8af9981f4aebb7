"""The reproduction pages of the site: a paper table beside ours, cell by cell (``realedit reproduce``).

For each record ``<runs>/reproduction-<table>.json`` the page ``reproduce-<table>.html`` shows, for every
method of the table and every cell, the paper's value, ours with its 95% interval and a mark: *inside*
when the published value (within its rounding) lies in our interval, *outside* when not. Ours are read from
the runs the record names, at build time: Table 1 from the judgments made with ``--protocol paper`` (the
authors' figures, the headline of such runs), Table 2 from the CLIP-I and CLIP-T means of the MagicBrush
runs, Table 3 from the human means the record holds. Methods not reproduced say why. The page lists every
remaining difference from the authors' protocol and each model's settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from leaderboard.collect import RunData
from leaderboard.redact import redact
from leaderboard.reference import ReferenceTables
from leaderboard.render import NavLink, write_page
from realedit_bench.jsonio import read_model
from realedit_bench.schema.base import PERSPECTIVES
from realedit_bench.schema.reproduce import MethodRecord, ReproductionRecord


class Column(NamedTuple):
    """A column of a table: its key, heading, the paper's rounding step and how values are shown."""

    key: str
    heading: str
    step: float
    percent: bool
    digits: int


COLUMNS: dict[str, list[Column]] = {
    "table1": [c for p in PERSPECTIVES for c in (Column(f"{p}:accuracy", f"{p} acc", 0.01, True, 1),
                                                 Column(f"{p}:score_mean", f"{p} score", 0.01, False, 2))],
    "table2": [Column("clip_i", "CLIP-I ×100", 0.1, False, 1),
               Column("clip_t", "CLIP-T ×100", 0.1, False, 1)],
    "table3": [Column(p, p, 0.01, False, 2) for p in PERSPECTIVES],
}
TITLES = {
    "table1": "Table 1: existing methods on Real-Edit, judged by GPT-4o",
    "table2": "Table 2: CLIP-I and CLIP-T on the MagicBrush test set",
    "table3": "Table 3: human evaluation on Real-Edit",
}

#: What still differs from the authors' protocol, whatever the run (per table).
DIFFERENCES: dict[str, list[str]] = {
    "table1": [
        "Seeds: each sample's noise comes from its own CPU torch.Generator seeded from (42, sample id); the "
        "authors' eval.py seeded one CUDA generator with 42 for the whole loop, so their noise depended on "
        "the order of the samples and on the GPU.",
        "Retries: a judge call that fails (429, 5xx, a timeout, a cut connection) is retried with backoff; "
        "the authors' scripts returned None and their driver dropped the sample.",
        "Cache: a request identical to one already answered (the same prompt and image bytes) is answered "
        "from realedit's cache; the authors asked every time.",
        "The model's input is rebuilt from the crop box and size that realedit run recorded (the photo "
        "cropped and resized with Lanczos, as ImageOps.fit does); the authors' driver passed the image it "
        "had just made. Editors that record no input (the identity, paid APIs) have the source photo sent.",
        "The edit is read back from the PNG realedit run saved (lossless: the pixels the driver held).",
        "Photos are read upright (EXIF orientation applied); their driver did not apply it (no Real-Edit "
        "photo carries a rotation, so nothing changes on this benchmark).",
        "The endpoint: realedit calls the OpenAI API (or the one configured) through the current SDK, with "
        "up to 8 calls in flight; the authors called Azure OpenAI (API version 2023-07-01-preview) one call "
        "at a time. The same snapshot may be served differently today: the rows record the model id the "
        "provider reported.",
        "Editors: each runs at its release's defaults (below); the paper does not give the settings it ran "
        "the other methods with. MagicBrush is the diffusers conversion vinesmsuic/magicbrush-jul7 of "
        "osunlp/InstructPix2Pix-MagicBrush; HQ-Edit keeps the aspect of the photo (its README squashes the "
        "input to a 512 x 512 square).",
    ],
    "table2": [
        "CLIP: OpenAI's ViT-B/32 (open_clip ViT-B-32-quickgelu); the paper does not say which CLIP it used.",
        "CLIP-I compares each edit with the ground-truth target, CLIP-T with the target's local caption, on "
        "every turn of the MagicBrush test set as realedit reads it (single-turn: each turn edits the "
        "released input of that turn).",
        "Seeds: each sample's noise comes from its own CPU torch.Generator seeded from (42, sample id).",
        "Editors: each runs at its release's defaults (below).",
    ],
    "table3": [
        "Raters: your raters, on the edits of your runs; the paper's were 10 annotators on 560 samples per "
        "model.",
        "Pooling: a method's figure is the mean over its rated edits of the mean of their raters' scores; "
        "the paper does not say how it pooled.",
    ],
}


class Cell(NamedTuple):
    """One cell: the paper's value, ours with its interval, and the mark."""

    paper: float | None
    ours: float | None
    ci: tuple[float, float] | None
    #: inside, outside, no interval, or not measured.
    mark: str
    column: Column


def mark_of(paper: float | None, ours: float | None, ci: tuple[float, float] | None, step: float) -> str:
    """inside when the published value, within half its rounding step, lies in our interval."""
    if paper is None or ours is None:
        return "not measured"
    if ci is None:
        return "no interval"
    return "inside" if ci[0] - step / 2 <= paper <= ci[1] + step / 2 else "outside"


def _paper_values(table: str, ref: ReferenceTables) -> dict[str, dict[str, float]]:
    """method -> column key -> the paper's value (accuracy as a fraction, CLIP x100)."""
    if table == "table1":
        return {r.method: {f"{p}:{k}": v for p, (acc, score) in r.perspectives.items()
                           for k, v in (("accuracy", acc), ("score_mean", score))} for r in ref.table1}
    if table == "table2":
        return {r.method: {"clip_i": r.clip_i_x100, "clip_t": r.clip_t_x100} for r in ref.table2}
    return {r.method: dict(r.scores) for r in ref.table3}


Ours = dict[str, tuple[float | None, tuple[float, float] | None]]


def _ours_table1(run: RunData, judge: str | None) -> tuple[Ours, list[str]]:
    """Table 1 from the run's paper-protocol judgments (the authors' figures), and notes on them."""
    sets = [js for js in run.judged if js.summary.protocol == "paper"]
    sets.sort(key=lambda js: js.summary.judge != judge)  # the record's judge first
    if not sets:
        return {}, ["no judgments made with --protocol paper"]
    s = sets[0].summary
    ours: Ours = {}
    for p in PERSPECTIVES:
        fig, ci = s.paper_figures.get(p, {}), s.paper_intervals.get(p, {})
        for k in ("accuracy", "score_mean"):
            value = fig.get(k)
            ours[f"{p}:{k}"] = (float(value) if value is not None else None, ci.get(k))
    notes = [f"{s.paper_parser_dropped} of {s.n_samples} samples dropped by the authors' rule"]
    notes += [f"override: {o}" for o in s.overrides]
    photos = s.sent.get("source_image", {})
    if isinstance(photos, dict):
        notes += [f"{n} edits sent with the {what}" for what, n in photos.items() if what != "model input"]
    return ours, notes


def _ours_table2(run: RunData) -> tuple[Ours, list[str]]:
    """Table 2 from the run's metric means (x100)."""
    m = run.metrics
    if m is None:
        return {}, ["no metrics measured"]
    ours: Ours = {}
    for key in ("clip_i", "clip_t"):
        value, ci = m.means.get(key), m.cis.get(key)
        ours[key] = (100 * value if value is not None else None,
                     (100 * ci[0], 100 * ci[1]) if ci is not None else None)
    return ours, [f"{m.n} samples measured against the {m.reference}"]


def _ours_table3(rec: MethodRecord) -> tuple[Ours, list[str]]:
    ours: Ours = {p: (h.mean, h.ci) for p, h in rec.human.items()}
    n = max((h.n for h in rec.human.values()), default=0)
    return ours, [f"{n} rated edits"] if n else []


def _settings_text(settings: dict[str, Any]) -> str:
    shown = {k: v for k, v in sorted(settings.items()) if k not in ("device", "weights_fingerprint")}
    return ", ".join(f"{k}={redact(str(v))}" for k, v in shown.items())


def method_view(record: ReproductionRecord, rec: MethodRecord, paper: dict[str, float],
                runs: dict[str, RunData]) -> dict[str, Any]:
    """One row of the page: its cells (paper, ours, mark), its run, settings and notes."""
    run = runs.get(rec.run or "")
    ours: Ours = {}
    notes: list[str] = []
    if rec.status == "reproduced":
        if record.table == "table3":
            ours, notes = _ours_table3(rec)
        elif run is None:
            notes = [f"its run {rec.run} is not under the runs folder any more"]
        else:
            ours, notes = (_ours_table1(run, record.judge) if record.table == "table1" else _ours_table2(run))
    cells = []
    for col in COLUMNS[record.table]:
        value, ci = ours.get(col.key, (None, None))
        said = (mark_of(paper.get(col.key), value, ci, col.step) if rec.status == "reproduced"
                else "not reproduced")
        cells.append(Cell(paper.get(col.key), value, ci, said, col))
    settings = run.manifest.adapter.params if run is not None and run.manifest is not None else rec.settings
    return {"rec": rec, "cells": cells, "run": run, "settings": _settings_text(dict(settings)),
            "notes": notes if rec.status == "reproduced" else []}


def find_records(runs_dir: Path) -> list[Path]:
    """``reproduction-<table>.json`` records in the runs folder (top level)."""
    return sorted(Path(runs_dir).glob("reproduction-table[123].json")) if Path(runs_dir).is_dir() else []


def page_name(table: str) -> str:
    """The page of a table's reproduction."""
    return f"reproduce-{table}.html"


def render_reproduction(path: Path, out: Path, env: Any, common: dict[str, Any], runs: Sequence[RunData],
                        ref: ReferenceTables) -> Path:
    """Write the reproduction page of one record into ``out``; returns its path."""
    record = read_model(path, ReproductionRecord)
    by_folder = {r.root.name: r for r in runs}
    values = _paper_values(record.table, ref)
    rows = [method_view(record, m, values.get(m.method, {}), by_folder) for m in record.methods]
    marks = [c.mark for row in rows for c in row["cells"]]
    html = env.get_template("reproduction.html.j2").render(
        **common, root="", title=f"Reproduction of {TITLES[record.table]}", record=record,
        heading=TITLES[record.table], columns=COLUMNS[record.table], rows=rows,
        differences=DIFFERENCES[record.table], citation=ref.citation,
        counts={m: marks.count(m) for m in ("inside", "outside", "no interval")},
    )
    target = out / page_name(record.table)
    write_page(target, html)
    return target


def reproduction_links(records: Sequence[Path]) -> list[NavLink]:
    """The navigation links of the reproduction pages of ``records`` (``reproduction-<table>.json``)."""
    tables = [p.stem.removeprefix("reproduction-") for p in records]
    return [NavLink(page_name(t), f"Reproduction: Table {t.removeprefix('table')}") for t in tables]
