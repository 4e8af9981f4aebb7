"""Pydantic schemas of every result file (one version each: see :mod:`realedit_bench.schema.base`)."""

from realedit_bench.schema.agree import AgreementReport
from realedit_bench.schema.base import (
    CATEGORIES,
    PERSPECTIVES,
    Category,
    Perspective,
    Row,
    is_category,
    is_perspective,
)
from realedit_bench.schema.judge import ItemStat, JudgeSummary, JudgmentRow, PerspectiveSummary, Usage
from realedit_bench.schema.metrics import MetricRow, MetricSummary
from realedit_bench.schema.run import AdapterRef, ApiCall, BenchmarkRef, EditRow, ModelInput, RunManifest

__all__ = [
    "AgreementReport",
    "ItemStat",
    "CATEGORIES",
    "PERSPECTIVES",
    "AdapterRef",
    "ApiCall",
    "BenchmarkRef",
    "Category",
    "EditRow",
    "JudgeSummary",
    "JudgmentRow",
    "MetricRow",
    "MetricSummary",
    "ModelInput",
    "Perspective",
    "PerspectiveSummary",
    "Row",
    "RunManifest",
    "Usage",
    "is_category",
    "is_perspective",
]
