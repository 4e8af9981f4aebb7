"""``realedit report``: failed edits, stale judgments, thumbnails, --out checks, redaction and small fixes
(outside review 2). Each test builds its own small runs with the real schemas."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup
from PIL import Image
from report_fixtures import make_dataset, make_run  # noqa: E402

from leaderboard.redact import redact
from leaderboard.site import build_site
from leaderboard.tables import LeaderboardExport
from leaderboard.thumbs import ThumbCache
from realedit_bench.errors import ConfigError
from realedit_bench.jsonio import atomic_write_json
from realedit_bench.judges.stale import is_stale
from realedit_bench.schema import PERSPECTIVES, EditRow, JudgeSummary, JudgmentRow, RunManifest

LATER = "2025-03-02T09:00:00+00:00"


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _rows(path: Path, model):
    return [model.model_validate_json(line) for line in path.read_text().splitlines() if line.strip()]


def _write_rows(path: Path, rows) -> None:
    path.write_text("".join(r.model_dump_json() + "\n" for r in rows))


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "realedit"
    full = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=full)


def _measured(soup: BeautifulSoup) -> dict[str, BeautifulSoup]:
    return {tr["data-run"]: tr for tr in soup.select("table.leaderboard tbody.measured tr")}


# ------------------------------------------------------------------------------------------ failed edits


def test_failed_edits_are_counted_shown_and_not_ranked(tmp_path):
    data = make_dataset(tmp_path / "data", 3)
    make_run(tmp_path / "runs", "good-a", 21, 1, data_dir=data)
    make_run(tmp_path / "runs", "good-b", 21, 2, data_dir=data)
    failing = make_run(tmp_path / "runs", "failing", 21, 3, data_dir=data, fail_rate=0.3, skill=0.95)
    n_failed = sum(e.status != "ok" for e in _rows(failing / "edits.jsonl", EditRow))
    assert n_failed >= 3
    res = build_site(tmp_path / "runs", tmp_path / "site", formats=["html", "md", "csv", "json"])

    rows = _measured(_soup(res.index))
    tr = rows["0003-run"]
    # The failures are on the row, and the row (best by its judged samples alone) is not ranked.
    assert tr.select_one("td.failed").get_text() == str(n_failed)
    assert "partial" in tr["class"] and tr.select_one("td.rank").get_text() == "–"
    assert f"{n_failed} edits failed" in tr.select_one(".badge.partial")["title"]
    assert [rows[r].select_one("td.rank").get_text() for r in ("0001-run", "0002-run")] in (["1", "2"], ["2", "1"])
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


# ------------------------------------------------------------------------------------------ stale judgments


def _sent(file_sha: str) -> str:
    """What a judge that re-encodes images records: a sha of other bytes than the file's."""
    return hashlib.sha256(f"png:{file_sha}".encode()).hexdigest()


def _record_shas(run: Path) -> None:
    """Give the fixture's rows real hashes: file sha on edit rows, a re-encoded sha on judgment rows."""
    edits = _rows(run / "edits.jsonl", EditRow)
    shas = {}
    for i, e in enumerate(edits):
        if e.status == "ok":
            shas[e.sample_id] = hashlib.sha256((run / e.output).read_bytes()).hexdigest()
            edits[i] = e.model_copy(update={"output_sha256": shas[e.sample_id]})
    _write_rows(run / "edits.jsonl", edits)
    (jpath,) = [p for p in (run / "judgments").glob("*.jsonl")]
    rows = _rows(jpath, JudgmentRow)
    _write_rows(jpath, [r.model_copy(update={"image_sha256": [_sent(shas[r.sample_id])]}) for r in rows])


def _redo(run: Path, sample_ids: list[str]) -> None:
    """What 'realedit run' does when it redoes samples after judging: new images, new edit rows."""
    edits = {e.sample_id: e for e in _rows(run / "edits.jsonl", EditRow)}
    with open(run / "edits.jsonl", "a") as fh:
        for sid in sample_ids:
            e = edits[sid]
            Image.new("RGB", (24, 24), (9, 200, 9)).save(run / e.output)
            sha = hashlib.sha256((run / e.output).read_bytes()).hexdigest()
            fh.write(e.model_copy(update={"output_sha256": sha, "finished_at": LATER}).model_dump_json() + "\n")


