"""``realedit report`` on a run whose images were redone after judging: the judgments of the older images
are left out of every number and named (the rule that finds them is :mod:`realedit_bench.judges.stale`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cli_runner import realedit_cli
from PIL import Image
from report_fixtures import make_dataset, make_run, measured_rows, page_soup, read_rows, write_rows

from leaderboard.site import build_site
from leaderboard.tables import LeaderboardExport
from realedit_bench.schema import PERSPECTIVES, EditRow, JudgeSummary, JudgmentRow

LATER = "2025-03-02T09:00:00+00:00"


def _sent(file_sha: str) -> str:
    """What a judge that re-encodes images records: a sha of other bytes than the file's."""
    return hashlib.sha256(f"png:{file_sha}".encode()).hexdigest()


def _record_shas(run: Path) -> None:
    """Give the fixture's rows real hashes: the file's sha on edit rows and as the judged file on judgment
    rows, beside the sha of the re-encoded bytes the judge sent."""
    edits = read_rows(run / "edits.jsonl", EditRow)
    shas = {}
    for i, e in enumerate(edits):
        if e.status == "ok":
            shas[e.sample_id] = hashlib.sha256((run / e.output).read_bytes()).hexdigest()
            edits[i] = e.model_copy(update={"output_sha256": shas[e.sample_id]})
    write_rows(run / "edits.jsonl", edits)
    (jpath,) = [p for p in (run / "judgments").glob("*.jsonl")]
    rows = read_rows(jpath, JudgmentRow)
    write_rows(jpath, [
        r.model_copy(update={"image_sha256": [_sent(shas[r.sample_id])], "edited_sha256": shas[r.sample_id]})
        for r in rows
    ])


def _redo(run: Path, sample_ids: list[str]) -> None:
    """What 'realedit run' does when it redoes samples after judging: new images, new edit rows."""
    edits = {e.sample_id: e for e in read_rows(run / "edits.jsonl", EditRow)}
    with open(run / "edits.jsonl", "a") as fh:
        for sid in sample_ids:
            e = edits[sid]
            Image.new("RGB", (24, 24), (9, 200, 9)).save(run / e.output)
            sha = hashlib.sha256((run / e.output).read_bytes()).hexdigest()
            fh.write(
                e.model_copy(update={"output_sha256": sha, "finished_at": LATER}).model_dump_json() + "\n"
            )


def test_judgments_of_redone_images_are_left_out_and_reported(tmp_path):
    data = make_dataset(tmp_path / "data", 3)
    run = make_run(tmp_path / "runs", "m", 21, 5, data_dir=data)
    other = make_run(tmp_path / "runs", "n", 21, 6, data_dir=data)
    for r in (run, other):
        _record_shas(r)
    redone = ["1-local", "2-style", "3-remove"]
    _redo(run, redone)
    (jpath,) = [p for p in (run / "judgments").glob("*.jsonl")]
    rows = read_rows(jpath, JudgmentRow)
    current = [r for r in rows if r.sample_id not in redone]
    file_summary = JudgeSummary.model_validate_json(
        next((run / "judgments").glob("*.summary.json")).read_text()
    )

    res = build_site(tmp_path / "runs", tmp_path / "site", formats=["html", "md", "json"])
    page = page_soup(res.index)
    tr = measured_rows(page)[run.name]
    for p in PERSPECTIVES:
        ok = [r.score for r in current if r.perspective == p and r.status == "ok"]
        expect = sum(ok) / len(ok)
        shown = float(tr.select_one(f'td.score[data-perspective="{p}"]')["data-value"])
        assert shown == pytest.approx(expect, abs=1e-6)
    # The test has teeth: the summary file (written at judge time) holds other numbers.
    assert any(
        float(tr.select_one(f'td.score[data-perspective="{p}"]')["data-value"])
        != pytest.approx(file_summary.perspectives[p].score_mean, abs=1e-6)
        for p in PERSPECTIVES
    )
    n_stale = 3 * len(PERSPECTIVES)
    assert f"{n_stale} judgments are of older images" in page.select_one(".stale-note").get_text(" ")
    assert "rerun realedit judge" in page.select_one(".stale-note").get_text(" ")
    n_valid = len(current) - sum(r.status != "ok" for r in current)
    assert "partial" in tr["class"] and tr.select_one("td.valid").get_text() == f"{n_valid} / {len(current)}"
    # A judge that re-encodes never sends the file's bytes: the untouched run is still not called stale.
    assert "partial" not in measured_rows(page)[other.name].get("class", [])
    assert res.warnings == [
        f"{run.name}: {n_stale} judgments are of older images, left out of the numbers; rerun realedit judge"
    ]
    # The gallery shows no old verdict under a new image.
    gallery = page_soup(tmp_path / "site" / "gallery" / "1.html")
    card = gallery.select_one(f'section[data-category="local"] .card[data-run="{run.name}"]')
    assert card.select(".j") == []
    doc = LeaderboardExport.model_validate_json(res.exports["json"].read_text())
    cov = next(r for r in doc.tables[0].rows if r.run_id == run.name).coverage
    assert cov is not None and cov.n_stale_judgments == n_stale and cov.partial

    cli = realedit_cli(
        "report",
        "--runs",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "s2"),
        "--no-gallery",
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr
    assert f"{n_stale} judgments are of older images" in cli.stderr and "rerun realedit judge" in cli.stderr
