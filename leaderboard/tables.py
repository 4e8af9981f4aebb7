"""The leaderboard as data: one table per (benchmark, judge, rubric), ranked, with a significance test
between neighbours.

Rows judged by different judges or rubrics, or measured on different benchmarks, are never ranked
together, because their numbers are not on the same scale. The numbers shown come from each
``summary.json`` as written by ``realedit judge``; what is computed here is each row's coverage and the
comparison of neighbours, a paired cluster bootstrap over the samples both rows judged validly, resampling
source photos (the 7 edits of a photo are correlated).

Coverage rule (stated on the page too): a row covers the samples it has a current judgment for (any
status) plus those whose edit failed (a failure is data). A row is **partial** when its run has failed
edits, when some of its judgments are of older images (stale, left out: see :mod:`leaderboard.collect`),
when it covers fewer samples than its run selected, or when it lacks samples another row of the same
table covers. Partial rows are shown, flagged and listed after the ranked rows, but never ranked: a mean
over a different, smaller sample set is not comparable. A failed edit is not scored as "no" or 0 (a
failure is excluded from means and counted, as everywhere in realedit), so a run with failed edits is
ranked only once ``realedit run`` has redone them. A row without a valid judgment of what the ranking
sorts by (every reply invalid, refused or failed) has no value to rank and is listed apart as well.

The ranked rows of a table cover the same samples (any other would be partial). When those are part of
the benchmark only (``--limit``, ``--samples``), the table says so (``subset``): its ranks are among its
own rows and are not comparable with the published full-benchmark numbers shown apart.

Neighbours are compared on the samples both judged validly (the samples both judged, whatever the status,
are counted too, so "no sample valid in both" is told apart from "nothing in common"), and tested only when
those samples come from at least :data:`MIN_PHOTOS` source photos; with fewer, the photo bootstrap has too
few clusters to mean anything, and every interval from so few photos carries a caution mark.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field

from leaderboard.collect import REAL_EDIT, JudgedSet, RunData
from leaderboard.redact import redact
from leaderboard.reference import ReferenceTables, model_links
from realedit_bench.labels import settings_text
from realedit_bench.schema import MetricSummary
from realedit_bench.schema.base import PERSPECTIVES, Row
from realedit_bench.stats.bootstrap import paired_cluster_test

RANK_CHOICES: tuple[str, ...] = ("overall", "following", "preserving", "quality")

#: A neighbour difference with a bootstrap p-value below this is called significant.
ALPHA = 0.05
#: Bootstrap resamples for the neighbour test; a fixed seed keeps the page byte-identical.
N_RESAMPLES = 2000
#: Fewest distinct source photos among the common samples for the neighbour test to be run.
MIN_PHOTOS = 10
TOO_FEW_PHOTOS = "too few photos to test"
NO_COMMON = "no sample valid in both"


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
    n_photos: int | None = Field(
        default=None,
        description=(
            "Distinct source photos among the valid samples: the clusters of the bootstrap intervals "
            f"(fewer than {MIN_PHOTOS} make an interval too narrow to trust)."
        ),
    )
    robust_accuracy: float | None = Field(
        default=None, description="Under the authors' rule (the headline), realedit's accuracy beside it: "
        "the share of yes among this perspective's valid judgments; None under realedit's rule.")
    robust_accuracy_ci: tuple[float, float] | None = Field(default=None, description="Its 95% interval.")
    robust_score: float | None = Field(
        default=None, description="Under the authors' rule, realedit's mean score of the valid judgments.")
    robust_score_ci: tuple[float, float] | None = Field(default=None, description="Its 95% interval.")


#: Which rule made a row's numbers: realedit's (mean over valid judgments) or the authors' (--protocol paper).
Rule = Literal["realedit", "paper"]
#: What each rule means, as the page and the exports say it.
RULE_TEXT: dict[str, str] = {
    "realedit": "realedit's rule: accuracy and score are means over the valid judgments of each "
    "perspective (invalid, refused and failed ones are counted apart, never scored), with 95% intervals over "
    "source photos.",
    "paper": "the authors' rule (judged with --protocol paper): their parser, and their dropping rule (a "
    "sample counts only when all three replies came back, and the first score their regex cannot read "
    "abandons the rest of the sample), pooled over every sample as their script pools them; brackets are 95% "
    "intervals over source photos. Beside each: realedit's robust figure (the mean over that perspective's "
    "valid judgments) and the samples the authors' rule drops.",
}


class Comparison(Row):
    """The paired test of a row against the next row in the ranking."""

    next_model: str = Field(description="Model of the next-ranked row.")
    next_run_id: str = Field(description="Run id of the next-ranked row.")
    compared: str = Field(default="overall score", description="What the test compares, e.g. overall score.")
    n_common: int = Field(description="Samples both rows judged validly (the test's sample).")
    n_shared: int = Field(default=0, description="Samples both rows judged, whatever the judgments' status.")
    n_photos: int = Field(default=0, description="Distinct source photos among the common samples.")
    diff: float | None = Field(
        default=None, description="Mean of this row minus the next over common samples."
    )
    p_value: float | None = Field(
        default=None,
        description=(
            f"Two-sided paired cluster-bootstrap p-value; None when not tested (< {MIN_PHOTOS} photos)."
        ),
    )
    significant: bool = Field(default=False, description=f"p_value < {ALPHA}.")
    untested: str | None = Field(
        default=None, description="Why no test was run: too few photos, or no sample valid in both rows."
    )


class Coverage(Row):
    """Which samples a measured row covers, against what its run selected and the benchmark holds."""

    n_samples: int = Field(description="Samples covered: judged (any status) or with a failed edit.")
    n_judged: int = Field(description="Samples with at least one judgment.")
    n_failed_edits: int = Field(
        default=0, description="Samples whose edit failed (not judged, counted as covered)."
    )
    n_refused_edits: int = Field(
        default=0,
        description="Samples a paid API editor refused to edit (its final answer): covered, not judged, left "
        "out of the means; they do not make the row partial.",
    )
    n_stale_judgments: int = Field(
        default=0,
        description=(
            "Judgments of older images (the sample was redone after judging), left out of the numbers."
        ),
    )
    n_photos: int = Field(description="Distinct source photos among the covered samples.")
    n_selected: int | None = Field(
        default=None, description="Samples the run selected (manifest); None for a plain folder."
    )
    n_benchmark: int | None = Field(
        default=None,
        description="Samples in the benchmark (manifest n_samples_total); None for a plain folder.",
    )
    partial: bool = Field(
        default=False, description="Covers a different or smaller sample set than it should."
    )
    partial_reason: str | None = Field(default=None, description="Why the row is partial, in words.")


class MetricColumn(Row):
    """One automatic-metric column, labelled with what it measures and which way is better."""

    name: str = Field(description="Metric key in metrics_summary.json, e.g. clip_i.")
    reference: str = Field(description="What the edit was compared with: source or target.")
    label: str = Field(description="Display label from metrics_summary.json (falls back to the key).")
    higher_is_better: bool | None = Field(
        default=None, description="Direction; None when the summary did not record it."
    )

    @property
    def header(self) -> str:
        """Label with its direction arrow, e.g. 'CLIP-I to source (preservation) ↑'."""
        arrow = {True: " ↑", False: " ↓", None: ""}[self.higher_is_better]
        return self.label + arrow

    @property
    def preservation(self) -> bool:
        """True for a comparison with the source photo: it rewards leaving the photo unchanged."""
        return self.reference == "source"


class LeaderboardRow(Row):
    """One row of a leaderboard table: a measured run, or a published reference row."""

    kind: Literal["measured", "reference"] = Field(description="measured: from a run; reference: published.")
    rank: int | None = Field(
        default=None, description="1-based rank within its table; None for reference and partial rows."
    )
    model: str = Field(description="Editing model.")
    label: str | None = Field(
        default=None,
        description=(
            "Run as the page names it: its recorded label, else the model and the settings that differ from "
            "the editor's defaults; None for reference rows."
        ),
    )
    settings: dict[str, Any] | None = Field(
        default=None,
        description="Settings that differ from the editor's defaults; None when the defaults are not known.",
    )
    paper: str | None = Field(default=None, description="Link to the model's paper, when known.")
    weights: str | None = Field(default=None, description="Link to the model's released weights, when known.")
    run_id: str | None = Field(default=None, description="Run directory name; None for reference rows.")
    run_folder: str | None = Field(
        default=None,
        description=(
            "Folder the run was read from (tells copies of one run id apart); None for reference rows."
        ),
    )
    run_label: str | None = Field(
        default=None,
        description="Run as shown: the run id, with the folder when another folder has the same run id.",
    )
    judge: str = Field(description="provider/model of the judge.")
    judge_snapshot: str | None = Field(default=None, description="Model id the provider reported.")
    rubric: str = Field(description="Rubric name and version.")
    rule: Rule = Field(default="realedit", description="Which rule made the numbers (see RULE_TEXT): "
                       "realedit's, or the authors' for rows judged with --protocol paper.")
    paper_dropped: int | None = Field(
        default=None, description="Under the authors' rule: samples it leaves out of the headline figures.")
    overall: float | None = Field(default=None, description="Mean of the three perspective scores.")
    perspectives: dict[str, PerspectiveCell] = Field(description="following / preserving / quality.")
    metrics: dict[str, float] = Field(default_factory=dict, description="Metric means of the run (CLIP...).")
    metrics_reference: str | None = Field(default=None, description="What the run's metrics compared with.")
    coverage: Coverage | None = Field(default=None, description="Samples covered; None for published rows.")
    cost_usd: float | None = Field(default=None, description="Judging spend from the summary.")
    date: str | None = Field(default=None, description="Date the judging summary was written (YYYY-MM-DD).")
    unranked: str | None = Field(
        default=None,
        description="Why a measured row is not ranked (partial, no valid judgments); None when it is ranked.",
    )
    vs_next: Comparison | None = Field(default=None, description="Test against the next-ranked row.")
    source: str | None = Field(default=None, description="Citation of a reference row.")


class LeaderboardTable(Row):
    """All rows of one benchmark judged by one judge with one rubric."""

    benchmark: str = Field(default="real-edit", description="Benchmark the rows were measured on.")
    judge: str = Field(description="provider/model of the judge.")
    rubric: str = Field(description="Rubric name and version.")
    rule: Rule = Field(default="realedit", description="Which rule made the numbers of its rows (RULE_TEXT).")
    rank_by: str = Field(description="What the ranking sorts by: overall or a perspective's score.")
    rows: list[LeaderboardRow] = Field(
        description="Measured rows: ranked rows in rank order, then the rows not ranked (partial, no valid "
        "judgments)."
    )
    ranked_on: str | None = Field(
        default=None, description="The samples the ranked rows share, e.g. '560 of 560 samples, 80 photos'."
    )
    subset: bool = Field(
        default=False,
        description=(
            "The ranked rows cover part of the benchmark only: their ranks are among themselves, not "
            "comparable with full-benchmark (published) numbers."
        ),
    )
    metric_columns: list[MetricColumn] = Field(
        default_factory=list, description="CLIP metric columns shown beside the judged numbers."
    )
    reference_rows: list[LeaderboardRow] = Field(
        default_factory=list, description="Published rows shown apart, never ranked with measured rows."
    )


class MetricsRow(Row):
    """One run of the automatic-metrics table."""

    model: str = Field(description="Editing model.")
    run_id: str = Field(description="Run directory name.")
    run_label: str | None = Field(
        default=None, description="Run as shown (the folder too when run ids repeat)."
    )
    benchmark: str = Field(description="Benchmark measured.")
    reference: str = Field(description="What the edits were compared with: source or target.")
    n: int = Field(description="Samples measured.")
    n_error: int = Field(description="Samples that failed.")
    n_photos: int | None = Field(
        default=None, description="Distinct source photos measured: the clusters of the intervals."
    )
    means: dict[str, float] = Field(description="metric -> mean.")
    cis: dict[str, tuple[float, float]] = Field(default_factory=dict, description="metric -> 95% interval.")
    excluded: dict[str, str] = Field(
        default_factory=dict,
        description="metric -> why its mean is not shown (older formula, two model versions).",
    )
    notes: list[str] = Field(
        default_factory=list,
        description="Why some values of the run are left out (e.g. metrics of older images).",
    )


class MetricsTable(Row):
    """The automatic-metrics table: every run with a metrics_summary.json."""

    columns: list[MetricColumn] = Field(description="Metric columns, labelled, with direction.")
    rows: list[MetricsRow] = Field(description="One row per run, by run id.")


class LeaderboardExport(Row):
    """The file ``--format json`` writes."""

    tables: list[LeaderboardTable] = Field(description="One table per judge and rubric.")
    reference_citation: str | None = Field(default=None, description="Citation of the reference rows.")
    reference_rows: list[LeaderboardRow] = Field(
        default_factory=list,
        description="The paper's Table 1 (also present with no judged run); empty with --no-reference.",
    )
    metrics: MetricsTable | None = Field(
        default=None, description="Automatic metrics; None when no run has them."
    )
    unjudged_runs: list[str] = Field(default_factory=list, description="Run ids found without judgments.")


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


def compared_text(rank_by: str) -> str:
    """What the ranking and the neighbour test compare, in words."""
    return "overall score" if rank_by == "overall" else f"{rank_by} score"


def compare(a: JudgedSet, b: JudgedSet, rank_by: str, next_row: LeaderboardRow) -> Comparison:
    """Paired cluster-bootstrap test of ``a`` against ``b`` over the samples both judged validly.

    A sample counts when both rows have a valid judgment of every perspective the ranking uses; samples
    both judged but with an invalid, refused or failed judgment on either side are counted apart
    (``n_shared``), so "no sample valid in both" is never mistaken for "no sample in common".
    """
    va, vb = _sample_values(a, rank_by), _sample_values(b, rank_by)
    common = sorted(set(va) & set(vb))
    photos = {va[s][0] for s in common}
    base: dict[str, Any] = {
        "next_model": next_row.model,
        "next_run_id": next_row.run_id or "",
        "compared": compared_text(rank_by),
        "n_common": len(common),
        "n_shared": len(set(a.judged_samples()) & set(b.judged_samples())),
        "n_photos": len(photos),
    }
    if not common:
        return Comparison(**base, untested=NO_COMMON)
    if len(photos) < MIN_PHOTOS:
        # A bootstrap over 2 photos resamples 2 clusters: its p-value is noise, so none is claimed.
        diff = sum(va[s][1] - vb[s][1] for s in common) / len(common)
        return Comparison(**base, diff=diff, untested=TOO_FEW_PHOTOS)
    diff, p = paired_cluster_test(
        [va[s][1] for s in common],
        [vb[s][1] for s in common],
        [va[s][0] for s in common],
        n_resamples=N_RESAMPLES,
        seed=0,
    )
    return Comparison(**base, diff=diff, p_value=p, significant=p < ALPHA)


def _coverage(run: RunData, js: JudgedSet) -> tuple[Coverage, set[str]]:
    """The row's coverage and the sample ids it covers."""
    judged = js.judged_samples()
    failed = {e.sample_id: e.image_id for e in run.failed_edits if e.sample_id not in judged}
    refused = {e.sample_id: e.image_id for e in run.refused_edits if e.sample_id not in judged}
    covered = {**judged, **failed, **refused}
    bench = run.manifest.benchmark if run.manifest is not None else None
    cov = Coverage(
        n_samples=len(covered),
        n_judged=len(judged),
        n_failed_edits=len(failed),
        n_refused_edits=len(refused),
        n_stale_judgments=len(js.stale),
        n_photos=len(set(covered.values())),
        n_selected=bench.n_samples_selected if bench else None,
        n_benchmark=bench.n_samples_total if bench else None,
    )
    return cov, set(covered)


