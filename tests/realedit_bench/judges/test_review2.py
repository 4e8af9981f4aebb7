"""Fixes from the second review of ``realedit judge``: empty re-ask turns, unreadable images, cut-off
replies, stop codes and counts, the budget guard, braces in prose, folder matching, warning lines.

End to end with the real openai / anthropic SDKs against the local fake server (tests/judge_server.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judge_fixtures import invoke, judge_env, make_bench, make_edits, make_run_dir, paper_rubric_toml, set_env
from judge_server import FakeJudgeServer, Reply

from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.judges.parse import parse_robust
from realedit_bench.schema.judge import JudgeSummary, JudgmentRow

GPT = "openai/gpt-4o-2024-08-06"
CLAUDE = "anthropic/claude-sonnet-4-6"
GOOD = '{"verdict": "yes", "score": 4, "reason": "ok"}'
STEM = "openai_gpt-4o-2024-08-06__realedit-v1"


@pytest.fixture
def server():
    with FakeJudgeServer() as srv:
        yield srv


@pytest.fixture
def setup(tmp_path: Path, server: FakeJudgeServer, monkeypatch: pytest.MonkeyPatch):
    bench = make_bench(tmp_path / "bench")
    edits = make_edits(tmp_path / "edits")
    set_env(monkeypatch, judge_env(server, tmp_path / "cache"))
    return bench, edits


def judge(setup, *extra: str, judge_name: str = GPT, images: Path | None = None):
    bench, edits = setup
    return invoke("judge", "--images", str(images or edits), "--data-dir", str(bench), "--judge", judge_name, *extra)


def rows_of(folder: Path, stem: str = STEM) -> list[JudgmentRow]:
    return read_rows(folder / "judgments" / f"{stem}.jsonl", JudgmentRow)


def summary_of(folder: Path, stem: str = STEM) -> JudgeSummary:
    return read_model(folder / "judgments" / f"{stem}.summary.json", JudgeSummary)


# 4. An empty first reply is re-asked without an empty assistant turn ---------------------------------
def test_fake_server_rejects_empty_assistant_turns_like_the_real_apis(server: FakeJudgeServer) -> None:
    import anthropic
    import openai

    ant = anthropic.Anthropic(api_key="k", base_url=server.anthropic_base_url, max_retries=0)
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}, {"role": "user", "content": "b"}]
    with pytest.raises(anthropic.BadRequestError, match="non-empty content"):
        ant.messages.create(model="m", max_tokens=5, messages=msgs)
    ant.messages.create(model="m", max_tokens=5, messages=msgs[:1] + [{"role": "assistant", "content": "x"}])
    oai = openai.OpenAI(api_key="k", base_url=server.openai_base_url, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="got null"):
        oai.chat.completions.create(model="m", messages=[
            {"role": "user", "content": "a"}, {"role": "assistant", "content": None}, {"role": "user", "content": "b"}])
    assert len(server.calls()) == 3


@pytest.mark.parametrize("judge_name, stem", [
    (CLAUDE, "anthropic_claude-sonnet-4-6__realedit-v1"), (GPT, STEM)])
def test_an_empty_first_reply_is_reasked_with_a_placeholder_turn(setup, server, judge_name: str, stem: str) -> None:
    bench, edits = setup
    server.push(Reply.ok(None), Reply.ok(GOOD))
    code, out, _ = judge(setup, "--limit", "1", "--perspective", "following", "--concurrency", "1",
                         judge_name=judge_name)
    assert code == 0, out
    calls = server.calls()
    assert len(calls) == 2
    turns = calls[1].body["messages"]
    assistant = [m for m in turns if m["role"] == "assistant"]
    assert [m["content"] for m in assistant] == ["(empty reply)"]
    assert "empty" in turns[-1]["content"]  # the re-ask says what was wrong
    [row] = rows_of(edits, stem)
    assert (row.status, row.score, row.attempts) == ("ok", 4.0, 2)


# 6. One unreadable image does not stop the run ----------------------------------------------------
def test_unreadable_images_are_error_rows_the_rest_is_judged(setup, server: FakeJudgeServer) -> None:
    bench, edits = setup
    (edits / "1-texture.png").write_bytes(b"")  # 0 bytes
    good = (edits / "2-add.png").read_bytes()
    (edits / "2-add.png").write_bytes(good[: len(good) // 2])  # truncated
    code, out, exc = judge(setup, "--perspective", "following", "--concurrency", "2")
    assert code == 1, (out, exc)
    assert "2 edits could not be read" in out
    assert "1-texture: " in out and "1-texture.png" in out and "2-add: " in out and "2-add.png" in out
    calls = server.calls()
    assert len(calls) == 12  # 14 edits, 2 unreadable: no call for those
    assert not any("edit texture of photo 1" in c.text() or "edit add of photo 2" in c.text() for c in calls)
    rows = {r.sample_id: r for r in rows_of(edits)}
    assert rows["1-texture"].status == "error" and "1-texture.png" in (rows["1-texture"].reason or "")
    assert rows["1-texture"].usage.calls == 0
    assert rows["2-add"].status == "error" and "2-add.png" in (rows["2-add"].reason or "")
    assert sum(r.status == "ok" for r in rows.values()) == 12
    s = summary_of(edits).perspectives["following"]
    assert (s.n, s.n_valid, s.n_error) == (14, 12, 2)

    # Fixed on disk, a rerun judges exactly those two.
    make_edits(edits)
    server.reset()
    code, out, _ = judge(setup, "--perspective", "following")
    assert code == 0, out
    assert len(server.calls()) == 2
    assert summary_of(edits).perspectives["following"].n_valid == 14


def test_run_dir_with_a_missing_or_corrupt_output_file(setup, server: FakeJudgeServer, tmp_path: Path) -> None:
    bench, _ = setup
    run = make_run_dir(tmp_path / "runs" / "r1", bench)
    (run / "images" / "1-local.png").unlink()  # edits.jsonl says ok, the file is gone
    (run / "images" / "1-style.png").write_bytes(b"\x89PNG\r\n")  # corrupt
    code, out, exc = judge(setup, "--perspective", "quality", images=run)
    assert code == 1, (out, exc)
    assert "1-local: edited image" in out and "does not exist" in out and "1-style" in out
    assert len(server.calls()) == 5
    rows = {r.sample_id: r for r in rows_of(run)}
    assert rows["1-local"].status == "error" and rows["1-style"].status == "error"
    assert summary_of(run).perspectives["quality"].n == 7


# 9. A reply cut off at max_tokens says so -------------------------------------------------------------
@pytest.mark.parametrize("judge_name, stem", [
    (GPT, STEM), (CLAUDE, "anthropic_claude-sonnet-4-6__realedit-v1")])
def test_a_cut_off_reply_names_max_tokens(setup, server, judge_name: str, stem: str) -> None:
    bench, edits = setup
    cut = '{"verdict": "yes", "score": 4, "reason": "the'
    server.push(Reply.ok(cut, finish_reason="length"), Reply.ok(cut, finish_reason="length"))
    code, out, _ = judge(setup, "--limit", "1", "--perspective", "following", judge_name=judge_name)
    assert code == 0, out
    first, reask = server.calls()
    assert "cut off at max_tokens=200" in reask.body["messages"][-1]["content"]
    # Decision (engine docstring): the re-ask keeps the rubric's max_tokens.
    key = "max_tokens" if judge_name == CLAUDE else "max_completion_tokens"
    assert first.body[key] == reask.body[key] == 200
    [row] = rows_of(edits, stem)
    assert row.status == "invalid" and "cut off at max_tokens=200" in (row.reason or "")


def test_a_cut_off_reply_under_the_paper_parser_says_so(setup, server, tmp_path: Path) -> None:
    rub = tmp_path / "paper.toml"
    rub.write_text(paper_rubric_toml())
    server.push(Reply.ok("{'following': 'yes', 'sco", finish_reason="length"))
    code, out, _ = judge(setup, "--rubric", str(rub), "--parse", "paper", "--limit", "1", "--perspective", "following")
    assert code == 0, out
    [row] = rows_of(setup[1], "openai_gpt-4o-2024-08-06__paper-gpt4o-2024-05-13.paper-parse")
    assert row.status == "invalid" and "cut off at max_tokens=50" in (row.reason or "")


# 10, 11. Stops: exit codes, counts, every selected sample in the summary ---------------------------
def test_a_failure_streak_exits_1_and_counts_what_was_sent(setup, server: FakeJudgeServer) -> None:
    bench, edits = setup
    server.responder = lambda req: Reply.error(503)
    code, out, _ = judge(setup, "--limit", "1", "--concurrency", "1", "--max-retries", "0", "--failure-streak", "3")
    assert code == 1, out  # the asks were sent and failed: "some samples failed", not a usage error
    assert "3 failed asks in a row" in out and "3 of the 3 asks finished in this run failed" in out
    assert "every ask was sent" in out and "0 asks not sent" not in out
    server.reset()
    code, out, _ = judge(setup, "--limit", "2", "--concurrency", "1", "--max-retries", "0", "--failure-streak", "3")
    assert code == 1 and "3 asks not sent" in out  # 1-remove's three errors, then 2 x 3 - 3 = 3 left


def test_a_fatal_stop_leaves_no_sample_uncounted(setup, server: FakeJudgeServer) -> None:
    bench, edits = setup
    server.push(Reply.error(500), Reply.ok(GOOD))  # 1-local following: paid for an error, then redone below
    code, out, _ = judge(setup, "--limit", "1", "--perspective", "following", "--max-retries", "0")
    assert code == 1
    code, out, _ = judge(setup, "--limit", "1", "--perspective", "following")
    assert code == 0
    server.reset()
    server.push(Reply.ok(GOOD), Reply.ok(GOOD), Reply.error(401))
    code, out, exc = judge(setup, "--limit", "8", "--concurrency", "1")
    assert code == 2 and "401" in str(exc)
    s = summary_of(edits)
    assert s.n_samples == 8
    for p in s.perspectives.values():
        assert p.n == 8 and p.n_valid + p.n_invalid + p.n_refused + p.n_error + p.n_not_run == 8
    # 1-local: following (earlier run), preserving, quality ok; 1-remove following: the 401; the rest never sent
    f = s.perspectives["following"]
    assert (f.n_valid, f.n_error, f.n_not_run) == (1, 1, 6)
    assert (s.perspectives["quality"].n_valid, s.perspectives["quality"].n_not_run) == (1, 7)
    assert s.per_category["style"]["quality"].n_not_run == 1
    assert "not run" in out
    # Spent covers the call paid for the superseded error row; usage covers the current rows only.
    assert s.usage_spent is not None and s.usage_spent.calls == s.usage.calls + 1


# 12. The budget reserves in-flight estimates and waits for them -----------------------------------
def test_the_budget_waits_for_calls_in_flight(setup, server: FakeJudgeServer, tmp_path: Path) -> None:
    bench, edits = setup
    server.latency = 0.05
    prices = tmp_path / "prices.json"
    # Output at $1000 / 1M: an ask is estimated at <= 200 tokens = $0.20 and really costs 20 tokens = $0.02.
    prices.write_text(json.dumps({"models": {GPT: {"input": 0.0, "output": 1000.0}}}))
    code, out, exc = judge(setup, "--prices", str(prices), "--max-cost", "0.5", "--concurrency", "4",
                           "--perspective", "following")
    assert code == 0, (out, exc)  # 14 x $0.02 = $0.28 fits; three estimates at once ($0.60) do not
    assert len(server.calls()) == 14
    server.reset()
    code, out, exc = judge(setup, "--prices", str(prices), "--max-cost", "0.25", "--concurrency", "4",
                           "--perspective", "quality", "--no-cache")
    assert code == 2 and "budget" in str(exc) and "spent $0.0" in str(exc)
    n = len(server.calls())
    assert 1 <= n <= 3  # the next ask's estimate is only added while the spent stays under $0.05
    assert summary_of(edits).usage.cost_usd <= 0.25


# 13. Braces in the prose --------------------------------------------------------------------------
@pytest.mark.parametrize("text, verdict, score", [
    ('Format: {"verdict": "yes|no", "score": 0-5}. Answer: {"verdict": "no", "score": 1, "reason": "x"}', False, 1.0),
    ('{"verdict": "yes", "score": 4, "reason": "the {object} went"} and a stray } here', True, 4.0),
    ('The {object} is gone. {"verdict": "yes", "score": 3}', True, 3.0),
    ('{"verdict": "yes", "score": 4}\n{"verdict": "yes", "score": 4, "reason": "again"}', True, 4.0),
    ("Here: {'verdict': 'no', 'score': 2.5, 'reason': 'a {b}'} done", False, 2.5),
    ('{"answer": {"verdict": "yes", "score": 5}}', True, 5.0),
])
def test_braces_elsewhere_in_the_reply_do_not_hide_the_answer(text: str, verdict: bool, score: float) -> None:
    p = parse_robust(text)
    assert p.ok and p.verdict is verdict and p.score == score


def test_two_disagreeing_answers_are_not_resolved_by_guessing() -> None:
    p = parse_robust('{"verdict": "yes", "score": 4}\n{"verdict": "no", "score": 1}')
    assert not p.ok and p.score is None and "disagree" in (p.problem or "")
    assert parse_robust('{"verdict": "yes", "score": 4, "reason": "a"} {"verdict": "yes", "score": 4}').reason is None



def test_a_long_reply_with_many_braces_before_the_answer_is_still_read() -> None:
    prose = "Consider the set {x} here. " * 300  # 300 stray braces, then the answer
    p = parse_robust(prose + '{"verdict": "no", "score": 2, "reason": "r"}')
    assert p.ok and p.verdict is False and p.score == 2


# 14. Plain-folder matching ------------------------------------------------------------------------
def test_folder_matching_ignores_case_and_lists_subfolders(setup, server: FakeJudgeServer) -> None:
    bench, edits = setup
    (edits / "1-local.png").rename(edits / "1-Local.PNG")
    (edits / "nested").mkdir()
    (edits / "1-remove.png").rename(edits / "nested" / "1-remove.png")
    code, out, _ = judge(setup, "--dry-run")
    assert code == 0, out
    assert "14 edits" not in out and "13 edits" in out  # 1-Local.PNG matched, 1-remove not (subfolder)
    assert "nested/1-remove.png" in out and "1-remove" in out.split("missing edits")[1]
    code, out, _ = judge(setup, "--limit", "1", "--perspective", "following")
    assert code == 0 and len(server.calls()) == 1 and "edit local of photo 1" in server.calls()[0].text()


# 15, 16. Lines the user sees ----------------------------------------------------------------------
def test_invalid_and_refused_rows_warn_and_exit_0(setup, server: FakeJudgeServer) -> None:
    server.push(Reply.ok("nope"), Reply.ok("still nope"), Reply.refusal())
    code, out, _ = judge(setup, "--limit", "1", "--concurrency", "1")
    assert code == 0, out
    assert "warning: 1 judgments invalid" in out and "and 1 refused" in out
    server.reset()
    code, out, _ = judge(setup, "--limit", "1")
    assert code == 0 and "warning: 1 judgments invalid" in out  # the summary still says so on a rerun


def test_the_authors_parser_line_only_where_it_means_something(setup, server, tmp_path: Path) -> None:
    code, out, _ = judge(setup, "--limit", "1")
    assert code == 0 and "authors' parser" not in out
    assert summary_of(setup[1]).paper_parser_applies is False
    rub = tmp_path / "paper.toml"
    rub.write_text(paper_rubric_toml())
    server.responder = lambda req: Reply.ok("{'following': 'yes', 'consistent': 'yes', 'clear': 'yes', 'score': 4.0}")
    code, out, _ = judge(setup, "--rubric", str(rub), "--limit", "1")
    assert code == 0 and "the authors' parser would drop 0" in out


def test_rows_record_the_sha_of_the_edited_file_they_judged(setup, server, tmp_path: Path) -> None:
    # The report tells a judgment of a since-redone image by this sha (edits.jsonl records the same hash).
    import hashlib

    bench, _ = setup
    run = make_run_dir(tmp_path / "runs" / "r1", bench)
    code, out, _ = judge(setup, "--perspective", "quality", images=run)
    assert code == 0, out
    rows = rows_of(run)
    assert len(rows) == 7
    for r in rows:
        assert r.edited_sha256 == hashlib.sha256((run / "images" / f"{r.sample_id}.png").read_bytes()).hexdigest()


def test_the_missing_line_speaks_only_of_the_selection(setup, server) -> None:
    bench, edits = setup
    (edits / "1-local.png").unlink()
    (edits / "2-add.png").unlink()
    code, out, _ = judge(setup, "--category", "add", "--perspective", "quality")
    assert code == 0, out
    text = " ".join(out.split())
    assert "missing edits (not judged): 2-add" in text and "1-local" not in text


def test_check_validates_the_judge_without_images(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = invoke("judge", "--check", "--judge", GPT)
    assert code == 0 and "in order" in " ".join(out.split())
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out, exc = invoke("judge", "--check", "--judge", GPT)
    assert code == 2 and "OPENAI_API_KEY" in out + str(exc)
    code, out, _ = invoke("judge", "--check", "--judge", "nosuch/x")
    assert code == 2
