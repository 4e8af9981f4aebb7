"""The leaderboard as data: one table per (judge, rubric), ranked, with a significance test between neighbours.

Rows judged by different judges or rubrics are never ranked together, because their numbers are not on
the same scale. The numbers shown come from each ``summary.json`` as written by ``realedit judge``; the
only thing computed here is the comparison of neighbours, a paired cluster bootstrap over the samples both
rows judged validly, resampling source photos (the 7 edits of a photo are correlated).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Literal

from pydantic import Field

from leaderboard.collect import JudgedSet, RunData
from leaderboard.reference import ReferenceTables
from realedit_bench.schema.base import PERSPECTIVES, Row
from realedit_bench.stats.bootstrap import paired_cluster_test

RankBy = Literal["overall", "following", "preserving", "quality"]
RANK_CHOICES: tuple[str, ...] = ("overall", "following", "preserving", "quality")

#: A neighbour difference with a bootstrap p-value below this is called significant.
ALPHA = 0.05
#: Bootstrap resamples for the neighbour test; a fixed seed keeps the page byte-identical.
N_RESAMPLES = 2000


class PerspectiveCell(Row):
    """One perspective of one leaderboard row."""

    accuracy: float | None = Field(default=None, description="Share of yes verdicts among valid (0-1).")
    accuracy_ci: tuple[float, float] | None = Field(default=None, description="95% interval of the accuracy.")
    score: float | None = Field(default=None, description="Mean 0-5 score among valid.")
    score_ci: tuple[float, float] | None = Field(default=None, description="95% interval of the score.")
    n: int | None = Field(default=None, description="Samples judged (every status); None for published rows.")
    n_valid: int | None = Field(default=None, description="Samples with an ok judgment.")
    n_invalid: int | None = Field(default=None, description="Samples whose reply could not be parsed.")
    n_refused: int | None = Field(default=None, description="Samples the judge refused.")
    n_error: int | None = Field(default=None, description="Samples whose judge call failed.")


class Comparison(Row):
    """The paired test of a row against the next row in the ranking."""

    next_model: str = Field(description="Model of the next-ranked row.")
    next_run_id: str = Field(description="Run id of the next-ranked row.")
    n_common: int = Field(description="Samples both rows judged validly (the test's sample).")
    diff: float | None = Field(default=None, description="Mean of this row minus the next over common samples.")
    p_value: float | None = Field(default=None, description="Two-sided paired cluster-bootstrap p-value.")
    significant: bool = Field(default=False, description=f"p_value < {ALPHA}.")


class LeaderboardRow(Row):
    """One row of a leaderboard table: a measured run, or a published reference row."""

    kind: Literal["measured", "reference"] = Field(description="measured: from a run; reference: published.")
    rank: int | None = Field(default=None, description="1-based rank within its table; None for reference.")
    model: str = Field(description="Editing model.")
    run_id: str | None = Field(default=None, description="Run directory name; None for reference rows.")
    judge: str = Field(description="provider/model of the judge.")
    judge_snapshot: str | None = Field(default=None, description="Model id the provider reported.")
    rubric: str = Field(description="Rubric name and version.")
    overall: float | None = Field(default=None, description="Mean of the three perspective scores.")
    perspectives: dict[str, PerspectiveCell] = Field(description="following / preserving / quality.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Metric means of the run (CLIP...).")
    cost_usd: float | None = Field(default=None, description="Judging spend from the summary.")
    date: str | None = Field(default=None, description="Date the judging summary was written (YYYY-MM-DD).")
    vs_next: Comparison | None = Field(default=None, description="Test against the next-ranked row.")
    source: str | None = Field(default=None, description="Citation of a reference row.")


class LeaderboardTable(Row):
    """All rows judged by one judge with one rubric."""

    judge: str = Field(description="provider/model of the judge.")
    rubric: str = Field(description="Rubric name and version.")
    rank_by: str = Field(description="What the ranking sorts by: overall or a perspective's score.")
    rows: list[LeaderboardRow] = Field(description="Measured rows, in rank order.")
    reference_rows: list[LeaderboardRow] = Field(
        default_factory=list, description="Published rows shown apart, never ranked with measured rows."
    )


class LeaderboardExport(Row):
    """The file ``--format json`` writes."""

    tables: list[LeaderboardTable] = Field(description="One table per judge and rubric.")
    reference_citation: str | None = Field(default=None, description="Citation of the reference rows.")


def _rank_value(row: LeaderboardRow, rank_by: str) -> float | None:
    if rank_by == "overall":
        return row.overall
    return row.perspectives[rank_by].score


def _sample_values(js: JudgedSet, rank_by: str) -> dict[str, tuple[str, float]]:
    """sample id -> (photo id, value the ranking uses) for samples valid in every perspective it needs."""
    persp = PERSPECTIVES if rank_by == "overall" else (rank_by,)
    per = [js.per_sample(p) for p in persp]
    common = set(per[0]).intersection(*per[1:]) if per else set()
    out = {}
    for sid in common:
        out[sid] = (per[0][sid].image_id, sum(d[sid].score for d in per) / len(per))
    return out


def compare(a: JudgedSet, b: JudgedSet, rank_by: str, next_row: LeaderboardRow) -> Comparison:
    """Paired cluster-bootstrap test of ``a`` against ``b`` over the samples both judged validly."""
    va, vb = _sample_values(a, rank_by), _sample_values(b, rank_by)
    common = sorted(set(va) & set(vb))
    base = {"next_model": next_row.model, "next_run_id": next_row.run_id or "", "n_common": len(common)}
    if not common:
        return Comparison(**base)
    diff, p = paired_cluster_test(
        [va[s][1] for s in common], [vb[s][1] for s in common], [va[s][0] for s in common],
        n_resamples=N_RESAMPLES, seed=0,
    )
    return Comparison(**base, diff=diff, p_value=p, significant=p < ALPHA)


def _measured_row(run: RunData, js: JudgedSet) -> LeaderboardRow:
    s = js.summary
    cells = {}
    for p in PERSPECTIVES:
        ps = s.perspectives.get(p)
        cells[p] = (
            PerspectiveCell(
                accuracy=ps.accuracy, accuracy_ci=ps.accuracy_ci, score=ps.score_mean, score_ci=ps.score_ci,
                n=ps.n, n_valid=ps.n_valid, n_invalid=ps.n_invalid, n_refused=ps.n_refused, n_error=ps.n_error,
            )
            if ps is not None
            else PerspectiveCell()
        )
    scores = [c.score for c in cells.values()]
    overall = sum(scores) / len(scores) if all(x is not None for x in scores) else None  # type: ignore[misc]
    metrics = dict(sorted(run.metrics.means.items())) if run.metrics is not None else {}
    return LeaderboardRow(
        kind="measured", model=s.model, run_id=run.run_id, judge=s.judge, judge_snapshot=s.judge_snapshot,
        rubric=s.rubric, overall=overall, perspectives=cells, metrics=metrics, cost_usd=s.usage.cost_usd,
        date=s.created_at[:10] or None,
    )


def reference_rows(ref: ReferenceTables) -> list[LeaderboardRow]:
    """Table 1 of the paper as leaderboard rows (no intervals or counts: the paper gives none)."""
    out = []
    for r in ref.table1:
        cells = {p: PerspectiveCell(accuracy=a, score=s) for p, (a, s) in r.perspectives.items()}
        overall = sum(c.score for c in cells.values() if c.score is not None) / len(cells)
        out.append(
            LeaderboardRow(
                kind="reference", model=r.method, judge=ref.judge, rubric=ref.rubric, overall=overall,
                perspectives=cells, source=ref.citation.short + ", Table 1",
            )
        )
    return out


def build_tables(
    runs: list[RunData], *, rank_by: str = "overall", reference: ReferenceTables | None = None
) -> list[tuple[LeaderboardTable, list[tuple[RunData, JudgedSet]]]]:
    """Group every judged set by (judge, rubric), rank each group and test neighbours.

    Args:
        runs: runs read by :func:`leaderboard.collect.find_runs`.
        rank_by: ``overall`` (mean of the three scores) or one perspective's score.
        reference: when given, the paper's Table 1 is attached to every table as unranked rows.

    Returns:
        (table, [(run, judged set) per measured row in rank order]) per judge and rubric, sorted by name.
    """
    groups: dict[tuple[str, str], list[tuple[RunData, JudgedSet, LeaderboardRow]]] = {}
    for run in runs:
        for js in run.judged:
            key = (js.summary.judge, js.summary.rubric)
            groups.setdefault(key, []).append((run, js, _measured_row(run, js)))
    ref_rows = reference_rows(reference) if reference is not None else []
    out = []
    for (judge, rubric), members in sorted(groups.items()):
        # Highest first; rows without a value last; ties broken by name so the order is stable.
        members.sort(
            key=lambda m: (
                _rank_value(m[2], rank_by) is None, -(_rank_value(m[2], rank_by) or 0.0), m[2].model, m[0].run_id
            )
        )
        rows = []
        for i, (_run, js, row) in enumerate(members):
            row.rank = i + 1
            if i + 1 < len(members):
                row.vs_next = compare(js, members[i + 1][1], rank_by, members[i + 1][2])
            rows.append(row)
        table = LeaderboardTable(judge=judge, rubric=rubric, rank_by=rank_by, rows=rows, reference_rows=ref_rows)
        out.append((table, [(m[0], m[1]) for m in members]))
    return out


# ----------------------------------------------------------------------------------------------- exports


def fmt_pct(x: float | None, digits: int = 1) -> str:
    """0.523 -> '52.3%'; None -> '–'."""
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def fmt_num(x: float | None, digits: int = 2) -> str:
    """3.14159 -> '3.14'; None -> '–'."""
    return "–" if x is None else f"{x:.{digits}f}"


def counts(row: LeaderboardRow) -> dict[str, int] | None:
    """Judgment counts summed over the three perspectives; None for published rows (the paper gives none)."""
    cells = [row.perspectives[p] for p in PERSPECTIVES]
    if any(c.n is None for c in cells):
        return None
    return {k: sum(getattr(c, k) or 0 for c in cells) for k in ("n", "n_valid", "n_invalid", "n_refused", "n_error")}


def export_json(tables: list[LeaderboardTable], ref: ReferenceTables | None) -> str:
    """The tables as one JSON document (sorted keys, stable)."""
    doc = LeaderboardExport(tables=tables, reference_citation=_citation_text(ref) if ref else None)
    return json.dumps(doc.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _citation_text(ref: ReferenceTables) -> str:
    c = ref.citation
    return f"{c.authors}. {c.title}. {c.venue}. arXiv:{c.arxiv}."


CSV_COLUMNS = (
    ["judge", "rubric", "kind", "rank", "model", "run_id", "overall"]
    + [f"{p}_{k}" for p in PERSPECTIVES for k in (
        "accuracy", "accuracy_low", "accuracy_high", "score", "score_low", "score_high",
        "n_valid", "n", "n_invalid", "n_refused", "n_error",
    )]
    + ["p_vs_next", "significant_vs_next", "cost_usd", "date", "source"]
)


def _flat(table: LeaderboardTable, row: LeaderboardRow) -> dict[str, object]:
    d: dict[str, object] = {
        "judge": table.judge, "rubric": table.rubric, "kind": row.kind, "rank": row.rank, "model": row.model,
        "run_id": row.run_id, "overall": row.overall, "cost_usd": row.cost_usd, "date": row.date,
        "source": row.source,
        "p_vs_next": row.vs_next.p_value if row.vs_next else None,
        "significant_vs_next": row.vs_next.significant if row.vs_next else None,
    }
    for p, c in row.perspectives.items():
        d[f"{p}_accuracy"], d[f"{p}_score"] = c.accuracy, c.score
        d[f"{p}_accuracy_low"], d[f"{p}_accuracy_high"] = c.accuracy_ci or (None, None)
        d[f"{p}_score_low"], d[f"{p}_score_high"] = c.score_ci or (None, None)
        for k in ("n_valid", "n", "n_invalid", "n_refused", "n_error"):
            d[f"{p}_{k}"] = getattr(c, k)
    return d


def export_csv(tables: list[LeaderboardTable]) -> str:
    """One flat CSV: a line per row of every table, measured rows first within each table."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for t in tables:
        for row in [*t.rows, *t.reference_rows]:
            writer.writerow({k: ("" if v is None else v) for k, v in _flat(t, row).items()})
    return buf.getvalue()


