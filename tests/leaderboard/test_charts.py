"""The numbers behind the page's charts (drawn by its script; see test_browser.py) and the heat-map scale."""

from __future__ import annotations

import json

import pytest
from report_fixtures import invalidate_judgments, make_dataset, make_run, page_soup

from leaderboard.charts import chart_series, heat_class
from leaderboard.site import build_site
from realedit_bench.schema import JudgeSummary, PerspectiveSummary


def test_a_run_without_numbers_has_chart_data_without_values(tmp_path) -> None:
    data = make_dataset(tmp_path / "data", 1)
    root = make_run(tmp_path / "runs", "empty", 7, 1, data_dir=data, metrics=False)
    invalidate_judgments(root, status="error")  # every call failed: nothing to plot
    site = build_site(tmp_path / "runs", tmp_path / "site", gallery=False)
    assert site.index is not None
    block = page_soup(site.index).select_one("script#chart-data")
    assert block["type"] == "application/json"
    (series,) = json.loads(block.string)["t0"]
    assert series["label"] == "empty" and all(v["hist"] == [0] * 6 for v in series["values"].values())
    assert all(v["score"] == [None, None, None] for v in series["values"].values())


def test_chart_series_rounds_and_leaves_out_missing_perspectives() -> None:
    ps = PerspectiveSummary(
        n=4,
        n_valid=3,
        accuracy=2 / 3,
        accuracy_ci=(0.1, 0.9),
        score_mean=10 / 3,
        score_ci=None,
        score_histogram={"3": 2, "4": 1},
    )
    summary = JudgeSummary(
        run_id="r",
        model="m",
        judge="j/x",
        rubric="r1",
        created_at="2025-01-01T00:00:00+00:00",
        realedit_version="0.1.0",
        n_samples=4,
        perspectives={"quality": ps},
    )
    got = chart_series("/home/ann/m", summary, {"quality": 3})
    assert got["label"] == "~/m"  # the label is redacted like every printed string
    assert list(got["values"]) == ["quality"]
    q = got["values"]["quality"]
    assert q["acc"] == [0.666667, 0.1, 0.9] and q["score"] == [3.333333, None, None]
    assert q["hist"] == [0, 0, 0, 2, 1, 0] and q["photos"] == 3


@pytest.mark.parametrize(
    ("score", "cls"),
    [(None, ""), (0.0, "heat-0"), (0.24, "heat-0"), (2.5, "heat-5"), (4.8, "heat-10"), (5, "heat-10")],
)
def test_heat_class_steps_over_the_score_scale(score, cls) -> None:
    assert heat_class(score) == cls
