"""Reward labels (``realedit reward annotate``, ``api.annotate_rewards``) with the real openai SDK against
the local fake judge server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from judge_fixtures import SECRET, judge_env, set_env
from judge_server import FakeJudgeServer, RecordedRequest, Reply
from paths import PAPER_PROMPTS
from reward_fixtures import make_triplet_folder

from realedit_bench.api import annotate_rewards
from realedit_bench.errors import RealEditError
from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.judges.encode import encode_image
from reward_model.data import RewardRow, load_examples
from reward_model.labels import AnnotateSummary, AnnotationRow

GPT = "openai/gpt-4o-2024-08-06"
INSTRUCTIONS = {"s0": "add a red hat", "s1": "remove the dog", "s2": "make it night"}

#: Perspective -> (score, failure) the scripted judge gives.
ANSWERS = {"following": (5, "None"), "preserving": (2, "the dog vanished"), "quality": (4, "slight blur")}


def _perspective(req: RecordedRequest) -> str:
    text = req.text()
    if "carry out the request" in text:
        return "following"
    if "leaves alone" in text:
        return "preserving"
    assert "clean and natural" in text, text
    return "quality"


def responder(req: RecordedRequest) -> Reply:
    """Scripted judge: fixed answers per perspective; quality of 'make it night' is never parseable."""
    p = _perspective(req)
    if p == "quality" and "make it night" in req.text():
        return Reply.ok("The picture looks fine to me.")
    score, failure = ANSWERS[p]
    verdict = "yes" if score >= 4 else "no"
    return Reply.ok(json.dumps({"verdict": verdict, "score": score, "failure": failure}))


@pytest.fixture
def server():
    with FakeJudgeServer() as srv:
        srv.responder = responder
        yield srv


@pytest.fixture
def triplets(tmp_path: Path, server: FakeJudgeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_triplet_folder(tmp_path / "triplets", n=3)
    for sid, text in INSTRUCTIONS.items():
        (root / sid / "instruction.txt").write_text(text)
    set_env(monkeypatch, judge_env(server, tmp_path / "cache"))
    return root


def run(*args: str):
    """``realedit reward annotate ...`` in-process through the real app; user errors map to exit code 2."""
    from typer.testing import CliRunner

    from realedit_bench.cli.main import app

    result = CliRunner().invoke(app, ["reward", "annotate", *args])
    code = 2 if isinstance(result.exception, RealEditError) else result.exit_code
    if result.exception is not None and not isinstance(result.exception, (SystemExit, RealEditError)):
        raise result.exception
    return code, result.output, result.exception


def test_annotate_writes_our_jsonl_and_the_rewardedit_layout_and_resumes_for_free(
    triplets: Path, server: FakeJudgeServer, tmp_path: Path
):
    out = tmp_path / "rewards"
    outcome = annotate_rewards(triplets, out, judge=GPT, max_retries=0)
    assert outcome.exit_code == 0, outcome.describe()
    calls = server.calls()
    assert len(calls) == 3 * 3 + 1  # one re-ask for the unparseable quality reply of s2
    for call in calls:
        assert call.body["model"] == "gpt-4o-2024-08-06" and call.body["temperature"] == 0
        assert SECRET not in json.dumps(call.body)
    # images are sent in order: source, then edited
    first = next(c for c in calls if "add a red hat" in c.text())
    src = encode_image(triplets / "s0" / "source.png", "png", max_side=1024).data
    edt = encode_image(triplets / "s0" / "edited.png", "png", max_side=1024).data
    assert first.images() == [src, edt]
    # our wording, never the authors' prompts
    authors = PAPER_PROMPTS
    for f in authors.glob("*.txt"):
        assert f.read_text()[:60] not in calls[0].text()

    rows = {r.sample_id: r for r in read_rows(out / "rewards.jsonl", RewardRow)}
    assert set(rows) == {"s0", "s1", "s2"}
    assert rows["s0"].status == "ok" and rows["s2"].status == "incomplete"
    assert rows["s2"].rewards["quality"].status == "invalid"
    assert rows["s1"].rewards["preserving"].failure == "the dog vanished"
    assert rows["s0"].instruction == "add a red hat" and rows["s0"].source == "../triplets/s0/source.png"
    assert rows["s0"].usage.calls == 3
    layout = json.loads((out / "rewardedit.json").read_text())
    assert set(layout) == {"s0", "s1"}
    assert layout["s0"] == [
        {"Score": 5, "Negative Prompt": "None"},
        {"Score": 2, "Negative Prompt": "the dog vanished"},
        {"Score": 4, "Negative Prompt": "slight blur"},
    ]
    summary = read_model(out / "annotate_summary.json", AnnotateSummary)
    assert (summary.n_complete, summary.n_incomplete, summary.n_pending) == (2, 1, 0)
    assert summary.usage.calls == 10 and summary.usage.input_tokens == 10 * 100
    assert summary.usage.cost_usd == pytest.approx((1000 * 2.5 + 200 * 10.0) / 1e6)
    assert summary.status_counts["quality"] == {"ok": 2, "invalid": 1}

    # both outputs feed training with the same labels
    from_jsonl, _ = load_examples([out / "rewards.jsonl"], None)
    from_json, _ = load_examples([out / "rewardedit.json"], str(triplets))
    assert {e.sample_id: e.label for e in from_jsonl} == {e.sample_id: e.label for e in from_json}
    assert from_jsonl[0].label.scores == (5.0, 2.0, 4.0)

    # a rerun asks nothing: every perspective has a final answer (invalid is final, not an error)
    server.reset()
    again = annotate_rewards(triplets, out, judge=GPT)
    assert again.exit_code == 0, again.describe()
    assert server.calls() == []
    assert len(read_rows(out / "annotations.jsonl", AnnotationRow)) == 9


def test_failed_calls_are_asked_again_on_rerun_and_cached_answers_cost_nothing(
    triplets: Path, server: FakeJudgeServer, tmp_path: Path
):
    out = tmp_path / "r"
    server.push(Reply.error(500))  # the first call fails (no retries): that ask stays pending
    code, output, _ = run("--triplets", str(triplets), "--out", str(out), "--judge", GPT,
                          "--max-retries", "0",
                          "--limit", "2", "--concurrency", "1")
    # an ask that failed for good is not an answer: exit 1, as 'realedit judge' does
    assert code == 1, output
    assert "1 asks failed; rerun to retry" in output
    summary = read_model(out / "annotate_summary.json", AnnotateSummary)
    assert (summary.n_complete, summary.n_pending) == (1, 1)
    assert len(server.calls()) == 6
    server.reset()
    server.responder = responder
    code, output, _ = run("--triplets", str(triplets), "--out", str(out), "--judge", GPT, "--limit", "2")
    assert code == 0, output
    assert len(server.calls()) == 1  # only the failed ask
    summary = read_model(out / "annotate_summary.json", AnnotateSummary)
    assert (summary.n_complete, summary.n_pending) == (2, 0)

    # a fresh output folder: every answer comes from the judge cache, no call, no money this run
    server.reset()
    code, output, _ = run("--triplets", str(triplets), "--out", str(tmp_path / "again"), "--judge", GPT,
                          "--limit", "2")
    assert code == 0, output
    assert server.calls() == []
    again = read_model(tmp_path / "again" / "annotate_summary.json", AnnotateSummary)
    assert again.usage_this_run.cost_usd == 0 and again.n_complete == 2
    assert all(r.reward.cached for r in read_rows(tmp_path / "again" / "annotations.jsonl", AnnotationRow))


def test_missing_key_bad_input_and_dry_run_send_nothing(
    triplets: Path, server: FakeJudgeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    code, output, _ = run("--triplets", str(triplets), "--out", str(tmp_path / "d"), "--judge", GPT,
                          "--dry-run")
    assert code == 0, output
    assert "9 asks" in output and "Nothing was sent" in output
    assert server.calls() == []
    code, _, exc = run("--triplets", str(tmp_path / "nope"), "--out", str(tmp_path / "e"), "--judge", GPT)
    assert code == 2 and "does not exist" in str(exc)
    bad_rubric = tmp_path / "r.toml"
    bad_rubric.write_text("format = 1\nname = 'x'\n")
    code, _, exc = run("--triplets", str(triplets), "--out", str(tmp_path / "e"), "--judge", GPT,
                       "--rubric", str(bad_rubric))
    assert code == 2 and "perspectives" in str(exc)
    monkeypatch.delenv("OPENAI_API_KEY")
    code, _, exc = run("--triplets", str(triplets), "--out", str(tmp_path / "f"), "--judge", GPT)
    assert code == 2 and "OPENAI_API_KEY" in str(exc)
    assert server.calls() == [] and not (tmp_path / "f").exists()


def test_a_low_score_without_a_failure_text_is_reasked_then_invalid(
    triplets: Path, server: FakeJudgeServer, tmp_path
):
    """'None' under a score of 2 would teach the model that nothing failed: never stored as ok."""
    def lazy(req: RecordedRequest) -> Reply:
        return Reply.ok(json.dumps({"verdict": "no", "score": 2, "failure": "None"}))

    server.responder = lazy
    annotate_rewards(triplets, tmp_path / "o", judge=GPT, limit=1)
    rows = read_rows(tmp_path / "o" / "annotations.jsonl", AnnotationRow)
    assert rows and all(r.reward.status == "invalid" and r.reward.score is None for r in rows)
    assert "must say what fell short" in rows[0].reward.reason
    assert len(server.calls()) == 2 * len(rows)  # one re-ask each, quoting the problem
    assert json.loads((tmp_path / "o" / "rewardedit.json").read_text()) == {}
