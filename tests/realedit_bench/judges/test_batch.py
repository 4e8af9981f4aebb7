"""Batch APIs (``--batch``): submitted batches are recorded, and a later run collects them (OpenAI Batch and
Anthropic Message Batches through the real SDKs against the local fake server)."""

from __future__ import annotations

import json

import pytest
from judge_fixtures import CLAUDE, judge, rows_of
from judge_server import FakeJudgeServer


def test_batch_apis_submit_record_and_collect_later(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    fake_server.batch_polls_before_done = 2
    code, out, _ = judge(judge_setup, "--limit", "2", "--batch", "--no-wait")
    assert code == 0 and "batches still running" in out
    state = json.loads(
        (edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.batches.json").read_text()
    )
    assert len(state["batches"]) == 1 and not state["batches"][0]["collected"]
    assert [c for c in fake_server.requests if c.path.startswith("/v1/files")]  # the input file was uploaded
    assert fake_server.calls() == [] and not rows_of(edits)
    # The process is gone; a later run (no --batch needed) collects the batch instead of asking again.
    code, out, _ = judge(judge_setup, "--limit", "2", "--poll-interval", "0")
    assert code == 0, out
    rows = rows_of(edits)
    assert len(rows) == 6 and {r.status for r in rows} == {"ok"} and all("batch" in r.params for r in rows)
    assert fake_server.calls() == [] and len(fake_server.batch_calls) == 6
    assert rows[0].usage.cost_usd == pytest.approx(
        (100 * 2.5 + 20 * 10.0) / 1e6 * 0.5)  # batch price is half

    code, out, _ = judge(judge_setup, "--limit", "2", "--batch", "--poll-interval", "0", judge_name=CLAUDE)
    assert code == 0, out
    rows = rows_of(edits, "anthropic_claude-sonnet-4-6__realedit-v1")
    assert len(rows) == 6 and {r.status for r in rows} == {"ok"}
    assert any(r.path.startswith("/v1/messages/batches") for r in fake_server.requests)



def test_batch_is_refused_for_a_provider_without_a_batch_api(
    judge_setup, fake_server: FakeJudgeServer
) -> None:
    code, _, exc = judge(judge_setup, "--batch", judge_name=f"openai-api/{fake_server.openai_base_url}/m")
    assert code == 2 and "--batch is not available for openai-api/ judges" in str(exc)
    assert fake_server.requests == []

