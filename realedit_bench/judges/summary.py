"""Summaries of judgment rows: accuracy and mean score with cluster-bootstrap intervals, counts of every
status, per category, the authors' figures, and the spread over ``--repeats K`` asks.

Means use ok judgments only; invalid, refused and error rows are counted beside them, never scored.
With K asks per item, an item's value is the mean over its ok asks, and the interval resamples source
photos (the 7 edits of a photo are correlated).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from realedit_bench.schema.base import CATEGORIES, PERSPECTIVES
from realedit_bench.schema.judge import ItemStat, JudgmentRow, PerspectiveSummary, Usage
from realedit_bench.stats.bootstrap import cluster_mean_ci

RowKey = tuple[str, str, int]


def latest_rows(rows: Iterable[JudgmentRow]) -> dict[RowKey, JudgmentRow]:
    """(sample, perspective, repeat) -> the last row written for it (a redone error is superseded)."""
    out: dict[RowKey, JudgmentRow] = {}
    for row in rows:
        out[(row.sample_id, row.perspective, row.repeat)] = row
    return out


def _item_groups(rows: Iterable[JudgmentRow]) -> dict[tuple[str, str], list[JudgmentRow]]:
    groups: dict[tuple[str, str], list[JudgmentRow]] = defaultdict(list)
    for row in rows:
        groups[(row.sample_id, row.perspective)].append(row)
    for g in groups.values():
        g.sort(key=lambda r: r.repeat)
    return groups


def summarize_perspective(groups: Sequence[list[JudgmentRow]], *, n_resamples: int = 2000,
                          n_not_run: int = 0) -> PerspectiveSummary:
    """Summary of one perspective over item groups (each group: the K asks of one item).

    ``n_not_run``: selected items without any current row; counted in ``n``, never scored.
    """
    counts = {"ok": 0, "invalid": 0, "refused": 0, "error": 0}
    verdicts: list[float] = []
    scores: list[float] = []
    clusters: list[str] = []
    for asks in groups:
        # (row, score) pairs keep the narrowed, non-None score next to its row.
        ok = [
            (r, r.score) for r in asks if r.status == "ok" and r.score is not None and r.verdict is not None
        ]
        if ok:
            counts["ok"] += 1
            verdicts.append(sum(1.0 for r, _ in ok if r.verdict) / len(ok))
            scores.append(sum(float(s) for _, s in ok) / len(ok))
            clusters.append(ok[0][0].image_id)
        else:
            counts[asks[-1].status] += 1
    acc = cluster_mean_ci(verdicts, clusters, n_resamples=n_resamples)
    sc = cluster_mean_ci(scores, clusters, n_resamples=n_resamples)
    hist: dict[str, int] = {}
    for s in scores:
        k = str(int(min(5, max(0, round(s)))))
        hist[k] = hist.get(k, 0) + 1
    return PerspectiveSummary(
        n=len(groups) + n_not_run,
        n_valid=counts["ok"],
        n_invalid=counts["invalid"],
        n_refused=counts["refused"],
        n_error=counts["error"],
        n_not_run=n_not_run,
        accuracy=acc.estimate if acc else None,
        accuracy_ci=acc.bounds if acc else None,
        score_mean=sc.estimate if sc else None,
        score_ci=sc.bounds if sc else None,
        score_median=statistics.median(scores) if scores else None,
        score_histogram=dict(sorted(hist.items())),
    )


def summarize_rows(rows: Iterable[JudgmentRow], *, n_resamples: int = 2000,
                   selected: Iterable[tuple[str, str, str]] | None = None) -> dict:
    """Per perspective and per category summaries, item stats, variance, paper figures and usage.

    ``selected``: (sample id, perspective, category) of every item the run selected; those without a
    row are counted as not run, so ``n`` is every selected sample even after a fatal stop.
    """
    latest = list(latest_rows(rows).values())
    groups = _item_groups(latest)
    by_persp: dict[str, list[list[JudgmentRow]]] = defaultdict(list)
    by_cat: dict[str, dict[str, list[list[JudgmentRow]]]] = defaultdict(lambda: defaultdict(list))
    for (_sid, persp), asks in groups.items():
        by_persp[persp].append(asks)
        by_cat[asks[0].category][persp].append(asks)
    not_run: dict[str, int] = defaultdict(int)
    not_run_cat: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sample_ids = {r.sample_id for r in latest}
    for sid, persp, cat in dict.fromkeys(selected or ()):
        sample_ids.add(sid)
        if (sid, persp) not in groups:
            not_run[persp] += 1
            not_run_cat[cat][persp] += 1
    perspectives = {
        p: summarize_perspective(by_persp[p], n_resamples=n_resamples, n_not_run=not_run[p])
        for p in PERSPECTIVES if p in by_persp or not_run[p]
    }
    cats = [c for c in CATEGORIES if c in by_cat or c in not_run_cat]
    per_category = {
        c: {p: summarize_perspective(by_cat[c][p], n_resamples=n_resamples, n_not_run=not_run_cat[c][p])
            for p in PERSPECTIVES if p in by_cat[c] or not_run_cat[c][p]}
        for c in cats
    }
    items = [item_stat(asks) for asks in groups.values()]
    k = max((len(a) for a in groups.values()), default=1)
    usage = Usage()
    for row in latest:
        usage.add(row.usage)
    paper, dropped = paper_figures(latest)
    return {
        "paper_intervals": paper_intervals(latest, n_resamples=n_resamples),
        "perspectives": perspectives,
        "per_category": per_category,
        "items": items,
        "variance": variance(items) if k > 1 else {},
        "paper_figures": paper,
        "paper_parser_dropped": dropped,
        "usage": usage,
        "n_samples": len(sample_ids),
        "samples_k": k,
    }


def item_stat(asks: Sequence[JudgmentRow]) -> ItemStat:
    """Mean, median, spread and standard deviation of one item's ok asks."""
    ok = [(r, r.score) for r in asks if r.status == "ok" and r.score is not None]
    scores = [float(s) for _, s in ok]
    return ItemStat(
        sample_id=asks[0].sample_id, perspective=asks[0].perspective, n=len(asks), n_ok=len(ok),
        score_mean=statistics.fmean(scores) if scores else None,
        score_median=statistics.median(scores) if scores else None,
        score_spread=(max(scores) - min(scores)) if scores else None,
        score_std=statistics.pstdev(scores) if scores else None,
        yes_share=(sum(1 for r, _ in ok if r.verdict) / len(ok)) if ok else None,
    )


