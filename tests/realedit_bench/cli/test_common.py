"""What every verb shares: option parsing and the exit with an outcome's code (a problem found after the work
started is the one-line error of exit code 2)."""

from __future__ import annotations

import pytest
import typer
from cli_runner import invoke

from realedit_bench.cli._common import finish, parse_key_values, split_csv
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
        (["reward", "annotate", "--triplets", "hf:x", "--out", "o"], "not a hub dataset"),
    ],
)
def test_bad_options_are_one_line_and_exit_code_2(args: list[str], message: str, real_edit_dir):
    res = invoke(*args, *(["--data-dir", str(real_edit_dir)] if args[0] == "run" else []))
    assert res.returncode == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert "Traceback" not in res.stderr
