"""``gemini/<model>`` through the real google-genai SDK against the local fake server (its base-URL override):
what is sent, how answers, refusals, cut-off replies and errors are read, and the SDK as an optional extra."""

from __future__ import annotations

import importlib.util
import re

import pytest
from judge_fixtures import GEMINI, GEMINI_SECRET, judge, rows_of
from judge_server import FakeJudgeServer, Reply

from realedit_bench.errors import ConfigError
from realedit_bench.judges.backends import make_backend

pytest.importorskip("google.genai", reason="the google-genai SDK (realedit[gemini]) is not installed")

STEM = "gemini_gemini-2.5-flash__realedit-v1"


def test_a_gemini_judge_sends_the_rubric_and_reads_the_answers(
    judge_setup, fake_server: FakeJudgeServer
) -> None:
    code, out, _ = judge(judge_setup, "--limit", "1", "--perspective", "following", judge_name=GEMINI)
    assert code == 0, out
    _, edits = judge_setup
    (row,) = rows_of(edits, STEM)
    assert (row.status, row.verdict, row.score, row.model_snapshot) == ("ok", True, 4.0, "gemini-2.5-flash")
    assert row.endpoint == f"gemini {fake_server.base_url.removeprefix('http://')}"
    assert row.params == {"max_output_tokens": 200, "temperature": 0.0, "seed": 0}
    (call,) = fake_server.calls()
    assert re.fullmatch(r"/v1(beta)?/models/gemini-2\.5-flash:generateContent", call.route), call.route
    assert call.headers["x-goog-api-key"] == GEMINI_SECRET
    body = call.body or {}
    assert "You grade image edits" in body["systemInstruction"]["parts"][0]["text"]
    assert body["generationConfig"] == {"temperature": 0.0, "maxOutputTokens": 200, "seed": 0}
    assert len(call.images()) == 2 and call.image_media_types() == ["image/png", "image/png"]
    assert GEMINI_SECRET not in (edits / "judgments" / f"{STEM}.jsonl").read_text()


def test_refusals_cut_off_replies_and_rate_limits(judge_setup, fake_server: FakeJudgeServer) -> None:
    fake_server.push(
        Reply.refusal(),  # finishReason SAFETY
        Reply.ok('{"verdict": "yes", "sco', finish_reason="length"),  # MAX_TOKENS
        Reply.ok('{"verdict": "yes", "sco', finish_reason="length"),
        Reply.error(429, headers={"retry-after": "0"}),
        Reply.ok('{"verdict": "no", "score": 1, "reason": "r"}'),
    )
    code, out, _ = judge(judge_setup, "--limit", "3", "--perspective", "quality", "--concurrency", "1",
                         judge_name=GEMINI)
    assert code == 0, out
    _, edits = judge_setup
    rows = {r.sample_id: r for r in rows_of(edits, STEM)}
    assert rows["1-local"].status == "refused" and "SAFETY".lower() in (rows["1-local"].reason or "")
    assert rows["1-remove"].status == "invalid"
    assert "cut off at max_tokens=200" in (rows["1-remove"].reason or "")
    assert (rows["1-add"].status, rows["1-add"].score, rows["1-add"].attempts) == ("ok", 1.0, 2)


def test_a_fatal_error_stops_with_one_line(judge_setup, fake_server: FakeJudgeServer) -> None:
    fake_server.push(Reply.error(403))
    code, out, exc = judge(judge_setup, "--limit", "1", judge_name=GEMINI)
    assert code == 2 and "HTTP 403" in str(exc) and GEMINI_SECRET not in str(exc)


def test_without_the_sdk_one_line_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "google.genai" else real(name, *a))
    with pytest.raises(ConfigError, match=r"needs the google-genai SDK: pip install 'realedit\[gemini\]'"):
        make_backend(GEMINI)
    assert make_backend(GEMINI, check_key=False).name == GEMINI  # a dry run sends nothing: no SDK needed


def test_the_key_comes_from_either_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="set GOOGLE_API_KEY \\(or GEMINI_API_KEY\\)"):
        make_backend(GEMINI)
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    assert make_backend(GEMINI).api_key == "k"
    assert make_backend(GEMINI).image_tokens(300, 300) == 258
    assert make_backend(GEMINI).image_tokens(1024, 800) == 1032
