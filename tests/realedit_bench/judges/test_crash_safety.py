"""Crash safety: ``kill -9`` a judging subprocess mid-run, rerun, and check nothing finished is asked
again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from judge_fixtures import invoke, judge_env, make_bench, make_edits, set_env
from judge_server import FakeJudgeServer

from realedit_bench.jsonio import read_rows
from realedit_bench.schema.judge import JudgmentRow

PERSPECTIVE_OF = {  # first words of each realedit-v1 system prompt's second sentence
    "carries out the request": "following",
    "left as it was": "preserving",
    "sharp and clear": "quality",
}


def task_of(call) -> tuple[str, str]:
    """(sample id, perspective) of a recorded chat request, read from its prompt text."""
    text = call.text()
    found = [p for k, p in PERSPECTIVE_OF.items() if k in text]
    assert len(found) == 1, f"not a realedit-v1 prompt: {call.method} {call.path} {text[:300]!r}"
    persp = found[0]
    # The fenced instruction is '"edit <category> of photo <n>"'.
    frag = text.split('"edit ', 1)[1].split('"', 1)[0]  # '<category> of photo <n>'
    cat, _, n = frag.partition(" of photo ")
    return f"{n}-{cat}", persp


def test_kill_minus_nine_then_resume_asks_only_what_was_unfinished(tmp_path: Path, monkeypatch) -> None:
    bench = make_bench(tmp_path / "bench")
    edits = make_edits(tmp_path / "edits")
    rows_path = edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.jsonl"
    with FakeJudgeServer(latency=0.25) as server:
        env = {**os.environ, **judge_env(server, tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
        exe = Path(sys.executable).with_name("realedit")
        cmd = [str(exe), "judge", "--images", str(edits), "--data-dir", str(bench),
               "--judge", "openai/gpt-4o-2024-08-06", "--concurrency", "4"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if rows_path.exists() and rows_path.read_bytes().count(b"\n") >= 8:
                    break
                if proc.poll() is not None:
                    raise AssertionError(f"judge exited early: {proc.stderr.read().decode()[-2000:]}")
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -signal.SIGKILL
        finished = {(r.sample_id, r.perspective) for r in read_rows(rows_path, JudgmentRow)}
        # A request cut off by the kill while its body was on the wire never reached the model.
        first_asked = [task_of(c) for c in server.calls() if c.body is not None]
        print(
            "first run:",
            len(server.calls()),
            "calls,",
            sum(c.body is None for c in server.calls()),
            "cut off",
        )
        assert 8 <= len(finished) < 42
        assert finished <= set(first_asked)
        in_flight = set(first_asked) - finished

        server.reset()
        set_env(monkeypatch, judge_env(server, tmp_path / "cache"))
        code, out, _ = invoke("judge", "--images", str(edits), "--data-dir", str(bench),
                              "--judge", "openai/gpt-4o-2024-08-06", "--concurrency", "8")
        assert code == 0, out
        second = [task_of(c) for c in server.calls()]

    everything = {(f"{n}-{c}", p) for n in (1, 2) for c in
                  ("local", "remove", "add", "texture", "background", "global", "style")
                  for p in ("following", "preserving", "quality")}
    assert not finished & set(second)  # nothing that had finished was asked again
    assert len(second) == len(set(second))  # and nothing twice
    assert set(second) == everything - finished  # the in-flight calls and the never-started ones
    assert in_flight <= set(second)
    rows = read_rows(rows_path, JudgmentRow)
    keys = [(r.sample_id, r.perspective, r.repeat) for r in rows]
    assert len(keys) == len(set(keys)) == 42  # no duplicate row, none missing
    assert {r.status for r in rows} == {"ok"}
