"""Judging a set of edits (``realedit_bench.judges.runner``): what is sent and resumed, changed and remade
images, unreadable ones, which edits a folder or a run directory yields, and the sha each row records.

End to end with the real openai SDK against the local fake server.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from judge_fixtures import (
    GOOD,
    GPT,
    SECRET,
    STEM,
    invoke,
    judge,
    judge_env,
    make_bench,
    make_edits,
    make_run_dir,
    rows_of,
    set_env,
    summary_of,
)
from judge_server import FakeJudgeServer, Reply
from PIL import Image

from realedit_bench.errors import SchemaError
from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.judges.encode import encode_image
from realedit_bench.judges.stale import drop_stale, edit_history, is_stale
from realedit_bench.judges.summary import latest_rows
from realedit_bench.schema import EditRow
from realedit_bench.schema.judge import JudgeSummary, JudgmentRow

LATER = "2099-01-01T00:00:00+00:00"  # after any judgment these tests make


# What is sent and resumed ---------------------------------------------------------------------------
def test_openai_run_sends_images_in_order_and_resumes_for_free(
    judge_setup, fake_server: FakeJudgeServer
) -> None:
    bench, edits = judge_setup
    code, out, _ = judge(judge_setup, "--limit", "3")
    assert code == 0, out
    calls = fake_server.calls()
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
    summary = read_model(
        edits / "judgments" / "openai_gpt-4o-2024-08-06__realedit-v1.summary.json", JudgeSummary
    )
    assert summary.perspectives["following"].n_valid == 3 and summary.usage.calls == 9

    fake_server.reset()
    code, out, _ = judge(judge_setup, "--limit", "3")
    assert code == 0 and fake_server.calls() == []  # resumed: nothing asked again
    assert len(rows_of(edits)) == 9

    # A second folder with the same images: nothing to resume, but every call is a cache hit.
    copy = edits.parent / "copy"
    shutil.copytree(edits, copy, ignore=shutil.ignore_patterns("judgments"))
    code, out, _ = invoke(
        "judge", "--images", str(copy), "--data-dir", str(bench), "--judge", GPT, "--limit", "3"
    )
    assert code == 0 and fake_server.calls() == []
    assert all(r.cached and r.usage.calls == 0 for r in rows_of(copy))


def test_changed_image_is_judged_again(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    assert judge(judge_setup, "--limit", "2")[0] == 0
    fake_server.reset()
    from PIL import Image

    Image.new("RGB", (40, 32), (250, 0, 0)).save(edits / "1-remove.png")
    assert judge(judge_setup, "--limit", "2")[0] == 0
    calls = fake_server.calls()
    assert len(calls) == 3 and all("edit remove of photo 1" in c.text() for c in calls)
    new_sha = hashlib.sha256(calls[0].images()[1]).hexdigest()
    latest = {(r.sample_id, r.perspective): r for r in rows_of(edits)}
    assert latest[("1-remove", "quality")].image_sha256[1] == new_sha



# Unreadable images and the edits selected ------------------------------------------------------------
def test_unreadable_images_are_error_rows_the_rest_is_judged(
    judge_setup, fake_server: FakeJudgeServer
) -> None:
    bench, edits = judge_setup
    (edits / "1-texture.png").write_bytes(b"")  # 0 bytes
    good = (edits / "2-add.png").read_bytes()
    (edits / "2-add.png").write_bytes(good[: len(good) // 2])  # truncated
    code, out, exc = judge(judge_setup, "--perspective", "following", "--concurrency", "2")
    assert code == 1, (out, exc)
    assert "2 edits could not be read" in out
    assert "1-texture: " in out and "1-texture.png" in out and "2-add: " in out and "2-add.png" in out
    calls = fake_server.calls()
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
    fake_server.reset()
    code, out, _ = judge(judge_setup, "--perspective", "following")
    assert code == 0, out
    assert len(fake_server.calls()) == 2
    assert summary_of(edits).perspectives["following"].n_valid == 14


def test_an_unreadable_source_photo_is_named_as_such(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    photo = bench / "imgs" / "2.jpeg"
    photo.write_bytes(photo.read_bytes()[:200])  # truncated: the header reads, the pixels do not
    code, out, _ = judge(judge_setup, "--perspective", "following")
    assert code == 1, out
    flat = " ".join(out.split())  # the console wraps long lines
    assert "7 edits could not be read" in flat and "2-local: the source photo: image " in flat
    assert "7 edits could not be judged because their source photo could not be read" in flat
    assert "'realedit data verify' checks them" in flat and "remake them with 'realedit run'" not in flat
    assert len(fake_server.calls()) == 7  # photo 1's edits are judged
    rows = {r.sample_id: r for r in rows_of(edits)}
    assert "the source photo" in (rows["2-add"].reason or "") and "2.jpeg" in (rows["2-add"].reason or "")


def test_run_dir_with_a_missing_or_corrupt_output_file(
    judge_setup, fake_server: FakeJudgeServer, tmp_path: Path
) -> None:
    bench, _ = judge_setup
    run = make_run_dir(tmp_path / "runs" / "r1", bench)
    (run / "images" / "1-local.png").unlink()  # edits.jsonl says ok, the file is gone
    (run / "images" / "1-style.png").write_bytes(b"\x89PNG\r\n")  # corrupt
    code, out, exc = judge(judge_setup, "--perspective", "quality", images=run)
    assert code == 1, (out, exc)
    assert "1-local: edited image" in out and "does not exist" in out and "1-style" in out
    assert len(fake_server.calls()) == 5
    rows = {r.sample_id: r for r in rows_of(run)}
    assert rows["1-local"].status == "error" and rows["1-style"].status == "error"
    assert summary_of(run).perspectives["quality"].n == 7


def test_folder_matching_ignores_case_and_lists_subfolders(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    (edits / "1-local.png").rename(edits / "1-Local.PNG")
    (edits / "nested").mkdir()
    (edits / "1-remove.png").rename(edits / "nested" / "1-remove.png")
    code, out, _ = judge(judge_setup, "--dry-run")
    assert code == 0, out
    assert "14 edits" not in out and "13 edits" in out  # 1-Local.PNG matched, 1-remove not (subfolder)
    assert "nested/1-remove.png" in out and "1-remove" in out.split("missing edits")[1]
    code, out, _ = judge(judge_setup, "--limit", "1", "--perspective", "following")
    calls = fake_server.calls()
    assert code == 0 and len(calls) == 1 and "edit local of photo 1" in calls[0].text()


def test_the_missing_line_speaks_only_of_the_selection(judge_setup, fake_server) -> None:
    bench, edits = judge_setup
    (edits / "1-local.png").unlink()
    (edits / "2-add.png").unlink()
    code, out, _ = judge(judge_setup, "--category", "add", "--perspective", "quality")
    assert code == 0, out
    text = " ".join(out.split())
    assert "missing edits (not judged): 2-add" in text and "1-local" not in text


def test_rows_record_the_sha_of_the_edited_file_they_judged(judge_setup, fake_server, tmp_path: Path) -> None:
    # The report tells a judgment of a since-redone image by this sha (edits.jsonl records the same hash).
    import hashlib

    bench, _ = judge_setup
    run = make_run_dir(tmp_path / "runs" / "r1", bench)
    code, out, _ = judge(judge_setup, "--perspective", "quality", images=run)
    assert code == 0, out
    rows = rows_of(run)
    assert len(rows) == 7
    for r in rows:
        assert (
            r.edited_sha256
            == hashlib.sha256((run / "images" / f"{r.sample_id}.png").read_bytes()).hexdigest()
        )


# Remade images: the sha of the file planned ----------------------------------------------------------
@pytest.fixture
def run(tmp_path: Path, fake_server: FakeJudgeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    bench = make_bench(tmp_path / "bench", n_photos=1)
    set_env(monkeypatch, judge_env(fake_server, tmp_path / "cache"))
    run = make_run_dir(tmp_path / "runs" / "r1", bench)
    for p in (run / "images").glob("*.png"):  # an editor's file is never byte for byte what the judge sends
        _resave_same_pixels(p, "editor")
    # As 'realedit run' writes them: every edit row records its file's sha256.
    rows = read_rows(run / "edits.jsonl", EditRow)
    _write_edits(
        run, [r.model_copy(update={"output_sha256": _sha(run / r.output)}) for r in rows if r.output]
    )
    return run


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_edits(run: Path, rows: list[EditRow]) -> None:
    (run / "edits.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in rows))


def _judge(run: Path, *extra: str):
    bench = run.parent.parent / "bench"
    return invoke(
        "judge",
        "--images",
        str(run),
        "--data-dir",
        str(bench),
        "--judge",
        GPT,
        "--perspective",
        "quality",
        *extra,
    )


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


def test_a_file_remade_with_the_same_image_is_asked_again_from_the_cache(
    run: Path, fake_server: FakeJudgeServer
) -> None:
    code, out, _ = _judge(run)
    assert code == 0 and len(fake_server.calls()) == 7, out
    # 'run --force' remade 1-local: the same pixels, other PNG bytes, so a new sha in edits.jsonl.
    img = run / "images" / "1-local.png"
    _resave_same_pixels(img, "run --force")
    edits = read_rows(run / "edits.jsonl", EditRow)
    redo = next(e for e in edits if e.sample_id == "1-local")
    _write_edits(run, [*edits, redo.model_copy(update={"output_sha256": _sha(img), "finished_at": LATER})])
    assert _n_stale(run) == 1  # what the user was told: rerun realedit judge

    fake_server.reset()
    code, out, _ = _judge(run)
    assert code == 0, out
    assert fake_server.calls() == []  # the bytes sent are the same: the cache answers, at no cost
    assert "this run: 1 judged, 6 resumed, 0 calls sent" in " ".join(out.split())
    assert _n_stale(run) == 0
    latest = latest_rows(_rows(run))[("1-local", "quality", 0)]
    assert (
        latest.edited_sha256 == _sha(img)
        and latest.cached
        and latest.attempts == 0
        and latest.usage.calls == 0
    )
    # The judge's summary and the report count the same: 7 current judgments, none left out.
    summary = read_model(run / "judgments" / f"{STEM}.summary.json", JudgeSummary)
    js = _report_view(run)
    assert js.stale == [] and summary.perspectives["quality"].n_valid == 7
    assert js.summary.perspectives["quality"].n_valid == summary.perspectives["quality"].n_valid
    assert summary.usage_spent is not None and summary.usage_spent.calls == 7  # the cache hit cost nothing

    # A third run finds every row current: nothing asked, nothing written.
    n_rows = len(_rows(run))
    code, out, _ = _judge(run)
    assert code == 0 and fake_server.calls() == [] and len(_rows(run)) == n_rows


def test_a_judgments_file_of_another_format_is_refused_in_one_line(
    run: Path, fake_server: FakeJudgeServer
) -> None:
    code, out, _ = _judge(run)
    assert code == 0, out
    # Rows as an earlier, never released, format wrote them: version 1, without edited_sha256.
    path = run / "judgments" / f"{STEM}.jsonl"
    old = [{**{k: v for k, v in json.loads(line).items() if k != "edited_sha256"}, "schema_version": 1}
           for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in old))
    fake_server.reset()
    code, out, exc = _judge(run)
    assert code == 2 and fake_server.calls() == []
    message = str(exc)
    assert (
        message.startswith(f"{path}: schema_version 1 ")
        and "remove the file and rerun realedit judge" in message
    )
    assert len(message.splitlines()) == 1 and "row 1" not in message
    with pytest.raises(SchemaError, match="schema_version 1"):
        _report_view(run).stale  # noqa: B018 - reading the rows is what refuses them

    path.unlink()  # as the message says
    code, out, _ = _judge(run)
    assert code == 0 and fake_server.calls() == [] and _n_stale(run) == 0  # asked again, from the cache
    assert all(r.schema_version == 3 and r.edited_sha256 for r in _rows(run))
    assert {r.endpoint for r in _rows(run)} == {f"openai {fake_server.base_url.removeprefix('http://')}"}


def test_the_sha_recorded_is_of_the_file_planned_not_the_file_at_answer_time(run: Path, fake_server) -> None:
    # The run rewrites its images while the first ask is in flight: that answer is about the old file.
    images = sorted((run / "images").glob("*.png"))
    before = {p.stem: _sha(p) for p in images}

    def rewrite_then_answer(req) -> Reply:
        if len(fake_server.calls()) == 1:
            for i, p in enumerate(images):
                Image.new("RGB", (48, 40), (i, 2 * i, 3 * i)).save(p)
        return Reply.ok(GOOD)

    fake_server.responder = rewrite_then_answer
    code, out, _ = _judge(run, "--concurrency", "1")
    rows = _rows(run)
    ok = [r for r in rows if r.status == "ok"]
    assert len(ok) == 1, out  # the later asks see a changed image and fail (redone on a rerun)
    assert ok[0].edited_sha256 == before[ok[0].sample_id]
    assert ok[0].edited_sha256 != _sha(run / "images" / f"{ok[0].sample_id}.png")
    assert all(r.edited_sha256 == before[r.sample_id] for r in rows)
    # So once edits.jsonl records the new image, the old answer is stale, not passed off as current.
    edits = read_rows(run / "edits.jsonl", EditRow)
    _write_edits(
        run,
        [
            *edits,
            *(
                e.model_copy(update={"output_sha256": _sha(run / e.output), "finished_at": LATER})
                for e in edits
                if e.output
            ),
        ],
    )
    history = edit_history(run)
    assert history is not None and is_stale(ok[0], history[ok[0].sample_id])

