"""The site in a real headless browser (Debian's chromium driven by playwright, no browser download), at a
desktop width (1400 px) and a phone width (390 px): the page never scrolls sideways, tables sort and keep
their groups, the reference switch hides what it says, charts are drawn to the width of their box, the
comparison and the gallery work with a mouse and with the keyboard, and no run string ever runs.

Screenshots of every view go to the test's folder, and to ``$REALEDIT_SCREENS`` when it is set.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

import pytest
from browser import CHROMIUM, chromium_page
from report_fixtures import XSS, invalidate_judgments, make_dataset, make_run, write_human_ratings

from leaderboard.site import build_site

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make browser)")

WIDTHS = (1400, 390)
IP2P = {"steps": 100, "scheduler": "euler_ancestral", "guidance_scale": 7.5, "image_guidance_scale": 1.5}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("browser")
    data = make_dataset(base / "data", 10, size=96)
    runs = base / "runs"
    run = functools.partial(make_run, runs, data_dir=data, image_size=64, base_seed=0)
    fast = {**IP2P, "steps": 20, "scheduler": "ddim"}
    roots = [
        run("instruct-pix2pix", 70, 11, params=IP2P, run_id="ip2p"),
        run("instruct-pix2pix", 70, 12, params=fast, run_id="ip2p-fast"),
        run("magicbrush", 70, 13, params=IP2P, run_id="magicbrush"),
        run("identity", 70, 14, params={}, run_id="identity", skill=0.2),
    ]
    run("hive", 20, 15, run_id="hive-stopped", n_selected=70)
    invalidate_judgments(run("smartedit", 70, 16, run_id="smartedit"))
    run(XSS, 70, 99, payload=XSS, run_id="xss-run")
    from realedit_bench.api import agree

    rated = [roots[0], *roots[2:]]  # one run per model: ratings are keyed by model
    human = write_human_ratings(rated, base / "human.csv")
    agree(human=[human], judgments=rated, out=runs / "agreement.json", resamples=50)
    build_site(runs, base / "site")
    return base / "site"


def _shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 5_000
    if os.environ.get("REALEDIT_SCREENS"):
        Path(os.environ["REALEDIT_SCREENS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["REALEDIT_SCREENS"]) / path.name)


def _open(page, path: Path) -> None:
    page.goto(path.as_uri())
    page.wait_for_load_state("load")


def _page_fits(page) -> None:
    """The page itself never scrolls sideways: wide tables scroll inside their boxes."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths


def _column(table, selector: str) -> list[float]:
    return [
        float(v)
        for v in table.locator(selector).evaluate_all("els => els.map(e => e.getAttribute('data-value'))")
    ]


@pytest.mark.parametrize("width", WIDTHS)
def test_index_sorts_filters_and_fits(site, tmp_path, width):
    dialogs: list[str] = []
    with chromium_page(width, 900) as (page, problems):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        _open(page, site / "index.html")
        _page_fits(page)
        table = page.locator("table.leaderboard").first
        box = page.evaluate("""() => {
            const b = document.querySelector('table.leaderboard').closest('.scroll');
            return {over: b.scrollWidth > b.clientWidth + 1, hint: !b.previousElementSibling.hidden}; }""")
        # At 1400 px the ranked table fits its box with the prose folded away; on a phone it scrolls inside.
        assert box == ({"over": False, "hint": False} if width == 1400 else {"over": True, "hint": True})
        assert page.locator("details.about").get_attribute("open") is None
        assert "shift" not in page.locator("body").inner_text().lower()
        _shot(page, tmp_path, f"index-{width}")

        ranked = lambda: table.locator("tbody.ranked td.model .label").all_inner_texts()  # noqa: E731
        before = ranked()
        assert len(before) == 5 and table.locator("tbody.unranked tr").count() == 2
        # Click "model": sorted by name within each group; ranked and unranked rows never mix.
        table.locator("thead th", has_text="model").first.click()
        assert ranked() == sorted(before, key=str.lower) and ranked() != before
        assert table.locator("tbody.unranked tr").count() == 2
        # Keyboard: focus "quality score" and press Enter: highest first, Enter again flips it.
        header = table.locator("thead th", has_text="quality score")
        header.focus()
        page.keyboard.press("Enter")
        values = _column(table, 'tbody.ranked td.score[data-perspective="quality"]')
        assert values == sorted(values, reverse=True) and header.get_attribute("aria-sort") == "descending"
        page.keyboard.press("Enter")
        values = _column(table, 'tbody.ranked td.score[data-perspective="quality"]')
        assert values == sorted(values) and header.get_attribute("aria-sort") == "ascending"
        # '#' puts rank 1 on top again.
        table.locator("thead th").first.click()
        assert table.locator("tbody.ranked td.rank").all_inner_texts() == ["1", "2", "3", "4", "5"]

        # The reference switch hides the published rows of the leaderboard only, never Tables 1-3.
        assert table.locator("tbody.reference tr").count() == 10
        page.locator("#show-reference").uncheck()
        assert not table.locator("tbody.reference tr").first.is_visible()
        assert not table.locator("tbody.ref-head").is_visible()
        for ref in ("#ref-table1", "#ref-table2", "#ref-table3"):
            page.locator(ref).scroll_into_view_if_needed()
            assert page.locator(f"{ref} tbody tr").first.is_visible(), ref
        page.locator("#show-reference").check()
        assert table.locator("tbody.reference tr").first.is_visible()
        # The judgment counts are one switch away.
        assert not table.locator("td.invalid").first.is_visible()
        page.locator("#show-counts").check()
        assert table.locator("td.invalid").first.is_visible()
        page.locator("#show-counts").uncheck()
        _page_fits(page)
    assert problems == [] and dialogs == []


