"""The progress display every long verb shows: a bar with counts, rate and ETA on a terminal (from the moment
the work starts: what is loading, the steps inside a sample), plain lines every N seconds off one.

The end-to-end cases run the real console script on a pseudo-terminal (``pty``) and through a pipe: an
identity ``realedit run`` and a ``realedit judge`` against the local fake judge server."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from cli_runner import realedit_cli
from judge_fixtures import GPT, judge_env, make_bench, make_edits
from judge_server import FakeJudgeServer
from rich.console import Console
from terminal import realedit_on_terminal

from realedit_bench.cli._progress import INTERVAL_ENV, ProgressDisplay, progress_interval, rate_text
from realedit_bench.errors import ConfigError

#: A redraw of the bar in place: carriage return, then "erase the line".
REDRAW = "\r\x1b[2K"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _plain(interval: float) -> tuple[ProgressDisplay, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False)
    return ProgressDisplay("model", console=console, interval=interval), out


def test_nothing_is_shown_before_the_work_reports() -> None:
    for console in (Console(file=io.StringIO(), width=80, force_terminal=False),
                    Console(file=io.StringIO(), width=80, force_terminal=True)):
        with ProgressDisplay("work", console=console, interval=0):
            pass  # e.g. bad input raised before any work: not even an empty line
        assert console.file.getvalue() == ""
    display, out = _plain(0)
    with display:
        display(0, None)
        display(2, 4)
        display(4, 4)
    assert "model: 0/? samples" in out.getvalue() and "model: 4/4 samples" in out.getvalue()


def test_off_a_terminal_every_report_is_a_line_when_the_period_is_zero() -> None:
    display, out = _plain(0)
    with display:
        display.phase("loading weights")
        display(0, 4)
        display.step(1, 2)
        display(1, 4)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("model: loading weights (elapsed 0:00:0")
    assert lines[1].startswith("model: 0/4 samples, elapsed 0:00:00, ETA -:--:--")
    assert lines[2].startswith("model: 0/4 samples, ") and lines[2].endswith("(step 1/2)")
    assert re.match(r"model: 1/4 samples, [\d.]+ (samples/s|s/sample), elapsed 0:00:00, ETA 0:00:\d\d$",
                    lines[3]), lines[3]
    assert len(lines) == 4


def test_off_a_terminal_a_heartbeat_prints_while_nothing_ends_and_a_quick_call_prints_nothing() -> None:
    display, out = _plain(0.05)
    with display:
        display.phase("loading weights")
        time.sleep(0.3)  # a long load: no report comes, yet the log hears of it
        display(0, 2)
        display(2, 2)
    lines = out.getvalue().splitlines()
    assert sum(line.startswith("model: loading weights (elapsed") for line in lines) >= 2, lines
    assert lines[-1].startswith("model: 2/2 samples, ")  # where the work ended, once more
    display, out = _plain(30)
    with display:
        display.phase("loading weights")
        display(0, 2)
        display(2, 2)
    assert out.getvalue() == ""  # shorter than the period: a quick command stays quiet


def test_on_a_terminal_the_bar_shows_the_phase_the_count_the_steps_and_the_eta() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    with ProgressDisplay("model", console=console) as display:
        display.phase("loading weights")
        time.sleep(0.15)  # rich redraws on its own clock
        display(0, 5)
        display.step(2, 4)
        time.sleep(0.15)
        display(3, 5)
        time.sleep(0.15)
    text = out.getvalue()
    assert "model" in text and "loading weights" in text and "step 2/4" in text
    assert "0/5" in text and "3/5" in text and "ETA" in text and REDRAW in text
    assert all(len(ANSI.sub("", line)) <= 80 for line in text.replace("\r", "\n").splitlines())


def test_the_period_comes_from_the_environment_and_a_bad_one_is_one_line(monkeypatch) -> None:
    monkeypatch.delenv(INTERVAL_ENV, raising=False)
    assert progress_interval() == 30.0
    monkeypatch.setenv(INTERVAL_ENV, "2.5")
    assert progress_interval() == 2.5
    for bad in ("soon", "-1", "nan"):
        monkeypatch.setenv(INTERVAL_ENV, bad)
        with pytest.raises(ConfigError, match=f"{INTERVAL_ENV}=.*expected a number of seconds >= 0"):
            progress_interval()
    assert (rate_text(0.5, "samples"), rate_text(12.34, "asks"), rate_text(None, "asks")) == (
        "2.00 s/sample", "12.3 asks/s", "")


# ---------------------------------------------------------------------- the console script, end to end


def test_run_shows_a_bar_on_a_terminal_and_plain_lines_through_a_pipe(real_edit_dir: Path, tmp_path: Path):
    args = ("run", "--model", "identity", "--limit", "6", "--data-dir", str(real_edit_dir))
    screen = realedit_on_terminal(*args, "--out", str(tmp_path / "tty"))
    assert screen.returncode == 0, screen.text
    shown = ANSI.sub("", screen.text)
    assert REDRAW in screen.text  # a bar redrawn in place, not lines
    assert re.search(r"identity .*6/6 .*ETA", shown), shown
    assert re.search(r"identity .*[1-5]/6 ", shown), shown  # counted as samples finish, not only at the end
    assert all(len(part) <= 80 for line in shown.splitlines() for part in line.split("\r")
               if not part.startswith(("run ", str(tmp_path))))
    piped = realedit_cli(*args, "--out", str(tmp_path / "pipe"), env={INTERVAL_ENV: "0.1"})
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[" not in piped.stderr and "\r" not in piped.stderr
    beats = re.findall(r"^identity: (\d)/6 samples, .*ETA [-:\d]+$", piped.stderr, re.M)
    assert len(beats) >= 2 and beats[-1] == "6", piped.stderr
    assert piped.stdout.strip().startswith(str(tmp_path / "pipe" / "identity-real-edit-"))


def test_judge_shows_its_asks_on_a_terminal_and_plain_lines_through_a_pipe(tmp_path: Path):
    bench = make_bench(tmp_path / "bench", n_photos=1)
    edits = make_edits(tmp_path / "edits", n_photos=1)
    args = ("judge", "--images", str(edits), "--data-dir", str(bench), "--judge", GPT,
            "--perspective", "following", "--concurrency", "1")
    with FakeJudgeServer(latency=0.15) as server:
        screen = realedit_on_terminal(*args, env=judge_env(server, tmp_path / "cache-a"))
        assert screen.returncode == 0, screen.text
        shown = ANSI.sub("", screen.text)
        assert REDRAW in screen.text and re.search(r"judge .*7/7 .*ETA", shown), shown
        assert re.search(r"judge .*[1-6]/7 ", shown), shown  # while the rows are being written
        (edits / "judgments").rename(tmp_path / "judged-on-a-terminal")
        piped = realedit_cli(*args, env={**judge_env(server, tmp_path / "cache-b"), INTERVAL_ENV: "0.1"})
    assert piped.returncode == 0, piped.stderr
    assert "\x1b[" not in piped.stderr
    asks = re.findall(r"^judge: (\d)/7 asks, .*ETA [-:\d]+$", piped.stderr, re.M)
    assert len(asks) >= 2 and asks[-1] == "7", piped.stderr
