"""Stale judgments: a judgment of an image that a later ``realedit run`` has redone or removed.

A judgment row records the sha256 of the edited file it judged (``edited_sha256``), and the test is then
exact: it must equal the sha256 that ``edits.jsonl`` records for the sample's current image. Rows written
before that field existed record only the sha256 of the images *as sent* (equal to the file's only when
the rubric sends files as they are), so for them: the row names the current image's sha (current), or an
earlier image's sha (stale); otherwise a judgment older than every recorded image (the history was
compacted), or one of a sample the run no longer holds (``run --force`` replaced the run), is stale.
Plain folders have no edit history: their judgments are taken as they are.

The report (``leaderboard.collect``) and ``realedit agree`` both leave stale judgments out, deciding on the
latest row of each (sample, perspective, repeat). A rerun of ``realedit judge`` re-asks a stale judgment, or,
when the bytes it would send are unchanged (a file remade with the same image, or a row from before
``edited_sha256``), appends a copy naming the current file (:mod:`realedit_bench.judges.runner`), so
"rerun realedit judge" always clears the note.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from realedit_bench.jsonio import read_rows
from realedit_bench.schema import EditRow, JudgmentRow


def _when(stamp: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None  # naive and aware times cannot be compared


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
    if row.edited_sha256 is not None:
        return row.edited_sha256 != cur.output_sha256
    sent = set(row.image_sha256)
    if cur.output_sha256 in sent:
        return False
    if sent & {v.output_sha256 for v in versions[:-1] if v.output_sha256}:
        return True
    judged_at = _when(row.finished_at)
    if judged_at is None:  # no clock to go by: only an image that never changed is known to be current
        return not all(v.status == "ok" and v.output_sha256 == cur.output_sha256 for v in versions)
    in_force: EditRow | None = None
    for v in versions:
        t = _when(v.finished_at)
        if t is not None and t <= judged_at:
            in_force = v
    if in_force is None:
        return True  # every recorded image came after the judgment (older rows compacted or replaced)
    return in_force.status != "ok" or in_force.output_sha256 != cur.output_sha256


def edit_history(run_dir: Path) -> dict[str, list[EditRow]] | None:
    """Sample id -> its edit rows in file order, for a run directory; None for a plain folder."""
    edits = Path(run_dir) / "edits.jsonl"
    if not ((Path(run_dir) / "manifest.json").is_file() and edits.is_file()):
        return None
    history: dict[str, list[EditRow]] = {}
    for r in read_rows(edits, EditRow):
        history.setdefault(r.sample_id, []).append(r)
    return history


def drop_stale(rows: list[JudgmentRow], history: dict[str, list[EditRow]] | None) -> tuple[list[JudgmentRow], int]:
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