def test_charts_are_drawn_to_the_width_of_their_box(site, tmp_path):
    with chromium_page(1400, 900) as (page, problems):
        _open(page, site / "index.html")
        figure = page.locator('section.charts figure.bars[data-perspective="quality"]')
        figure.scroll_into_view_if_needed()

        def geometry():
            return figure.evaluate("""f => { const s = f.querySelector('svg'), p = f.querySelector('.plot');
                const t = s.querySelector('text.label');
                return {svg: Number(s.getAttribute('width')), box: p.clientWidth,
                        bars: s.querySelectorAll('rect').length, font: getComputedStyle(t).fontSize,
                        scaled: s.getBoundingClientRect().width}; }""")

        wide = geometry()
        assert (
            wide["svg"] == wide["box"] == wide["scaled"] and wide["bars"] == 6
        )  # 7 runs, one without values
        assert wide["font"] == "12px"
        page.set_viewport_size({"width": 390, "height": 900})
        page.wait_for_function(
            "f => f.querySelector('svg').getAttribute('width') < 400", arg=figure.element_handle()
        )
        narrow = geometry()
        # Redrawn, not shrunk: the picture is as wide as its box and its text keeps its size.
        assert narrow["svg"] == narrow["box"] == narrow["scaled"] < wide["svg"] and narrow["font"] == "12px"
        page.select_option("section.charts select.chart-measure", "acc")
        assert figure.locator("svg text.tick").last.text_content() == "100%"
        _page_fits(page)
        figure.scroll_into_view_if_needed()
        _shot(page, tmp_path, "charts-390")
    assert problems == []


@pytest.mark.parametrize("width", WIDTHS)
def test_comparison_of_two_runs(site, tmp_path, width):
    dialogs: list[str] = []
    with chromium_page(width, 900) as (page, problems):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        _open(page, site / "compare.html")
        _page_fits(page)
        a, b = page.locator("#cmp-a"), page.locator("#cmp-b")
        assert a.input_value() == "0" and b.input_value() == "1"
        assert a.locator("option").first.inner_text().startswith("#1 ")
        headline = page.locator("#cmp-summary p.headline").inner_text()
        assert headline.startswith("On ") and "samples both judged validly (overall score)" in headline
        cats = page.locator("#cmp-categories tr[data-category]")
        assert cats.count() == 7 and cats.first.get_attribute("data-category") == "local"
        n_disagree = page.locator("#cmp-disagree article.disagree").count()
        assert 0 < n_disagree <= 30
        assert page.locator("#cmp-disagree article.disagree").first.locator("a.zoom").count() == 3
        _shot(page, tmp_path, f"compare-{width}")
        # Another pair: the address keeps it, the view follows; the swap button exchanges A and B.
        page.select_option("#cmp-b", "3")
        assert page.url.endswith("#t0:0:3")
        fourth = b.locator("option").nth(3).inner_text().split(" ", 1)[1]
        assert page.locator("#cmp-summary th").nth(2).inner_text() == f"B: {fourth}"
        page.locator("#cmp-swap").click()
        assert page.url.endswith("#t0:3:0") and a.input_value() == "3"
        # A run without a valid judgment has nothing in common with any other.
        page.select_option("#cmp-a", str(a.locator("option", has_text="smartedit").get_attribute("value")))
        assert "nothing to compare" in page.locator("#cmp-summary").inner_text()
        _page_fits(page)
        # Opened from a leaderboard row's 'compare' link, the page shows that pair.
        _open(page, site / "index.html")
        page.locator("table.leaderboard tbody.ranked tr").first.locator("a.cmp").click()
        page.wait_for_load_state("load")
        assert page.url.endswith("compare.html#t0:0:1") and page.locator("#cmp-b").input_value() == "1"
    assert problems == [] and dialogs == []  # the run named by an XSS payload is compared as text