def test_judgments_of_redone_images_are_left_out_and_reported(tmp_path):
    data = make_dataset(tmp_path / "data", 3)
    run = make_run(tmp_path / "runs", "m", 21, 5, data_dir=data)
    other = make_run(tmp_path / "runs", "n", 21, 6, data_dir=data)
    for r in (run, other):
        _record_shas(r)
    redone = ["1-local", "2-style", "3-remove"]
    _redo(run, redone)
    (jpath,) = [p for p in (run / "judgments").glob("*.jsonl")]
    rows = _rows(jpath, JudgmentRow)
    current = [r for r in rows if r.sample_id not in redone]
    file_summary = JudgeSummary.model_validate_json(next((run / "judgments").glob("*.summary.json")).read_text())

    res = build_site(tmp_path / "runs", tmp_path / "site", formats=["html", "md", "json"])
    soup = _soup(res.index)
    tr = _measured(soup)[run.name]
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
    assert f"{n_stale} judgments are of older images" in soup.select_one(".stale-note").get_text(" ")
    assert "rerun realedit judge" in soup.select_one(".stale-note").get_text(" ")
    assert "partial" in tr["class"] and tr.select_one("td.valid").get_text() == f"{len(current) - sum(r.status != 'ok' for r in current)} / {len(current)}"
    # A re-encoding judge never matches the file's sha: the untouched run is not called stale.
    assert "partial" not in _measured(soup)[other.name].get("class", [])
    assert res.warnings == [f"{run.name}: {n_stale} judgments are of older images, left out of the numbers; rerun realedit judge"]
    # The gallery shows no old verdict under a new image.
    page = _soup(tmp_path / "site" / "gallery" / "1.html")
    card = page.select_one(f'section[data-category="local"] .card[data-run="{run.name}"]')
    assert card.select(".j") == []
    doc = LeaderboardExport.model_validate_json(res.exports["json"].read_text())
    cov = next(r for r in doc.tables[0].rows if r.run_id == run.name).coverage
    assert cov is not None and cov.n_stale_judgments == n_stale and cov.partial

    cli = _cli("report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "s2"), "--no-gallery", cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    assert f"{n_stale} judgments are of older images" in cli.stderr and "rerun realedit judge" in cli.stderr


def _edit(sha: str | None, when: str, status: str = "ok") -> EditRow:
    return EditRow(sample_id="1-local", image_id="1", category="local", instruction="x", source="1.jpeg",
                   status=status, output="images/1-local.png" if status == "ok" else None, output_sha256=sha,
                   seed=1, error=None if status == "ok" else "boom", finished_at=when)


def _judgment(shas: list[str], when: str, status: str = "ok", edited: str | None = None) -> JudgmentRow:
    return JudgmentRow(sample_id="1-local", image_id="1", category="local", model="m", perspective="quality",
                       status=status, verdict=True if status == "ok" else None, score=4.0 if status == "ok" else None,
                       judge="openai/gpt-4o", rubric="r", image_sha256=shas, edited_sha256=edited, finished_at=when)


def test_stale_rule():
    early, mid, late = "2025-01-01T00:00:00+00:00", "2025-01-02T00:00:00+00:00", "2025-01-03T00:00:00+00:00"
    a, b = "a" * 64, "b" * 64
    # Sent bytes equal the file (rubric 'original'): decided by the sha, whatever the clocks say.
    assert not is_stale(_judgment([a], early), [_edit(b, early), _edit(a, late)])
    assert is_stale(_judgment([b], late), [_edit(b, early), _edit(a, mid)])
    # Re-encoded (sha never matches): the edit row in force when judged decides.
    assert not is_stale(_judgment(["x" * 64], mid), [_edit(a, early)])
    assert not is_stale(_judgment(["x" * 64], late), [_edit(b, early), _edit(a, mid)])
    assert is_stale(_judgment(["x" * 64], mid), [_edit(b, early), _edit(a, late)])
    # Redone to the same bytes: still current. A judgment made while the edit had failed is stale.
    assert not is_stale(_judgment(["x" * 64], mid), [_edit(a, early), _edit(a, late)])
    assert is_stale(_judgment([], mid, "error"), [_edit(None, early, "error"), _edit(a, late)])
    # Judged before every image the run records (its history compacted on a resume): stale.
    assert is_stale(_judgment(["x" * 64], early), [_edit(a, mid)])
    # A sample the run no longer holds (run --force replaced it) is stale; no edit history (a plain
    # folder) means taken as it is.
    assert is_stale(_judgment(["x" * 64], mid), [])
    assert not is_stale(_judgment(["x" * 64], mid), None)
    # Rows that record the judged file's sha are decided by it alone.
    assert not is_stale(_judgment(["x" * 64], early, edited=a), [_edit(a, mid)])
    assert is_stale(_judgment(["x" * 64], late, edited=b), [_edit(b, early), _edit(a, mid)])


# ------------------------------------------------------------------------------------------ thumbnails


def test_thumbnails_of_16_bit_and_transparent_pngs(tmp_path):
    grey16 = tmp_path / "grey16.png"
    Image.fromarray(np.full((40, 40), 32768, dtype=np.uint16)).save(grey16)
    assert Image.open(grey16).mode.startswith("I")
    clear = tmp_path / "clear.png"
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(clear)
    cache = ThumbCache(tmp_path / "thumbs")
    for path, expect in ((grey16, 128), (clear, 255)):
        thumb = cache.get(path)
        assert thumb is not None
        with Image.open(tmp_path / "thumbs" / thumb.name) as im:
            r, g, b = im.convert("RGB").getpixel((20, 20))
        # Mid-grey stays mid-grey (not clipped to white); transparency is white, as metrics and judge see it.
        assert all(abs(c - expect) <= 3 for c in (r, g, b)), (path.name, (r, g, b))


# ------------------------------------------------------------------------------------------ --out


def test_out_that_cannot_be_a_folder_is_one_line_before_any_work(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    make_run(tmp_path / "runs", "m", 7, 1, data_dir=data)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="afile, which is a file"):
        build_site(tmp_path / "runs", tmp_path / "afile" / "site")
    for out in (str(tmp_path / "afile" / "site"), "/proc/realedit-x", str(tmp_path / "afile")):
        res = _cli("report", "--runs", str(tmp_path / "runs"), "--out", out, cwd=tmp_path)
        assert res.returncode == 2, (out, res.stderr)
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "--out" in res.stderr


# ------------------------------------------------------------------------------------------ redaction


def test_published_site_shows_no_home_path_or_credentials(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    judge = "openai-api/http://alice:s3cret@10.0.0.5:8000/v1/llava"
    run = make_run(tmp_path / "runs", "m", 7, 1, data_dir=data, judge=judge)
    home = os.path.expanduser("~")
    m = RunManifest.model_validate_json((run / "manifest.json").read_text())
    m = m.model_copy(update={
        "command": ["realedit", "run", "--data-dir", "/home/alice/data/real-edit", "--weights", "/root/ckpt/w",
                    "--out", f"{home}/runs"],
        "adapter": m.adapter.model_copy(update={"params": {"weights": "/Users/bob/models/ip2p", "steps": 2}}),
    })
    atomic_write_json(run / "manifest.json", m)
    edits = _rows(run / "edits.jsonl", EditRow)
    edits[0] = edits[0].model_copy(update={"status": "error", "output": None,
                                           "error": f"OSError: cannot read {os.getcwd()}/x.png"})
    _write_rows(run / "edits.jsonl", edits)
    res = build_site(tmp_path / "runs", tmp_path / "site", formats=["html", "md", "csv", "json"])
    text = "".join(p.read_text() for p in (tmp_path / "site").rglob("*") if p.suffix in (".html", ".md", ".csv", ".json"))
    for leak in ("/home/alice", "/root/", "/Users/bob", "alice:s3cret", "s3cret@", f"{home}/runs", f"{os.getcwd()}/x.png"):
        assert leak not in text, leak
    page = _soup(res.index).get_text(" ")
    assert "~/data/real-edit" in page and "~/ckpt/w" in page and "~/models/ip2p" in page
    assert "openai-api/http://10.0.0.5:8000/v1/llava" in page


def test_redact_keeps_other_paths():
    assert redact("/rootfs/x /home/ann/y --w=/root") == "/rootfs/x ~/y --w=~"
    assert redact("https://u:p@h/v1?api_key=abc&x=1") == "https://h/v1?api_key=***&x=1"
    # A judge name goes on after the URL: the secret ends at '/', the model name stays.
    assert redact("openai-api/http://h/v1?api_key=X/m") == "openai-api/http://h/v1?api_key=***/m"
    assert redact("/data/shared/real-edit") == "/data/shared/real-edit"


# ------------------------------------------------------------------------------------------ small ones


def test_comma_formats_metric_interval_digits_and_copied_runs(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    make_run(tmp_path / "staging", "m", 7, 1, data_dir=data, run_id="r1")
    runs = tmp_path / "runs"
    runs.mkdir()
    for name in ("r1", "r1-copy"):
        subprocess.run(["cp", "-r", str(tmp_path / "staging" / "r1"), str(runs / name)], check=True)
    res = build_site(runs, tmp_path / "site", formats=["html", "md,csv"])
    assert {"md", "csv"} <= set(res.exports)
    soup = _soup(res.index)
    # The copies are told apart everywhere, and the console says why there are two.
    assert [a.get_text() for a in soup.select("table.leaderboard td.run a")] == ["r1", "r1 in r1-copy/"]
    assert any("run id r1 is in 2 folders" in w for w in res.warnings)
    assert {r["run_folder"] for r in csv.DictReader(io.StringIO(res.exports["csv"].read_text()))} >= {"r1", "r1-copy"}
    # Metric intervals have the digits of the mean beside them.
    cell = soup.select_one('table.metrics td.metric[data-metric="clip_i"]')
    mean, ci = cell.contents[0].strip(), cell.select_one(".ci").get_text()
    assert len(mean.split(".")[1]) == 3 and ci == "[0.600, 0.990]"


def test_plain_folder_without_data_dir_says_how_to_give_it(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    run = make_run(tmp_path / "staging", "m", 7, 1, data_dir=data)
    plain = tmp_path / "runs" / "myeditor"
    plain.mkdir(parents=True)
    (plain / "judgments").mkdir()
    for p in (run / "judgments").iterdir():
        (plain / "judgments" / p.name).write_bytes(p.read_bytes())
    for p in (run / "images").iterdir():
        (plain / p.name).write_bytes(p.read_bytes())
    env = {"REALEDIT_DATA_DIR": "", "REALEDIT_CACHE": str(tmp_path / "cache")}
    res = _cli("report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "site"), cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert "source photos not found for myeditor" in res.stderr and "--data-dir" in res.stderr
    with_data = _cli("report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "site"), cwd=tmp_path,
                     env={**env, "REALEDIT_DATA_DIR": str(data)})
    assert with_data.returncode == 0 and "source photos not found" not in with_data.stderr