def variance(items: Sequence[ItemStat]) -> dict[str, dict[str, float | int | None]]:
    """Overall spread of repeated asks per perspective (items with at least two ok asks)."""
    out: dict[str, dict[str, float | int | None]] = {}
    for p in PERSPECTIVES:
        multi = [i for i in items if i.perspective == p and i.n_ok >= 2]
        if not multi:
            continue
        spreads = [i.score_spread for i in multi if i.score_spread is not None]
        stds = [i.score_std for i in multi if i.score_std is not None]
        out[p] = {
            "items": len(multi),
            "spread_mean": statistics.fmean(spreads),
            "spread_median": statistics.median(spreads),
            "spread_max": max(spreads),
            "std_mean": statistics.fmean(stds),
            "verdict_disagreement": sum(1 for i in multi if i.yes_share not in (0.0, 1.0)) / len(multi),
        }
    return out


class PaperLists(NamedTuple):
    """The released script's lists, per perspective: (photo id, value) of each yes/no and each score."""

    verdicts: dict[str, list[tuple[str, float]]]
    scores: dict[str, list[tuple[str, float]]]
    #: Samples the script skips (a reply missing, or a score it cannot read).
    dropped: int


def paper_lists(rows: Iterable[JudgmentRow]) -> PaperLists:
    """The lists the released script builds from the first ask of each sample (see :func:`paper_figures`)."""
    by_sample: dict[str, dict[str, JudgmentRow]] = defaultdict(dict)
    for row in rows:
        if row.repeat == 0:
            by_sample[row.sample_id][row.perspective] = row
    yn: dict[str, list[tuple[str, float]]] = {p: [] for p in PERSPECTIVES}
    sc: dict[str, list[tuple[str, float]]] = {p: [] for p in PERSPECTIVES}
    dropped = 0
    for persp_rows in by_sample.values():
        parses = [persp_rows.get(p) for p in PERSPECTIVES]
        # A perspective counts only with a row, a text reply and no call error.
        pp = [(r.image_id, r.paper_parse) for r in parses
              if r is not None and r.paper_parse and r.paper_parse.get("text", True) and r.status != "error"]
        if len(pp) < len(PERSPECTIVES):
            dropped += 1
            continue
        for (photo, p), name in zip(pp, PERSPECTIVES, strict=True):
            yn[name].append((photo, 1.0 if p["verdict"] else 0.0))
            if not p["ok"]:
                break
            sc[name].append((photo, float(p["score"])))
        if not all(p["ok"] for _, p in pp):
            dropped += 1
    return PaperLists(yn, sc, dropped)