@pytest.mark.parametrize("width", WIDTHS)
def test_gallery_search_filters_viewer_and_keys(site, tmp_path, width):
    dialogs: list[str] = []
    with chromium_page(width, 900) as (page, problems):
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        _open(page, site / "gallery" / "index.html")
        _page_fits(page)
        # Search by instruction text: '/' focuses the box; matching pages stay, the rest hide.
        page.keyboard.press("/")
        page.keyboard.type("style part of photo 3")
        assert page.locator("#search-count").inner_text() == "1 instruction on 1 page"
        assert [a.get_attribute("data-page") for a in page.locator("a.photo").all() if a.is_visible()] == [
            "3.html"
        ]
        page.locator("#search-text").fill("style")
        assert page.locator("#search-results li").count() == 10
        page.locator("#search-text").fill("")
        # Arrow keys move between the pages' tiles.
        page.locator("a.photo").first.focus()
        page.keyboard.press("ArrowRight")
        assert page.evaluate("document.activeElement.getAttribute('data-page')") == "2.html"
        _shot(page, tmp_path, f"gallery-index-{width}")

        _open(page, site / "gallery" / "2.html")
        _page_fits(page)
        cards = page.locator(".card[data-run]")
        assert cards.count() == 7 * 7  # 7 instructions x 7 runs (the stopped one reached photo 2)
        # Runs side by side: keep two, hide the rest.
        page.locator("#runs-none").click()
        page.locator('input[name="run"][value="ip2p"]').check()
        page.locator('input[name="run"][value="magicbrush"]').check()
        assert len([c for c in cards.all() if c.is_visible()]) == 14
        page.select_option("#filter-category", "style")
        assert len([c for c in cards.all() if c.is_visible()]) == 2
        page.locator("#filter-text").fill("nothing like this")
        assert page.locator("section.item:visible").count() == 0
        page.locator("#filter-text").fill("")
        # A click opens the larger copy; arrows move between the images shown; Esc closes.
        shown = page.locator('section[data-category="style"] .card[data-run="ip2p"] a.zoom')
        shown.scroll_into_view_if_needed()
        shown.click()
        viewer = page.locator("dialog#viewer")
        assert viewer.is_visible()
        page.wait_for_function("() => document.querySelector('#viewer img').naturalWidth > 0")
        first = viewer.locator(".caption").inner_text()
        assert first == "Photo 2 · style · instruct-pix2pix"
        page.keyboard.press("ArrowRight")
        assert viewer.locator(".caption").inner_text() == "Photo 2 · style · magicbrush"
        _shot(page, tmp_path, f"gallery-viewer-{width}")
        page.keyboard.press("Escape")
        assert not viewer.is_visible()
        page.select_option("#filter-category", "")
        page.locator("#runs-all").click()
        page.locator("h1").click()
        _shot(page, tmp_path, f"gallery-{width}")
        # Arrow keys turn the pages.
        page.keyboard.press("ArrowRight")
        page.wait_for_url("**/gallery/3.html")
        page.keyboard.press("ArrowLeft")
        page.wait_for_url("**/gallery/2.html")
    assert problems == [] and dialogs == []


def test_agreement_page_fits_a_phone_and_has_the_whole_navigation(site, tmp_path):
    with chromium_page(390, 900) as (page, problems):
        _open(page, site / "agreement.html")
        _page_fits(page)
        nav = page.locator("header nav a").all_inner_texts()
        assert nav == [
            "realedit",
            "Leaderboard",
            "Per category",
            "Charts",
            "Compare",
            "Gallery",
            "Published",
            "Provenance",
            "Agreement",
        ]
        _shot(page, tmp_path, "agreement-390")
        _open(page, site / "index.html")
        assert page.locator("header nav a").all_inner_texts() == nav
    assert problems == []
