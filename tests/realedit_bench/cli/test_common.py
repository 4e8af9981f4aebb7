"""What every verb shares: option parsing, the progress bar that waits for the work, and the exit with an
outcome's code (a problem found after the work started is the one-line error of exit code 2)."""

from __future__ import annotations

import io

import pytest
import typer
from cli_runner import invoke
from rich.console import Console

from realedit_bench.cli._common import LazyProgress, finish, parse_key_values, split_csv
from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.outcome import AnnotateOutcome, RunOutcome


def test_key_values_and_comma_lists_are_parsed():
    assert parse_key_values(["steps=20", " scheduler =ddim", "prompt=a=b"]) == {
        "steps": "20", "scheduler": "ddim", "prompt": "a=b"}
    assert parse_key_values(None) == {}
    with pytest.raises(ConfigError, match="-M 'steps': expected key=value"):
        parse_key_values(["steps"])
    assert split_csv(["local,add", " remove ", ","]) == ["local", "add", "remove"]
    assert split_csv(None) == []


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=80, force_terminal=False), out


def test_the_bar_appears_only_once_the_work_reports_it_started():
    console, out = _console()
    with LazyProgress("work", console=console):
        pass  # e.g. bad input raised before any work: not even an empty line
    assert out.getvalue() == ""
    console, out = _console()
    with LazyProgress("work", console=console) as bar:
        bar(0, None)
        bar(2, 4)
        bar(4, 4)
    assert "work" in out.getvalue() and "100%" in out.getvalue()


def test_finish_exits_with_the_outcome_code_or_raises_its_error():
    with pytest.raises(typer.Exit) as done:
        finish(RunOutcome(exit_code=130))
    assert done.value.exit_code == 130
    stopped = AnnotateOutcome(judge="j", paths=None, error="budget reached; rerun to resume", exit_code=2)
    with pytest.raises(RealEditError, match="^budget reached; rerun to resume$"):
        finish(stopped)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--model", "identity", "-M", "steps"], "-M 'steps': expected key=value"),
        (["run", "--model", "identity", "--num-processes", "0"], "--num-processes must be >= 1"),
        (["data", "fetch", "--source", "gitlab"], "--source must be github or hf, got 'gitlab'"),
        (["agree", "--template", "x", "--human", "h.csv"], "--template writes a blank sheet"),
        (["reward", "annotate", "--triplets", "hf:x", "-o", "o"], "not a hub dataset"),
    ],
)
def test_bad_options_are_one_line_and_exit_code_2(args: list[str], message: str, real_edit_dir):
    res = invoke(*args, *(["--data-dir", str(real_edit_dir)] if args[0] == "run" else []))
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert "Traceback" not in res.stderr
