"""``realedit judge`` end to end with the real openai / anthropic SDKs against the local fake server."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from judge_fixtures import (
    ANTHROPIC_SECRET,
    SECRET,
    invoke,
    judge_env,
    make_bench,
    make_edits,
    paper_rubric_toml,
    set_env,
)
from judge_server import FakeJudgeServer, Reply
from paths import PAPER_PROMPTS

from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.judges.encode import encode_image
from realedit_bench.schema.judge import JudgeSummary, JudgmentRow

GPT = "openai/gpt-4o-2024-08-06"
CLAUDE = "anthropic/claude-sonnet-4-6"


@pytest.fixture
def server():
    with FakeJudgeServer() as srv:
        yield srv


@pytest.fixture
def setup(tmp_path: Path, server: FakeJudgeServer, monkeypatch: pytest.MonkeyPatch):
    """Tiny benchmark (2 photos x 7 edits), a folder of edits, env pointing the SDKs at the server."""
    bench = make_bench(tmp_path / "bench")
    edits = make_edits(tmp_path / "edits")
    set_env(monkeypatch, judge_env(server, tmp_path / "cache"))
    return bench, edits


def judge(setup, *extra: str, judge_name: str = GPT):
    bench, edits = setup
    return invoke("judge", "--images", str(edits), "--data-dir", str(bench), "--judge", judge_name, *extra)


def rows_of(edits: Path, stem: str = "openai_gpt-4o-2024-08-06__realedit-v1") -> list[JudgmentRow]:
    return read_rows(edits / "judgments" / f"{stem}.jsonl", JudgmentRow)


def test_openai_run_sends_images_in_order_and_resumes_for_free(setup, server: FakeJudgeServer) -> None:
    bench, edits = setup
    code, out, _ = judge(setup, "--limit", "3")
    assert code == 0, out
    calls = server.calls()
    assert len(calls) == 9  # 3 edits x 3 perspectives
    rows = rows_of(edits)
    assert len(rows) == 9 and {r.status for r in rows} == {"ok"}
    src = encode_image(bench / "imgs" / "1.jpeg", "png", max_side=1024)
    for call in calls:
        body = call.body
        assert body["model"] == "gpt-4o-2024-08-06" and body["temperature"] == 0 and body["seed"] == 0
        assert body["max_completion_tokens"] == 200
        assert body["messages"][0]["role"] == "system"
        imgs = call.images()
        assert len(imgs) == 2 and imgs[0] == src.data  # source first, then the edited image
        assert call.headers["authorization"] == f"Bearer {SECRET}"
    local = [c for c in calls if '"edit local of photo 1"' in c.text()]
    assert len(local) == 3
    edited = encode_image(edits / "1-local.png", "png", max_side=1024)
    assert all(c.images()[1] == edited.data for c in local)
    row = next(r for r in rows if r.sample_id == "1-local")
    assert row.image_sha256 == [src.sha256, edited.sha256]
    assert row.model_snapshot == "gpt-4o-2024-08-06" and row.system_fingerprint == "fp_test"
    assert row.usage.calls == 1 and row.usage.input_tokens == 100 and row.usage.cost_usd > 0
    summary = read_model(edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.summary.json", JudgeSummary)
    assert summary.perspectives["following"].n_valid == 3 and summary.usage.calls == 9

    server.reset()
    code, out, _ = judge(setup, "--limit", "3")
    assert code == 0 and server.calls() == []  # resumed: nothing asked again
    assert len(rows_of(edits)) == 9

    # A second folder with the same images: nothing to resume, but every call is a cache hit.
    import shutil

    copy = edits.parent / "copy"
    shutil.copytree(edits, copy, ignore=shutil.ignore_patterns("judgments"))
    code, out, _ = invoke("judge", "--images", str(copy), "--data-dir", str(bench), "--judge", GPT, "--limit", "3")
    assert code == 0 and server.calls() == []
    assert all(r.cached and r.usage.calls == 0 for r in rows_of(copy))


def test_scripted_faults_are_retried_reasked_or_recorded(setup, server: FakeJudgeServer) -> None:
    bench, edits = setup
    good = '{"verdict": "no", "score": 2, "reason": "r"}'
    server.push(
        Reply.error(429, headers={"retry-after": "1"}), Reply.ok(good),  # 1-local following: retried after 1 s
        Reply.error(500), Reply.ok(good),  # preserving: retried
        Reply.hang(3.0), Reply.ok(good),  # quality: timed out, retried
        Reply.ok("the edit is fine I think"), Reply.ok(good),  # 1-remove following: malformed -> re-ask -> ok
        Reply.refusal(),  # preserving: refused by the provider
        Reply.ok('{"verdict": "yes", "score": 9}'), Reply.ok('{"verdict": "yes", "score": 11}'),  # invalid
        Reply.ok('```json\n{"verdict": "Yes", "score": 4.5, "reason": "fine"}\n```'),  # 1-add following: fence
        Reply.refusal(provider_style=False),  # refusal in words
        Reply.error(400),  # 1-add quality: a plain 400 fails the item at once
    )
    t0 = time.monotonic()
    code, out, _ = judge(setup, "--limit", "3", "--concurrency", "1", "--timeout", "1", "--backoff", "0.05")
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
    reask = [c for c in server.calls() if len(c.body["messages"]) == 4]
    assert len(reask) == 2
    assert "not a JSON object" in reask[0].body["messages"][-1]["content"]
    assert "outside the range" in reask[1].body["messages"][-1]["content"]
    assert len(reask[1].images()) == 2
    s = read_model(edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.summary.json", JudgeSummary)
    assert (s.perspectives["preserving"].n_refused, s.perspectives["quality"].n_invalid,
            s.perspectives["quality"].n_error) == (2, 1, 1)

    # Rerun: only the error row is asked again; refused and invalid stay as they are.
    server.reset()
    code, out, _ = judge(setup, "--limit", "3")
    assert code == 0 and len(server.calls()) == 1
    assert "edit add of photo 1" in server.calls()[0].text()
    final = {(r.sample_id, r.perspective): r for r in rows_of(edits)}
    assert final[("1-add", "quality")].status == "ok"


def test_anthropic_backend(setup, server: FakeJudgeServer) -> None:
    bench, edits = setup
    server.push(Reply.refusal())
    code, out, _ = judge(setup, "--limit", "2", "--concurrency", "1", judge_name=CLAUDE)
    assert code == 0, out
    calls = server.calls()
    assert len(calls) == 6 and all(c.path.startswith("/v1/messages") for c in calls)
    body = calls[0].body
    # API version 2026-10-21 (SDK 2.x) rejects sampling parameters: none is sent.
    assert body["model"] == "claude-sonnet-4-6" and "temperature" not in body and "seed" not in body
    assert body["max_tokens"] == 200 and body["system"].startswith("You grade image edits")
    assert [p["type"] for p in body["messages"][0]["content"]] == ["image", "image", "text"]
    assert ANTHROPIC_SECRET in (calls[0].headers.get("x-api-key", "") + calls[0].headers.get("authorization", ""))
    rows = rows_of(edits, "anthropic_claude-sonnet-4-6__realedit-v1")
    assert sorted(r.status for r in rows) == ["ok"] * 5 + ["refused"]


def test_authors_prompts_end_to_end_with_the_paper_parser(setup, server: FakeJudgeServer, tmp_path: Path) -> None:
    bench, edits = setup
    rub = tmp_path / "paper.toml"
    rub.write_text(paper_rubric_toml())
    server.push(
        Reply.ok("{'following': 'yes', 'score': 4.5}"), Reply.ok("{'consistent': 'no', 'score': 3}"),
        Reply.ok("{'clear': 'yes', 'score': 4.0}"),
    )
    code, out, _ = judge(setup, "--rubric", str(rub), "--parse", "paper", "--limit", "2", "--concurrency", "1")
    assert code == 0, out
    calls = server.calls()
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
    s = read_model(edits / "judgments" / "openai_gpt-4o-2024-08-06__paper-gpt4o-2024-05-13.paper-parse.summary.json",
                   JudgeSummary)
    assert s.parse_mode == "paper" and s.paper_parser_dropped == 2  # 1-local (integer score) and 1-remove
    # As in the released script, 1-local's following score was appended before its preserving score
    # failed, so it counts although the sample is dropped; 1-remove (default JSON reply) adds nothing.
    assert s.paper_figures["following"] == {"n": 1, "accuracy": 1.0, "score_mean": 4.5}
    assert s.paper_figures["preserving"] == {"n": 0, "accuracy": 0.0, "score_mean": None}


def test_missing_key_is_one_line_before_any_work(setup, server: FakeJudgeServer, monkeypatch) -> None:
    bench, edits = setup
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out, exc = judge(setup)
    assert code == 2 and "OPENAI_API_KEY" in str(exc)
    assert server.requests == [] and not (edits / "judgments").exists()
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    code, _, exc = judge(setup, judge_name=CLAUDE)
    assert code == 2 and "ANTHROPIC_API_KEY" in str(exc)


def test_fatal_errors_and_failure_streaks_stop_the_run(setup, server: FakeJudgeServer) -> None:
    bench, edits = setup
    server.push(Reply.error(429, error_type="insufficient_quota"))
    code, out, exc = judge(setup, "--concurrency", "1")
    assert code == 2 and "quota" in str(exc)
    assert len(server.calls()) == 1  # no retry, nothing else dispatched
    server.reset()
    server.push(Reply.error(401))
    code, _, exc = judge(setup, "--concurrency", "1")
    assert code == 2 and "401" in str(exc) and len(server.calls()) == 1
    server.reset()
    server.responder = lambda req: Reply.error(503)
    code, out, _ = judge(setup, "--concurrency", "1", "--max-retries", "1", "--backoff", "0", "--failure-streak", "3")
    # The asks were sent and failed (error rows): exit 1, "some samples failed" (README), not a usage error.
    assert code == 1 and "3 failed asks in a row" in out
    assert len(server.calls()) == 6  # 3 items x (1 call + 1 retry)


def test_the_key_never_lands_in_a_file(setup, server: FakeJudgeServer, tmp_path: Path) -> None:
    bench, edits = setup
    server.push(Reply.error(401, text=f"bad key {SECRET[:6]}"))  # even an error message quoting part of it
    judge(setup, "--limit", "1")
    server.reset()
    server.push(Reply.error(500), Reply.ok("x"))
    code, out, _ = judge(setup, "--limit", "2", "--backoff", "0")
    assert code == 0
    assert any(c.headers.get("authorization") == f"Bearer {SECRET}" for c in server.calls())
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in written) and any(p.name.endswith(".jsonl") for p in written)
    for p in written:
        data = p.read_bytes()
        assert SECRET.encode() not in data and ANTHROPIC_SECRET.encode() not in data, p
    assert SECRET not in out


def test_changed_image_is_judged_again(setup, server: FakeJudgeServer) -> None:
    bench, edits = setup
    assert judge(setup, "--limit", "2")[0] == 0
    server.reset()
    from PIL import Image

    Image.new("RGB", (40, 32), (250, 0, 0)).save(edits / "1-remove.png")
    assert judge(setup, "--limit", "2")[0] == 0
    calls = server.calls()
    assert len(calls) == 3 and all("edit remove of photo 1" in c.text() for c in calls)
    new_sha = hashlib.sha256(calls[0].images()[1]).hexdigest()
    latest = {(r.sample_id, r.perspective): r for r in rows_of(edits)}
    assert latest[("1-remove", "quality")].image_sha256[1] == new_sha


def test_samples_k_dry_run_and_budget(setup, server: FakeJudgeServer, tmp_path: Path) -> None:
    bench, edits = setup
    code, out, _ = judge(setup, "--dry-run")
    assert code == 0 and server.requests == []
    assert "42 calls to send" in out and "estimated cost: $" in out and not (edits / "judgments").exists()

    scores = iter([1, 3, 2, 4] * 30)
    server.responder = lambda req: Reply.ok(json.dumps({"verdict": "yes", "score": next(scores)}))
    code, out, _ = judge(setup, "--limit", "2", "--perspective", "quality", "--samples", "2", "--temperature", "0.7",
                         "--concurrency", "1")
    assert code == 0, out
    assert len(server.calls()) == 4 and all(c.body["temperature"] == 0.7 for c in server.calls())
    s = read_model(edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.summary.json", JudgeSummary)
    assert s.samples_k == 2 and s.variance["quality"]["items"] == 2 and s.variance["quality"]["spread_max"] == 2
    items = (edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.items.jsonl").read_text().splitlines()
    assert len(items) == 2

    server.reset()
    server.responder = lambda req: Reply.ok('{"verdict": "yes", "score": 3}', input_tokens=1000, output_tokens=0)
    prices = tmp_path / "prices.json"
    # $1 per 1M input, $1000 per 1M output: each ask is estimated well under $0.25 but bounded by max tokens.
    prices.write_text(json.dumps({"models": {GPT: {"input": 1000.0, "output": 0.0}}}))
    code, out, exc = judge(setup, "--prices", str(prices), "--max-cost", "4.5", "--concurrency", "1",
                           "--perspective", "following")
    assert code == 2 and "budget" in str(exc)
    n = len(server.calls())
    assert 1 <= n <= 4  # each call costs $1: dispatch stopped before crossing $4.50
    s = read_model(edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.summary.json", JudgeSummary)
    assert s.usage.cost_usd <= 4.5 + 1e-9


def test_batch_apis_submit_record_and_collect_later(setup, server: FakeJudgeServer) -> None:
    bench, edits = setup
    server.batch_polls_before_done = 2
    code, out, _ = judge(setup, "--limit", "2", "--batch", "--no-wait")
    assert code == 0 and "batches still running" in out
    state = json.loads((edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.batches.json").read_text())
    assert len(state["batches"]) == 1 and not state["batches"][0]["collected"]
    assert [c for c in server.requests if c.path.startswith("/v1/files")]  # the input file was uploaded
    assert server.calls() == [] and not rows_of(edits)
    # The process is gone; a later run (no --batch needed) collects the batch instead of asking again.
    code, out, _ = judge(setup, "--limit", "2", "--poll-interval", "0")
    assert code == 0, out
    rows = rows_of(edits)
    assert len(rows) == 6 and {r.status for r in rows} == {"ok"} and all("batch" in r.params for r in rows)
    assert server.calls() == [] and len(server.batch_calls) == 6
    assert rows[0].usage.cost_usd == pytest.approx(
        (100 * 2.5 + 20 * 10.0) / 1e6 * 0.5)  # batch price is half

    code, out, _ = judge(setup, "--limit", "2", "--batch", "--poll-interval", "0", judge_name=CLAUDE)
    assert code == 0, out
    rows = rows_of(edits, "anthropic_claude-sonnet-4-6__realedit-v1")
    assert len(rows) == 6 and {r.status for r in rows} == {"ok"}
    assert any(r.path.startswith("/v1/messages/batches") for r in server.requests)


def test_azure_and_openai_compatible_endpoints(setup, server: FakeJudgeServer, monkeypatch) -> None:
    bench, edits = setup
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.base_url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out, _ = judge(setup, "--limit", "1", judge_name="openai/my-gpt4o-deployment")
    assert code == 0, out
    c = server.calls()[0]
    assert c.path.startswith("/openai/deployments/my-gpt4o-deployment/chat/completions")
    assert "api-version=2024-10-21" in c.path and c.headers["api-key"] == "azure-test-key"
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server.reset()
    name = f"openai-api/{server.openai_base_url}/Qwen/Qwen2-VL-7B-Instruct"
    code, out, _ = judge(setup, "--limit", "1", judge_name=name)
    assert code == 0, out
    c = server.calls()[0]
    assert c.body["model"] == "Qwen/Qwen2-VL-7B-Instruct" and c.body["max_tokens"] == 200
    assert SECRET not in c.headers.get("authorization", "")  # the OpenAI key never goes to other servers
    code, _, exc = judge(setup, judge_name="openai-api/https://vllm.example.com/v1/m")
    assert code == 2 and "OPENAI_COMPAT_API_KEY" in str(exc)


def test_inputs_missing_and_unmatched_are_listed(tmp_path: Path, server: FakeJudgeServer, monkeypatch) -> None:
    bench = make_bench(tmp_path / "bench")
    edits = make_edits(tmp_path / "edits", cats=("Local", "Add"), extra=True)
    set_env(monkeypatch, judge_env(server, tmp_path / "cache"))
    code, out, _ = invoke("judge", "--images", str(edits), "--data-dir", str(bench), "--judge", GPT, "--dry-run")
    assert code == 0
    assert "missing edits" in out and "1-remove" in out and "2-style" in out
    assert "notes.txt" in out and "99-local.png" in out
    code, _, exc = invoke("judge", "--images", str(tmp_path / "nope"), "--data-dir", str(bench), "--judge", GPT)
    assert code == 2
    code, _, exc = invoke("judge", "--images", str(edits), "--data-dir", str(bench), "--judge", GPT, "--parse", "x")
    assert code == 2 and "--parse" in str(exc)


def test_judge_items_api_for_arbitrary_triplets(tmp_path: Path, server: FakeJudgeServer, monkeypatch) -> None:
    from realedit_bench.judges.engine import EngineConfig, JudgeAborted, JudgeItem, judge_items

    set_env(monkeypatch, judge_env(server, tmp_path / "cache"))
    edits = make_edits(tmp_path / "e", n_photos=1, cats=("Local", "Add"))
    src = (edits / "1-local.png").read_bytes()  # raw bytes work as well as paths
    items = [JudgeItem("a", "make the cup blue", {"source": src, "edited": edits / "1-add.png"})]
    server.push(Reply.ok('{"verdict": "no", "score": 1.5, "reason": "cup is red"}'))
    seen = []
    outs = judge_items(items, judge=CLAUDE, perspectives=["following", "quality"], cache=tmp_path / "c.sqlite",
                       config=EngineConfig(concurrency=1), on_result=seen.append)
    assert [(o.perspective, o.status, o.score) for o in outs] == [("following", "ok", 1.5), ("quality", "ok", 4.0)]
    assert seen == outs and outs[0].reason == "cup is red"
    assert '"make the cup blue"' in server.calls()[0].text()
    assert judge_items(items, judge=CLAUDE, perspectives=["following"], cache=tmp_path / "c.sqlite")[0].cached
    server.push(Reply.error(403))
    with pytest.raises(JudgeAborted, match="403"):
        judge_items(items, judge=CLAUDE, perspectives=["preserving"], config=EngineConfig(concurrency=1))


def test_dry_run_needs_no_key_and_failed_calls_exit_1(setup, server: FakeJudgeServer, monkeypatch) -> None:
    bench, edits = setup
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out, exc = judge(setup, "--dry-run", "--perspective", "following", "--perspective", "following")
    assert code == 0 and "x 1 perspectives" in out and server.requests == []  # a repeated name counts once
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    # Two edits fail for good (503 after the retries), the others are judged: exit code 1, rows say error.
    failing = {0, 1}
    calls = iter(range(10_000))
    server.responder = lambda req: Reply.error(503) if next(calls) in failing else Reply.ok(
        '{"verdict": "yes", "score": 4, "reason": "ok"}')
    code, out, exc = judge(setup, "--concurrency", "1", "--max-retries", "0", "--perspective", "following",
                           "--no-cache")
    assert code == 1, (out, exc)
    statuses = [r.status for r in rows_of(edits)]
    assert statuses.count("error") == 2 and statuses.count("ok") == len(statuses) - 2