def paper_figures(rows: Iterable[JudgmentRow]) -> tuple[dict[str, dict[str, float | int | None]], int]:
    """The released script's numbers from the first ask of each sample, and how many samples it drops.

    Reproduces its list handling exactly: a sample is skipped when any reply is missing; otherwise, in
    the order following, preserving, quality, the yes/no entry is appended before the score is read,
    and the first score that fails to parse abandons the rest of the sample. So the yes/no lists can
    hold entries whose scores were dropped, as in the original.
    """
    lists = paper_lists(rows)

    def mean(entries: list[tuple[str, float]]) -> float | None:
        return statistics.fmean(v for _, v in entries) if entries else None

    figures: dict[str, dict[str, float | int | None]] = {
        name: {"n": len(lists.scores[name]), "accuracy": mean(lists.verdicts[name]),
               "score_mean": mean(lists.scores[name])}
        for name in PERSPECTIVES
    }
    return figures, lists.dropped


def paper_intervals(rows: Iterable[JudgmentRow], *, n_resamples: int = 2000
                    ) -> dict[str, dict[str, tuple[float, float] | None]]:
    """95% cluster-bootstrap intervals (source photos resampled) of the figures of :func:`paper_figures`:
    perspective -> {accuracy, score_mean} -> (low, high), None from fewer than two photos."""
    lists = paper_lists(rows)
    out: dict[str, dict[str, tuple[float, float] | None]] = {}
    for name in PERSPECTIVES:
        cells: dict[str, tuple[float, float] | None] = {}
        for key, entries in (("accuracy", lists.verdicts[name]), ("score_mean", lists.scores[name])):
            ci = cluster_mean_ci([v for _, v in entries], [photo for photo, _ in entries],
                                 n_resamples=n_resamples)
            cells[key] = ci.bounds if ci is not None else None
        out[name] = cells
    return out


def render_table(summary, console=None) -> None:  # summary: JudgeSummary
    """Print the summary as rich tables (overall, then per category)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()

    def ci(lo_hi, scale: float = 1.0, fmt: str = "{:.1f}") -> str:
        return f"\n[{fmt.format(lo_hi[0] * scale)}, {fmt.format(lo_hi[1] * scale)}]" if lo_hi else ""

    # Model and judge names are user text: a title string would be read as Rich markup. Within 80 columns:
    # the intervals under their values, the judgments that are not valid counted in one column.
    table = Table(
        title=Text(
            f"{summary.model} judged by {summary.judge} ({summary.rubric}, parse {summary.parse_mode})"
        ),
        box=box.SIMPLE_HEAD,
    )
    for col in ("perspective", "valid / n", "not valid", "accuracy %\n[95% CI]", "score\n[95% CI]"):
        table.add_column(col, justify="left" if col == "perspective" else "right", no_wrap=True)
    for name, s in summary.perspectives.items():
        counts = (("invalid", s.n_invalid), ("refused", s.n_refused), ("error", s.n_error),
                  ("not run", s.n_not_run))
        table.add_row(
            name, f"{s.n_valid} / {s.n}", "\n".join(f"{n} {what}" for what, n in counts if n) or "-",
            "-" if s.accuracy is None else f"{s.accuracy * 100:.1f}{ci(s.accuracy_ci, 100)}",
            "-" if s.score_mean is None else f"{s.score_mean:.2f}{ci(s.score_ci, 1, '{:.2f}')}",
        )
    console.print(table)
    if any(s.score_mean is not None and s.score_ci is None for s in summary.perspectives.values()):
        console.print("[yellow]no 95% interval: the valid judgments come from a single source photo[/]")
    if summary.per_category:
        cat = Table(title="per category: accuracy % / mean score (valid / n)", box=box.SIMPLE_HEAD)
        cat.add_column("category")
        for p in PERSPECTIVES:
            cat.add_column(p, justify="right")
        for c, persp in summary.per_category.items():
            cells = []
            for p in PERSPECTIVES:
                s = persp.get(p)
                if s is None or s.accuracy is None:
                    cells.append("-" if s is None else f"- ({s.n_valid}/{s.n})")
                else:
                    cells.append(f"{s.accuracy * 100:.0f} / {s.score_mean:.2f} ({s.n_valid}/{s.n})")
            cat.add_row(c, *cells)
        console.print(cat)
    u = summary.usage
    # The authors' parser reads only "'score': d.d" in their Python-dict answers; under another rubric it
    # would drop every sample, which says nothing about the judge.
    paper = (f"; the authors' parser would drop {summary.paper_parser_dropped}"
             if summary.paper_parser_applies is not False else "")
    line = (f"{summary.n_samples} samples{paper}. Usage of these judgments: {u.calls} calls, "
            f"{u.input_tokens:,} input + {u.output_tokens:,} output tokens, ${u.cost_usd:.4f}.")
    sp = summary.usage_spent
    if sp is not None and (sp.calls, round(sp.cost_usd, 6)) != (u.calls, round(u.cost_usd, 6)):
        line += (f" Spent on this file in all (redone and stale rows included): {sp.calls} calls, "
                 f"${sp.cost_usd:.4f}.")
    console.print(line)
