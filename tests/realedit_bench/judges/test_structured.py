"""``--structured``: the rubric's answer as a JSON schema response format (OpenAI and compatible servers,
Gemini), through the real SDKs against the local fake server; the parser stays the judge of every reply."""

from __future__ import annotations

from judge_fixtures import CLAUDE, GEMINI, GPT, judge, rows_of
from judge_server import FakeJudgeServer, Reply

from realedit_bench.judges.rubric import load_rubric

SCHEMA = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["yes", "no"]}, "reason": {"type": "string"},
                   "score": {"type": "number", "minimum": 0.0, "maximum": 5.0}},
    "required": ["verdict", "reason", "score"],
    "additionalProperties": False,
}


def test_the_schema_follows_the_rubric() -> None:
    assert load_rubric("realedit-v1").response_schema("quality") == SCHEMA
    scored = load_rubric("editscore-v1").response_schema("following")
    assert scored["required"] == ["reasoning", "score"] and scored["properties"]["score"]["maximum"] == 25.0


def test_openai_request_bodies_carry_the_json_schema(judge_setup, fake_server: FakeJudgeServer) -> None:
    code, out, _ = judge(judge_setup, "--limit", "1", "--perspective", "quality", "--structured")
    assert code == 0, out
    (call,) = fake_server.calls()
    assert call.body["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "realedit_answer", "schema": SCHEMA, "strict": True}}
    _, edits = judge_setup
    (row,) = rows_of(edits)
    assert row.status == "ok" and row.params["response_format"] == "json_schema"
    # The same ask without --structured is another request: not answered from the structured one's cache.
    fake_server.reset()
    code, out, _ = judge(judge_setup, "--limit", "1", "--perspective", "quality")
    assert code == 0 and len(fake_server.calls()) == 1
    assert "response_format" not in fake_server.calls()[0].body


def test_a_schema_shaped_reply_out_of_range_is_still_invalid(
    judge_setup, fake_server: FakeJudgeServer
) -> None:
    fake_server.responder = lambda req: Reply.ok('{"verdict": "yes", "reason": "great", "score": 7}')
    code, out, _ = judge(judge_setup, "--limit", "1", "--perspective", "quality", "--structured")
    assert code == 0, out
    _, edits = judge_setup
    (row,) = rows_of(edits)
    assert row.status == "invalid" and row.score is None and row.verdict is None
    assert "'score' is 7, outside the range 0 to 5" in (row.reason or "")
    assert len(fake_server.calls()) == 2  # re-asked once, with the schema again
    assert all("response_format" in c.body for c in fake_server.calls())


def test_gemini_gets_the_schema_and_anthropic_is_asked_as_before(judge_setup, fake_server) -> None:
    code, out, _ = judge(judge_setup, "--limit", "1", "--perspective", "quality", "--structured",
                         judge_name=GEMINI)
    assert code == 0, out
    (call,) = fake_server.calls()
    config = call.body["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["responseJsonSchema"] == SCHEMA
    fake_server.reset()
    code, out, _ = judge(judge_setup, "--limit", "1", "--perspective", "quality", "--structured",
                         judge_name=CLAUDE)
    assert code == 0, out
    (call,) = fake_server.calls()
    assert set(call.body) == {"model", "messages", "max_tokens", "system"}  # no structured format claimed
    _, edits = judge_setup
    (row,) = rows_of(edits, "anthropic_claude-sonnet-4-6__realedit-v1")
    assert "response_format" not in row.params and GPT != CLAUDE
