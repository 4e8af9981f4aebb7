"""Debian's chromium for the browser tests, driven by playwright (never a browser download)."""

from __future__ import annotations

import shutil

CHROMIUM = shutil.which("chromium")
#: As root on a closed network: no sandbox, and none of chromium's background connections.
ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
