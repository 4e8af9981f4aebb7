"""``realedit report``: the static leaderboard, checked by parsing the HTML it writes."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from bs4 import BeautifulSoup

from leaderboard.site import STATIC, build_site
from leaderboard.tables import LeaderboardExport
from realedit_bench.errors import ConfigError
from realedit_bench.schema import PERSPECTIVES, JudgeSummary, MetricSummary

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_fixtures import XSS, make_dataset, make_run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _summary(run_root: Path) -> JudgeSummary:
    (path,) = sorted((run_root / "judgments").glob("*.summary.json"))
    return JudgeSummary.model_validate_json(path.read_text())


def _soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Three judged runs of 3 photos (21 samples) and the site built from them."""
    base = tmp_path_factory.mktemp("report")
    data = make_dataset(base / "data", 3)
    roots = [make_run(base / "runs", m, 21, i + 1, data_dir=data) for i, m in enumerate(["ip2p", "magicbrush", "hive"])]
    result = build_site(base / "runs", base / "site", formats=["html", "md", "csv", "json"])
    return base, roots, result


def test_every_number_on_the_page_matches_summary_json(three_runs):
    base, roots, result = three_runs
    soup = _soup(result.index)
    table = soup.select_one("table.leaderboard")
    rows = table.select("tbody.measured tr")
    assert len(rows) == 3
    checked = 0
    for tr in rows:
        root = base / "runs" / tr["data-run"]
        s = _summary(root)
        assert tr.select_one("td.model").get_text() == s.model
        for p in PERSPECTIVES:
            ps = s.perspectives[p]
            acc = tr.select_one(f'td.acc[data-perspective="{p}"]')
            score = tr.select_one(f'td.score[data-perspective="{p}"]')
            assert float(acc["data-value"]) == pytest.approx(ps.accuracy, abs=1e-6)
            assert float(score["data-value"]) == pytest.approx(ps.score_mean, abs=1e-6)
            assert acc.contents[0].strip() == _pct(ps.accuracy)
            assert score.contents[0].strip() == f"{ps.score_mean:.2f}"
            assert acc.select_one(".ci").get_text() == f"[{_pct(ps.accuracy_ci[0])}, {_pct(ps.accuracy_ci[1])}]"
            assert score.select_one(".ci").get_text() == f"[{ps.score_ci[0]:.2f}, {ps.score_ci[1]:.2f}]"
            checked += 2
        n = sum(s.perspectives[p].n for p in PERSPECTIVES)
        n_valid = sum(s.perspectives[p].n_valid for p in PERSPECTIVES)
        assert tr.select_one("td.valid").get_text() == f"{n_valid} / {n}"
        assert tr.select_one("td.invalid").get_text() == str(sum(s.perspectives[p].n_invalid for p in PERSPECTIVES))
        assert tr.select_one("td.refused").get_text() == str(sum(s.perspectives[p].n_refused for p in PERSPECTIVES))
        assert tr.select_one("td.spend").get_text() == f"${s.usage.cost_usd:.2f}"
        assert tr.select_one("td.date").get_text() == s.created_at[:10]
        overall = sum(s.perspectives[p].score_mean for p in PERSPECTIVES) / 3
        assert tr.select_one("td.overall").get_text() == f"{overall:.2f}"
        ms = MetricSummary.model_validate_json((root / "metrics_summary.json").read_text())
        for name in ("clip_i", "clip_t"):
            cell = tr.select_one(f'td.metric[data-metric="{name}"]')
            assert cell.get_text() == f"{ms.means[name]:.3f}"
    assert checked == 3 * 3 * 2
    # Ranked by the overall score, highest first.
    overalls = [float(tr.select_one("td.overall")["data-value"]) for tr in rows]
    assert overalls == sorted(overalls, reverse=True)
    assert [tr.select_one("td.rank").get_text() for tr in rows] == ["1", "2", "3"]


