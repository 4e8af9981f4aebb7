"""mypy on all four packages, with the settings in ``pyproject.toml`` ([tool.mypy])."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from paths import REPO


def test_mypy_reports_no_error_on_any_package():
    mypy = Path(sys.executable).with_name("mypy")
    assert mypy.exists(), f"{mypy} is missing: install the test extras (pip install -e '.[test]')"
    # No arguments: the files to check and every setting come from pyproject.toml, as for a developer.
    # A cold run (no .mypy_cache, as in CI) reads torch's and transformers' inline types and takes
    # about a minute on 2 cores; reruns use the cache and take seconds.
    res = subprocess.run([str(mypy)], cwd=REPO, capture_output=True, text=True, timeout=540)
    assert res.returncode == 0, res.stdout + res.stderr
    # Guard against a configuration that silently checks nothing.
    m = re.search(r"Success: no issues found in (\d+) source files", res.stdout)
    assert m is not None and int(m.group(1)) >= 70, res.stdout
