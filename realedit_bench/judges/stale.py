"""Stale judgments: a judgment of an image that a later ``realedit run`` has redone or removed.

A judgment row records the sha256 of the edited file it judged (``edited_sha256``, taken when the ask
was planned), and the test is exact: it must equal the sha256 that ``edits.jsonl`` records for the
sample's current image. A judgment of a sample the run no longer holds (``run --force`` replaced the
run), or whose current edit failed, is stale too. An error row that names no file (the file could not
be read) is about no image, so it is never stale. Plain folders have no edit history: their judgments
are taken as they are.

The report (``leaderboard.collect``) and ``realedit agree`` both leave stale judgments out, deciding on the
latest row of each (sample, perspective, repeat). A rerun of ``realedit judge`` asks a stale judgment again
(from the cache, at no cost, when the bytes it sends are unchanged), so "rerun realedit judge" always
clears the note.
"""

from __future__ import annotations

from pathlib import Path

from realedit_bench.jsonio import read_rows
from realedit_bench.schema import EditRow, JudgmentRow


def is_stale(row: JudgmentRow, versions: list[EditRow] | None) -> bool:
    """True when ``row`` judged an image other than the sample's current one (see the module docstring).

    Args:
        row: a judgment row.
        versions: every edit row of the sample in file order (the last is current); empty when the run
            holds no such sample any more; None when there is no edit history (a plain folder).
    """
    if versions is None:
        return False
    if not versions:
        return row.status != "error"  # judged, then the run was replaced without this sample
    cur = versions[-1]
    if cur.status != "ok" or cur.output_sha256 is None:
        # No current image: any answer about an image is about an older one.
        return cur.status != "ok" and row.status != "error"
    return row.edited_sha256 is not None and row.edited_sha256 != cur.output_sha256


def edit_history(run_dir: Path) -> dict[str, list[EditRow]] | None:
    """Sample id -> its edit rows in file order, for a run directory; None for a plain folder."""
    edits = Path(run_dir) / "edits.jsonl"
    if not ((Path(run_dir) / "manifest.json").is_file() and edits.is_file()):
        return None
    history: dict[str, list[EditRow]] = {}
    for r in read_rows(edits, EditRow):
        history.setdefault(r.sample_id, []).append(r)
    return history


def drop_stale(
    rows: list[JudgmentRow], history: dict[str, list[EditRow]] | None
) -> tuple[list[JudgmentRow], int]:
    """``rows`` without the judgments whose latest row is stale, and how many such judgments there were.

    Decided per judgment (judge, rubric, model, sample, perspective, repeat) on its LATEST row, as the
    report does: a stale row already superseded by a re-judgment does not count, and the rows of a key
    whose latest row is current are all kept (readers then pick the latest themselves). The count is of
    keys, not rows.
    """
    if history is None:
        return rows, 0
    latest: dict[tuple[str, str, str, str, str, int], JudgmentRow] = {}
    for r in rows:
        latest[_key(r)] = r
    stale = {k for k, r in latest.items() if is_stale(r, history.get(r.sample_id, []))}
    return [r for r in rows if _key(r) not in stale], len(stale)


def _key(r: JudgmentRow) -> tuple[str, str, str, str, str, int]:
    return (r.judge, r.rubric, r.model, r.sample_id, r.perspective, r.repeat)
