"""Charts of the leaderboard page."""

from __future__ import annotations

import json
import warnings

from report_fixtures import make_dataset, make_run, page_soup

from leaderboard.site import build_site


def test_a_run_without_numbers_draws_charts_without_warnings(tmp_path) -> None:
    data = make_dataset(tmp_path / "data", 1)
    root = make_run(tmp_path / "runs", "empty", 7, 1, data_dir=data, metrics=False)
    summary = next((root / "judgments").glob("*.summary.json"))
    d = json.loads(summary.read_text())
    d["perspectives"], d["per_category"] = {}, {}  # every call failed: nothing to plot
    summary.write_text(json.dumps(d))
    jsonl = next((root / "judgments").glob("*.jsonl"))
    rows = [json.loads(x) for x in jsonl.read_text().splitlines()]
    for r in rows:
        r.update(status="error", verdict=None, score=None, reason=None)
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "No artists with labels" UserWarning would raise
        site = build_site(tmp_path / "runs", tmp_path / "site", gallery=False)
    assert site.index is not None and page_soup(site.index).select("svg")
