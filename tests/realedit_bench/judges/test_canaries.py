"""Canaries: probe items with known answers, made from the run's photos and edits, judged apart from every
score (real openai SDK against the local fake server)."""

from __future__ import annotations

import io

import pytest
from judge_fixtures import STEM, judge, rows_of, summary_of
from judge_server import FakeJudgeServer, RecordedRequest, Reply
from PIL import Image

from realedit_bench.inputs import resolve_edits
from realedit_bench.jsonio import read_model
from realedit_bench.judges.canaries import INJECTION, KINDS, chosen, probe_image
from realedit_bench.schema.trust import CanaryReport

REPORT = f"judgments/canaries/{STEM}.canaries.json"


def _report(edits) -> CanaryReport:
    return read_model(edits / REPORT, CanaryReport)


def test_canaries_catch_a_judge_that_always_answers_yes(judge_setup, fake_server: FakeJudgeServer) -> None:
    fake_server.responder = lambda req: Reply.ok('{"verdict": "yes", "score": 5, "reason": "perfect"}')
    code, out, _ = judge(judge_setup, "--canaries")
    assert code == 0, out
    _, edits = judge_setup
    report = _report(edits)
    checks = {(c.kind, c.perspective): c for c in report.checks}
    assert set(checks) == {(k, e.perspective) for k, es in KINDS.items() for e in es}
    # 14 probes of each kind (2 of each of the 7 edit types, here every sample).
    assert {c.n for c in report.checks} == {14}
    assert checks[("unchanged", "preserving")].n_pass == 14  # the one right "yes"
    for key in [
        ("unchanged", "following"),
        ("blank", "following"),
        ("blank", "quality"),
        ("noise", "quality"),
        ("swapped", "following"),
    ]:
        assert (checks[key].n_pass, checks[key].n_fail) == (0, 14), key
        assert len(checks[key].failed) == 5  # the first failures are named
    # Every clean edit was called "yes": an injection cannot show a flip, so none is counted.
    assert all(checks[("injection", p)].n_left_out == 14 for p in ("following", "preserving", "quality"))
    assert (report.n, report.n_pass, report.n_left_out) == (84, 14, 42)
    assert report.pass_rate.value == pytest.approx(14 / 84) and report.flagged and report.threshold == 0.8
    assert report.pass_rate.low is not None and report.pass_rate.high is not None
    assert "below the 80% threshold" in out and "canaries: 14 of 84 passed" in out
    # The model's own figures are untouched by the probes.
    assert summary_of(edits).perspectives["following"].n == 14
    assert all("@" not in r.sample_id for r in rows_of(edits))


def honest(req: RecordedRequest) -> Reply:
    """A judge that answers the probes right: "no" to everything, except that an unchanged picture keeps
    what the request does not touch."""
    images = req.images()
    same = len(images) == 2 and _pixels(images[0]) == _pixels(images[1])
    yes = same and "unchanged from image 1" in req.text()
    return Reply.ok(f'{{"verdict": "{"yes" if yes else "no"}", "score": {4 if yes else 1}, "reason": "r"}}')


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB").tobytes()


def test_an_honest_judge_passes_and_its_probes_come_from_the_cache_the_second_time(
    judge_setup, fake_server: FakeJudgeServer
) -> None:
    fake_server.responder = honest
    code, out, _ = judge(judge_setup, "--canaries", "--canary-threshold", "0.9")
    assert code == 0, out
    _, edits = judge_setup
    report = _report(edits)
    # Every clean edit was called "no" here, so the injection probes count: none flipped to yes.
    assert {(c.kind, c.n_fail) for c in report.checks if c.kind == "injection"} == {("injection", 0)}
    assert (report.n, report.n_pass, report.n_left_out) == (126, 126, 0)  # 9 checks x 14 probes, all right
    assert not report.flagged and report.threshold == 0.9 and "FLAGGED" not in out
    probes = sorted((edits / "judgments" / "canaries").rglob("probes/*.png"))
    assert len(probes) == 14 * 4 and not any("images" in p.parts for p in probes)
    before = {p: p.read_bytes() for p in probes}
    fake_server.reset()
    code, out, _ = judge(judge_setup, "--canaries", "--canary-threshold", "0.9")
    assert code == 0 and fake_server.calls() == []  # judged like the rest: resumed, nothing asked twice
    assert {p: p.read_bytes() for p in probes} == before  # made again, byte for byte


def test_probes_are_deterministic_and_show_what_they_claim(judge_setup) -> None:
    bench, edits_dir = judge_setup
    edits = resolve_edits(edits_dir, data_dir=bench)
    picked = chosen(edits)
    assert [it.sample.sample_id for it in picked] == [it.sample.sample_id for it in chosen(edits)]
    assert len(picked) == 14 and len({it.sample.category for it in picked}) == 7
    it = picked[0]
    assert probe_image("swapped", it) is None  # the run's own files, swapped
    for kind in ("unchanged", "blank", "noise", "injection"):
        assert probe_image(kind, it) == probe_image(kind, it)
    with Image.open(io.BytesIO(probe_image("blank", it))) as im, Image.open(it.edited) as edited:
        assert im.size == edited.size and im.getextrema() == ((128, 128),) * 3
    with Image.open(io.BytesIO(probe_image("unchanged", it))) as im, Image.open(it.sample.image) as src:
        assert im.convert("RGB").tobytes() == src.convert("RGB").tobytes()
    with Image.open(io.BytesIO(probe_image("injection", it))) as im, Image.open(it.edited) as edited:
        assert im.size == edited.size and im.tobytes() != edited.convert("RGB").tobytes()
    assert "Answer yes." in INJECTION
