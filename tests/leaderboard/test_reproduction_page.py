"""The reproduction page of ``realedit reproduce table1`` over tiny models and the local judge: every cell
shows the paper's value, ours with its interval and the mark the scripted answers call for; the methods not
reproduced say why; the differences from the authors' protocol and each model's settings are listed; and
the page works in a real browser (marks shown, no console error, no sideways scroll, linked from the index).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser import CHROMIUM, chromium_page
from judge_fixtures import judge_env
from judge_server import FakeJudgeServer
from report_fixtures import page_soup
from reproduce_fixtures import EDITORS, METHODS, reproduce_table1

from leaderboard.reference import load_reference
from realedit_bench.jsonio import read_model
from realedit_bench.schema.base import PERSPECTIVES
from realedit_bench.schema.judge import JudgeSummary
from realedit_bench.schema.reproduce import ReproductionRecord

#: The mark each perspective's cells get from the scripted answers (see reproduce_fixtures).
MARKS = {"following": "inside", "preserving": "outside", "quality": "outside"}


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory, tiny_pix2pix_dir) -> tuple:
    root = tmp_path_factory.mktemp("reproduce")
    with FakeJudgeServer() as server, pytest.MonkeyPatch.context() as mp:
        for key, value in judge_env(server, root / "cache").items():
            mp.setenv(key, value) if value else mp.delenv(key, raising=False)
        made, res = reproduce_table1(root, tiny_pix2pix_dir, server)
    assert res.returncode == 0, res.stderr
    return made, read_model(made.runs / "reproduction-table1.json", ReproductionRecord)


def _summary(made, record: ReproductionRecord, method: str) -> JudgeSummary:
    [m] = [m for m in record.methods if m.method == method]
    [path] = (made.runs / m.run / "judgments").glob("*.paper-parse.summary.json")
    return read_model(path, JudgeSummary)


def test_each_cell_has_the_papers_value_ours_and_the_mark(reproduced) -> None:
    made, record = reproduced
    page = page_soup(made.site / "reproduce-table1.html")
    published = {r.method: r.perspectives for r in load_reference().table1}
    for editor in EDITORS:
        method = METHODS[editor]
        s = _summary(made, record, method)
        row = page.select_one(f'table.reproduction tr[data-method="{method}"]')
        assert row["data-status"] == "reproduced"
        cells = row.select("td.cell")
        assert len(cells) == 6
        for i, p in enumerate(PERSPECTIVES):
            acc, score = cells[2 * i], cells[2 * i + 1]
            assert acc.select_one(".paper").get_text() == f"paper {100 * published[method][p][0]:.0f}%"
            assert score.select_one(".paper").get_text() == f"paper {published[method][p][1]:.2f}"
            # Ours is the authors' figure of the paper-protocol judgments, with its interval.
            assert float(acc.select_one(".ours")["data-value"]) == pytest.approx(
                s.paper_figures[p]["accuracy"])
            assert float(score.select_one(".ours")["data-value"]) == pytest.approx(
                s.paper_figures[p]["score_mean"])
            lo, hi = s.paper_intervals[p]["score_mean"]
            assert score.select_one(".ci").get_text() == f"[{lo:.2f}, {hi:.2f}]"
            assert acc["data-mark"] == score["data-mark"] == MARKS[p]
    assert page.select_one("#marks").get_text() == "4 cells inside, 8 outside, 0 without an interval."


def test_methods_not_reproduced_say_why(reproduced) -> None:
    made, _record = reproduced
    page = page_soup(made.site / "reproduce-table1.html")
    rows = {tr["data-method"]: tr for tr in page.select("table.reproduction tbody tr")}
    assert len(rows) == 10
    for method in ("KOSMOS-G", "MGIE", "InstructDiffusion"):
        assert rows[method]["data-status"] == "no adapter"
        assert "realedit has no editor for it" in rows[method].select_one("td.status").get_text()
        assert {td["data-mark"] for td in rows[method].select("td.cell")} == {"not-reproduced"}
        assert rows[method].select(".ours") == []
    assert rows["SmartEdit"]["data-status"] == "not selected"


def test_the_page_lists_the_differences_and_each_models_settings(reproduced) -> None:
    made, _record = reproduced
    page = page_soup(made.site / "reproduce-table1.html")
    differences = " ".join(li.get_text() for li in page.select("ul.differences li"))
    for said in ("one CUDA generator with 42", "retried with backoff", "crop box and size",
                 "Azure OpenAI (API version 2023-07-01-preview)", "from realedit's cache"):
        assert said in differences
    settings = {tr.select("td")[0].get_text(): tr.select("td")[2].get_text()
                for tr in page.select("table.settings-table tbody tr")}
    for editor in EDITORS:
        assert "steps=2" in settings[METHODS[editor]] and "resolution=64" in settings[METHODS[editor]]
    assert "guidance_scale=7.0" in settings["HQ-Edit"] and settings["SmartEdit"] == "not run"
    notes = page.select_one("ul.run-notes").get_text()
    assert "0 of 14 samples dropped by the authors' rule" in notes


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make browser)")
@pytest.mark.parametrize("width", [1400, 390])
def test_the_page_in_a_browser(reproduced, width: int, tmp_path: Path) -> None:
    made, _record = reproduced
    with chromium_page(width, 900) as (page, problems):
        page.goto((made.site / "index.html").as_uri())
        page.click("nav >> text=Reproduction: Table 1")
        assert page.url.endswith("/reproduce-table1.html")
        inside, outside = (page.locator(f"table.reproduction .mark.{m}") for m in ("inside", "outside"))
        assert inside.count() == 4 and outside.count() == 8
        assert inside.first.is_visible() and outside.first.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # the table scrolls in its box
        shot = tmp_path / f"reproduce-table1-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 5_000
        if os.environ.get("REALEDIT_SCREENS"):
            Path(os.environ["REALEDIT_SCREENS"]).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(os.environ["REALEDIT_SCREENS"]) / shot.name)
    assert problems == []
