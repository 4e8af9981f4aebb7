"""The judging engine end to end (real openai / anthropic SDKs against the local fake server): retries,
re-asks, refusals, cut-off replies, the paper parser, stops and their counts, the budget, ``judge_items``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from judge_fixtures import (
    CLAUDE,
    GOOD,
    GPT,
    STEM,
    judge,
    judge_env,
    make_edits,
    paper_rubric_toml,
    rows_of,
    set_env,
    summary_of,
)
from judge_server import FakeJudgeServer, Reply
from paths import PAPER_PROMPTS

from realedit_bench.jsonio import read_model
from realedit_bench.schema.judge import JudgeSummary


# Retries, re-asks, refusals ------------------------------------------------------------------------
def test_scripted_faults_are_retried_reasked_or_recorded(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    good = '{"verdict": "no", "score": 2, "reason": "r"}'
    fake_server.push(
        Reply.error(429, headers={"retry-after": "1"}),
        Reply.ok(good),  # 1-local following: retried after 1 s
        Reply.error(500),
        Reply.ok(good),  # preserving: retried
        Reply.hang(3.0),
        Reply.ok(good),  # quality: timed out, retried
        Reply.ok("the edit is fine I think"),
        Reply.ok(good),  # 1-remove following: malformed -> re-ask -> ok
        Reply.refusal(),  # preserving: refused by the provider
        Reply.ok('{"verdict": "yes", "score": 9}'),
        Reply.ok('{"verdict": "yes", "score": 11}'),  # invalid
        Reply.ok(
            '```json\n{"verdict": "Yes", "score": 4.5, "reason": "fine"}\n```'
        ),  # 1-add following: fence
        Reply.refusal(provider_style=False),  # refusal in words
        Reply.error(400),  # 1-add quality: a plain 400 fails the item at once
    )
    t0 = time.monotonic()
    code, out, _ = judge(
        judge_setup, "--limit", "3", "--concurrency", "1", "--timeout", "1", "--backoff", "0.05"
    )
    assert code == 1, out  # one call failed for good (the 400): recorded as error, exit code 1
    assert time.monotonic() - t0 >= 1.0  # the Retry-After was honoured
    rows = {(r.sample_id, r.perspective): r for r in rows_of(edits)}
    st = {k: (r.status, r.score, r.attempts) for k, r in rows.items()}
    assert st[("1-local", "following")] == ("ok", 2.0, 2)
    assert st[("1-local", "preserving")] == ("ok", 2.0, 2)
    assert st[("1-local", "quality")] == ("ok", 2.0, 2)
    assert st[("1-remove", "following")] == ("ok", 2.0, 2)
    assert st[("1-remove", "preserving")] == ("refused", None, 1)
    assert st[("1-remove", "quality")][:2] == ("invalid", None)
    assert "outside the range" in rows[("1-remove", "quality")].reason
    assert st[("1-add", "following")] == ("ok", 4.5, 1)
    assert st[("1-add", "preserving")][:2] == ("refused", None)
    assert st[("1-add", "quality")] == ("error", None, 1)
    # The re-ask quoted the problem back, in the same conversation with the images.
    reask = [c for c in fake_server.calls() if len(c.body["messages"]) == 4]
    assert len(reask) == 2
    assert "not a JSON object" in reask[0].body["messages"][-1]["content"]
    assert "outside the range" in reask[1].body["messages"][-1]["content"]
    assert len(reask[1].images()) == 2
    s = read_model(edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.summary.json", JudgeSummary)
    assert (s.perspectives["preserving"].n_refused, s.perspectives["quality"].n_invalid,
            s.perspectives["quality"].n_error) == (2, 1, 1)

    # Rerun: only the error row is asked again; refused and invalid stay as they are.
    fake_server.reset()
    code, out, _ = judge(judge_setup, "--limit", "3")
    assert code == 0 and len(fake_server.calls()) == 1
    assert "edit add of photo 1" in fake_server.calls()[0].text()
    final = {(r.sample_id, r.perspective): r for r in rows_of(edits)}
    assert final[("1-add", "quality")].status == "ok"


@pytest.mark.parametrize("judge_name, stem", [
    (CLAUDE, "anthropic_claude-sonnet-4-6__realedit-v1"), (GPT, STEM)])
def test_an_empty_first_reply_is_reasked_with_a_placeholder_turn(
    judge_setup, fake_server, judge_name: str, stem: str
) -> None:
    bench, edits = judge_setup
    fake_server.push(Reply.ok(None), Reply.ok(GOOD))
    code, out, _ = judge(judge_setup, "--limit", "1", "--perspective", "following", "--concurrency", "1",
                         judge_name=judge_name)
    assert code == 0, out
    calls = fake_server.calls()
    assert len(calls) == 2
    turns = calls[1].body["messages"]
    assistant = [m for m in turns if m["role"] == "assistant"]
    assert [m["content"] for m in assistant] == ["(empty reply)"]
    assert "empty" in turns[-1]["content"]  # the re-ask says what was wrong
    [row] = rows_of(edits, stem)
    assert (row.status, row.score, row.attempts) == ("ok", 4.0, 2)


# Cut-off replies ----------------------------------------------------------------------------------
@pytest.mark.parametrize("judge_name, stem", [
    (GPT, STEM), (CLAUDE, "anthropic_claude-sonnet-4-6__realedit-v1")])
def test_a_cut_off_reply_names_max_tokens(judge_setup, fake_server, judge_name: str, stem: str) -> None:
    bench, edits = judge_setup
    cut = '{"verdict": "yes", "score": 4, "reason": "the'
    fake_server.push(Reply.ok(cut, finish_reason="length"), Reply.ok(cut, finish_reason="length"))
    code, out, _ = judge(judge_setup, "--limit", "1", "--perspective", "following", judge_name=judge_name)
    assert code == 0, out
    first, reask = fake_server.calls()
    assert "cut off at max_tokens=200" in reask.body["messages"][-1]["content"]
    # Decision (engine docstring): the re-ask keeps the rubric's max_tokens.
    key = "max_tokens" if judge_name == CLAUDE else "max_completion_tokens"
    assert first.body[key] == reask.body[key] == 200
    [row] = rows_of(edits, stem)
    assert row.status == "invalid" and "cut off at max_tokens=200" in (row.reason or "")


def test_a_cut_off_reply_under_the_paper_parser_says_so(judge_setup, fake_server, tmp_path: Path) -> None:
    rub = tmp_path / "paper.toml"
    rub.write_text(paper_rubric_toml())
    fake_server.push(Reply.ok("{'following': 'yes', 'sco", finish_reason="length"))
    code, out, _ = judge(
        judge_setup, "--rubric", str(rub), "--parse", "paper", "--limit", "1", "--perspective", "following"
    )
    assert code == 0, out
    [row] = rows_of(judge_setup[1], "openai_gpt-4o-2024-08-06__paper-gpt4o-2024-05-13.paper-parse")
    assert row.status == "invalid" and "cut off at max_tokens=50" in (row.reason or "")


# The authors' parser ------------------------------------------------------------------------------
def test_authors_prompts_end_to_end_with_the_paper_parser(
    judge_setup, fake_server: FakeJudgeServer, tmp_path: Path
) -> None:
    bench, edits = judge_setup
    rub = tmp_path / "paper.toml"
    rub.write_text(paper_rubric_toml())
    fake_server.push(
        Reply.ok("{'following': 'yes', 'score': 4.5}"), Reply.ok("{'consistent': 'no', 'score': 3}"),
        Reply.ok("{'clear': 'yes', 'score': 4.0}"),
    )
    code, out, _ = judge(
        judge_setup, "--rubric", str(rub), "--parse", "paper", "--limit", "2", "--concurrency", "1"
    )
    assert code == 0, out
    calls = fake_server.calls()
    assert len(calls) == 6  # the paper parser never re-asks
    f, k, q = calls[:3]
    prompts = PAPER_PROMPTS
    assert f.body["messages"][0]["content"] == (prompts / "following.system.txt").read_text()
    assert f.body["messages"][1]["content"][0]["text"] == (
        (prompts / "following.user.txt").read_text().replace("{prompt}", "edit local of photo 1"))
    assert [p["type"] for p in f.body["messages"][1]["content"]] == ["text", "image_url", "image_url"]
    assert f.body["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert f.body["max_completion_tokens"] == 50
    assert len(q.images()) == 1 and "keys 'clear' and 'score'" in q.text()
    rows = rows_of(edits, "openai_gpt-4o-2024-08-06__paper-gpt4o-2024-05-13.paper-parse")
    by = {(r.sample_id, r.perspective): r for r in rows}
    assert by[("1-local", "following")].status == "ok" and by[("1-local", "following")].score == 4.5
    assert by[("1-local", "preserving")].status == "invalid"  # integer score: the released regex fails
    s = read_model(
        edits / "judgments" / "openai_gpt-4o-2024-08-06__paper-gpt4o-2024-05-13.paper-parse.summary.json",
        JudgeSummary,
    )
    assert s.parse_mode == "paper" and s.paper_parser_dropped == 2  # 1-local (integer score) and 1-remove
    # As in the released script, 1-local's following score was appended before its preserving score
    # failed, so it counts although the sample is dropped; 1-remove (default JSON reply) adds nothing.
    assert s.paper_figures["following"] == {"n": 1, "accuracy": 1.0, "score_mean": 4.5}
    assert s.paper_figures["preserving"] == {"n": 0, "accuracy": 0.0, "score_mean": None}


# Stops: exit codes, counts, every selected sample in the summary ---------------------------------
def test_fatal_errors_and_failure_streaks_stop_the_run(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    fake_server.push(Reply.error(429, error_type="insufficient_quota"))
    code, out, exc = judge(judge_setup, "--concurrency", "1")
    assert code == 2 and "quota" in str(exc)
    assert len(fake_server.calls()) == 1  # no retry, nothing else dispatched
    fake_server.reset()
    fake_server.push(Reply.error(401))
    code, _, exc = judge(judge_setup, "--concurrency", "1")
    assert code == 2 and "401" in str(exc) and len(fake_server.calls()) == 1
    fake_server.reset()
    fake_server.responder = lambda req: Reply.error(503)
    code, out, _ = judge(
        judge_setup, "--concurrency", "1", "--max-retries", "1", "--backoff", "0", "--failure-streak", "3"
    )
    # The asks were sent and failed (error rows): exit 1, "some samples failed" (README), not a usage error.
    assert code == 1 and "3 failed asks in a row" in out
    assert len(fake_server.calls()) == 6  # 3 items x (1 call + 1 retry)


def test_a_failure_streak_exits_1_and_counts_what_was_sent(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    fake_server.responder = lambda req: Reply.error(503)
    code, out, _ = judge(
        judge_setup, "--limit", "1", "--concurrency", "1", "--max-retries", "0", "--failure-streak", "3"
    )
    assert code == 1, out  # the asks were sent and failed: "some samples failed", not a usage error
    assert "3 failed asks in a row" in out and "3 of the 3 asks finished in this run failed" in out
    assert "every ask was sent" in out and "0 asks not sent" not in out
    fake_server.reset()
    code, out, _ = judge(
        judge_setup, "--limit", "2", "--concurrency", "1", "--max-retries", "0", "--failure-streak", "3"
    )
    assert code == 1 and "3 asks not sent" in out  # 1-remove's three errors, then 2 x 3 - 3 = 3 left


def test_a_fatal_stop_leaves_no_sample_uncounted(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    # 1-local following: paid for an error, then redone below
    fake_server.push(Reply.error(500), Reply.ok(GOOD))
    code, out, _ = judge(judge_setup, "--limit", "1", "--perspective", "following", "--max-retries", "0")
    assert code == 1
    code, out, _ = judge(judge_setup, "--limit", "1", "--perspective", "following")
    assert code == 0
    fake_server.reset()
    fake_server.push(Reply.ok(GOOD), Reply.ok(GOOD), Reply.error(401))
    code, out, exc = judge(judge_setup, "--limit", "8", "--concurrency", "1")
    assert code == 2 and "401" in str(exc)
    s = summary_of(edits)
    assert s.n_samples == 8
    for p in s.perspectives.values():
        assert p.n == 8 and p.n_valid + p.n_invalid + p.n_refused + p.n_error + p.n_not_run == 8
    # 1-local: following (earlier run), preserving, quality ok; 1-remove following: the 401; the rest
    # never sent
    f = s.perspectives["following"]
    assert (f.n_valid, f.n_error, f.n_not_run) == (1, 1, 6)
    assert (s.perspectives["quality"].n_valid, s.perspectives["quality"].n_not_run) == (1, 7)
    assert s.per_category["style"]["quality"].n_not_run == 1
    assert "not run" in out
    # Spent covers the call paid for the superseded error row; usage covers the current rows only.
    assert s.usage_spent is not None and s.usage_spent.calls == s.usage.calls + 1


# The budget and repeated asks -----------------------------------------------------------------------
def test_the_budget_waits_for_calls_in_flight(
    judge_setup, fake_server: FakeJudgeServer, tmp_path: Path
) -> None:
    bench, edits = judge_setup
    fake_server.latency = 0.05
    prices = tmp_path / "prices.json"
    # Output at $1000 / 1M: an ask is estimated at <= 200 tokens = $0.20 and really costs 20 tokens = $0.02.
    prices.write_text(json.dumps({"models": {GPT: {"input": 0.0, "output": 1000.0}}}))
    code, out, exc = judge(judge_setup, "--prices", str(prices), "--max-cost", "0.5", "--concurrency", "4",
                           "--perspective", "following")
    assert code == 0, (out, exc)  # 14 x $0.02 = $0.28 fits; three estimates at once ($0.60) do not
    assert len(fake_server.calls()) == 14
    fake_server.reset()
    code, out, exc = judge(judge_setup, "--prices", str(prices), "--max-cost", "0.25", "--concurrency", "4",
                           "--perspective", "quality", "--no-cache")
    assert code == 2 and "budget" in str(exc) and "spent $0.0" in str(exc)
    n = len(fake_server.calls())
    assert 1 <= n <= 3  # the next ask's estimate is only added while the spent stays under $0.05
    assert summary_of(edits).usage.cost_usd <= 0.25


def test_samples_k_dry_run_and_budget(judge_setup, fake_server: FakeJudgeServer, tmp_path: Path) -> None:
    bench, edits = judge_setup
    code, out, _ = judge(judge_setup, "--dry-run")
    assert code == 0 and fake_server.requests == []
    assert "42 calls to send" in out and "estimated cost: $" in out and not (edits / "judgments").exists()

    scores = iter([1, 3, 2, 4] * 30)
    fake_server.responder = lambda req: Reply.ok(json.dumps({"verdict": "yes", "score": next(scores)}))
    code, out, _ = judge(
        judge_setup,
        "--limit",
        "2",
        "--perspective",
        "quality",
        "--repeats",
        "2",
        "--temperature",
        "0.7",
        "--concurrency",
        "1",
    )
    assert code == 0, out
    assert len(fake_server.calls()) == 4 and all(c.body["temperature"] == 0.7 for c in fake_server.calls())
    s = read_model(edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.summary.json", JudgeSummary)
    assert (
        s.samples_k == 2 and s.variance["quality"]["items"] == 2 and s.variance["quality"]["spread_max"] == 2
    )
    items = (
        (edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.items.jsonl").read_text().splitlines()
    )
    assert len(items) == 2

    fake_server.reset()
    fake_server.responder = lambda req: Reply.ok(
        '{"verdict": "yes", "score": 3}', input_tokens=1000, output_tokens=0
    )
    prices = tmp_path / "prices.json"
    # $1 per 1M input, $1000 per 1M output: each ask is estimated well under $0.25 but bounded by max tokens.
    prices.write_text(json.dumps({"models": {GPT: {"input": 1000.0, "output": 0.0}}}))
    code, out, exc = judge(judge_setup, "--prices", str(prices), "--max-cost", "4.5", "--concurrency", "1",
                           "--perspective", "following")
    assert code == 2 and "budget" in str(exc)
    n = len(fake_server.calls())
    assert 1 <= n <= 4  # each call costs $1: dispatch stopped before crossing $4.50
    s = read_model(edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.summary.json", JudgeSummary)
    assert s.usage.cost_usd <= 4.5 + 1e-9


# Any triplets -------------------------------------------------------------------------------------
def test_judge_items_api_for_arbitrary_triplets(
    tmp_path: Path, fake_server: FakeJudgeServer, monkeypatch
) -> None:
    from realedit_bench.judges.engine import EngineConfig, JudgeAborted, JudgeItem, judge_items

    set_env(monkeypatch, judge_env(fake_server, tmp_path / "cache"))
    edits = make_edits(tmp_path / "e", n_photos=1, cats=("Local", "Add"))
    src = (edits / "1-local.png").read_bytes()  # raw bytes work as well as paths
    items = [JudgeItem("a", "make the cup blue", {"source": src, "edited": edits / "1-add.png"})]
    fake_server.push(Reply.ok('{"verdict": "no", "score": 1.5, "reason": "cup is red"}'))
    seen = []
    outs = judge_items(
        items,
        judge=CLAUDE,
        perspectives=["following", "quality"],
        cache=tmp_path / "c.sqlite",
        config=EngineConfig(concurrency=1),
        on_result=seen.append,
    )
    assert [(o.perspective, o.status, o.score) for o in outs] == [
        ("following", "ok", 1.5),
        ("quality", "ok", 4.0),
    ]
    assert seen == outs and outs[0].reason == "cup is red"
    assert '"make the cup blue"' in fake_server.calls()[0].text()
    assert judge_items(items, judge=CLAUDE, perspectives=["following"], cache=tmp_path / "c.sqlite")[0].cached
    fake_server.push(Reply.error(403))
    with pytest.raises(JudgeAborted, match="403"):
        judge_items(items, judge=CLAUDE, perspectives=["preserving"], config=EngineConfig(concurrency=1))

