"""ruff (pyflakes, isort, bugbear, pyupgrade) over the whole repository, with the rules in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from paths import REPO


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    res = subprocess.run(
        [str(ruff), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-1000:]
