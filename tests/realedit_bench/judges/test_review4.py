"""Fixes from the fourth review of ``realedit judge``: judgments of remade files that would stay stale
forever, the edited file's sha taken when the ask is planned, and ``--check --images``.

End to end with the real openai SDK against the local fake server (tests/judge_server.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from judge_fixtures import invoke, judge_env, make_bench, make_run_dir, set_env
from judge_server import FakeJudgeServer, Reply
from PIL import Image

from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.judges.stale import drop_stale, edit_history, is_stale
from realedit_bench.judges.summary import latest_rows
from realedit_bench.schema import EditRow
from realedit_bench.schema.judge import JudgeSummary, JudgmentRow

GPT = "openai/gpt-4o-2024-08-06"
GOOD = '{"verdict": "yes", "score": 4, "reason": "ok"}'
STEM = "openai_gpt-4o-2024-08-06__realedit-v1"
LATER = "2099-01-01T00:00:00+00:00"  # after any judgment these tests make


@pytest.fixture
def server():
    with FakeJudgeServer() as srv:
        srv.responder = lambda req: Reply.ok(GOOD)
        yield srv


@pytest.fixture
def run(tmp_path: Path, server: FakeJudgeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    bench = make_bench(tmp_path / "bench", n_photos=1)
    set_env(monkeypatch, judge_env(server, tmp_path / "cache"))
    run = make_run_dir(tmp_path / "runs" / "r1", bench)
    for p in (run / "images").glob("*.png"):  # an editor's file is never byte for byte what the judge sends
        _resave_same_pixels(p, "editor")
    # As 'realedit run' writes them: every edit row records its file's sha256.
    rows = read_rows(run / "edits.jsonl", EditRow)
    _write_edits(run, [r.model_copy(update={"output_sha256": _sha(run / r.output)}) for r in rows if r.output])
    return run


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_edits(run: Path, rows: list[EditRow]) -> None:
    (run / "edits.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in rows))


def _judge(run: Path, *extra: str):
    bench = run.parent.parent / "bench"
    return invoke("judge", "--images", str(run), "--data-dir", str(bench), "--judge", GPT, "--perspective", "quality",
                  *extra)


def _rows(run: Path) -> list[JudgmentRow]:
    return read_rows(run / "judgments" / f"{STEM}.jsonl", JudgmentRow)


def _n_stale(run: Path) -> int:
    """Judgments the report and 'realedit agree' leave out as stale (the shared rule)."""
    history = edit_history(run)
    assert history is not None
    latest = latest_rows(_rows(run)).values()
    n = sum(is_stale(r, history.get(r.sample_id, [])) for r in latest)
    assert drop_stale(_rows(run), history)[1] == n
    return n


def _resave_same_pixels(path: Path, maker: str) -> None:
    """Other file bytes, the same image (a re-encode, or 'run --force' remaking it identically)."""
    from PIL.PngImagePlugin import PngInfo

    before = path.read_bytes()
    info = PngInfo()
    info.add_text("made-by", maker)
    with Image.open(path) as im:
        im.load()
        im.save(path, pnginfo=info)
    assert path.read_bytes() != before


def _report_view(run: Path):
    from leaderboard.collect import load_run

    data = load_run(run)
    assert data is not None
    (js,) = data.judged
    return js


def test_a_file_remade_with_the_same_image_is_relabelled_without_a_call(run: Path, server: FakeJudgeServer) -> None:
    code, out, _ = _judge(run)
    assert code == 0, out and len(server.calls()) == 7
    # 'run --force' remade 1-local: the same pixels, other PNG bytes, so a new sha in edits.jsonl.
    img = run / "images" / "1-local.png"
    _resave_same_pixels(img, "run --force")
    edits = read_rows(run / "edits.jsonl", EditRow)
    redo = next(e for e in edits if e.sample_id == "1-local")
    _write_edits(run, [*edits, redo.model_copy(update={"output_sha256": _sha(img), "finished_at": LATER})])
    assert _n_stale(run) == 1  # what the user was told: rerun realedit judge

    server.reset()
    server.responder = lambda req: Reply.ok(GOOD)
    code, out, _ = _judge(run)
    assert code == 0, out
    assert server.calls() == []  # the bytes sent are the same: nothing to ask
    assert "1 judgments kept for edited files remade with the same image" in " ".join(out.split())
    assert _n_stale(run) == 0
    latest = latest_rows(_rows(run))[("1-local", "quality", 0)]
    assert latest.edited_sha256 == _sha(img) and latest.cached and latest.attempts == 0 and latest.usage.calls == 0
    # The judge's summary and the report count the same: 7 current judgments, none left out.
    summary = read_model(run / "judgments" / f"{STEM}.summary.json", JudgeSummary)
    js = _report_view(run)
    assert js.stale == [] and summary.perspectives["quality"].n_valid == 7
    assert js.summary.perspectives["quality"].n_valid == summary.perspectives["quality"].n_valid
    assert summary.usage_spent is not None and summary.usage_spent.calls == 7  # the relabel cost nothing

    # A third run finds everything labelled: nothing re-labelled, nothing asked.
    n_rows = len(_rows(run))
    code, out, _ = _judge(run)
    assert code == 0 and server.calls() == [] and len(_rows(run)) == n_rows


def test_rows_from_before_edited_sha256_with_a_compacted_history_become_current(run, server) -> None:
    code, out, _ = _judge(run)
    assert code == 0, out
    # Rows of the previous realedit (no edited_sha256), and an edit history rewritten after them.
    path = run / "judgments" / f"{STEM}.jsonl"
    path.write_text("".join(r.model_copy(update={"edited_sha256": None}).model_dump_json() + "\n" for r in _rows(run)))
    _write_edits(run, [e.model_copy(update={"finished_at": LATER}) for e in read_rows(run / "edits.jsonl", EditRow)])
    assert _n_stale(run) == 7

    server.reset()
    server.responder = lambda req: Reply.ok(GOOD)
    code, out, _ = _judge(run)
    assert code == 0, out
    assert server.calls() == [] and _n_stale(run) == 0
    assert _report_view(run).stale == []


def test_the_sha_recorded_is_of_the_file_planned_not_the_file_at_answer_time(run: Path, server) -> None:
    # The run rewrites its images while the first ask is in flight: that answer is about the old file.
    images = sorted((run / "images").glob("*.png"))
    before = {p.stem: _sha(p) for p in images}

    def rewrite_then_answer(req) -> Reply:
        if len(server.calls()) == 1:
            for i, p in enumerate(images):
                Image.new("RGB", (48, 40), (i, 2 * i, 3 * i)).save(p)
        return Reply.ok(GOOD)

    server.responder = rewrite_then_answer
    code, out, _ = _judge(run, "--concurrency", "1")
    rows = _rows(run)
    ok = [r for r in rows if r.status == "ok"]
    assert len(ok) == 1, out  # the later asks see a changed image and fail (redone on a rerun)
    assert ok[0].edited_sha256 == before[ok[0].sample_id]
    assert ok[0].edited_sha256 != _sha(run / "images" / f"{ok[0].sample_id}.png")
    assert all(r.edited_sha256 == before[r.sample_id] for r in rows)
    # So once edits.jsonl records the new image, the old answer is stale, not passed off as current.
    edits = read_rows(run / "edits.jsonl", EditRow)
    _write_edits(run, [*edits, *(e.model_copy(update={"output_sha256": _sha(run / e.output), "finished_at": LATER})
                                 for e in edits if e.output)])
    history = edit_history(run)
    assert history is not None and is_stale(ok[0], history[ok[0].sample_id])


def test_check_with_images_that_do_not_exist(run: Path, tmp_path: Path) -> None:
    code, out, exc = invoke("judge", "--check", "--judge", GPT, "--images", str(tmp_path / "nonexistent"))
    assert code == 2 and "does not exist" in out + str(exc)
    code, out, _ = invoke("judge", "--check", "--judge", GPT, "--images", str(run))
    assert code == 0, out
