"""``realedit report`` on a run with failed edits: counted on its row and in every export, never ranked."""

from __future__ import annotations

import csv
import io

from report_fixtures import make_dataset, make_run, measured_rows, page_soup, read_rows

from leaderboard.site import build_site
from leaderboard.tables import LeaderboardExport
from realedit_bench.schema import EditRow


def test_failed_edits_are_counted_shown_and_not_ranked(tmp_path):
    data = make_dataset(tmp_path / "data", 3)
    make_run(tmp_path / "runs", "good-a", 21, 1, data_dir=data)
    make_run(tmp_path / "runs", "good-b", 21, 2, data_dir=data)
    failing = make_run(tmp_path / "runs", "failing", 21, 3, data_dir=data, fail_rate=0.3, skill=0.95)
    n_failed = sum(e.status != "ok" for e in read_rows(failing / "edits.jsonl", EditRow))
    assert n_failed >= 3
    res = build_site(tmp_path / "runs", tmp_path / "site", formats=["html", "md", "csv", "json"])

    rows = measured_rows(page_soup(res.index))
    tr = rows["0003-run"]
    # The failures are on the row, and the row (best by its judged samples alone) is not ranked.
    assert tr.select_one("td.failed").get_text() == str(n_failed)
    assert "partial" in tr["class"] and tr.select_one("td.rank").get_text() == "–"
    assert f"{n_failed} edits failed" in tr.select_one(".badge.partial")["title"]
    ranks = [rows[r].select_one("td.rank").get_text() for r in ("0001-run", "0002-run")]
    assert ranks in (["1", "2"], ["2", "1"])
    assert rows["0001-run"].select_one("td.failed").get_text() == "0"
    # Exports carry the same count and the same ranking.
    md = res.exports["md"].read_text()
    head = md.splitlines()[2].strip("|").split("|")
    line = next(ln for ln in md.splitlines() if "| 0003-run |" in ln)
    cells = line.strip().strip("|").split("|")
    assert cells[[h.strip() for h in head].index("failed edits")].strip() == str(n_failed)
    assert cells[0].strip() == "partial"
    flat = {r["run_id"]: r for r in csv.DictReader(io.StringIO(res.exports["csv"].read_text()))}
    assert flat["0003-run"]["failed_edits"] == str(n_failed) and flat["0003-run"]["rank"] == ""
    doc = LeaderboardExport.model_validate_json(res.exports["json"].read_text())
    row = next(r for r in doc.tables[0].rows if r.run_id == "0003-run")
    assert row.rank is None and row.coverage is not None and row.coverage.n_failed_edits == n_failed


def test_edits_a_paid_api_refused_are_counted_and_the_row_stays_ranked(tmp_path):
    from report_fixtures import write_rows

    from realedit_bench.schema import JudgmentRow
    from realedit_bench.schema.run import ApiCall

    data = make_dataset(tmp_path / "data", 3)
    make_run(tmp_path / "runs", "good-a", 21, 1, data_dir=data)
    api = make_run(tmp_path / "runs", "api-editor", 21, 2, data_dir=data)
    edits = read_rows(api / "edits.jsonl", EditRow)
    refused = {e.sample_id for e in edits[:3]}
    edits = [e.model_copy(update={"status": "refused", "output": None, "output_sha256": None, "size": None,
                                  "error": "refused: content policy", "api": ApiCall(calls=1, cost_usd=0.0)})
             if e.sample_id in refused else e for e in edits]
    write_rows(api / "edits.jsonl", edits)
    judgments = next((api / "judgments").glob("*.jsonl"))
    write_rows(judgments, [r for r in read_rows(judgments, JudgmentRow) if r.sample_id not in refused])
    res = build_site(tmp_path / "runs", tmp_path / "site", formats=["html", "md", "csv"])

    tr = measured_rows(page_soup(res.index))["0002-run"]
    # A refusal is the editor's final answer: shown beside the failed edits, no reason to leave it unranked.
    assert tr.select_one("td.failed").get_text(" ", strip=True) == "0 +3 refused"
    assert "partial" not in tr.get("class", []) and tr.select_one("td.rank").get_text() in ("1", "2")
    assert tr.select_one("td.coverage").get_text().startswith("21 of ")
    flat = {r["run_id"]: r for r in csv.DictReader(io.StringIO(res.exports["csv"].read_text()))}
    assert flat["0002-run"]["refused_edits"] == "3" and flat["0002-run"]["failed_edits"] == "0"
    md = next(ln for ln in res.exports["md"].read_text().splitlines() if "| 0002-run |" in ln)
    assert "0 (+3 refused)" in md
