"""The "Judges" section of the site: panels, model-rank agreement, canaries, drift checks (and their banner
over a table judged by a drifted judge) and calibrated scores, from files written by the real commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from judge_fixtures import CLAUDE, GEMINI, GPT
from trust_fixtures import MODELS, TrustRuns, trust_site

from leaderboard.site import build_site
from realedit_bench.jsonio import read_model
from realedit_bench.schema.trust import PanelSummary


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> TrustRuns:
    return trust_site(tmp_path_factory.mktemp("trust"))


@pytest.fixture(scope="module")
def page(made: TrustRuns) -> BeautifulSoup:
    assert made.site is not None
    return BeautifulSoup((made.site / "index.html").read_text(encoding="utf-8"), "html.parser")


def _cells(row) -> list[str]:
    return [td.get_text(" ", strip=True) for td in row.find_all("td")]


def test_the_navigation_links_the_judges_section(page: BeautifulSoup) -> None:
    assert page.select_one("#judges") is not None
    assert [a["href"] for a in page.select("nav a") if a.get_text() == "Judges"] == ["index.html#judges"]


def test_each_panel_shows_its_figures_and_what_each_judge_left_out(
    made: TrustRuns, page: BeautifulSoup
) -> None:
    sections = page.select("section.panel-summary")
    assert [s["data-run"] for s in sections] == list(MODELS)
    panel = read_model(made.runs / MODELS[0] / "judgments" / "panel__panel.panel.json", PanelSummary)
    first = sections[0]
    figures = first.select("table.panel-figures tbody tr")
    assert [r["data-perspective"] for r in figures] == ["following", "preserving", "quality"]
    pp = panel.perspectives["following"]
    assert _cells(figures[0])[3] == f"{pp.n_majority} · {pp.n_tied} · {pp.n_no_answer} of {pp.n}"
    judges = {r["data-judge"]: _cells(r)[-1] for r in first.select("table.panel-judges tbody tr")}
    assert set(judges) == {GPT, CLAUDE, GEMINI}
    refused = sum(p.left_out[CLAUDE].refused for p in panel.perspectives.values())
    invalid = sum(p.left_out[GEMINI].invalid for p in panel.perspectives.values())
    assert refused > 0 and invalid > 0
    assert judges[CLAUDE] == f"0 · {refused} · 0 · 0 · 0" and judges[GEMINI] == f"{invalid} · 0 · 0 · 0 · 0"
    assert len(first.select("table.panel-pairs tbody tr")) == 3 * 3  # 3 pairs x 3 perspectives
    ranks = page.select("table.rank-agreement tbody tr")
    assert len(ranks) == 3 * 3 and {_cells(r)[3] for r in ranks} == {"3"}  # 3 models each


def test_canaries_show_each_judges_pass_rate_and_flag_the_ones_below_the_threshold(
    page: BeautifulSoup
) -> None:
    rows = {r["data-judge"]: r for r in page.select("table.canaries tbody tr")}
    assert set(rows) == {GPT, CLAUDE, GEMINI}
    assert "passes 80%" in rows[CLAUDE].get_text() and "flagged" not in (rows[CLAUDE].get("class") or [])
    for judge in (GPT, GEMINI):
        assert "below 80%" in rows[judge].get_text() and "flagged" in rows[judge]["class"]
    assert _cells(rows[CLAUDE])[3].startswith("100%")
    assert len(page.select("details.canary-checks")) == 3


def test_a_drifted_judge_is_marked_and_its_table_carries_a_banner(page: BeautifulSoup) -> None:
    rows = {r["data-judge"]: r for r in page.select("table.drift tbody tr")}
    assert "drifted" in rows[GPT]["class"] and "(1 earlier)" in rows[GPT].get_text()
    assert "stable" in rows[CLAUDE].get_text() and "stable" in rows[GEMINI].get_text()
    banners = page.select("div.drift-banner")
    assert len(banners) == 1
    table = banners[0].find_next("table", class_="leaderboard")
    assert table["data-judge"] == GPT and banners[0].find_previous("h3").select_one("code").get_text() == GPT
    assert f"{MODELS[0]}: {GPT} has drifted" in banners[0].get_text(" ", strip=True)


def test_calibrated_scores_sit_beside_the_raw_ones_labelled_as_such(page: BeautifulSoup) -> None:
    section = page.select_one("#calibrated")
    assert section is not None and "Calibrated" in section.get_text()
    tables = page.select("table.calibrated")
    assert len(tables) == 3  # one per judge's table
    gpt = next(t for t in tables if t.find_previous("h4").select_one("code").get_text() == GPT)
    header = [th.get_text() for th in gpt.select("thead th")]
    assert header[1:3] == ["following raw", "following calibrated"]
    board = next(t for t in page.select("table.leaderboard") if t["data-judge"] == GPT)
    raw_board = {r["data-run"]: r.select_one('td.score[data-perspective="following"]') for r in board.select(
        "tbody.measured tr")}
    for row in gpt.select("tbody tr"):
        label, raw = _cells(row)[:2]
        assert raw.split(" ")[0] == raw_board[label].get_text(" ", strip=True).split(" ")[0]  # the same mean
    assert page.select("table.calibration-error tbody tr")


def test_one_judged_run_has_no_model_ranking_to_agree_on(made: TrustRuns, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(made.runs / MODELS[0], tmp_path / "runs" / MODELS[0])
    build_site(tmp_path / "runs", tmp_path / "site", gallery=False, data_dir=made.bench)
    one = BeautifulSoup((tmp_path / "site" / "index.html").read_text(encoding="utf-8"), "html.parser")
    assert one.select("table.panel-figures") and not one.select("table.rank-agreement")
    assert "needs two runs or more" in one.select_one("#rank-agreement").get_text()


def test_a_site_without_these_files_has_no_judges_section(tmp_path: Path) -> None:
    build_site(tmp_path / "no-runs", tmp_path / "site", gallery=False)
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'id="judges"' not in html and "index.html#judges" not in html
