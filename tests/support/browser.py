"""Debian's chromium for the browser tests, driven by playwright (never a browser download)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import Any

CHROMIUM = shutil.which("chromium")
#: As root on a closed network: no sandbox, and none of chromium's background connections.
ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


@contextlib.contextmanager
def chromium_page(width: int, height: int) -> Iterator[tuple[Any, list[str]]]:
    """A page of a fresh headless chromium, and the list of problems it met: console errors and warnings,
    uncaught page errors, and requests leaving file:// (a fetch from the network)."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on(
                "request",
                lambda r: problems.append(f"request {r.url}") if not r.url.startswith("file://") else None,
            )
            yield page, problems
        finally:
            browser.close()
