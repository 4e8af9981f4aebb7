"""Judgment records: version 3 rows must name the edited file they judged, and say who served them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from realedit_bench.schema.judge import JudgeSummary, JudgmentRow, Usage

ROW = dict(
    sample_id="1-local",
    image_id="1",
    category="local",
    model="m",
    perspective="quality",
    status="ok",
    verdict=True,
    score=4.0,
    judge="openai/x",
    rubric="realedit-v1",
    finished_at="2025-01-01T00:00:00+00:00",
)


def test_a_judgment_row_is_version_3_and_must_name_the_edited_file() -> None:
    with pytest.raises(ValidationError, match="edited_sha256"):
        JudgmentRow(**ROW)
    row = JudgmentRow(**ROW, edited_sha256="e" * 64)
    assert row.schema_version == JudgmentRow.SCHEMA_VERSION == 3
    assert row.endpoint is None  # a row without a call names no endpoint
    assert JudgmentRow(**ROW, edited_sha256="e" * 64, endpoint="azure r.openai.azure.com").endpoint == (
        "azure r.openai.azure.com")
    assert (
        JudgmentRow(**{**ROW, "status": "error"}, edited_sha256=None).edited_sha256 is None
    )  # file unreadable


def test_every_judge_record_names_realedit_judge_as_its_writer() -> None:
    for cls in (JudgmentRow, JudgeSummary, Usage):
        assert cls.WRITTEN_BY == "realedit judge"


def test_usage_adds_up() -> None:
    total = Usage(calls=1, input_tokens=10, output_tokens=2, cost_usd=0.5)
    total.add(Usage(calls=2, input_tokens=5, output_tokens=1, cost_usd=0.25))
    assert (total.calls, total.input_tokens, total.output_tokens, total.cost_usd) == (3, 15, 3, 0.75)
