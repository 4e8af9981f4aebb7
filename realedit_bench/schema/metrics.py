"""Records of ``realedit metrics``: one row per sample (``metrics.jsonl``) and the summary.

A row holds every metric measured so far on one edited image: a run that computes a subset of the
metrics merges its values into the row, so ``metrics.jsonl`` keeps one row per sample (a run appends
merged rows as it goes, then rewrites the file atomically with the newest row of each sample; readers
that meet more than one row of a sample, after a crash, take the last).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from realedit_bench.schema.base import Row

#: What metrics compare an edit with: the source photo (Real-Edit) or a ground-truth target (MagicBrush).
Reference = Literal["source", "target"]
REFERENCES: tuple[Reference, ...] = ("source", "target")


class MetricRow(Row):
    """Automatic metrics of one edited sample against its reference."""

    WRITTEN_BY: ClassVar[str] = "realedit metrics"

    sample_id: str = Field(description="Sample id.")
    image_id: str = Field(description="Source photo id (for bootstrap by photo).")
    category: str = Field(description="Edit type (benchmark specific).")
    reference: Reference = Field(
        description="source: compared with the input photo (a preservation measure, Real-Edit); "
        "target: compared with a ground-truth edit (MagicBrush)."
    )
    status: Literal["ok", "error"] = Field(description="ok or error.")
    values: dict[str, float] = Field(default_factory=dict, description="metric name -> value.")
    error: str | None = Field(default=None, description="Why the row failed.")
    image_sha256: str | None = Field(default=None, description="sha256 of the edited image measured.")
    reference_sha256: str | None = Field(
        default=None, description="sha256 of the reference image it was compared with."
    )
    metrics: list[str] = Field(
        default_factory=list,
        description="Metrics measured on this image and reference; 'values' holds those that applied "
        "(e.g. CLIP-T needs a caption).",
    )
    metric_models: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Metric name -> {id, revision, path, sha256, library} of the model that measured it "
        "(pixel metrics have none). Rows written before per-metric merging key it by encoder ('clip', "
        "'dino'); readers accept both.",
    )
    finished_at: str = Field(description="UTC time the row was written.")


class MetricSummary(Row):
    """``metrics_summary.json``: mean of each metric with a 95% bootstrap interval."""

    WRITTEN_BY: ClassVar[str] = "realedit metrics"

    run_id: str = Field(description="Run directory name.")
    model: str = Field(description="Editing model.")
    benchmark: str = Field(description="Benchmark name.")
    reference: Reference = Field(description="What the edits were compared with.")
    metric_models: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Metric name -> {id, revision, path, sha256, library} of the model behind its values "
        "(pixel metrics have none; summaries written before per-metric merging key it by encoder).",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="metric -> display label; against the source photo the image metrics are labelled "
        "as preservation measures, e.g. 'CLIP-I to source (preservation)'.",
    )
    higher_is_better: dict[str, bool] = Field(
        default_factory=dict, description="metric -> direction (False for L1/L2)."
    )
    n: int = Field(description="Samples measured.")
    n_error: int = Field(default=0, description="Samples that failed.")
    n_missing: int = Field(default=0, description="Benchmark samples without a usable edited image.")
    counts: dict[str, int] = Field(
        default_factory=dict, description="metric -> ok rows holding a value for it."
    )
    means: dict[str, float] = Field(
        default_factory=dict,
        description="metric -> mean over ok rows; every metric with values in metrics.jsonl, not only the "
        "ones the last command computed.",
    )
    cis: dict[str, tuple[float, float]] = Field(default_factory=dict, description="metric -> 95% interval.")
    per_category: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="category -> metric -> mean over ok rows of that category."
    )
    excluded: dict[str, str] = Field(
        default_factory=dict,
        description="metric -> why its values are left out of 'means' (e.g. measured by two different "
        "model versions after an interrupted run; rerun that metric).",
    )
    bootstrap: dict[str, Any] = Field(
        default_factory=dict, description="Interval method: {resamples, level, seed, unit: 'source photo'}."
    )
    command: list[str] = Field(default_factory=list, description="The metrics command line.")
    created_at: str = Field(description="UTC time written.")
    realedit_version: str = Field(description="Version of realedit.")
