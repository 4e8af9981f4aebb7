"""``realedit report``: the static leaderboard, checked by parsing the HTML it writes."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from cli_runner import realedit_cli
from report_fixtures import XSS, make_dataset, make_run, page_soup, write_human_ratings

from leaderboard.site import STATIC, build_site
from leaderboard.tables import LeaderboardExport
from realedit_bench.errors import ConfigError
from realedit_bench.schema import PERSPECTIVES, JudgeSummary, MetricSummary


def _summary(run_root: Path) -> JudgeSummary:
    (path,) = sorted((run_root / "judgments").glob("*.summary.json"))
    return JudgeSummary.model_validate_json(path.read_text())


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Three judged runs of 3 photos (21 samples) and the site built from them."""
    base = tmp_path_factory.mktemp("report")
    data = make_dataset(base / "data", 3)
    roots = [
        make_run(base / "runs", m, 21, i + 1, data_dir=data)
        for i, m in enumerate(["ip2p", "magicbrush", "hive"])
    ]
    result = build_site(base / "runs", base / "site", formats=["html", "md", "csv", "json"])
    return base, roots, result


def test_every_number_on_the_page_matches_summary_json(three_runs):
    base, roots, result = three_runs
    soup = page_soup(result.index)
    table = soup.select_one("table.leaderboard")
    rows = table.select("tbody.measured tr")
    assert len(rows) == 3
    checked = 0
    for tr in rows:
        root = base / "runs" / tr["data-run"]
        s = _summary(root)
        # The fixture's runs set steps=2 and their seed; magicbrush and hive are registered editors (100 steps
        # and seed 0 by default); ip2p is not one here: its defaults are unknown, so the model names it.
        seed = {"magicbrush": 2, "hive": 3}.get(s.model)
        label = f"{s.model} (steps=2, seed={seed})" if seed else s.model
        assert tr.select_one("td.model .label").get_text() == label
        for p in PERSPECTIVES:
            ps = s.perspectives[p]
            acc = tr.select_one(f'td.acc[data-perspective="{p}"]')
            score = tr.select_one(f'td.score[data-perspective="{p}"]')
            assert float(acc["data-value"]) == pytest.approx(ps.accuracy, abs=1e-6)
            assert float(score["data-value"]) == pytest.approx(ps.score_mean, abs=1e-6)
            assert acc.contents[0].strip() == _pct(ps.accuracy)
            assert score.contents[0].strip() == f"{ps.score_mean:.2f}"
            # 3 photos: every interval carries the caution mark (fewer than 10 photos).
            assert (
                acc.select_one(".ci").get_text() == f"[{_pct(ps.accuracy_ci[0])}, {_pct(ps.accuracy_ci[1])}]⚠"
            )
            assert score.select_one(".ci").get_text() == f"[{ps.score_ci[0]:.2f}, {ps.score_ci[1]:.2f}]⚠"
            checked += 2
        n = sum(s.perspectives[p].n for p in PERSPECTIVES)
        n_valid = sum(s.perspectives[p].n_valid for p in PERSPECTIVES)
        assert tr.select_one("td.valid").get_text() == f"{n_valid} / {n}"
        assert tr.select_one("td.invalid").get_text() == str(
            sum(s.perspectives[p].n_invalid for p in PERSPECTIVES)
        )
        assert tr.select_one("td.refused").get_text() == str(
            sum(s.perspectives[p].n_refused for p in PERSPECTIVES)
        )
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
    soup = page_soup(result.index)
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
        # The heat map colours each cell by its mean score on a 10-step scale over 0-5.
        assert all(td["class"] == [f"heat-{round(float(td['data-value']) * 2)}"] for td in cells)
    # The charts' numbers sit in a JSON block the page's script draws from, nothing fetched.
    charts = json.loads(soup.select_one("script#chart-data").string)["t0"]
    by_label = {c["label"]: c["values"] for c in charts}
    s = _summary(base / "runs" / rows[0]["data-run"])
    assert by_label[rows[0].select_one("td.text").get_text()]["quality"]["score"][0] == pytest.approx(
        s.perspectives["quality"].score_mean
    )
    assert len(soup.select("figure.chart.bars")) == 3 and len(soup.select("figure.chart.dist")) == 3


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
    make_run(tmp_path / "runs", "plain", 14, 6, data_dir=data, payload=XSS, run_id="plain")  # a pair
    result = build_site(tmp_path / "runs", tmp_path / "site", formats=["html", "md"])
    script = (STATIC / "site.js").read_text()
    compare = tmp_path / "site" / "compare.html"
    pages = [result.index, compare, *sorted((tmp_path / "site" / "gallery").glob("*.html"))]
    assert len(pages) >= 4 and compare.is_file()
    seen_text = 0
    for page in pages:
        soup = page_soup(page)
        scripts = [s for s in soup.find_all("script") if s.get("type") != "application/json"]
        assert len(scripts) == 1 and scripts[0].string == script, page
        # Data blocks are JSON (not run by the browser) and cannot close their script element.
        assert all("<" not in s.string for s in soup.find_all("script", type="application/json"))
        for el in soup.find_all(True):
            assert not [a for a in el.attrs if a.lower().startswith("on")], (page, el.name, el.attrs)
        assert not soup.find("img", src="x")
        csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
        assert (
            "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        )
        seen_text += soup.get_text().count(XSS)
    assert seen_text >= 4  # model name, instruction and reasons are shown, as text
    # In the JSON data blocks the payload is escaped, and the page's script sets it only as text.
    assert "\\u003cscript\\u003ealert(1)" in compare.read_text()
    gallery = page_soup(tmp_path / "site" / "gallery" / "1.html").get_text()
    assert f"make the local part of photo 1 nicer {XSS}" in gallery
    assert f"looks fine {XSS}" in gallery or f"looks off {XSS}" in gallery
    assert "<script>" not in result.exports["md"].read_text()


def test_site_without_runs_shows_reference_rows(tmp_path):
    result = build_site(tmp_path / "no-runs", tmp_path / "site")
    soup = page_soup(result.index)
    assert soup.select_one("p.empty-runs") is not None
    t1 = soup.select_one("#ref-table1")
    rows = {tr.td.get_text(): [td.get_text() for td in tr.find_all("td")] for tr in t1.select("tbody tr")}
    assert len(rows) == 10
    assert rows["KOSMOS-G"][2:] == ["51%", "2.82", "9%", "1.43", "27%", "3.20"]
    assert rows["Reward-SmartEdit"][2:] == ["69%", "3.72", "74%", "4.00", "49%", "3.67"]
    t2 = {
        tr.td.get_text(): [td.get_text() for td in tr.find_all("td")]
        for tr in soup.select("#ref-table2 tbody tr")
    }
    assert t2["InsPix2Pix"] == ["InsPix2Pix", "85.4", "29.2"]
    t3 = {
        tr.td.get_text(): [td.get_text() for td in tr.find_all("td")]
        for tr in soup.select("#ref-table3 tbody tr")
    }
    assert t3["SmartEdit"] == ["SmartEdit", "3.09", "3.18", "2.58"]
    assert "Multi-Reward as Condition for Instruction-based Image Editing" in soup.get_text()
    assert not (tmp_path / "site" / "gallery").exists()
    off = build_site(tmp_path / "no-runs", tmp_path / "site-off", reference=False)
    off_soup = page_soup(off.index)
    assert off_soup.select_one("#ref-table1") is None and not off_soup.select(".reference tr")


def test_reference_rows_sit_apart_from_measured_rows(three_runs):
    _base, _roots, result = three_runs
    table = page_soup(result.index).select_one("table.leaderboard")
    bodies = table.find_all("tbody")
    # Each group under its own heading row: ranked runs, then the published rows.
    assert [b["class"] for b in bodies] == [
        ["group"], ["measured", "ranked"], ["group", "ref-head"], ["reference"]
    ]
    assert len(bodies[3].find_all("tr")) == 10
    assert all(tr.td.get_text() == "pub." for tr in bodies[3].find_all("tr"))


def test_build_is_byte_identical_and_thumbnails_are_cached(three_runs, tmp_path):
    base, _roots, first = three_runs
    again = build_site(base / "runs", tmp_path / "site2", formats=["html", "md", "csv", "json"])
    a_files = sorted(p.relative_to(base / "site") for p in (base / "site").rglob("*") if p.is_file())
    b_files = sorted(
        p.relative_to(tmp_path / "site2") for p in (tmp_path / "site2").rglob("*") if p.is_file()
    )
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
    downloads = {a["href"] for a in page_soup(result.index).select(".downloads a[download]")}
    assert downloads == {"leaderboard.csv", "leaderboard.json", "leaderboard.md", "metrics.csv"}
    for page in pages:
        soup = page_soup(page)
        for el in soup.find_all(["a", "img", "link", "script", "iframe", "source"]):
            ref = el.get("href") or el.get("src")
            if ref is None or ref.startswith("#"):
                continue
            url = urlparse(ref)
            if "ext" in el.get("class", []):
                # A model's paper or weights: https from our own table, opened without a referrer.
                assert url.scheme == "https" and {"noopener", "noreferrer"} <= set(el["rel"]), (page, ref)
                continue
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
        overall = sum(s.perspectives[p].score_mean for p in PERSPECTIVES) / 3
        assert (
            f"| {r['rank']} | {r['label']} | {r['run_id']} | {r['settings'] or '–'} | {overall:.2f} | "
            f"{_pct(s.perspectives['following'].accuracy)}"
            in md
        )


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
    page = page_soup(tmp_path / "site" / "gallery" / "1.html")
    cards = page.select('.card[data-run="my-edits"]')
    assert len(cards) == 7 and sum(1 for c in cards if c.img) == len(list(plain.glob("*.png")))
    assert "make the local part of photo 1 nicer" in page.get_text()  # instruction from the benchmark data


def test_cli_prints_the_page_and_refuses_bad_input(three_runs, tmp_path):
    base, _roots, _result = three_runs
    ok = realedit_cli(
        "report", "--runs", str(base / "runs"), "--out", str(tmp_path / "site"), "--no-gallery", cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().splitlines()[-1] == str((tmp_path / "site" / "index.html").resolve())
    missing = realedit_cli("report", "--runs", str(tmp_path / "nope"), cwd=tmp_path)
    assert (
        missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    )
    bad = realedit_cli(
        "report", "--runs", str(base / "runs"), "--format", "pdf", "--out", str(tmp_path / "x"), cwd=tmp_path
    )
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
    runs = [
        make_run(tmp_path / "runs", m, 21, i + 1, data_dir=data) for i, m in enumerate(["m-a", "m-b", "m-c"])
    ]
    human = write_human_ratings(runs, tmp_path / "human.csv")
    agree = realedit_cli(
        "agree",
        "--human",
        str(human),
        *[a for r in runs for a in ("--judgments", str(r))],
        "--out",
        str(tmp_path / "runs" / "agreement.json"),
        "--resamples",
        "50",
        cwd=tmp_path,
    )
    assert agree.returncode == 0, agree.stderr
    result = build_site(tmp_path / "runs", tmp_path / "site", gallery=False)
    assert [p.name for p in result.agreement_pages] == ["agreement.html"]
    nav = [a["href"] for a in page_soup(result.index).select("header nav a")]
    assert "agreement.html" in nav
    page = page_soup(tmp_path / "site" / "agreement.html")
    assert "m-a" in page.get_text() and page.find("script") is None
    with pytest.raises(ConfigError, match="does not exist"):
        build_site(tmp_path / "runs", tmp_path / "site", agreement=[tmp_path / "nope.json"])


# ------------------------------------------------------------------------ coverage, labels, exports


def _header_texts(table) -> list[str]:
    return [th.get_text(" ", strip=True) for th in table.select("thead th")]


@pytest.fixture(scope="module")
def partial_site(tmp_path_factory):
    """Two complete 70-sample runs over 10 photos and one that stopped after 11 of its 70 (2 photos)."""
    base = tmp_path_factory.mktemp("partial")
    data = make_dataset(base / "data", 10)
    make_run(base / "runs", "good", 70, 1, data_dir=data, skill=0.6, run_id="a-good")
    make_run(base / "runs", "bad", 70, 2, data_dir=data, skill=0.2, run_id="b-bad")
    # Judged nearly all yes: by its mean it would rank first.
    make_run(base / "runs", "stopped", 11, 3, data_dir=data, skill=0.99, run_id="c-stopped", n_selected=70)
    result = build_site(base / "runs", base / "site", formats=["html", "md", "csv", "json"], gallery=False)
    return base, result


def test_partial_run_is_flagged_and_not_ranked(partial_site):
    _base, result = partial_site
    doc = LeaderboardExport.model_validate_json(result.exports["json"].read_text())
    (table,) = doc.tables
    assert [r.run_id for r in table.rows] == ["a-good", "b-bad", "c-stopped"]
    good, bad, stopped = table.rows
    assert stopped.overall > good.overall  # it would have ranked first by its mean
    assert stopped.rank is None and stopped.vs_next is None
    assert (
        stopped.coverage.partial
        and "11 of the 70 samples its run selected" in stopped.coverage.partial_reason
    )
    assert (stopped.coverage.n_samples, stopped.coverage.n_photos, stopped.coverage.n_benchmark) == (
        11,
        2,
        560,
    )
    assert [good.rank, bad.rank] == [1, 2] and not good.coverage.partial and good.coverage.n_photos == 10
    assert bad.vs_next is None  # the last ranked row is not compared with the partial one

    soup = page_soup(result.index)
    rows = {tr["data-run"]: tr for tr in soup.select("table.leaderboard tbody.measured tr")}
    cov = rows["c-stopped"].select_one("td.coverage")
    assert cov.get_text(" ", strip=True) == "11 of 560 samples, 2 photos partial"
    assert cov.select_one(".badge.partial") is not None and "partial" in rows["c-stopped"]["class"]
    assert rows["c-stopped"].select_one("td.rank").get_text() == "–"
    assert rows["c-stopped"].select_one("td.model").get_text(" ", strip=True) == "stopped partial c-stopped"
    assert rows["c-stopped"].select_one("td.vs").get_text(strip=True) == "not ranked (partial)"
    assert rows["a-good"].select_one("td.coverage").get_text(strip=True) == "70 of 560 samples, 10 photos"
    assert rows["a-good"].select_one(".badge") is None
    note = soup.select_one(".partial-note").get_text(" ", strip=True)
    assert "c-stopped" in note and "not ranked" in note and "a-good" not in note
    # The rule is stated on the page.
    rules = soup.select_one("p.rules").get_text(" ", strip=True)
    assert "fewer than 10 source photos" in rules and "Partial rows" in rules
    md = result.exports["md"].read_text()
    assert "| partial | stopped | c-stopped |" in md and "11 of 560 samples, 2 photos (partial)" in md
    csv_rows = {r["run_id"]: r for r in csv.DictReader(io.StringIO(result.exports["csv"].read_text()))}
    assert csv_rows["c-stopped"]["partial"] == "True" and csv_rows["c-stopped"]["rank"] == ""
    assert csv_rows["a-good"]["samples_covered"] == "70" and csv_rows["a-good"]["samples_benchmark"] == "560"


def test_run_lacking_samples_others_cover_is_partial(tmp_path):
    data = make_dataset(tmp_path / "data", 10)
    make_run(tmp_path / "runs", "full", 70, 1, data_dir=data, run_id="a-full")
    # Complete by its own manifest (it selected 35), but it covers half of what the other row covers.
    make_run(tmp_path / "runs", "half", 35, 2, data_dir=data, run_id="b-half")
    result = build_site(tmp_path / "runs", tmp_path / "site", formats=["json"])
    rows = {
        r.run_id: r
        for r in LeaderboardExport.model_validate_json(result.exports["json"].read_text()).tables[0].rows
    }
    assert (
        rows["b-half"].coverage.partial
        and "lacks 35 samples other rows cover" in rows["b-half"].coverage.partial_reason
    )
    assert not rows["a-full"].coverage.partial and rows["a-full"].rank == 1


def test_too_few_photos_to_test(tmp_path):
    data = make_dataset(tmp_path / "data", 2)
    make_run(tmp_path / "runs", "strong", 14, 1, data_dir=data, skill=0.99, run_id="a")
    make_run(tmp_path / "runs", "weak", 14, 2, data_dir=data, skill=0.01, run_id="b")
    result = build_site(tmp_path / "runs", tmp_path / "site", formats=["html", "json"], gallery=False)
    first = LeaderboardExport.model_validate_json(result.exports["json"].read_text()).tables[0].rows[0]
    assert first.vs_next.p_value is None and not first.vs_next.significant and first.vs_next.diff > 1.0
    assert first.vs_next.n_photos == 2 and first.vs_next.untested == "too few photos to test"
    cell = page_soup(result.index).select_one('tr[data-run="a"] td.vs')
    text = cell.get_text(" ", strip=True)
    assert text.startswith("too few photos to test") and "valid in both, 2 photos" in text
    assert "significant" not in text and "p =" not in text


def _metrics(root: Path, means: dict[str, float], reference: str = "source") -> None:
    from realedit_bench.jsonio import atomic_write_json

    labels = {"clip_i": "CLIP-I", "dino": "DINO", "l1": "L1", "l2": "L2", "clip_t": "CLIP-T"}
    ms = MetricSummary(
        run_id=root.name,
        model="identity",
        benchmark="real-edit",
        reference=reference,
        n=7,
        means=means,
        cis={k: (v, v) for k, v in means.items()},
        created_at="2025-03-01T00:00:00+00:00",
        realedit_version="0.1.0",
        labels={
            k: labels[k] + (f" to {reference}" + (" (preservation)" if reference == "source" else ""))
            if k != "clip_t"
            else labels[k]
            for k in means
        },
        higher_is_better={k: k not in ("l1", "l2") for k in means},
    )
    atomic_write_json(root / "metrics_summary.json", ms)


def test_metric_columns_are_labelled_with_direction(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    ident = make_run(tmp_path / "runs", "identity", 7, 1, data_dir=data, run_id="ident")
    _metrics(ident, {"clip_i": 1.0, "dino": 1.0, "l1": 0.0, "l2": 0.0, "clip_t": 0.25})
    result = build_site(
        tmp_path / "runs", tmp_path / "site", formats=["html", "md", "csv", "json"], gallery=False
    )
    soup = page_soup(result.index)
    heads = _header_texts(soup.select_one("table.metrics"))
    assert heads[6:] == [
        "CLIP-I to source (preservation) ↑",
        "CLIP-T ↑",
        "DINO to source (preservation) ↑",
        "L1 to source (preservation) ↓",
        "L2 to source (preservation) ↓",
    ]
    lb = _header_texts(soup.select_one("table.leaderboard"))
    assert "CLIP-I to source (preservation) ↑" in lb and "clip_i" not in lb
    notes = [p.get_text(" ", strip=True) for p in soup.select("p.preservation-note")]
    assert len(notes) == 2 and all("CLIP-I 1.000" in n and "not editing quality" in n for n in notes)
    md = result.exports["md"].read_text()
    assert "| L1 to source (preservation) ↓ |" in md and "| CLIP-I to source (preservation) ↑ |" in md
    assert "never decide the ranking" in md
    doc = LeaderboardExport.model_validate_json(result.exports["json"].read_text())
    assert [(c.name, c.higher_is_better) for c in doc.metrics.columns][3] == ("l1", False)
    assert doc.tables[0].metric_columns[0].label == "CLIP-I to source (preservation)"
    mcsv = list(csv.DictReader(io.StringIO((tmp_path / "site" / "metrics.csv").read_text())))
    assert mcsv[0]["run_id"] == "ident" and float(mcsv[0]["l1"]) == 0.0 and float(mcsv[0]["clip_i"]) == 1.0


def test_exports_have_the_html_leaderboard_columns(three_runs):
    _base, _roots, result = three_runs
    soup = page_soup(result.index)
    table = soup.select_one("table.leaderboard")
    html_head = _header_texts(table)
    md = result.exports["md"].read_text()
    md_head = [c.strip() for c in md.splitlines()[2].strip("|").split("|")]
    norm = {"valid / n": "valid/n", "overall score": "overall"}
    # The page names the run inside the model cell; the Markdown gives it a column of its own.
    assert [norm.get(h, h) for h in html_head] == [h for h in md_head if h != "run"]
    # Every measured row: the Markdown cells read as the page's cells (intervals inline).
    md_rows = {
        line.split("|")[3].strip(): [c.strip() for c in line.strip().strip("|").split("|")]
        for line in md.splitlines()
        if line.startswith("| ") and "-run |" in line
    }
    for tr in table.select("tbody.measured tr"):
        html_cells = [td.get_text(" ", strip=True) for td in tr.find_all("td")]
        html_cells[1] = tr.select_one("td.model .label").get_text()
        md_cells = md_rows[tr["data-run"]]
        assert len(md_cells) == len(html_cells) + 1 and md_cells[2] == tr["data-run"]
        md_cells = md_cells[:2] + md_cells[3:]
        # Same cells up to the metrics (the vs-next cell words it slightly differently); counts 'a / b' ->
        # 'a/b'.
        assert md_cells[:17] == [h.replace(" / ", "/") for h in html_cells[:17]]
    rows = list(csv.DictReader(io.StringIO(result.exports["csv"].read_text())))
    for col in (
        "overall",
        "valid",
        "errors",
        "samples_covered",
        "photos",
        "metric_clip_i",
        "vs_next",
        "cost_usd",
    ):
        assert col in rows[0], col
    doc = LeaderboardExport.model_validate_json(result.exports["json"].read_text())
    assert doc.metrics is not None and [r.run_id for r in doc.metrics.rows] == [
        "0001-run",
        "0002-run",
        "0003-run",
    ]
    assert len(doc.reference_rows) == 10
    assert (
        (result.exports["csv-metrics"])
        .read_text()
        .startswith("model,run_id,benchmark,reference,n,n_error,clip_i,")
    )


def test_exports_without_judged_runs(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    make_run(tmp_path / "staging", "m", 7, 1, data_dir=data)
    runs = tmp_path / "runs"
    (runs / "unjudged").mkdir(parents=True)
    shutil.copy(tmp_path / "staging" / "0001-run" / "manifest.json", runs / "unjudged" / "manifest.json")
    off = build_site(runs, tmp_path / "off", reference=False, formats=["html", "md", "json", "csv"])
    md = off.exports["md"].read_text()
    assert (
        "pub." not in md and "No judged runs were found." in md and "Runs without judgments: 0001-run" in md
    )
    assert "1 run without judgments is listed below" in page_soup(off.index).select_one(
        "p.empty-runs"
    ).get_text(" ")
    on = build_site(runs, tmp_path / "on", formats=["md", "json", "csv"])
    md = on.exports["md"].read_text()
    assert md.count("| pub. |") == 10 and "Rows marked 'pub.' are published numbers" in md
    doc = LeaderboardExport.model_validate_json(on.exports["json"].read_text())
    assert doc.tables == [] and len(doc.reference_rows) == 10 and doc.unjudged_runs == ["0001-run"]
    assert len(list(csv.DictReader(io.StringIO(on.exports["csv"].read_text())))) == 10


def test_cli_says_when_no_runs_were_found(tmp_path):
    res = realedit_cli("report", "--out", str(tmp_path / "site"), "--no-gallery", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "no runs found at runs" in res.stderr
    assert (tmp_path / "site" / "index.html").is_file()


# ---------------------------------------------------------------------------------- --out, --format


def test_out_that_cannot_be_a_folder_is_one_line_before_any_work(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    make_run(tmp_path / "runs", "m", 7, 1, data_dir=data)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="afile, which is a file"):
        build_site(tmp_path / "runs", tmp_path / "afile" / "site")
    for out in (str(tmp_path / "afile" / "site"), "/proc/realedit-x", str(tmp_path / "afile")):
        res = realedit_cli("report", "--runs", str(tmp_path / "runs"), "--out", out, cwd=tmp_path)
        assert res.returncode == 2, (out, res.stderr)
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "--out" in res.stderr


def test_comma_formats_metric_interval_digits_and_copied_runs(tmp_path):
    data = make_dataset(tmp_path / "data", 1)
    make_run(tmp_path / "staging", "m", 7, 1, data_dir=data, run_id="r1")
    runs = tmp_path / "runs"
    runs.mkdir()
    for name in ("r1", "r1-copy"):
        subprocess.run(["cp", "-r", str(tmp_path / "staging" / "r1"), str(runs / name)], check=True)
    res = build_site(runs, tmp_path / "site", formats=["html", "md,csv"])
    assert {"md", "csv"} <= set(res.exports)
    soup = page_soup(res.index)
    # The copies are told apart everywhere, and the console says why there are two.
    assert [a.get_text() for a in soup.select("table.leaderboard td.model a.run")] == ["r1", "r1 in r1-copy/"]
    assert any("run id r1 is in 2 folders" in w for w in res.warnings)
    assert {r["run_folder"] for r in csv.DictReader(io.StringIO(res.exports["csv"].read_text()))} >= {
        "r1",
        "r1-copy",
    }
    # Metric intervals have the digits of the mean beside them.
    cell = soup.select_one('table.metrics td.metric[data-metric="clip_i"]')
    mean, ci = cell.contents[0].strip(), cell.select_one(".ci").get_text()
    assert len(mean.split(".")[1]) == 3 and ci == "[0.600, 0.990]⚠"  # a 1-photo run: the caution too


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
    res = realedit_cli(
        "report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "site"), cwd=tmp_path, env=env
    )
    assert res.returncode == 0, res.stderr
    assert "source photos not found for myeditor" in res.stderr and "--data-dir" in res.stderr
    with_data = realedit_cli(
        "report",
        "--runs",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "site"),
        cwd=tmp_path,
        env={**env, "REALEDIT_DATA_DIR": str(data)},
    )
    assert with_data.returncode == 0 and "source photos not found" not in with_data.stderr