def _mark_partial(members: list[tuple[RunData, JudgedSet, LeaderboardRow, set[str]]]) -> None:
    """Flag rows with failed edits or stale judgments, covering fewer samples than their run selected, or
    lacking samples another row covers."""
    union = set().union(*(m[3] for m in members)) if members else set()
    for _run, _js, row, covered in members:
        cov = row.coverage
        assert cov is not None
        reasons = []
        if cov.n_failed_edits:
            reasons.append(failed_text(cov.n_failed_edits))
        if cov.n_stale_judgments:
            reasons.append(stale_text(cov.n_stale_judgments))
        if cov.n_selected is not None and cov.n_samples < cov.n_selected:
            reasons.append(f"covers {cov.n_samples} of the {cov.n_selected} samples its run selected")
        missing = len(union - covered)
        if missing:
            reasons.append(f"lacks {missing} sample{'s' if missing != 1 else ''} other rows cover")
        if reasons:
            cov.partial, cov.partial_reason = True, "; ".join(reasons)


def _failed_cell(cov: Coverage | None) -> str:
    """The "failed edits" cell of the Markdown table: failed, and refused by an API when any were."""
    if cov is None:
        return "–"
    return f"{cov.n_failed_edits} (+{cov.n_refused_edits} refused)" if cov.n_refused_edits else str(
        cov.n_failed_edits
    )


