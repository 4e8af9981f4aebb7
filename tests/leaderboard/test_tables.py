"""The ranking rules, read back from the page a user opens (and its exports): who is ranked, who is shown
apart and why, which intervals carry a caution, and what "vs next" compared."""

from __future__ import annotations

import csv
import io

import pytest
from report_fixtures import invalidate_judgments, make_dataset, make_run, measured_rows, page_soup

from leaderboard.site import build_site
from leaderboard.tables import LeaderboardExport


def _build(runs, out, **kw):
    result = build_site(runs, out, formats=["html", "json", "md", "csv"], gallery=False, charts=False, **kw)
    doc = LeaderboardExport.model_validate_json(result.exports["json"].read_text())
    return result, page_soup(result.index), doc


@pytest.fixture(scope="module")
def no_valid(tmp_path_factory):
    """Two judged 70-sample runs over 10 photos, and one whose 14 samples' 42 replies were all invalid."""
    base = tmp_path_factory.mktemp("novalid")
    data = make_dataset(base / "data", 10)
    make_run(base / "runs", "good", 70, 1, data_dir=data, skill=0.7, run_id="a-good")
    make_run(base / "runs", "bad", 70, 2, data_dir=data, skill=0.3, run_id="b-bad")
    # As the issue saw it: 0 of 42 valid judgments, over samples the other runs share.
    root = make_run(base / "runs", "unparsed", 70, 3, data_dir=data, run_id="c-unparsed")
    invalidate_judgments(root)
    return _build(base / "runs", base / "site")


def test_a_row_without_valid_judgments_is_not_ranked(no_valid):
    result, soup, doc = no_valid
    rows = {r.run_id: r for r in doc.tables[0].rows}
    assert [rows["a-good"].rank, rows["b-bad"].rank, rows["c-unparsed"].rank] == [1, 2, None]
    assert rows["c-unparsed"].unranked.startswith("no valid judgments (")
    assert rows["c-unparsed"].vs_next is None and rows["b-bad"].vs_next is None  # the last ranked row
    assert rows["a-good"].vs_next.next_run_id == "b-bad"
    trs = measured_rows(soup)
    tr = trs["c-unparsed"]
    assert tr.select_one("td.rank").get_text() == "–" and "novalid" in tr["class"]
    assert tr.find_parent("tbody")["class"] == ["measured", "unranked"]
    assert tr.select_one(".badge.novalid").get_text() == "no valid judgments"
    assert tr.select_one("td.vs").get_text(strip=True) == "not ranked (no valid judgments)"
    assert [t["data-run"] for t in soup.select("tbody.ranked tr")] == ["a-good", "b-bad"]
    note = soup.select_one(".novalid-note").get_text(" ", strip=True)
    assert "c-unparsed" in note and "invalid" in note and "a-good" not in note
    assert "| none | unparsed | c-unparsed |" in result.exports["md"].read_text()
    by_run = {r["run_id"]: r for r in csv.DictReader(io.StringIO(result.exports["csv"].read_text()))}
    assert by_run["c-unparsed"]["rank"] == "" and by_run["c-unparsed"]["unranked"].startswith("no valid")


def test_a_row_without_one_perspective_is_not_ranked_by_the_overall_score(tmp_path):
    data = make_dataset(tmp_path / "data", 10)
    make_run(tmp_path / "runs", "good", 70, 1, data_dir=data, run_id="a-good")
    root = make_run(tmp_path / "runs", "blind", 70, 2, data_dir=data, run_id="b-blind")
    invalidate_judgments(root, perspective="preserving", status="refused")
    _result, soup, doc = _build(tmp_path / "runs", tmp_path / "site")
    blind = next(r for r in doc.tables[0].rows if r.run_id == "b-blind")
    assert blind.rank is None and blind.unranked == (
        "no valid preserving judgment: no overall score to rank it by"
    )
    # Ranked by one perspective it has, the same row is ranked.
    _r2, _s2, by_quality = _build(tmp_path / "runs", tmp_path / "site-q", rank_by="quality")
    assert {r.run_id: r.rank for r in by_quality.tables[0].rows}["b-blind"] in (1, 2)
    assert measured_rows(soup)["b-blind"].find_parent("tbody")["class"] == ["measured", "unranked"]


