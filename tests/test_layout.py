"""The package layout rules (import contracts, light start-up, own packages), checked mechanically."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cli_runner import invoke
from paths import REPO


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run(
        [str(lint), str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 3 kept, 0 broken" in res.stdout


def test_cli_startup_imports_nothing_heavy():
    code = (
        "import sys; import realedit_bench.cli.main as m; "
        "heavy = [n for n in ('torch', 'diffusers', 'transformers', 'openai', 'anthropic', 'open_clip', "
        "'pandas') "
        "if n in sys.modules]; print(heavy)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_help_lists_every_verb():
    res = invoke("--help")
    assert res.returncode == 0
    for verb in ("run", "models", "data", "judge", "metrics", "report", "agree", "reward", "weights"):
        assert verb in res.stdout
    run_help = invoke("run", "--help").stdout
    assert "--model" in run_help and "resumes" in run_help


def test_a_shadowing_package_is_reported_in_one_line(tmp_path):
    fake = tmp_path / "adapters"
    fake.mkdir()
    (fake / "__init__.py").write_text("x = 1\n")
    exe = Path(sys.executable).with_name("realedit")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    res = subprocess.run([str(exe), "models"], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 2
    assert "is not realedit's" in res.stderr and "adapters" in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 2  # one message (rich may wrap a long line)


def test_models_table_lists_builtins():
    res = invoke("models")
    assert res.returncode == 0
    for name in (
        "instruct-pix2pix",
        "magicbrush",
        "identity",
        "reward-instruct-pix2pix",
        "timbrooks/instruct-pix2pix",
        "smartedit",
        "reward-smartedit",
        "hive",
    ):
        assert name in res.stdout
