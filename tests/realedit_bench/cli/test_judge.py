"""``realedit judge`` on the command line: option checks, what it prints, exit codes, and keys kept out
of every file (end to end with the real openai SDK against the local fake server)."""

from __future__ import annotations

from pathlib import Path

import pytest
from judge_fixtures import (
    ANTHROPIC_SECRET,
    CLAUDE,
    GPT,
    SECRET,
    invoke,
    judge,
    judge_env,
    make_bench,
    make_edits,
    make_run_dir,
    paper_rubric_toml,
    rows_of,
    set_env,
    summary_of,
)
from judge_server import FakeJudgeServer, Reply


# Checks before any work ------------------------------------------------------------------------------
def test_missing_key_is_one_line_before_any_work(
    judge_setup, fake_server: FakeJudgeServer, monkeypatch
) -> None:
    bench, edits = judge_setup
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out, exc = judge(judge_setup)
    assert code == 2 and "OPENAI_API_KEY" in str(exc)
    assert fake_server.requests == [] and not (edits / "judgments").exists()
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, _, exc = judge(judge_setup, judge_name=CLAUDE)
    assert code == 2 and "ANTHROPIC_API_KEY" in str(exc)


def test_inputs_missing_and_unmatched_are_listed(
    tmp_path: Path, fake_server: FakeJudgeServer, monkeypatch
) -> None:
    bench = make_bench(tmp_path / "bench")
    edits = make_edits(tmp_path / "edits", cats=("Local", "Add"), extra=True)
    set_env(monkeypatch, judge_env(fake_server, tmp_path / "cache"))
    code, out, _ = invoke(
        "judge", "--images", str(edits), "--data-dir", str(bench), "--judge", GPT, "--dry-run"
    )
    assert code == 0
    assert "missing edits" in out and "1-remove" in out and "2-style" in out
    assert "notes.txt" in out and "99-local.png" in out
    code, _, exc = invoke(
        "judge", "--images", str(tmp_path / "nope"), "--data-dir", str(bench), "--judge", GPT
    )
    assert code == 2
    code, _, exc = invoke(
        "judge", "--images", str(edits), "--data-dir", str(bench), "--judge", GPT, "--parse", "x"
    )
    assert code == 2 and "--parse" in str(exc)


def test_check_validates_the_judge_without_images(judge_setup, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = invoke("judge", "--check", "--judge", GPT)
    assert code == 0 and "in order" in " ".join(out.split())
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out, exc = invoke("judge", "--check", "--judge", GPT)
    assert code == 2 and "OPENAI_API_KEY" in out + str(exc)
    code, out, _ = invoke("judge", "--check", "--judge", "nosuch/x")
    assert code == 2


def test_check_with_images_that_do_not_exist(judge_setup, tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "runs" / "r1", judge_setup[0])
    code, out, exc = invoke("judge", "--check", "--judge", GPT, "--images", str(tmp_path / "nonexistent"))
    assert code == 2 and "does not exist" in out + str(exc)
    code, out, _ = invoke("judge", "--check", "--judge", GPT, "--images", str(run))
    assert code == 0, out



# What it prints and its exit codes ----------------------------------------------------------------------
def test_dry_run_needs_no_key_and_failed_calls_exit_1(
    judge_setup, fake_server: FakeJudgeServer, monkeypatch
) -> None:
    bench, edits = judge_setup
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out, exc = judge(
        judge_setup, "--dry-run", "--perspective", "following", "--perspective", "following"
    )
    # a repeated name counts once
    assert code == 0 and "x 1 perspectives" in out and fake_server.requests == []
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    # Two edits fail for good (503 after the retries), the others are judged: exit code 1, rows say error.
    failing = {0, 1}
    calls = iter(range(10_000))
    fake_server.responder = lambda req: Reply.error(503) if next(calls) in failing else Reply.ok(
        '{"verdict": "yes", "score": 4, "reason": "ok"}')
    code, out, exc = judge(judge_setup, "--concurrency", "1", "--max-retries", "0", "--perspective",
                           "following", "--no-cache")
    assert code == 1, (out, exc)
    statuses = [r.status for r in rows_of(edits)]
    assert statuses.count("error") == 2 and statuses.count("ok") == len(statuses) - 2


def test_invalid_and_refused_rows_warn_and_exit_0(judge_setup, fake_server: FakeJudgeServer) -> None:
    fake_server.push(Reply.ok("nope"), Reply.ok("still nope"), Reply.refusal())
    code, out, _ = judge(judge_setup, "--limit", "1", "--concurrency", "1")
    assert code == 0, out
    assert "warning: 1 judgments invalid" in out and "and 1 refused" in out
    fake_server.reset()
    code, out, _ = judge(judge_setup, "--limit", "1")
    assert code == 0 and "warning: 1 judgments invalid" in out  # the summary still says so on a rerun


def test_the_authors_parser_line_only_where_it_means_something(
    judge_setup, fake_server, tmp_path: Path
) -> None:
    code, out, _ = judge(judge_setup, "--limit", "1")
    assert code == 0 and "authors' parser" not in out
    assert summary_of(judge_setup[1]).paper_parser_applies is False
    rub = tmp_path / "paper.toml"
    rub.write_text(paper_rubric_toml())
    fake_server.responder = lambda req: Reply.ok(
        "{'following': 'yes', 'consistent': 'yes', 'clear': 'yes', 'score': 4.0}"
    )
    code, out, _ = judge(judge_setup, "--rubric", str(rub), "--limit", "1")
    assert code == 0 and "the authors' parser would drop 0" in out



# Secrets --------------------------------------------------------------------------------------------
def test_the_key_never_lands_in_a_file(judge_setup, fake_server: FakeJudgeServer, tmp_path: Path) -> None:
    bench, edits = judge_setup
    # even an error message quoting part of it
    fake_server.push(Reply.error(401, text=f"bad key {SECRET[:6]}"))
    judge(judge_setup, "--limit", "1")
    fake_server.reset()
    fake_server.push(Reply.error(500), Reply.ok("x"))
    code, out, _ = judge(judge_setup, "--limit", "2", "--backoff", "0")
    assert code == 0
    assert any(c.headers.get("authorization") == f"Bearer {SECRET}" for c in fake_server.calls())
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in written) and any(p.name.endswith(".jsonl") for p in written)
    for p in written:
        data = p.read_bytes()
        assert SECRET.encode() not in data and ANTHROPIC_SECRET.encode() not in data, p
    assert SECRET not in out