def test_partial_rows_are_shown_apart_under_their_own_heading(tmp_path):
    data = make_dataset(tmp_path / "data", 10)
    make_run(tmp_path / "runs", "full", 70, 1, data_dir=data, run_id="a-full")
    make_run(tmp_path / "runs", "other", 70, 2, data_dir=data, run_id="b-other")
    make_run(
        tmp_path / "runs", "stopped", 14, 3, data_dir=data, skill=0.99, run_id="c-stopped", n_selected=70
    )
    _result, soup, _doc = _build(tmp_path / "runs", tmp_path / "site")
    table = soup.select_one("table.leaderboard")
    bodies = [(b["class"], [tr.get("data-run") for tr in b.find_all("tr")]) for b in table.find_all("tbody")]
    assert [c for c, _ in bodies] == [
        ["group"],
        ["measured", "ranked"],
        ["group"],
        ["measured", "unranked"],
        ["group", "ref-head"],
        ["reference"],
    ]
    assert sorted(bodies[1][1]) == ["a-full", "b-other"] and bodies[3][1] == ["c-stopped"]
    heads = [b.get_text(" ", strip=True) for b in table.select("tbody.group")]
    assert heads[0].startswith("Ranked · 2 runs on 70 of 560 samples, 10 photos")
    assert heads[1].startswith("Not ranked · 1 run") and heads[2].startswith("Published in")
    assert measured_rows(soup)["c-stopped"].select_one(".badge.partial") is not None


def test_a_subset_run_is_never_ranked_among_full_benchmark_rows(tmp_path):
    data = make_dataset(tmp_path / "data", 10)
    # A benchmark of 70 samples, fully covered by one run; another run did 14 of them.
    make_run(tmp_path / "runs", "full", 70, 1, data_dir=data, skill=0.3, run_id="a-full", n_total=70)
    make_run(tmp_path / "runs", "quick", 14, 2, data_dir=data, skill=0.99, run_id="b-quick", n_total=70)
    _result, _soup, doc = _build(tmp_path / "runs", tmp_path / "site")
    rows = {r.run_id: r for r in doc.tables[0].rows}
    assert rows["b-quick"].overall > rows["a-full"].overall  # it would rank first by its mean
    assert rows["a-full"].rank == 1 and rows["b-quick"].rank is None
    assert "lacks 56 samples other rows cover" in rows["b-quick"].unranked
    assert not doc.tables[0].subset and doc.tables[0].ranked_on == "70 of 70 samples, 10 photos"


def test_ranks_on_part_of_the_benchmark_say_so_apart_from_the_published_rows(tmp_path):
    data = make_dataset(tmp_path / "data", 2)
    make_run(tmp_path / "runs", "quick", 14, 1, data_dir=data, skill=0.99, run_id="a-quick")
    result, soup, doc = _build(tmp_path / "runs", tmp_path / "site")
    table = doc.tables[0]
    assert table.subset and table.ranked_on == "14 of 560 samples, 2 photos"
    assert table.rows[0].rank == 1 and len(table.reference_rows) == 10
    head = soup.select_one("table.leaderboard tbody.group").get_text(" ", strip=True)
    assert "subset" in head and "not comparable with full-benchmark numbers" in head
    ref_head = soup.select_one("table.leaderboard tbody.ref-head").get_text(" ", strip=True)
    assert "all 560 samples" in ref_head and "not comparable with the subset above" in ref_head
    assert "a subset of the benchmark" in soup.select_one("p.subset-note").get_text()
    assert "a subset of the benchmark" in result.exports["md"].read_text()