def failed_text(n: int) -> str:
    """Why a run with failed edits is not ranked, and what to do."""
    return f"{n} edit{'s' if n != 1 else ''} failed (not judged; rerun 'realedit run' to redo them)"


def stale_text(n: int) -> str:
    """The stale-judgment warning, in the words of the page and the console."""
    return (
        f"{n} judgment{'s are' if n != 1 else ' is'} of older images, left out of the numbers; "
        "rerun realedit judge"
    )


def metric_columns(
    summaries: list[MetricSummary], only: Callable[[str], bool] = lambda name: True
) -> list[MetricColumn]:
    """Labelled columns for every (metric, reference) pair present, in name order."""
    cols: dict[tuple[str, str], MetricColumn] = {}
    for ms in summaries:
        # A left-out metric keeps its column ('–' there, the note says why) when the summary labels it.
        for name in [*ms.means, *(n for n in ms.excluded if n in ms.labels)]:
            if only(name) and (name, ms.reference) not in cols:
                cols[(name, ms.reference)] = MetricColumn(
                    name=name,
                    reference=ms.reference,
                    label=ms.labels.get(name) or name,
                    higher_is_better=ms.higher_is_better.get(name),
                )
    return [cols[k] for k in sorted(cols)]


def metric_value(row: LeaderboardRow, col: MetricColumn) -> float | None:
    """The row's mean for a column, when the row's metrics compared with the same reference."""
    return row.metrics.get(col.name) if row.metrics_reference == col.reference else None


