"""Find and read the result files under ``--runs``: run directories and plain judged folders.

A **run directory** holds ``manifest.json`` and ``edits.jsonl`` (``realedit run``). A **plain folder**
of edited images judged by ``realedit judge`` holds ``judgments/`` without a manifest; its model name is
the folder name, as ``realedit judge`` records it. Every file is read through the schemas in
``realedit_bench.schema``, so a file from a newer realedit is refused with one clear line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from realedit_bench.errors import ConfigError
from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.schema import (
    EditRow,
    JudgeSummary,
    JudgmentRow,
    MetricSummary,
    RunManifest,
)

SUMMARY_SUFFIX = ".summary.json"


class SampleScores(NamedTuple):
    """One sample's judged values for one perspective, averaged over the ok repeats of ``--samples K``."""

    image_id: str
    category: str
    verdict: float
    score: float


@dataclass
class JudgedSet:
    """One ``judgments/<judge>__<rubric>`` pair of a run: its summary and (lazily) its rows."""

    stem: str
    summary: JudgeSummary
    rows_path: Path
    _rows: list[JudgmentRow] | None = None
    _per_sample: dict[str, dict[str, SampleScores]] = field(default_factory=dict)

    @property
    def rows(self) -> list[JudgmentRow]:
        """Every judgment row (read once; empty when the JSONL file is absent)."""
        if self._rows is None:
            self._rows = read_rows(self.rows_path, JudgmentRow) if self.rows_path.is_file() else []
        return self._rows

    def judged_samples(self) -> dict[str, str]:
        """sample id -> source photo id of every sample with at least one judgment row, whatever its status."""
        return {row.sample_id: row.image_id for row in self.rows}

    def per_sample(self, perspective: str) -> dict[str, SampleScores]:
        """sample id -> mean verdict and score over ok rows of ``perspective`` (computed once)."""
        if perspective in self._per_sample:
            return self._per_sample[perspective]
        acc: dict[str, list] = {}
        for row in self.rows:
            if row.perspective != perspective or row.status != "ok" or row.score is None or row.verdict is None:
                continue
            entry = acc.setdefault(row.sample_id, [row.image_id, row.category, 0.0, 0.0, 0])
            entry[2] += float(row.verdict)
            entry[3] += float(row.score)
            entry[4] += 1
        out = {sid: SampleScores(e[0], e[1], e[2] / e[4], e[3] / e[4]) for sid, e in acc.items()}
        self._per_sample[perspective] = out
        return out


@dataclass
class RunData:
    """Everything the site shows about one run directory or plain folder."""

    root: Path
    run_id: str
    model: str
    manifest: RunManifest | None
    edits: list[EditRow]
    judged: list[JudgedSet] = field(default_factory=list)
    metrics: MetricSummary | None = None


def _judged_sets(root: Path) -> list[JudgedSet]:
    jdir = root / "judgments"
    if not jdir.is_dir():
        return []
    out = []
    for path in sorted(jdir.glob(f"*{SUMMARY_SUFFIX}")):
        stem = path.name[: -len(SUMMARY_SUFFIX)]
        out.append(JudgedSet(stem, read_model(path, JudgeSummary), jdir / f"{stem}.jsonl"))
    return out


def load_run(root: Path) -> RunData | None:
    """Read one run directory or judged plain folder; None when ``root`` holds neither."""
    root = Path(root)
    manifest_path = root / "manifest.json"
    judged = _judged_sets(root)
    metrics_path = root / "metrics_summary.json"
    metrics = read_model(metrics_path, MetricSummary) if metrics_path.is_file() else None
    if manifest_path.is_file():
        manifest = read_model(manifest_path, RunManifest)
        edits_path = root / "edits.jsonl"
        rows = read_rows(edits_path, EditRow) if edits_path.is_file() else []
        # A resumed run may rewrite a sample: the last row wins, as in realedit_bench.inputs.
        edits = list({r.sample_id: r for r in rows}.values())
        return RunData(root, manifest.run_id, manifest.adapter.name, manifest, edits, judged, metrics)
    if judged or metrics is not None:
        model = judged[0].summary.model if judged else (metrics.model if metrics else root.name)
        return RunData(root, root.name, model, None, [], judged, metrics)
    return None


def find_runs(runs: Path, *, must_exist: bool) -> list[RunData]:
    """Every run under ``runs`` (the folder itself, or its direct children), ordered by run id.

    Args:
        runs: a folder of runs, or one run directory.
        must_exist: raise when ``runs`` is absent (the user named it) instead of returning no run.

    Raises:
        ConfigError: ``runs`` is missing although named, or is not a directory.
    """
    runs = Path(runs)
    if not runs.exists():
        if must_exist:
            raise ConfigError(f"--runs {runs} does not exist (give the folder that 'realedit run --out' wrote)")
        return []
    if not runs.is_dir():
        raise ConfigError(f"--runs {runs} is not a directory")
    own = load_run(runs)
    if own is not None:
        return [own]
    found = []
    for child in sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")):
        run = load_run(child)
        if run is not None:
            found.append(run)
    found.sort(key=lambda r: (r.run_id, str(r.root)))
    return found