def _md_cell(text: str) -> str:
    # A pipe or newline in a model name would break the Markdown table, and Markdown renders raw HTML:
    # run strings are untrusted, so markup characters become entities.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def export_markdown(tables: list[LeaderboardTable], ref: ReferenceTables | None) -> str:
    """One Markdown table per judge and rubric, ready to paste into a paper or README."""
    lines: list[str] = []
    head = ["#", "model", "run"] + [f"{p} {k}" for p in PERSPECTIVES for k in ("acc", "score")] + [
        "valid/n", "invalid", "refused", "vs next",
    ]
    for t in tables:
        lines += [f"## Judge {_md_cell(t.judge)}, rubric {_md_cell(t.rubric)} (ranked by {t.rank_by})", ""]
        lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for row in [*t.rows, *t.reference_rows]:
            cells = [str(row.rank) if row.rank else "pub.", _md_cell(row.model), _md_cell(row.run_id or "")]
            for p in PERSPECTIVES:
                c = row.perspectives[p]
                pct_digits = 0 if row.kind == "reference" else 1
                cells += [_with_ci(fmt_pct(c.accuracy, pct_digits), c.accuracy_ci, pct=True),
                          _with_ci(fmt_num(c.score), c.score_ci, pct=False)]
            c = counts(row)
            cells += [
                f"{c['n_valid']}/{c['n']}" if c else "–",
                str(c["n_invalid"]) if c else "–",
                str(c["n_refused"]) if c else "–",
                _vs_text(row),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if ref is not None:
        lines += [f"Rows marked 'pub.' are published numbers: {_md_cell(_citation_text(ref))}", ""]
    if not tables:
        lines += ["No judged runs were found.", ""]
    return "\n".join(lines)


def _with_ci(text: str, ci: tuple[float, float] | None, *, pct: bool) -> str:
    if ci is None:
        return text
    lo, hi = (fmt_pct(ci[0]), fmt_pct(ci[1])) if pct else (fmt_num(ci[0]), fmt_num(ci[1]))
    return f"{text} [{lo}, {hi}]"


def _vs_text(row: LeaderboardRow) -> str:
    v = row.vs_next
    if v is None:
        return ""
    if v.p_value is None:
        return "no common samples"
    word = "significant" if v.significant else "n.s."
    return f"{v.diff:+.2f}, p={v.p_value:.3f} ({word})"
