"""The "Judges" section in a real headless browser (Debian's chromium driven by playwright), at a desktop
width (1400 px) and a phone width (390 px): every part shows, the page never scrolls sideways (wide tables
scroll in their boxes), the drift banner sits over its table, and the page meets no error.

Screenshots of each part go to the test's folder, and to ``$REALEDIT_SCREENS`` when it is set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser import CHROMIUM, chromium_page
from judge_fixtures import GPT
from trust_fixtures import trust_site

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make browser)")

PARTS = {"judges": "#judges", "panels": "#panels", "canaries": "#canaries", "drift": "#drift",
         "calibrated": "#calibrated", "banner": "div.drift-banner"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    made = trust_site(tmp_path_factory.mktemp("trust-browser"))
    assert made.site is not None
    return made.site


def _shot(page, folder: Path, name: str) -> None:
    path = folder / f"judging-{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 5_000
    if os.environ.get("REALEDIT_SCREENS"):
        Path(os.environ["REALEDIT_SCREENS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["REALEDIT_SCREENS"]) / path.name)


@pytest.mark.parametrize("width", (1400, 390))
def test_the_judges_section_shows_every_part_and_fits(site: Path, tmp_path: Path, width: int) -> None:
    with chromium_page(width, 900) as (page, problems):
        page.goto((site / "index.html").as_uri())
        page.wait_for_load_state("load")
        page.locator("nav a", has_text="Judges").click()
        assert page.locator("#judges").is_visible()
        for name, selector in PARTS.items():
            part = page.locator(selector).first
            part.scroll_into_view_if_needed()
            assert part.is_visible(), name
            _shot(page, tmp_path, f"{name}-{width}")
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths  # wide tables scroll inside their boxes
        banner = page.locator("div.drift-banner")
        assert banner.count() == 1 and GPT in banner.inner_text()
        under = page.evaluate("""() => { const b = document.querySelector('div.drift-banner');
            const after = t => b.compareDocumentPosition(t) & Node.DOCUMENT_POSITION_FOLLOWING;
            return [...document.querySelectorAll('table.leaderboard')].find(after).dataset.judge; }""")
        assert under == GPT  # the banner sits over the drifted judge's table
        flagged = page.locator("table.canaries tr.flagged")
        assert flagged.count() == 2 and page.locator("table.drift tr.drifted").count() == 1
    assert problems == []