def metrics_notes(row: MetricsRow) -> list[str]:
    """Why values of a run are missing from its metrics row: left-out samples, then each left-out metric."""
    told = {n for n, why in row.excluded.items() if any(why in x or f"--metric {n}" in x for x in row.notes)}
    return [*row.notes, *(f"{n}: {why}" for n, why in row.excluded.items() if n not in told)]


def is_clip(name: str) -> bool:
    """Whether metric ``name`` is a CLIP score: those are the metrics the leaderboard shows beside the
    judged numbers."""
    return "clip" in name.lower()


def metrics_table(runs: list[RunData]) -> MetricsTable | None:
    """Every run with a metrics summary, with labelled columns; None when no run has one."""
    measured = [r for r in runs if r.metrics is not None]
    if not measured:
        return None
    rows = [
        MetricsRow(
            model=r.model,
            run_id=r.run_id,
            run_label=r.label,
            benchmark=ms.benchmark,
            reference=ms.reference,
            n=ms.n,
            n_error=ms.n_error,
            n_photos=r.metrics_photos,
            means=dict(sorted(ms.means.items())),
            cis=dict(sorted(ms.cis.items())),
            excluded=dict(sorted(ms.excluded.items())),
            notes=r.metrics_warnings,
        )
        for r in measured
        for ms in [r.metrics]
        if ms is not None
    ]
    return MetricsTable(
        columns=metric_columns([r.metrics for r in measured if r.metrics is not None]), rows=rows
    )


def _cell(js: JudgedSet, p: str) -> PerspectiveCell:
    """One perspective of a measured row: the summary's figures, under the rule of its protocol.

    Under the authors' rule the headline is their figure (and its interval), with realedit's beside it.
    """
    s = js.summary
    ps = s.perspectives.get(p)
    if ps is None:
        return PerspectiveCell()
    cell = PerspectiveCell(
        accuracy=ps.accuracy, accuracy_ci=ps.accuracy_ci, score=ps.score_mean, score_ci=ps.score_ci, n=ps.n,
        n_valid=ps.n_valid, n_invalid=ps.n_invalid, n_refused=ps.n_refused, n_error=ps.n_error,
        n_photos=len({v.image_id for v in js.per_sample(p).values()}),
    )
    if s.protocol != "paper":
        return cell
    fig, ci = s.paper_figures.get(p, {}), s.paper_intervals.get(p, {})
    return cell.model_copy(update={
        "robust_accuracy": cell.accuracy, "robust_accuracy_ci": cell.accuracy_ci,
        "robust_score": cell.score, "robust_score_ci": cell.score_ci,
        "accuracy": fig.get("accuracy"), "accuracy_ci": ci.get("accuracy"),
        "score": fig.get("score_mean"), "score_ci": ci.get("score_mean"),
    })


def _measured_row(run: RunData, js: JudgedSet) -> LeaderboardRow:
    """A row with the summary's numbers under its protocol's rule; coverage is filled in by
    :func:`build_tables`."""
    s = js.summary
    cells: dict[str, PerspectiveCell] = {p: _cell(js, p) for p in PERSPECTIVES}
    scores = [c.score for c in cells.values() if c.score is not None]
    overall = sum(scores) / len(scores) if scores and len(scores) == len(cells) else None
    metrics = dict(sorted(run.metrics.means.items())) if run.metrics is not None else {}
    links = model_links(run.model)
    return LeaderboardRow(
        kind="measured",
        model=s.model,
        label=redact(run.display),
        settings=_redacted(run.changed),
        paper=links.paper if links else None,
        weights=links.weights if links else None,
        run_id=run.run_id,
        run_folder=run.root.name,
        run_label=run.label or run.run_id,
        judge=redact(s.judge),
        judge_snapshot=s.judge_snapshot,
        rubric=s.rubric,
        rule=s.protocol,
        paper_dropped=s.paper_parser_dropped if s.protocol == "paper" else None,
        overall=overall,
        perspectives=cells,
        metrics=metrics,
        metrics_reference=run.metrics.reference if run.metrics is not None else None,
        cost_usd=s.usage.cost_usd,
        date=s.created_at[:10] or None,
    )


