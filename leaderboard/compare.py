"""The comparison page: two runs of one leaderboard table side by side, chosen in the browser.

The page is static: at report time every table with two runs or more puts each run's per-sample judgments
(mean verdict and score of each perspective over the valid repeats) and image names into one JSON block;
the site's script lets the reader pick the pair and shows, over the samples both judged validly, how often
each is better, the means per edit type, and the samples where their verdicts disagree, with both edits.
Runs of different tables are never compared: their judges, rubrics or benchmarks differ.
"""

from __future__ import annotations

from typing import Any

from leaderboard.collect import JudgedSet, RunData
from leaderboard.gallery import Item, Photo, bench_words
from leaderboard.redact import redact
from leaderboard.tables import LeaderboardTable, compared_text
from realedit_bench.agreement.compute import natural_key
from realedit_bench.schema.base import CATEGORIES, PERSPECTIVES

Built = list[tuple[LeaderboardTable, list[tuple[RunData, JudgedSet]]]]


def _values(js: JudgedSet) -> dict[str, list[float | None]]:
    """sample id -> [verdict, score] per perspective (None where not valid), for samples with any value."""
    per = [js.per_sample(p) for p in PERSPECTIVES]
    out: dict[str, list[float | None]] = {}
    for sid in sorted(set().union(*per), key=natural_key):
        cells: list[float | None] = []
        for d in per:
            v = d.get(sid)
            cells += [round(v.verdict, 3), round(v.score, 3)] if v is not None else [None, None]
        out[sid] = cells
    return out


def _sample_info(members: list[tuple[RunData, JudgedSet]], pages: dict[str, tuple[Photo, Item]]) -> list:
    """[sample id, photo id, edit type, instruction, source thumbnail, source full copy, gallery page] per
    sample, in benchmark order (a list: JSON objects do not keep an order)."""
    info: dict[str, list[Any]] = {}
    for run, js in members:
        for e in run.edits:
            info.setdefault(e.sample_id, [e.image_id, e.category, e.instruction])
        for r in js.rows:
            info.setdefault(r.sample_id, [r.image_id, r.category, None])
    rank = {c: i for i, c in enumerate(CATEGORIES)}
    out = []
    for sid in sorted(
        info, key=lambda s: (natural_key(info[s][0]), rank.get(info[s][1], 99), natural_key(s))
    ):
        photo_id, category, instruction = info[sid]
        page = pages.get(sid)
        if page is not None and instruction is None:
            instruction = page[1].instruction
        image = page[1].image if page is not None else None
        out.append(
            [
                redact(sid),
                redact(photo_id),
                redact(category),
                redact(instruction or ""),
                image.thumb.name if image is not None and image.thumb is not None else None,
                image.full.name if image is not None and image.full is not None else None,
                page[0].href(page[1]) if page is not None else None,
            ]
        )
    return out


def _run_images(run: RunData, pages: dict[str, tuple[Photo, Item]]) -> dict[str, list[str | None]]:
    """sample id -> [thumbnail, full copy] of the run's edit, where the gallery made them."""
    out: dict[str, list[str | None]] = {}
    for sid, (_photo, item) in pages.items():
        for card in item.cards:
            if card.run_id == run.label and card.image.thumb is not None:
                full = card.image.full.name if card.image.full is not None else None
                out[sid] = [card.image.thumb.name, full]
    return out


def compare_data(built: Built, photos: list[Photo]) -> list[dict[str, Any]]:
    """The JSON the comparison page's script reads: one entry per table with two runs or more."""
    tables = []
    for i, (table, members) in enumerate(built):
        if len(members) < 2:
            continue
        pages = {
            it.sample_id: (p, it) for p in photos if p.benchmark == table.benchmark for it in p.ordered_items
        }
        runs = []
        for row, (run, js) in zip(table.rows, members, strict=True):
            runs.append(
                {
                    "label": row.label or redact(run.display),
                    "run": redact(run.label),
                    "rank": row.rank,
                    "unranked": row.unranked,
                    "values": _values(js),
                    "images": _run_images(run, pages),
                }
            )
        tables.append(
            {
                "id": f"t{i}",
                "title": redact(
                    f"{bench_words(table.benchmark).display} · judge {table.judge} · rubric {table.rubric}"
                ),
                "compared": compared_text(table.rank_by),
                "rank_by": table.rank_by,
                "runs": runs,
                "samples": _sample_info(members, pages),
            }
        )
    return tables
