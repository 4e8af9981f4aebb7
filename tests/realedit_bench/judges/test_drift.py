"""Drift checks: a fixed anchor set asked again without the cache and compared with the replies first recorded
(real openai SDK against the local fake server)."""

from __future__ import annotations

import pytest
from judge_fixtures import STEM, judge, rows_of
from judge_server import FakeJudgeServer, RecordedRequest, Reply

from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.judges.drift import N_ANCHORS, choose_anchors, compare
from realedit_bench.schema.judge import JudgmentRow
from realedit_bench.schema.trust import AnchorReply, AnchorSet, DriftReport


def scorer(shift: int):
    """Answers whose score depends on the edit type (so the anchors span score levels), plus ``shift``."""

    def answer(req: RecordedRequest) -> Reply:
        base = 1 + sum(map(ord, req.text())) % 4
        score = base + shift
        verdict = "yes" if score >= 3 else "no"
        return Reply.ok(f'{{"verdict": "{verdict}", "score": {score}, "reason": "r"}}')

    return answer


def test_a_drift_check_detects_a_server_whose_scores_moved_by_one(
    judge_setup, fake_server: FakeJudgeServer
) -> None:
    _, edits = judge_setup
    fake_server.responder = scorer(0)
    code, out, _ = judge(judge_setup)
    assert code == 0, out
    first = {(r.sample_id, r.perspective): r.score for r in rows_of(edits)}

    fake_server.reset()
    code, out, _ = judge(judge_setup, "--drift-check")
    assert code == 0, out
    anchors = read_model(edits / "judgments" / f"{STEM}.anchors.json", AnchorSet)
    assert len(anchors.anchors) == 42  # every ok answer of the 14 edits x 3 perspectives (fewer than 60)
    assert all(first[(a.sample_id, a.perspective)] == a.score for a in anchors.anchors)
    assert len(fake_server.calls()) == 42  # asked again, past the cache
    report = read_model(edits / "judgments" / f"{STEM}.drift.json", DriftReport)
    assert not report.latest.drifted and report.latest.score_diff.value == 0.0
    assert report.latest.verdict_agreement.value == 1.0 and "no drift" in out
    assert report.latest.snapshots_now == ["gpt-4o-2024-08-06"] and report.latest.fingerprints_now == [
        "fp_test"
    ]

    fake_server.responder = scorer(1)  # the provider changed its model behind the same name
    code, out, _ = judge(judge_setup, "--drift-check")
    assert code == 0, out
    report = read_model(edits / "judgments" / f"{STEM}.drift.json", DriftReport)
    latest = report.latest
    assert latest.drifted and latest.score_diff.value == pytest.approx(1.0)
    assert latest.score_diff.low == pytest.approx(1.0) and latest.n_compared == 42 and latest.n_left_out == 0
    assert len(report.history) == 1 and not report.history[0].drifted
    assert "DRIFTED" in out and "has drifted" in out
    # The anchors and the scores of the run are untouched: the new answers went to drift/.
    assert read_model(edits / "judgments" / f"{STEM}.anchors.json", AnchorSet) == anchors
    assert {(r.sample_id, r.perspective): r.score for r in rows_of(edits)} == first
    again = read_rows(edits / "judgments" / "drift" / f"{STEM}.jsonl", JudgmentRow)
    assert len(again) == 84 and all(r.endpoint and r.system_fingerprint == "fp_test" for r in again)


def _row(sid: str, cat: str, score: float, status: str = "ok", sha: str = "s") -> JudgmentRow:
    return JudgmentRow(
        sample_id=sid,
        image_id=sid.split("-")[0],
        category=cat,
        model="m",
        perspective="quality",
        status=status,
        verdict=score >= 3,
        score=score if status == "ok" else None,
        judge="j",
        rubric="r",
        edited_sha256=sha,
        finished_at="t",
    )


def test_anchors_are_the_first_answers_spread_over_types_and_levels() -> None:
    rows = [_row(f"{i}-{c}", c, float(i % 6)) for i in range(40) for c in ("add", "remove", "style")]
    rows.append(_row("0-add", "add", 5.0))  # a later answer of the same item: the first one is recorded
    rows.append(_row("1-add", "add", 0.0, status="error"))
    current = {r.sample_id: "s" for r in rows}
    anchors = choose_anchors(rows, current, (0.0, 5.0))
    assert len(anchors) == N_ANCHORS and anchors == choose_anchors(rows, current, (0.0, 5.0))
    assert {a.category for a in anchors} == {"add", "remove", "style"}
    assert {round(a.score or 0) for a in anchors} == {0, 1, 2, 3, 4, 5}
    assert next(a for a in anchors if a.sample_id == "0-add").score == 0.0
    current["2-add"] = "redone"  # an image redone since is not an anchor
    assert "2-add" not in {a.sample_id for a in choose_anchors(rows, current, (0.0, 5.0), n=200)}


def test_no_drift_within_the_noise_and_drift_when_verdicts_flip() -> None:
    anchors = [
        AnchorReply(
            sample_id=f"{i}-add",
            image_id=str(i),
            category="add",
            perspective="quality",
            verdict=True,
            score=4.0,
            finished_at="t",
        )
        for i in range(20)
    ]
    wobble = [_row(f"{i}-add", "add", 4.0 + (0.5 if i % 2 else -0.5)) for i in range(20)]
    check = compare(anchors, anchors, wobble, (0.0, 5.0), n_resamples=200)
    assert not check.drifted and check.score_diff.value == pytest.approx(0.0)
    flipped = [_row(f"{i}-add", "add", 2.0 if i < 5 else 4.0) for i in range(20)]
    check = compare(anchors, anchors, flipped, (0.0, 5.0), n_resamples=200)
    assert check.drifted and check.verdict_agreement.value == pytest.approx(0.75)
    none = compare(anchors, anchors, [], (0.0, 5.0))
    assert not none.drifted and none.n_left_out == 20 and none.why == "no anchor could be compared"
