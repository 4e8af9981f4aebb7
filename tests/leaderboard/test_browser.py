"""The leaderboard in a real headless browser: Debian's chromium driven by playwright (no browser
download)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser import CHROMIUM, chromium_page
from report_fixtures import XSS, make_dataset, make_run

from leaderboard.site import build_site

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make browser)")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("browser")
    data = make_dataset(base / "data", 3)
    for i, m in enumerate(["instruct-pix2pix", "magicbrush", "hive", "smartedit"]):
        make_run(base / "runs", m, 21, i + 11, data_dir=data)
    make_run(base / "runs", XSS, 14, 99, data_dir=data, payload=XSS, run_id="xss-run")
    build_site(base / "runs", base / "site")
    return base / "site"


def test_page_loads_sorts_and_filters_in_chromium(site, tmp_path):
    dialogs: list[str] = []
    with chromium_page(1500, 1100) as (page, problems):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto((site / "index.html").as_uri())
        page.wait_for_load_state("load")

        table = page.locator("table.leaderboard").first
        models = lambda: table.locator("tbody.measured td.model").all_inner_texts()  # noqa: E731
        before = models()
        assert len(before) == 5
        # Click "model": sorted by name, ascending.
        table.locator("thead th", has_text="model").first.click()
        by_name = models()
        assert by_name == sorted(before, key=str.lower) and by_name != before
        # Click "quality score": highest first, then a second click flips it.
        header = table.locator("thead th", has_text="quality score")
        header.click()
        values = [
            float(v)
            for v in table.locator('tbody.measured td.score[data-perspective="quality"]').evaluate_all(
                "els => els.map(e => e.getAttribute('data-value'))"
            )
        ]
        assert values == sorted(values, reverse=True)
        assert header.get_attribute("aria-sort") == "descending"
        shot = tmp_path / "leaderboard.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 10_000
        shutil.copy(shot, "/tmp/realedit-screenshot.png")
        header.click()
        values2 = [
            float(v)
            for v in table.locator('tbody.measured td.score[data-perspective="quality"]').evaluate_all(
                "els => els.map(e => e.getAttribute('data-value'))"
            )
        ]
        assert values2 == sorted(values2)
        # Reference rows stay in their own body, and the switch hides them.
        assert table.locator("tbody.reference tr").count() == 10
        page.locator("#show-reference").uncheck()
        assert not table.locator("tbody.reference tr").first.is_visible()
        page.locator("#show-reference").check()
        assert table.locator("tbody.reference tr").first.is_visible()

        # A gallery page: images load from the site, filters hide other models and categories.
        page.goto((site / "gallery" / "1.html").as_uri())
        page.wait_for_load_state("load")
        cards = page.locator(".card[data-model]")
        total = cards.count()
        assert total == 5 * 7
        page.select_option("#filter-model", "magicbrush")
        visible = [c for c in cards.all() if c.is_visible()]
        assert len(visible) == 7
        # Lazy images load once scrolled into view, from the site's thumbs/ folder.
        shown = page.locator('.card[data-model="magicbrush"] img').first
        shown.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=shown.element_handle())
        page.select_option("#filter-category", "style")
        assert len([c for c in cards.all() if c.is_visible()]) == 1
        page.screenshot(path=str(tmp_path / "gallery.png"))
    assert problems == []
    assert dialogs == []  # the XSS payload never ran


def test_rank_sorts_ascending_and_wide_table_scrolls_in_its_box(site, tmp_path):

    with chromium_page(1400, 1000) as (page, problems):
        page.goto((site / "index.html").as_uri())
        page.wait_for_load_state("load")
        table = page.locator("table.leaderboard").first
        ranks = lambda: table.locator("tbody.measured td.rank").all_inner_texts()  # noqa: E731
        table.locator("thead th", has_text="model").first.click()  # shuffle first
        head = table.locator("thead th").first
        head.click()
        # First click on '#': rank 1 on top, as the page was built; unranked rows last.
        got = ranks()
        numbered = [int(r) for r in got if r.isdigit()]
        assert (
            numbered == sorted(numbered)
            and got[0] == "1"
            and head.get_attribute("aria-sort") == "ascending"
        )
        # The page itself never scrolls sideways: the wide table scrolls inside its box, says so, and
        # keeps the rank and model columns in view.
        geo = page.evaluate("""() => { const box = table => table.closest('.scroll');
            const b = box(document.querySelector('table.leaderboard'));
            return {doc: document.documentElement.scrollWidth, win: window.innerWidth,
                    over: b.scrollWidth > b.clientWidth, hint: !b.previousElementSibling.hidden}; }""")
        assert geo["doc"] <= geo["win"], geo
        assert geo["over"] == geo["hint"]
        box = page.locator(".scroll").first
        model_cell = table.locator("tbody.measured td.model").first
        x0 = model_cell.bounding_box()["x"]
        box.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
        assert abs(model_cell.bounding_box()["x"] - x0) < 2
        box.evaluate("b => { b.scrollLeft = 0; }")
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "wide.png"))
        shutil.copy(tmp_path / "wide.png", "/tmp/realedit-screenshot-1400.png")
    assert problems == []
