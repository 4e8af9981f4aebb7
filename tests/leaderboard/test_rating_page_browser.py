"""The annotation page of ``realedit agree --template`` used by a rater in a real headless browser.

Debian's chromium driven by playwright (no browser download): the page is opened from file:// as a rater
would open a mailed file, filled in with clicks and the keyboard, reloaded, and exported; the download is
read back with the project's own ratings reader.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser import ARGS, CHROMIUM
from cli_runner import invoke
from report_fixtures import XSS, make_dataset

from realedit_bench.agreement.ratings import Rating, read_ratings

RATER = 'Dana "D", R.'  # a comma and quotes: the CSV cell must be quoted, the file name sanitised

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (make browser)")


@pytest.fixture(scope="module")
def page_path(tmp_path_factory) -> Path:
    """An identity run over photo 1 (7 edits, one instruction carrying an XSS payload) and its page."""
    base = tmp_path_factory.mktemp("annotate")
    data = make_dataset(base / "data", 2, payload=XSS, size=320)
    r = invoke(
        "run", "--model", "identity", "--limit", "7", "--data-dir", str(data), "--out", str(base / "runs")
    )
    assert r.returncode == 0, r.stderr
    (run_dir,) = (base / "runs").iterdir()
    r = invoke("agree", "--template", str(run_dir), "--out", str(base / "sheet"))
    assert r.returncode == 0, r.stderr
    return base / "sheet" / "annotate.html"


@pytest.fixture(scope="module")
def browser():
    """One headless chromium for the module (launching costs about a second)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _open(browser, url: str, problems: list[str], dialogs: list[str], requests: list[str]):
    """A fresh context (own localStorage) with every console problem, dialog and request recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.on(
        "console",
        lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url)
    page.wait_for_load_state("load")
    return context, page


def _item(page, sample_id: str):
    return page.locator(f'.item[data-sample-id="{sample_id}"]')


def _group(page, sample_id: str, perspective: str, what: str):
    """The radio group a rater sees as e.g. 'following score' under edit ``sample_id``."""
    return _item(page, sample_id).get_by_role("radiogroup", name=f"{perspective} {what}")


def test_rater_scores_reloads_and_exports_csv(browser, page_path: Path, tmp_path: Path):
    problems: list[str] = []
    dialogs: list[str] = []
    requests: list[str] = []
    context, page = _open(browser, page_path.as_uri(), problems, dialogs, requests)
    try:
        # The script ran under the page's CSP: the items exist and the progress line is filled in.
        assert page.locator(".item").count() == 7
        assert page.locator("#progress").inner_text().startswith("0 / 21")
        # The payload is shown as text, never parsed as markup.
        assert XSS in _item(page, "1-local").inner_text()
        assert page.locator('img[src="x"]').count() == 0 and page.locator("#items script").count() == 0
        # Every image decoded (data: thumbnails, nothing from disk or network).
        assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")

        # Exporting before typing a name asks for the name and downloads nothing.
        page.get_by_role("button", name="Export CSV").click()
        assert len(dialogs) == 1 and "name" in dialogs[0].lower()
        page.get_by_label("Your name").fill(RATER)
        # ... and with a name but no score yet, says there is nothing to export.
        page.get_by_role("button", name="Export CSV").click()
        assert len(dialogs) == 2 and "nothing" in dialogs[1].lower()

        # Clicks on the labels a rater sees.
        _group(page, "1-local", "following", "score").get_by_label("4").check()
        _group(page, "1-local", "following", "verdict").get_by_label("yes").check()
        _group(page, "1-local", "quality", "score").get_by_label("2").check()
        # Changing one's mind: the last choice counts.
        _group(page, "1-texture", "following", "score").locator("label", has_text="5").click()
        _group(page, "1-texture", "following", "score").locator("label", has_text="3").click()
        # Taking a score back with its clear button: not exported.
        _group(page, "1-remove", "quality", "score").get_by_label("1").check()
        _group(page, "1-remove", "quality", "score").get_by_role("button", name="clear").click()
        # A verdict alone is not a rating (the reader needs a score beside it).
        _group(page, "1-global", "quality", "verdict").get_by_label("no").check()
        # The keyboard: focus the first score of a group, arrow keys move the choice.
        zero = _group(page, "1-add", "preserving", "score").get_by_label("0")
        zero.focus()
        page.keyboard.press("Space")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        verdict_no = _group(page, "1-add", "preserving", "verdict").get_by_label("no")
        verdict_no.focus()
        page.keyboard.press("Space")
        assert _group(page, "1-add", "preserving", "score").get_by_label("2").is_checked()
        assert page.locator("#progress").inner_text().startswith("4 / 21")

        # Progress survives a reload (localStorage of the page).
        page.reload()
        page.wait_for_load_state("load")
        assert page.get_by_label("Your name").input_value() == RATER
        assert _group(page, "1-local", "following", "score").get_by_label("4").is_checked()
        assert _group(page, "1-texture", "following", "score").get_by_label("3").is_checked()
        assert not _group(page, "1-remove", "quality", "score").get_by_label("1").is_checked()
        assert page.locator("#progress").inner_text().startswith("4 / 21")

        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(tmp_path / "annotate.png"))
        shutil.copy(tmp_path / "annotate.png", "/tmp/realedit-annotate.png")

        with page.expect_download() as dl_info:
            page.get_by_role("button", name="Export CSV").click()
        download = dl_info.value
        assert download.suggested_filename.endswith(".csv") and "," not in download.suggested_filename
        out = tmp_path / "ratings.csv"
        download.save_as(out)
    finally:
        context.close()

    got = read_ratings([out]).ratings
    model = "identity"
    want = [
        Rating("1-local", "1", model, "following", RATER, 4.0, True),
        Rating("1-local", "1", model, "quality", RATER, 2.0, None),
        Rating("1-add", "1", model, "preserving", RATER, 2.0, False),
        Rating("1-texture", "1", model, "following", RATER, 3.0, None),
    ]
    assert sorted(got) == sorted(want)
    assert problems == []
    assert len(dialogs) == 2  # only the two reminders: the XSS payload never ran
    assert all(u.startswith(("file://", "data:")) for u in requests), requests


def test_blocked_script_and_bad_storage_are_caught(browser, page_path: Path, tmp_path: Path):
    """The checks above can fail: a script the CSP does not allow is reported on the console, and stored
    progress the page cannot use (another version, a hand edit) is ignored instead of breaking the page."""
    tampered = tmp_path / "tampered.html"
    html = page_path.read_text(encoding="utf-8")
    # One extra byte in the inline script: its sha256 no longer matches the page's CSP.
    tampered.write_text(html.replace('"use strict";', '"use strict"; ', 1), encoding="utf-8")
    problems: list[str] = []
    context, page = _open(browser, tampered.as_uri(), problems, [], [])
    try:
        assert page.locator(".item").count() == 0
        assert any("Content Security Policy" in p for p in problems), problems
    finally:
        context.close()

    for stored in (
        "null",
        "[1]",
        '{"answers": null, "rater": 5}',
        '{"answers": {"1-local\\u0000quality": {"score": "7"}}}',
    ):
        problems = []
        context, page = _open(browser, page_path.as_uri(), problems, [], [])
        try:
            page.evaluate(
                "v => localStorage.setItem('realedit-annotate-' + document.body.dataset.pageId, v)", stored
            )
            page.reload()
            page.wait_for_load_state("load")
            assert page.locator(".item").count() == 7, stored
            assert page.locator("#progress").inner_text().startswith("0 / 21"), (
                stored
            )  # a score of 7 is not kept
            assert problems == [], (stored, problems)
        finally:
            context.close()
