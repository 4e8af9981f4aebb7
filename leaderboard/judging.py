"""The index's "Judges" section: judge panels, canaries, drift checks and calibrated scores, and the drift
banner over a table whose rows were judged by a drifted judge.

Everything is read from the result files ``realedit judge`` and ``realedit agree`` wrote, through their
schemas (:mod:`realedit_bench.schema.trust`): ``judgments/panel__*.panel.json``,
``judgments/canaries/*.canaries.json``, ``judgments/<stem>.drift.json`` of each run, and the calibration
file named with ``realedit report --calibration``. How a table's judges rank its models is computed here
from the rows (:func:`realedit_bench.judges.panel_stats.model_rank_agreement`), since it needs every run.
Calibrated scores are labelled as such and shown beside the raw ones, never in their place.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from leaderboard.collect import JudgedSet, RunData
from leaderboard.redact import redact
from realedit_bench.agreement.calibration import apply_map
from realedit_bench.jsonio import read_model
from realedit_bench.judges.panel_stats import model_rank_agreement
from realedit_bench.schema.agree import Stat
from realedit_bench.schema.base import PERSPECTIVES
from realedit_bench.schema.trust import (
    CalibrationFile,
    CanaryReport,
    DriftReport,
    JudgeCalibration,
    PanelSummary,
)
from realedit_bench.stats.bootstrap import cluster_mean_ci

#: A table view's members: (run, judged set) per measured row.
Members = list[tuple[RunData, JudgedSet]]


class PanelView(NamedTuple):
    """One panel summary of one run."""

    run: RunData
    summary: PanelSummary


class CanaryView(NamedTuple):
    """One judge's canary report on one run."""

    run: RunData
    report: CanaryReport


class DriftView(NamedTuple):
    """One judge's drift report on one run."""

    run: RunData
    report: DriftReport


def _read(paths: Sequence[Path], model: type) -> list[Any]:
    return [read_model(p, model) for p in sorted(paths)]


def drift_report(run: RunData, js: JudgedSet) -> DriftReport | None:
    """The drift report of ``js``'s judge on ``run``, if a drift check was made."""
    path = run.root / "judgments" / f"{js.stem}.drift.json"
    return read_model(path, DriftReport) if path.is_file() else None


def drift_banner(members: Members) -> list[str]:
    """One line per row of a table judged by a judge whose latest drift check found drift."""
    out = []
    for run, js in members:
        report = drift_report(run, js)
        if report is not None and report.latest.drifted:
            named = run.display if run.display == run.label else f"{run.display} ({run.label})"
            out.append(
                f"{named}: {redact(js.summary.judge)} has drifted since these rows were "
                f"judged (check of {report.latest.checked_at}: {report.latest.why}); rejudge before "
                "comparing"
            )
    return out


def _scores(js: JudgedSet, perspective: str) -> list[tuple[str, float]]:
    return [(s.image_id, s.score) for s in js.per_sample(perspective).values()]


def rank_agreement(runs: Sequence[RunData]) -> list[dict[str, Any]]:
    """How the judges of the panels rank the models of the runs they judged, per benchmark and perspective
    (models judged by both judges of a pair; two models or more)."""
    out = []
    by_bench: dict[str, list[RunData]] = defaultdict(list)
    for run in runs:
        if panels_of(run):
            by_bench[run.benchmark].append(run)
    for bench, members in sorted(by_bench.items()):
        judges = {j.judge for run in members for p in panels_of(run) for j in p.summary.judges}
        for p in PERSPECTIVES:
            scores: dict[str, dict[str, list[tuple[str, float]]]] = defaultdict(dict)
            for run in members:
                for js in run.judged:
                    if js.summary.judge in judges:
                        scores[js.summary.judge][run.display] = _scores(js, p)
            if len(scores) >= 2:
                out += [{**pair._asdict(), "benchmark": bench}
                        for pair in model_rank_agreement(dict(scores), p, n_resamples=1000)
                        if len(pair.models) >= 2]  # one model has no order to agree on
    return out


def panels_of(run: RunData) -> list[PanelView]:
    """The panel summaries of a run."""
    return [
        PanelView(run, s)
        for s in _read(list((run.root / "judgments").glob("panel__*.panel.json")), PanelSummary)
    ]


def canaries_of(run: RunData) -> list[CanaryView]:
    """The canary reports of a run."""
    return [
        CanaryView(run, r)
        for r in _read(list((run.root / "judgments" / "canaries").glob("*.canaries.json")), CanaryReport)
    ]


def drifts_of(run: RunData) -> list[DriftView]:
    """The drift reports of a run."""
    return [
        DriftView(run, r) for r in _read(list((run.root / "judgments").glob("*.drift.json")), DriftReport)
    ]


def _calibration_for(cal: CalibrationFile, js: JudgedSet) -> JudgeCalibration | None:
    """The calibration of ``js``'s judge (the name ``realedit agree`` gave it, less its bracketed notes)."""
    for jc in cal.judges:
        if jc.judge.split(" [")[0] == js.summary.judge and jc.rubric in (None, js.summary.rubric):
            return jc
    return None


def _mean(values: list[float], photos: list[str]) -> Stat:
    ci = cluster_mean_ci(values, photos)
    if ci is None:
        return Stat(value=None, n=0)
    return Stat(value=ci.estimate, low=ci.low, high=ci.high, n=len(values))


def calibrated_rows(members: Members, labels: list[str], cal: CalibrationFile) -> list[dict[str, Any]]:
    """Per row of a table whose judge the calibration covers: raw and calibrated mean scores."""
    out = []
    for (_run, js), label in zip(members, labels, strict=True):
        jc = _calibration_for(cal, js)
        if jc is None:
            continue
        cells = {}
        for p, m in jc.perspectives.items():
            pairs = _scores(js, p)
            photos = [ph for ph, _ in pairs]
            raw = [s for _, s in pairs]
            cells[p] = (_mean(raw, photos), _mean(apply_map(m.x, m.y, raw).tolist(), photos), m)
        out.append({"label": label, "cells": cells})
    return out


def has_judging(runs: Sequence[RunData], calibration: Path | None) -> bool:
    """True when the "Judges" section has something to show (the navigation links it then)."""
    return calibration is not None or any(
        next((r.root / "judgments").glob(pattern), None) is not None
        for r in runs
        for pattern in ("panel__*.panel.json", "canaries/*.canaries.json", "*.drift.json")
    )


def judging_context(
    views: list[dict[str, Any]], built: list[Members], runs: Sequence[RunData], calibration: Path | None
) -> dict[str, Any]:
    """What the "Judges" section shows; sets each table view's ``drift`` banner and ``calibrated`` rows."""
    cal = read_model(calibration, CalibrationFile) if calibration is not None else None
    for v, members in zip(views, built, strict=True):
        v["drift"] = drift_banner(members)
        v["calibrated"] = calibrated_rows(members, v["labels"], cal) if cal is not None else []
    panels = [p for r in runs for p in panels_of(r)]
    canaries = [c for r in runs for c in canaries_of(r)]
    drifts = [d for r in runs for d in drifts_of(r)]
    shown = bool(panels or canaries or drifts or cal is not None)
    return {
        "panels": panels,
        "rank_pairs": rank_agreement(runs) if panels else [],
        "canaries": canaries,
        "drifts": drifts,
        "calibration": cal,
        "calibration_file": calibration.name if calibration is not None else None,
        "judging": shown,
    }
