"""At 80 columns (``COLUMNS=80``) every verb's ``--help`` and every table realedit prints fit: no line is
longer and no word is cut to an ellipsis ('perspecti…'). Paths are printed whole on lines of their own
(wrapped by the terminal, never split by realedit), so those lines are not held to 80."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import typer
from cli_runner import invoke
from judge_fixtures import GPT

from realedit_bench.cli.main import app
from realedit_bench.registry import ADAPTERS

WIDTH = 80


def _commands() -> list[tuple[str, ...]]:
    """Every command path of the app: (), ("run",), ("data",), ("data", "fetch"), ..."""
    found: list[tuple[str, ...]] = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        found.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():  # a group: its sub-commands
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def _too_wide(text: str, *, paths: tuple[Path, ...] = ()) -> list[str]:
    """The lines longer than 80 columns or holding a cut word; lines naming one of ``paths`` are exempt."""
    return [line for line in text.splitlines()
            if (len(line) > WIDTH and not any(str(p) in line for p in paths)) or "…" in line]


@pytest.fixture
def columns_80(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p) or "realedit")
def test_every_help_fits_80_columns(path: tuple[str, ...], columns_80) -> None:
    res = invoke(*path, "--help")
    assert res.returncode == 0, res.stderr
    assert "Usage:" in res.stdout
    assert _too_wide(res.stdout) == []


def test_models_and_every_models_settings_fit_80_columns(columns_80) -> None:
    res = invoke("models")
    assert res.returncode == 0 and "timbrooks/instruct-pix2pix" in res.stdout
    assert _too_wide(res.stdout) == []
    for name in ADAPTERS.names():
        res = invoke("models", "--params", name)
        assert res.returncode == 0, res.stderr
        assert _too_wide(res.stdout) == [], name


def test_data_info_prints_its_folder_whole_and_a_table_that_fits(real_edit_dir: Path, columns_80) -> None:
    res = invoke("data", "info", "--data-dir", str(real_edit_dir))
    assert res.returncode == 0, res.stderr
    first, *rest = res.stdout.splitlines()
    assert first == f"real-edit in {real_edit_dir}"  # one line, never split: it is copied
    assert "total" in res.stdout and _too_wide("\n".join(rest)) == []


def test_judge_and_metrics_tables_fit_80_columns(judge_setup, columns_80) -> None:
    bench, edits = judge_setup
    res = invoke("judge", "--images", str(edits), "--data-dir", str(bench), "--judge", GPT)
    assert res.returncode == 0, res.stderr
    assert "perspective" in res.stdout and "following" in res.stdout and "accuracy %" in res.stdout
    assert _too_wide(res.stdout, paths=(edits,)) == []
    res = invoke("metrics", "--images", str(edits), "--data-dir", str(bench), "--metric", "l1,l2",
                 "--resamples", "100")
    assert res.returncode == 0, res.stderr
    assert "L1 to source (preservation)" in res.stdout and _too_wide(res.stdout) == []


def test_agree_prints_the_key_numbers_within_80_columns(tmp_path: Path, columns_80) -> None:
    human, judge = tmp_path / "human.csv", tmp_path / "judge.csv"
    for path, raters, shift in ((human, ("ann", "bo"), 0), (judge, ("gpt",), 1)):
        with open(path, "w", newline="") as fh:
            rows = csv.writer(fh)
            rows.writerow(["sample_id", "model", "perspective", "rater", "score", "verdict"])
            for photo in range(1, 7):
                for m, model in enumerate(("model-a", "model-b", "model-c")):
                    for p, perspective in enumerate(("following", "preserving", "quality")):
                        for r, rater in enumerate(raters):
                            score = (photo + m + p + r + shift) % 6
                            rows.writerow([f"{photo}-local", model, perspective, rater, score,
                                           "yes" if score >= 3 else "no"])
    res = invoke("agree", "--human", str(human), "--judge-ratings", str(judge), "--out",
                 str(tmp_path / "agreement.json"), "--resamples", "100")
    assert res.returncode == 0, res.stderr
    assert all(p in res.stdout for p in ("following", "preserving", "quality"))
    assert _too_wide(res.stdout) == []
    assert len(res.stdout.splitlines()) < 40  # the key numbers; --verbose prints the rest
