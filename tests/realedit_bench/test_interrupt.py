"""Ctrl-C and SIGTERM, the same in every verb: a line at once, what finished kept, the manifest
``interrupted``, the command to resume, exit code 130."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_runner import invoke
from judge_fixtures import SECRET, STEM, make_bench, make_edits
from judge_server import FakeJudgeServer
from paths import REAL_EDIT

from realedit_bench.interrupt import StopRequest, Terminated, interrupt_of, resume_command, stopped_lines
from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.schema.judge import JudgmentRow
from realedit_bench.schema.run import EditRow, RunManifest

EXE = str(Path(sys.executable).with_name("realedit"))


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([EXE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def _wait_for(condition: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the command never got going"
        time.sleep(0.05)


def test_the_first_signal_asks_the_second_stops() -> None:
    said: list[str] = []
    stopped: list[bool] = []
    with StopRequest(lambda: "the batch being edited", lambda: stopped.append(True), say=said.append) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the handler runs between bytecodes
        assert stop.requested == "SIGTERM" and stopped == [True]
        assert said == ["SIGTERM: stopping after the batch being edited (what finished is kept); press "
                        "Ctrl-C again to stop at once"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handlers are back


def test_a_stop_before_a_verb_could_stop_cleanly_is_said_by_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import realedit_bench.api as api

    def terminated(*args: object, **kwargs: object) -> None:
        raise Terminated

    monkeypatch.setattr(api, "build_report", terminated)
    res = invoke("report", "--runs", "nowhere")
    assert res.returncode == 130 and "Traceback" not in res.stderr
    assert res.stderr.splitlines() == [
        "stopped by SIGTERM; what finished is kept",
        "to resume, run the same command again: realedit report --runs nowhere",
    ]
    # A verb that stopped cleanly said so itself: only the command to resume is added.
    assert interrupt_of(SystemExit(130)) is None and len(stopped_lines(None)) == 1


def test_the_resume_command_is_the_command_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["realedit", "reward", "train", "--out", "my out"])
    assert resume_command() == "realedit reward train --out 'my out' --resume latest"  # asked for
    monkeypatch.setattr(sys, "argv", ["realedit", "reward", "train", "--resume", "latest"])
    assert resume_command() == "realedit reward train --resume latest"
    monkeypatch.setattr(sys, "argv", ["realedit", "judge", "--judge", "openai-api/http://u:pw@h/v1/m"])
    assert resume_command() == "realedit judge --judge openai-api/http://h/v1/m"  # no credentials


def test_sigterm_stops_a_run_after_the_current_sample(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "r"
    args = ["run", "--model", "identity", "--limit", "30", "--data-dir", str(REAL_EDIT), "--out",
            str(tmp_path / "runs"), "--run-id", "r"]
    proc = _start(args)
    rows_path = run_dir / "edits.jsonl"
    _wait_for(lambda: rows_path.exists() and len(read_rows(rows_path, EditRow)) >= 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "SIGTERM: stopping after the sample being edited (what finished is kept)" in err
    assert "stopped by Ctrl-C or SIGTERM; what finished is kept; rerun the same command to resume" in err
    assert f"to resume, run the same command again: realedit {' '.join(args)}" in err
    rows = read_rows(run_dir / "edits.jsonl", EditRow)
    manifest = read_model(run_dir / "manifest.json", RunManifest)
    assert manifest.status == "interrupted" and manifest.history[-1]["status"] == "interrupted"
    assert 2 <= len(rows) < 30 and manifest.counts == {"ok": len(rows), "error": 0, "not_run": 30 - len(rows)}
    # The resume command goes on where it stopped.
    resumed = _start(args)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert read_model(run_dir / "manifest.json", RunManifest).status == "complete"
    assert len(read_rows(run_dir / "edits.jsonl", EditRow)) == 30


def test_sigterm_stops_a_judge_once_the_calls_in_flight_end(tmp_path: Path) -> None:
    bench, edits = make_bench(tmp_path / "bench", n_photos=1), make_edits(tmp_path / "edits", n_photos=1)
    rows = edits / "judgments" / f"{STEM}.jsonl"
    args = ["judge", "--images", str(edits), "--data-dir", str(bench), "--no-cache", "--concurrency", "2"]
    with FakeJudgeServer(latency=0.8) as server:
        env = {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": server.openai_base_url,
               "AZURE_OPENAI_ENDPOINT": "", "AZURE_OPENAI_API_KEY": ""}
        proc = _start(args, env)
        _wait_for(lambda: rows.exists() and rows.stat().st_size > 0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        calls = len(server.calls())
        judged = read_rows(rows, JudgmentRow)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert "SIGTERM: stopping after the 2 call(s) in flight (each within 60 s)" in err
        assert "stopped by Ctrl-C or SIGTERM" in err and "rerun the same command to resume" in err
        assert "to resume, run the same command again: realedit judge --images" in err
        assert 1 <= len(judged) < 21 and calls == len(judged)  # every call sent was recorded; none after
        server.reset()
        resumed = _start(args, env)
        _, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
        assert len(server.calls()) == 21 - len(judged)  # nothing asked (or paid) twice
    assert len(read_rows(rows, JudgmentRow)) == 21


def test_sigterm_stops_a_download_at_once(tmp_path: Path) -> None:
    with socket.socket() as stall:  # accepts connections (the kernel's backlog) and never answers
        stall.bind(("127.0.0.1", 0))
        stall.listen(16)
        url = f"http://127.0.0.1:{stall.getsockname()[1]}/{{path}}"
        proc = _start(["data", "fetch", "--data-dir", str(tmp_path / "d")], {"REALEDIT_REAL_EDIT_URL": url})
        _wait_for(lambda: (tmp_path / "d" / ".realedit-fetch.lock").exists())
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - t0 < 10, err
    assert "Traceback" not in err and "stopped by Ctrl-C or SIGTERM; what finished is kept" in err
    assert f"to resume, run the same command again: realedit data fetch --data-dir {tmp_path / 'd'}" in err