def test_per_category_table_matches_summary(three_runs):
    base, _roots, result = three_runs
    soup = _soup(result.index)
    table = soup.select_one("table.per-category")
    rows = table.select("tbody tr")
    assert len(rows) == 3
    for tr in rows:
        s = _summary(base / "runs" / tr["data-run"])
        cells = tr.select("td[data-category]")
        assert len(cells) == 7 * 3
        for td in cells:
            ps = s.per_category[td["data-category"]][td["data-perspective"]]
            assert float(td["data-value"]) == pytest.approx(ps.score_mean, abs=1e-6)
            assert td.contents[0].strip() == f"{ps.score_mean:.2f}"
            assert td.select_one(".ci").get_text() == _pct(ps.accuracy, 0)
    # Heat map and charts are inline SVG, nothing fetched.
    assert soup.select_one("figure.heatmap svg") is not None
    assert soup.select_one("figure.perspectives svg") is not None
    assert soup.select_one("figure.histogram svg") is not None


def test_neighbour_significance(tmp_path):
    data = make_dataset(tmp_path / "data", 10)
    make_run(tmp_path / "runs", "strong", 70, 1, data_dir=data, skill=0.95, run_id="a-strong")
    make_run(tmp_path / "runs", "weak", 70, 2, data_dir=data, skill=0.05, run_id="b-weak")
    # Same seed and skill as b-weak: identical judgments, so the difference is exactly zero.
    make_run(tmp_path / "runs", "weak-twin", 70, 2, data_dir=data, skill=0.05, run_id="c-twin")
    result = build_site(tmp_path / "runs", tmp_path / "site", formats=["json"])
    doc = LeaderboardExport.model_validate_json(result.exports["json"].read_text())
    (table,) = doc.tables
    assert [r.model for r in table.rows][0] == "strong"
    first, second, third = table.rows
    assert first.vs_next.significant and first.vs_next.p_value < 0.01 and first.vs_next.diff > 1.0
    assert not second.vs_next.significant and second.vs_next.diff == 0.0 and second.vs_next.p_value == 1.0
    assert second.vs_next.n_common > 50
    assert third.vs_next is None


def test_xss_payloads_are_inert(tmp_path):
    data = make_dataset(tmp_path / "data", 2, payload=XSS)
    make_run(tmp_path / "runs", XSS, 14, 5, data_dir=data, payload=XSS, run_id="xss")
    result = build_site(tmp_path / "runs", tmp_path / "site", formats=["html", "md"])
    script = (STATIC / "site.js").read_text()
    pages = [result.index, *sorted((tmp_path / "site" / "gallery").glob("*.html"))]
    assert len(pages) >= 3
    seen_text = 0
    for page in pages:
        soup = _soup(page)
        scripts = soup.find_all("script")
        assert len(scripts) == 1 and scripts[0].string == script, page
        for el in soup.find_all(True):
            assert not [a for a in el.attrs if a.lower().startswith("on")], (page, el.name, el.attrs)
        assert not soup.find("img", src="x")
        csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
        assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        seen_text += soup.get_text().count(XSS)
    assert seen_text >= 4  # model name, instruction and reasons are shown, as text
    gallery = _soup(tmp_path / "site" / "gallery" / "1.html").get_text()
    assert f"make the local part of photo 1 nicer {XSS}" in gallery
    assert f"looks fine {XSS}" in gallery or f"looks off {XSS}" in gallery
    assert "<script>" not in result.exports["md"].read_text()