def _redacted(settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """Settings as a published page may show them: a local weights path without the home folder."""
    if settings is None:
        return None
    return {k: redact(v) if isinstance(v, str) else v for k, v in settings.items()}


def reference_rows(ref: ReferenceTables) -> list[LeaderboardRow]:
    """Table 1 of the paper as leaderboard rows (no intervals or counts: the paper gives none)."""
    out = []
    for r in ref.table1:
        cells = {p: PerspectiveCell(accuracy=a, score=s) for p, (a, s) in r.perspectives.items()}
        overall = sum(c.score for c in cells.values() if c.score is not None) / len(cells)
        links = model_links(r.method)
        out.append(
            LeaderboardRow(
                kind="reference",
                model=r.method,
                paper=links.paper if links else None,
                weights=links.weights if links else None,
                judge=ref.judge,
                rubric=ref.rubric,
                overall=overall,
                perspectives=cells,
                source=ref.citation.short + ", Table 1",
            )
        )
    return out


def build_tables(
    runs: list[RunData], *, rank_by: str = "overall", reference: ReferenceTables | None = None
) -> list[tuple[LeaderboardTable, list[tuple[RunData, JudgedSet]]]]:
    """Group every judged set by (benchmark, judge, rubric), rank each group and test neighbours.

    Args:
        runs: runs read by :func:`leaderboard.collect.find_runs`.
        rank_by: ``overall`` (mean of the three scores) or one perspective's score.
        reference: when given, the paper's Table 1 is attached to every Real-Edit table as unranked rows.

    Returns:
        (table, [(run, judged set) per measured row in table order]) per benchmark, judge and rubric,
        Real-Edit first, then by name.
        Table order is the ranked (complete) rows, then the partial rows, each by the ranking value.
    """
    # Runs on different benchmarks are never ranked together: their samples and difficulty differ. Nor are
    # numbers made by different rules (realedit's, the authors').
    groups: dict[tuple[str, str, str, Rule], list[tuple[RunData, JudgedSet, LeaderboardRow, set[str]]]] = {}
    for run in runs:
        for js in run.judged:
            # A judge named by URL may carry user:pass@: the table is keyed and titled by the redacted name.
            key = (run.benchmark, redact(js.summary.judge), js.summary.rubric, js.summary.protocol)
            row = _measured_row(run, js)
            row.coverage, covered = _coverage(run, js)
            groups.setdefault(key, []).append((run, js, row, covered))
    ref_rows = reference_rows(reference) if reference is not None else []
    out = []
    for (benchmark, judge, rubric, rule), members in sorted(
        groups.items(), key=lambda kv: (kv[0][0] != REAL_EDIT, kv[0])
    ):
        _mark_partial(members)
        for m in members:
            m[2].unranked = _unranked_reason(m[2], rank_by)
        # Ranked rows first; highest first; rows without a value last; ties broken by name (stable order).
        members.sort(
            key=lambda m: (
                m[2].unranked is not None,
                _rank_value(m[2], rank_by) is None,
                -(_rank_value(m[2], rank_by) or 0.0),
                m[2].model,
                m[0].run_id,
            )
        )
        ranked = [m for m in members if m[2].unranked is None]
        for i, (_run, js, row, _c) in enumerate(ranked):
            row.rank = i + 1
            if i + 1 < len(ranked):
                row.vs_next = compare(js, ranked[i + 1][1], rank_by, ranked[i + 1][2])
        cols = metric_columns([m[0].metrics for m in members if m[0].metrics is not None], is_clip)
        table = LeaderboardTable(
            benchmark=benchmark,
            judge=judge,
            rubric=rubric,
            rule=rule,
            rank_by=rank_by,
            rows=[m[2] for m in members],
            reference_rows=ref_rows if benchmark == REAL_EDIT else [],  # the paper's Table 1 is Real-Edit's
            metric_columns=cols,
            **_ranked_on([m[2] for m in ranked]),
        )
        out.append((table, [(m[0], m[1]) for m in members]))
    return out


def _unranked_reason(row: LeaderboardRow, rank_by: str) -> str | None:
    """Why ``row`` is not ranked: partial, or no valid judgment to rank it by; None when it is ranked."""
    cov = row.coverage
    if cov is not None and cov.partial:
        return f"partial: {cov.partial_reason}"
    if _rank_value(row, rank_by) is not None:
        return None
    tot = counts(row)
    if tot is not None and tot["n_valid"] == 0:
        what = ", ".join(
            f"{tot[k]} {word}"
            for k, word in (("n_invalid", "invalid"), ("n_refused", "refused"), ("n_error", "failed calls"))
            if tot[k]
        )
        return f"no valid judgments ({what or 'none made'}): nothing to rank it by"
    empty = [
        p for p in (PERSPECTIVES if rank_by == "overall" else (rank_by,)) if row.perspectives[p].score is None
    ]
    return f"no valid {' or '.join(empty)} judgment: no {compared_text(rank_by)} to rank it by"


def _ranked_on(ranked: list[LeaderboardRow]) -> dict[str, Any]:
    """``ranked_on`` and ``subset`` of a table: the samples its ranked rows share (they cover the same set,
    or they would be partial)."""
    covs = [r.coverage for r in ranked if r.coverage is not None]
    if not covs:
        return {}
    cov = max(covs, key=lambda c: c.n_samples)
    return {
        "ranked_on": coverage_text(cov),
        "subset": cov.n_benchmark is not None and cov.n_samples < cov.n_benchmark,
    }


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
    return {
        k: sum(getattr(c, k) or 0 for c in cells)
        for k in ("n", "n_valid", "n_invalid", "n_refused", "n_error")
    }


def few_photos(cell: PerspectiveCell) -> bool:
    """Whether the cell's intervals come from fewer than :data:`MIN_PHOTOS` source photos (a caution)."""
    return cell.n_photos is not None and cell.n_photos < MIN_PHOTOS


def unranked_mark(row: LeaderboardRow) -> str:
    """The rank cell of a measured row that is not ranked: 'partial', or 'none' without valid judgments."""
    return "partial" if row.coverage is not None and row.coverage.partial else "none"


def settings_cell(row: LeaderboardRow) -> str:
    """The settings column: what differs from the editor's defaults, 'defaults', or '–' when not known."""
    if row.settings is None:
        return "–"
    return settings_text(row.settings) or "defaults"


def coverage_text(cov: Coverage | None) -> str:
    """'11 of 560 samples, 2 photos' (the benchmark size from the run manifest when known)."""
    if cov is None:
        return "–"
    of = f" of {cov.n_benchmark}" if cov.n_benchmark is not None else ""
    photos = f"{cov.n_photos} photo{'s' if cov.n_photos != 1 else ''}"
    return f"{cov.n_samples}{of} samples, {photos}"


def p_text(p: float) -> str:
    """'p = 0.031'; 'p < 0.001' below what the bootstrap's resamples can tell apart from 0."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def vs_text(row: LeaderboardRow) -> str:
    """The 'vs next' cell in words: the test and what it compared, or why there is none."""
    if row.coverage is not None and row.coverage.partial:
        return "not ranked (partial)"
    if row.unranked is not None:
        return "not ranked (no valid judgments)"
    v = row.vs_next
    if v is None:
        return ""
    if v.untested == NO_COMMON or v.diff is None:
        return f"{NO_COMMON} rows ({_plural(v.n_shared, 'sample')} judged by both)"
    where = f"on {_plural(v.n_common, 'sample')} valid in both, {_plural(v.n_photos, 'photo')}"
    if v.p_value is None:
        return f"{v.untested or TOO_FEW_PHOTOS}: Δ {v.diff:+.2f} {v.compared} {where}"
    word = "significant" if v.significant else "not significant"
    return f"{word}: Δ {v.diff:+.2f} {v.compared}, {p_text(v.p_value)}, {where}"


def export_json(
    tables: list[LeaderboardTable],
    ref: ReferenceTables | None,
    metrics: MetricsTable | None = None,
    unjudged: list[str] | None = None,
) -> str:
    """The tables, the published rows and the metrics table as one JSON document (sorted keys, stable)."""
    doc = LeaderboardExport(
        tables=tables,
        reference_citation=_citation_text(ref) if ref else None,
        reference_rows=reference_rows(ref) if ref else [],
        metrics=metrics,
        unjudged_runs=unjudged or [],
    )
    return json.dumps(doc.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _citation_text(ref: ReferenceTables) -> str:
    c = ref.citation
    return f"{c.authors}. {c.title}. {c.venue}. arXiv:{c.arxiv}."


_PERSPECTIVE_FIELDS = (
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "score",
    "score_low",
    "score_high",
    "n_valid",
    "n",
    "n_invalid",
    "n_refused",
    "n_error",
)
_COVERAGE_FIELDS = (
    "samples_covered",
    "samples_judged",
    "failed_edits",
    "refused_edits",
    "stale_judgments",
    "photos",
    "samples_selected",
    "samples_benchmark",
    "partial",
    "partial_reason",
    "unranked",
)
CSV_COLUMNS = (
    ["benchmark", "judge", "rubric", "rule", "kind", "rank", "model", "label", "settings", "run_id",
     "run_folder"]
    + ["overall"]
    + [f"{p}_{k}" for p in PERSPECTIVES for k in _PERSPECTIVE_FIELDS]
    + ["valid", "n", "invalid", "refused", "errors", "paper_dropped", *_COVERAGE_FIELDS]
    + [
        "vs_next",
        "diff_vs_next",
        "p_vs_next",
        "significant_vs_next",
        "samples_vs_next",
        "photos_vs_next",
        "cost_usd",
        "date",
        "source",
        "paper",
        "weights",
    ]
)


def _metric_key(col: MetricColumn) -> str:
    return f"metric_{col.name}" if col.reference == "source" else f"metric_{col.name}_{col.reference}"


def _flat(table: LeaderboardTable, row: LeaderboardRow) -> dict[str, object]:
    v = row.vs_next
    d: dict[str, object] = {
        "benchmark": table.benchmark,
        "judge": table.judge,
        "rubric": table.rubric,
        "rule": row.rule,
        "paper_dropped": row.paper_dropped,
        "kind": row.kind,
        "rank": row.rank,
        "model": row.model,
        "label": row.label,
        "settings": settings_text(row.settings) if row.settings is not None else None,
        "run_id": row.run_id,
        "run_folder": row.run_folder,
        "overall": row.overall,
        "cost_usd": row.cost_usd,
        "date": row.date,
        "source": row.source,
        "paper": row.paper,
        "weights": row.weights,
        "unranked": row.unranked,
        "vs_next": vs_text(row) or None,
        "diff_vs_next": v.diff if v else None,
        "p_vs_next": v.p_value if v else None,
        "significant_vs_next": v.significant if v and v.p_value is not None else None,
        "samples_vs_next": v.n_common if v else None,
        "photos_vs_next": v.n_photos if v else None,
    }
    for p, c in row.perspectives.items():
        d[f"{p}_accuracy"], d[f"{p}_score"] = c.accuracy, c.score
        d[f"{p}_accuracy_low"], d[f"{p}_accuracy_high"] = c.accuracy_ci or (None, None)
        d[f"{p}_score_low"], d[f"{p}_score_high"] = c.score_ci or (None, None)
        for k in ("n_valid", "n", "n_invalid", "n_refused", "n_error"):
            d[f"{p}_{k}"] = getattr(c, k)
    tot = counts(row) or {}
    d.update(
        valid=tot.get("n_valid"),
        n=tot.get("n"),
        invalid=tot.get("n_invalid"),
        refused=tot.get("n_refused"),
        errors=tot.get("n_error"),
    )
    cov = row.coverage
    if cov is not None:
        d.update(
            samples_covered=cov.n_samples,
            samples_judged=cov.n_judged,
            failed_edits=cov.n_failed_edits,
            refused_edits=cov.n_refused_edits,
            stale_judgments=cov.n_stale_judgments,
            photos=cov.n_photos,
            samples_selected=cov.n_selected,
            samples_benchmark=cov.n_benchmark,
            partial=cov.partial,
            partial_reason=cov.partial_reason,
        )
    for col in table.metric_columns:
        d[_metric_key(col)] = metric_value(row, col)
    return d


def export_csv(tables: list[LeaderboardTable], ref: ReferenceTables | None = None) -> str:
    """One flat CSV: a line per row of every table, measured rows first within each table.

    With no judged run, the published rows still come out (judge and rubric of the paper), as on the page.
    """
    metric_cols: dict[str, None] = {}
    for t in tables:
        for col in t.metric_columns:
            metric_cols.setdefault(_metric_key(col))
    pairs = [(t, row) for t in tables for row in [*t.rows, *t.reference_rows]]
    if not tables and ref is not None:
        alone = LeaderboardTable(judge=ref.judge, rubric=ref.rubric, rank_by="overall", rows=[])
        pairs = [(alone, row) for row in reference_rows(ref)]
    columns = [*CSV_COLUMNS, *sorted(metric_cols)]
    return _csv_text(
        [[flat.get(c) for c in columns] for flat in (_flat(t, row) for t, row in pairs)], columns
    )


def export_metrics_csv(metrics: MetricsTable | None) -> str:
    """The automatic-metrics table: a line per run, a mean and interval per labelled metric column."""
    cols = metrics.columns if metrics else []
    names = []
    for col in cols:
        key = _metric_key(col)[len("metric_") :]
        names += [key, f"{key}_low", f"{key}_high"]
    rows = []
    for r in metrics.rows if metrics else []:
        cells: list[object] = [r.model, r.run_id, r.benchmark, r.reference, r.n, r.n_error]
        for col in cols:
            ok = col.reference == r.reference
            ci = r.cis.get(col.name) if ok else None
            cells += [r.means.get(col.name) if ok else None, ci[0] if ci else None, ci[1] if ci else None]
        rows.append(cells)
    # A second header line would break CSV readers; the labels and directions go in the JSON and Markdown.
    return _csv_text(rows, ["model", "run_id", "benchmark", "reference", "n", "n_error", *names])


def _csv_text(rows: list[list[object]], columns: list[str]) -> str:
    """``rows`` under a header of ``columns`` as CSV text; None is an empty cell."""
    import pandas as pd

    # dtype=object keeps every value as it is (an int column with a gap does not become floats); None is
    # blanked before pandas sees it, so its missing-value text is left for a NaN, which prints as 'nan'.
    cells = [["" if v is None else v for v in row] for row in rows]
    frame = pd.DataFrame(cells, columns=columns, dtype=object)
    return frame.to_csv(index=False, lineterminator="\n", na_rep="nan")


def _md_cell(text: str) -> str:
    # A pipe or newline in a model name would break the Markdown table, and Markdown renders raw HTML:
    # run strings are untrusted, so markup characters become entities.
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


MD_HEAD = (
    ["#", "model", "run", "settings", "overall"]
    + [f"{p} {k}" for p in PERSPECTIVES for k in ("acc", "score")]
    + [
        "valid/n",
        "invalid",
        "refused",
        "errors",
        "failed edits",
        "coverage",
    ]
)


def _md_row(table: LeaderboardTable, row: LeaderboardRow) -> list[str]:
    rank = str(row.rank) if row.rank else ("pub." if row.kind == "reference" else unranked_mark(row))
    cells = [
        rank,
        _md_cell(row.label or row.model),
        _md_cell(row.run_label or row.run_id or row.source or ""),
        _md_cell(settings_cell(row)),
        fmt_num(row.overall),
    ]
    for p in PERSPECTIVES:
        c = row.perspectives[p]
        pct_digits = 0 if row.kind == "reference" else 1
        mark = CAUTION if few_photos(c) else ""
        cells += [
            _with_ci(fmt_pct(c.accuracy, pct_digits), c.accuracy_ci, pct=True)
            + (mark if c.accuracy_ci else ""),
            _with_ci(fmt_num(c.score), c.score_ci, pct=False) + (mark if c.score_ci else ""),
        ]
    tot = counts(row)
    cov = coverage_text(row.coverage)
    if row.coverage is not None and row.coverage.partial:
        cov += " (partial)"
    cells += [
        f"{tot['n_valid']}/{tot['n']}" if tot else "–",
        *(str(tot[k]) if tot else "–" for k in ("n_invalid", "n_refused", "n_error")),
        _failed_cell(row.coverage),
        cov,
    ]
    cells += [fmt_num(metric_value(row, col), 3) for col in table.metric_columns]
    cells += [
        f"${row.cost_usd:.2f}" if row.cost_usd is not None else "–",
        row.date or "–",
        "not ranked" if row.kind == "reference" else _md_cell(vs_text(row)),
    ]
    return cells


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + " --- |" * len(head),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def _md_metrics(metrics: MetricsTable) -> list[str]:
    """The automatic-metrics table in Markdown, its notes below it."""
    lines = ["## Automatic metrics", ""]
    head = ["model", "run", "benchmark", "compared with", "n", "errors"] + [
        _md_cell(c.header) for c in metrics.columns
    ]
    body = []
    for r in metrics.rows:
        cells = [
            _md_cell(r.model),
            _md_cell(r.run_label or r.run_id),
            _md_cell(r.benchmark),
            r.reference,
            str(r.n),
            str(r.n_error),
        ]
        for col in metrics.columns:
            ok = col.reference == r.reference
            ci = r.cis.get(col.name) if ok else None
            mark = CAUTION if ci and r.n_photos is not None and r.n_photos < MIN_PHOTOS else ""
            cells.append(
                _with_ci(fmt_num(r.means.get(col.name) if ok else None, 3), ci, pct=False, digits=3) + mark
            )
        body.append(cells)
    lines += _md_table(head, body)
    lines.append("")
    for r in metrics.rows:
        for why in metrics_notes(r):
            lines.append(f"- {_md_cell(r.run_label or r.run_id)}: {_md_cell(why)}")
    if any(metrics_notes(r) for r in metrics.rows):
        lines.append("")
    if any(c.preservation for c in metrics.columns):
        lines += [PRESERVATION_NOTE, ""]
    if any(r.n_photos is not None and r.n_photos < MIN_PHOTOS for r in metrics.rows):
        lines += [CAUTION_NOTE, ""]
    return lines


def export_markdown(
    tables: list[LeaderboardTable],
    ref: ReferenceTables | None,
    metrics: MetricsTable | None = None,
    unjudged: list[str] | None = None,
) -> str:
    """One Markdown table per judge and rubric (the page's columns), then the metrics table."""
    lines: list[str] = []
    any_pub = False
    for t in tables:
        head = MD_HEAD + [_md_cell(col.header) for col in t.metric_columns] + ["spend", "date", "vs next"]
        on = "" if t.benchmark == REAL_EDIT else f"{_md_cell(t.benchmark)}: "
        lines += [
            f"## {on}Judge {_md_cell(t.judge)}, rubric {_md_cell(t.rubric)} (ranked by {t.rank_by})",
            "",
        ]
        lines += _md_table(head, [_md_row(t, row) for row in [*t.rows, *t.reference_rows]])
        lines.append("")
        any_pub = any_pub or bool(t.reference_rows)
        if t.subset:
            lines += [subset_note(t), ""]
        if any(r.coverage is not None and r.coverage.partial for r in t.rows):
            lines += [PARTIAL_NOTE, ""]
        if any(unranked_mark(r) == "none" for r in t.rows if r.unranked is not None):
            lines += [NO_VALID_NOTE, ""]
        if any(few_photos(c) for r in t.rows for c in r.perspectives.values()):
            lines += [CAUTION_NOTE, ""]
    if not tables:
        lines += ["No judged runs were found.", ""]
        if ref is not None:
            alone = LeaderboardTable(judge=ref.judge, rubric=ref.rubric, rank_by="overall", rows=[])
            lines += [f"## Published numbers (judge {_md_cell(ref.judge)}, not measured here)", ""]
            lines += _md_table(
                MD_HEAD + ["spend", "date", "vs next"], [_md_row(alone, r) for r in reference_rows(ref)]
            )
            lines.append("")
            any_pub = True
    if any_pub and ref is not None:
        lines += [f"Rows marked 'pub.' are published numbers: {_md_cell(_citation_text(ref))}", ""]
    if tables:
        lines += [TEST_NOTE, ""]
    if metrics is not None:
        lines += _md_metrics(metrics)
    if unjudged:
        lines += ["Runs without judgments: " + ", ".join(_md_cell(u) for u in unjudged), ""]
    return "\n".join(lines)


#: The rules, in words, shared by the page and the Markdown export.
PARTIAL_NOTE = (
    "Partial rows have failed edits, judgments of older images (left out), fewer samples than their run "
    "selected, or lack samples other rows cover: they are shown but not ranked, because a mean over a "
    "different sample set is not comparable. A failed edit is counted, not scored as 'no' or 0; rerun "
    "'realedit run' to redo failed edits and 'realedit judge' to judge redone images."
)
#: The mark beside an interval from too few photos, and what it means.
CAUTION = " ⚠"
CAUTION_NOTE = (
    f"⚠: an interval from fewer than {MIN_PHOTOS} source photos; the bootstrap resamples too few photos, "
    "so the interval is too narrow to trust."
)
NO_VALID_NOTE = (
    "Rows ranked 'none' have no valid judgment to rank them by (every reply invalid, refused or failed): "
    "they are listed, not ranked."
)


def subset_note(table: LeaderboardTable) -> str:
    """Why the ranks of a table measured on part of the benchmark stand apart from published numbers."""
    return (
        f"The ranked rows cover {table.ranked_on}: a subset of the benchmark. They are ranked among "
        "themselves only; published full-benchmark numbers are not comparable with them."
    )


TEST_NOTE = (
    "'vs next' tests each ranked row against the next: paired bootstrap over the samples both judged "
    "validly, "
    f"resampling source photos; significant when p < {ALPHA} (not corrected for multiple comparisons). "
    f"With fewer than {MIN_PHOTOS} source photos among those samples no test is run ('{TOO_FEW_PHOTOS}')."
)
PRESERVATION_NOTE = (
    "Metrics 'to source (preservation)' compare the edit with the unedited photo: they reward changing "
    "nothing (an editor that returns its input scores CLIP-I 1.000 and L1 0), so they measure preservation, "
    "not editing quality, and never decide the ranking."
)


def _with_ci(text: str, ci: tuple[float, float] | None, *, pct: bool, digits: int = 2) -> str:
    if ci is None:
        return text
    lo, hi = (fmt_pct(ci[0]), fmt_pct(ci[1])) if pct else (fmt_num(ci[0], digits), fmt_num(ci[1], digits))
    return f"{text} [{lo}, {hi}]"