def test_intervals_from_fewer_than_10_photos_carry_a_caution(tmp_path):
    data = make_dataset(tmp_path / "data", 10)
    make_run(tmp_path / "runs", "wide", 70, 1, data_dir=data, run_id="a-wide")
    make_run(tmp_path / "runs2", "narrow", 14, 2, data_dir=data, run_id="b-narrow", n_selected=14)
    wide, wide_soup, _ = _build(tmp_path / "runs", tmp_path / "site")
    narrow, narrow_soup, doc = _build(tmp_path / "runs2", tmp_path / "site2")
    assert not wide_soup.select("td abbr.caution")
    assert wide_soup.select_one(".caution-note") is None and "⚠" not in wide.exports["md"].read_text()
    tr = measured_rows(narrow_soup)["b-narrow"]
    marks = tr.select("td.acc abbr.caution, td.score abbr.caution")
    assert len(marks) == 6 and all("from 2 photos" in m["title"] for m in marks)
    assert doc.tables[0].rows[0].perspectives["quality"].n_photos == 2
    assert "fewer than 10 source photos" in narrow_soup.select_one(".caution-note").get_text()
    # The metrics table's intervals too: its samples come from 2 photos.
    assert narrow_soup.select("table.metrics td.metric abbr.caution")
    md = narrow.exports["md"].read_text()
    assert "] ⚠ |" in md and "⚠: an interval from fewer than 10 source photos" in md


def test_vs_next_compares_the_samples_valid_in_both_and_says_so(tmp_path):
    data = make_dataset(tmp_path / "data", 10)
    make_run(tmp_path / "runs", "strong", 70, 1, data_dir=data, skill=0.95, run_id="a-strong")
    weak = make_run(tmp_path / "runs", "weak", 70, 2, data_dir=data, skill=0.05, run_id="b-weak")
    # 21 samples (3 photos) of the weaker run have no valid judgment: they cannot be compared.
    lost = {
        f"{photo}-{c}"
        for photo in (1, 2, 3)
        for c in ("local", "remove", "add", "texture", "background", "global", "style")
    }
    invalidate_judgments(weak, samples=lost)
    _result, soup, doc = _build(tmp_path / "runs", tmp_path / "site")
    first = doc.tables[0].rows[0]
    assert first.run_id == "a-strong" and first.vs_next.next_run_id == "b-weak"
    assert first.vs_next.n_shared == 70 and first.vs_next.n_common < 70 - 21 + 1
    assert first.vs_next.n_photos == 7 and first.vs_next.compared == "overall score"
    text = measured_rows(soup)["a-strong"].select_one("td.vs").get_text(" ", strip=True)
    assert f"on {first.vs_next.n_common} samples valid in both, 7 photos" in text and "overall score" in text


def test_vs_next_says_when_no_sample_is_valid_in_both(tmp_path):
    data = make_dataset(tmp_path / "data", 10)
    cats = ("local", "remove", "add", "texture", "background", "global", "style")
    first_half = {f"{p}-{c}" for p in range(1, 6) for c in cats}
    a = make_run(tmp_path / "runs", "a", 70, 1, data_dir=data, skill=0.9, run_id="a")
    b = make_run(tmp_path / "runs", "b", 70, 2, data_dir=data, skill=0.1, run_id="b")
    invalidate_judgments(a, samples={f"{p}-{c}" for p in range(6, 11) for c in cats})
    invalidate_judgments(b, samples=first_half)
    _result, soup, doc = _build(tmp_path / "runs", tmp_path / "site")
    top = doc.tables[0].rows[0]
    assert top.vs_next.n_common == 0 and top.vs_next.n_shared == 70 and top.vs_next.diff is None
    cell = measured_rows(soup)[top.run_id].select_one("td.vs").get_text(" ", strip=True)
    assert cell.startswith("no sample valid in both rows (70 samples judged by both)")