def test_site_without_runs_shows_reference_rows(tmp_path):
    result = build_site(tmp_path / "no-runs", tmp_path / "site")
    soup = _soup(result.index)
    assert soup.select_one("p.empty-runs") is not None
    t1 = soup.select_one("#ref-table1")
    rows = {tr.td.get_text(): [td.get_text() for td in tr.find_all("td")] for tr in t1.select("tbody tr")}
    assert len(rows) == 10
    assert rows["KOSMOS-G"][2:] == ["51%", "2.82", "9%", "1.43", "27%", "3.20"]
    assert rows["Reward-SmartEdit"][2:] == ["69%", "3.72", "74%", "4.00", "49%", "3.67"]
    t2 = {tr.td.get_text(): [td.get_text() for td in tr.find_all("td")] for tr in soup.select("#ref-table2 tbody tr")}
    assert t2["InsPix2Pix"] == ["InsPix2Pix", "85.4", "29.2"]
    t3 = {tr.td.get_text(): [td.get_text() for td in tr.find_all("td")] for tr in soup.select("#ref-table3 tbody tr")}
    assert t3["SmartEdit"] == ["SmartEdit", "3.09", "3.18", "2.58"]
    assert "Multi-Reward as Condition for Instruction-based Image Editing" in soup.get_text()
    assert not (tmp_path / "site" / "gallery").exists()
    off = build_site(tmp_path / "no-runs", tmp_path / "site-off", reference=False)
    off_soup = _soup(off.index)
    assert off_soup.select_one("#ref-table1") is None and not off_soup.select(".reference tr")


def test_reference_rows_sit_apart_from_measured_rows(three_runs):
    _base, _roots, result = three_runs
    table = _soup(result.index).select_one("table.leaderboard")
    bodies = table.find_all("tbody")
    assert [b["class"] for b in bodies] == [["measured"], ["reference"]]
    assert len(bodies[1].find_all("tr")) == 10
    assert all(tr.td.get_text() == "pub." for tr in bodies[1].find_all("tr"))


def test_build_is_byte_identical_and_thumbnails_are_cached(three_runs, tmp_path):
    base, _roots, first = three_runs
    again = build_site(base / "runs", tmp_path / "site2", formats=["html", "md", "csv", "json"])
    a_files = sorted(p.relative_to(base / "site") for p in (base / "site").rglob("*") if p.is_file())
    b_files = sorted(p.relative_to(tmp_path / "site2") for p in (tmp_path / "site2").rglob("*") if p.is_file())
    assert a_files == b_files and len(a_files) > 20
    for rel in a_files:
        assert (base / "site" / rel).read_bytes() == (tmp_path / "site2" / rel).read_bytes(), rel
    assert again.thumbs_made > 0
    rebuilt = build_site(base / "runs", tmp_path / "site2", formats=["html"])
    assert rebuilt.thumbs_made == 0  # every thumbnail came from the cache
    assert (tmp_path / "site2" / "index.html").read_bytes() == first.index.read_bytes()


def test_links_stay_inside_the_site_and_images_are_lazy(three_runs):
    base, _roots, result = three_runs
    site = base / "site"
    pages = sorted(site.rglob("*.html"))
    assert result.index.stat().st_size < 2_000_000
    for page in pages:
        soup = _soup(page)
        for el in soup.find_all(["a", "img", "link", "script", "iframe", "source"]):
            ref = el.get("href") or el.get("src")
            if ref is None or ref.startswith("#"):
                continue
            url = urlparse(ref)
            assert not url.scheme and not url.netloc, (page, ref)
            target = (page.parent / unquote(url.path)).resolve()
            assert target.is_file() and site.resolve() in target.parents, (page, ref)
            if el.name == "img" and page.parent.name == "gallery":
                assert el["loading"] == "lazy"
    assert result.n_gallery_pages == 3


def test_exports_carry_the_same_numbers(three_runs):
    base, _roots, result = three_runs
    doc = LeaderboardExport.model_validate_json(result.exports["json"].read_text())
    rows = list(csv.DictReader(io.StringIO(result.exports["csv"].read_text())))
    md = result.exports["md"].read_text()
    measured = [r for r in rows if r["kind"] == "measured"]
    assert len(measured) == 3 and len(rows) == 13
    for r in measured:
        s = _summary(base / "runs" / r["run_id"])
        for p in PERSPECTIVES:
            assert float(r[f"{p}_accuracy"]) == pytest.approx(s.perspectives[p].accuracy)
            assert float(r[f"{p}_score"]) == pytest.approx(s.perspectives[p].score_mean)
            assert int(r[f"{p}_n_valid"]) == s.perspectives[p].n_valid
        j = next(x for x in doc.tables[0].rows if x.run_id == r["run_id"])
        assert j.perspectives["quality"].score == pytest.approx(s.perspectives["quality"].score_mean)
        assert f"| {r['rank']} | {s.model} | {r['run_id']} | {_pct(s.perspectives['following'].accuracy)}" in md


