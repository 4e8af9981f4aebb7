"""The comparison page's data: what the browser picks a pair from (the view itself: test_browser.py)."""

from __future__ import annotations

import json

import pytest
from report_fixtures import JUDGE, make_dataset, make_run, page_soup, read_rows

from leaderboard.site import build_site
from realedit_bench.schema import PERSPECTIVES, JudgmentRow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("compare")
    data = make_dataset(base / "data", 2)
    make_run(base / "runs", "alpha", 14, 1, data_dir=data, run_id="a-run")
    make_run(base / "runs", "beta", 14, 2, data_dir=data, run_id="b-run")
    # Judged by another judge: a table of its own, with one run, so nothing to compare there.
    make_run(base / "runs", "gamma", 14, 3, data_dir=data, run_id="c-run", judge="openai/other")
    build_site(base / "runs", base / "site")
    return base


def _data(site):
    soup = page_soup(site / "site" / "compare.html")
    return soup, json.loads(soup.select_one("script#compare-data").string)


def test_one_entry_per_table_with_two_runs(site):
    soup, tables = _data(site)
    assert [t["id"] for t in tables] == ["t0"] and JUDGE in tables[0]["title"]
    assert [r["run"] for r in tables[0]["runs"]] == [
        r["data-run"] for r in page_soup(site / "site" / "index.html").select("#t0-table tbody.measured tr")
    ]
    assert "compare.html" in [a["href"] for a in soup.select("header nav a")]
    scripts = [s for s in soup.find_all("script") if s.get("type") != "application/json"]
    assert len(scripts) == 1  # the site's script draws the view


def test_values_are_each_samples_judgments(site):
    _soup, tables = _data(site)
    run = next(r for r in tables[0]["runs"] if r["run"] == "a-run")
    rows = read_rows(next((site / "runs" / "a-run" / "judgments").glob("*.jsonl")), JudgmentRow)
    checked = 0
    for row in rows:
        k = PERSPECTIVES.index(row.perspective)
        got = run["values"].get(row.sample_id)
        if row.status == "ok":
            assert got[2 * k : 2 * k + 2] == [float(row.verdict), row.score]
            checked += 1
        elif got is not None:
            assert got[2 * k : 2 * k + 2] == [None, None]
    assert checked > 30


def test_samples_in_benchmark_order_with_images_and_gallery_links(site):
    _soup, tables = _data(site)
    samples = tables[0]["samples"]
    assert [s[0] for s in samples[:8]] == [
        "1-local",
        "1-remove",
        "1-add",
        "1-texture",
        "1-background",
        "1-global",
        "1-style",
        "2-local",
    ]
    sid, photo, category, instruction, thumb, full, href = samples[0]
    assert (photo, category) == ("1", "local") and instruction == "make the local part of photo 1 nicer"
    assert (site / "site" / "thumbs" / thumb).is_file() and (site / "site" / "full" / full).is_file()
    page, anchor = href.split("#")
    assert page_soup(site / "site" / page).select_one(f"section#{anchor}")["data-category"] == "local"
    for run in tables[0]["runs"]:
        assert set(run["images"]) == {s[0] for s in samples}
        assert all((site / "site" / "thumbs" / t).is_file() for t, _f in run["images"].values())


def test_no_comparison_page_with_a_single_run(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    make_run(tmp_path / "runs", "alone", 7, 1, data_dir=data)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "compare.html").write_text("stale")  # from an earlier build with two runs
    result = build_site(tmp_path / "runs", tmp_path / "site")
    assert not (tmp_path / "site" / "compare.html").exists()
    assert "compare.html" not in [a["href"] for a in page_soup(result.index).select("a")]
