"""The stale-judgment rule (one place): a judgment is of the current image when the sha256 of the file it
judged is the one ``edits.jsonl`` records for the sample now."""

from __future__ import annotations

from pathlib import Path

import pytest
from judge_fixtures import make_bench, make_edits, make_run_dir

from realedit_bench.judges.stale import drop_stale, edit_history, is_stale
from realedit_bench.schema import EditRow, JudgmentRow

A, B, X = "a" * 64, "b" * 64, "x" * 64
EARLY, LATE = "2025-01-01T00:00:00+00:00", "2025-01-03T00:00:00+00:00"


def _edit(sha: str | None, status: str = "ok", when: str = EARLY) -> EditRow:
    return EditRow(sample_id="1-local", image_id="1", category="local", instruction="x", source="1.jpeg",
                   status=status, output="images/1-local.png" if status == "ok" else None, output_sha256=sha,
                   seed=1, error=None if status == "ok" else "boom", finished_at=when)


def _judgment(edited: str | None, status: str = "ok", *, sid: str = "1-local", repeat: int = 0,
              sent: tuple[str, ...] = (X,), when: str = LATE) -> JudgmentRow:
    return JudgmentRow(sample_id=sid, image_id="1", category="local", model="m", perspective="quality",
                       repeat=repeat, status=status, verdict=True if status == "ok" else None,
                       score=4.0 if status == "ok" else None, judge="openai/gpt-4o", rubric="r",
                       image_sha256=list(sent), edited_sha256=edited, finished_at=when)


@pytest.mark.parametrize("row, versions, stale", [
    # Decided by the sha of the file judged alone: not by the bytes sent, not by any clock.
    (_judgment(A), [_edit(B), _edit(A, when=LATE)], False),
    (_judgment(A, sent=(A,), when=EARLY), [_edit(B), _edit(A, when=LATE)], False),
    (_judgment(B), [_edit(B), _edit(A, when=LATE)], True),
    (_judgment(B, sent=(A,)), [_edit(A)], True),
    # Redone to the same bytes: still current.
    (_judgment(A, when=EARLY), [_edit(A), _edit(A, when=LATE)], False),
    # An error row is stale like any other when it names an older file; naming none, it is about no image.
    (_judgment(B, "error"), [_edit(A)], True),
    (_judgment(None, "error", sent=()), [_edit(B), _edit(A)], False),
    # The current edit failed: an answer about an image is about an older one; an error row is not.
    (_judgment(A), [_edit(A), _edit(None, "error")], True),
    (_judgment(A, "error"), [_edit(A), _edit(None, "error")], False),
    # The current edit records no sha: nothing to compare, taken as it is.
    (_judgment(A), [_edit(None)], False),
    # A sample the run no longer holds ('run --force' replaced it): stale, unless an error row.
    (_judgment(A), [], True),
    (_judgment(A, "error"), [], False),
    # No edit history (a plain folder): taken as it is.
    (_judgment(B), None, False),
])
def test_stale_rule(row: JudgmentRow, versions: list[EditRow] | None, stale: bool) -> None:
    assert is_stale(row, versions) is stale


def test_drop_stale_decides_per_judgment_on_its_latest_row() -> None:
    history = {sid: [_edit(A).model_copy(update={"sample_id": sid})] for sid in ("1-local", "1-style")}
    rejudged = [_judgment(B), _judgment(A)]  # stale, then superseded by a current row
    never = [
        _judgment(A, sid="1-style"),
        _judgment(B, sid="1-style"),
        _judgment(B, sid="1-style"),
    ]  # latest stale
    other = [_judgment(A, sid="1-style", repeat=1)]
    kept, n = drop_stale(rejudged + never + other, history)
    assert kept == rejudged + other  # the superseded row stays for the latest-row logic downstream
    assert n == 1  # one judgment (key), not its three rows
    assert drop_stale(rejudged, None) == (rejudged, 0)


def test_edit_history_of_a_run_directory_and_of_a_plain_folder(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "runs" / "r1", make_bench(tmp_path / "bench", n_photos=1))
    history = edit_history(run)
    assert (
        history is not None and len(history) == 7 and [r.sample_id for r in history["1-local"]] == ["1-local"]
    )
    assert edit_history(make_edits(tmp_path / "folder")) is None