def test_plain_judged_folder_is_included(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    run = make_run(tmp_path / "staging", "folder-model", 7, 3, data_dir=data)
    plain = tmp_path / "runs" / "my-edits"
    plain.mkdir(parents=True)
    shutil.copytree(run / "judgments", plain / "judgments")
    for img in (run / "images").glob("*.png"):
        shutil.copy(img, plain / img.name)
    result = build_site(tmp_path / "runs", tmp_path / "site", data_dir=data, formats=["html", "json"])
    doc = LeaderboardExport.model_validate_json(result.exports["json"].read_text())
    assert [r.run_id for r in doc.tables[0].rows] == ["my-edits"]
    page = _soup(tmp_path / "site" / "gallery" / "1.html")
    cards = page.select('.card[data-run="my-edits"]')
    assert len(cards) == 7 and sum(1 for c in cards if c.img) == len(list(plain.glob("*.png")))
    assert "make the local part of photo 1 nicer" in page.get_text()  # instruction from the benchmark data


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "realedit"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def test_cli_prints_the_page_and_refuses_bad_input(three_runs, tmp_path):
    base, _roots, _result = three_runs
    ok = _cli("report", "--runs", str(base / "runs"), "--out", str(tmp_path / "site"), "--no-gallery", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().splitlines()[-1] == str((tmp_path / "site" / "index.html").resolve())
    missing = _cli("report", "--runs", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    bad = _cli("report", "--runs", str(base / "runs"), "--format", "pdf", "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert bad.returncode == 2 and "unknown --format 'pdf'" in bad.stderr


def test_newer_schema_is_refused(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    run = make_run(tmp_path / "runs", "m", 7, 1, data_dir=data)
    (path,) = (run / "judgments").glob("*.summary.json")
    doc = json.loads(path.read_text())
    doc["schema_version"] = 99
    path.write_text(json.dumps(doc))
    from realedit_bench.errors import SchemaError

    with pytest.raises(SchemaError, match="newer"):
        build_site(tmp_path / "runs", tmp_path / "site")


def test_agreement_page_is_rendered_and_linked(tmp_path):
    data = make_dataset(tmp_path / "data", 3)
    runs = [make_run(tmp_path / "runs", m, 21, i + 1, data_dir=data) for i, m in enumerate(["m-a", "m-b", "m-c"])]
    # Human ratings near the judge's scores, two raters, for 'realedit agree'.
    human = tmp_path / "human.csv"
    with open(human, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "model", "perspective", "rater", "score", "verdict"])
        for k, run in enumerate(runs):
            for line in (next((run / "judgments").glob("*.jsonl"))).read_text().splitlines():
                row = json.loads(line)
                if row["status"] != "ok":
                    continue
                for r, shift in (("ann", 0), ("bo", (k % 2))):
                    s = min(5, int(row["score"]) + shift)
                    w.writerow([row["sample_id"], row["model"], row["perspective"], r, s, "yes" if s >= 3 else "no"])
    agree = _cli("agree", "--human", str(human), *[a for r in runs for a in ("--judgments", str(r))],
                 "--out", str(tmp_path / "runs" / "agreement.json"), "--resamples", "50", cwd=tmp_path)
    assert agree.returncode == 0, agree.stderr
    result = build_site(tmp_path / "runs", tmp_path / "site", gallery=False)
    assert [p.name for p in result.agreement_pages] == ["agreement.html"]
    nav = [a["href"] for a in _soup(result.index).select("header nav a")]
    assert "agreement.html" in nav
    page = _soup(tmp_path / "site" / "agreement.html")
    assert "m-a" in page.get_text() and page.find("script") is None
    with pytest.raises(ConfigError, match="does not exist"):
        build_site(tmp_path / "runs", tmp_path / "site", agreement=[tmp_path / "nope.json"])
