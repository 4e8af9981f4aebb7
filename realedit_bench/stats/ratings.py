"""Long-format ratings: the input of ``realedit agree`` (human ratings, and judge scores made elsewhere).

One row per rating, as CSV (with a header) or JSON lines::

    sample_id,model,perspective,rater,score,verdict
    10-local,instruct-pix2pix,following,alice,4,yes

* ``sample_id``: the benchmark sample, e.g. ``10-local``.
* ``model``: the editing model that made the image (as named in the run / judgments).
* ``perspective``: ``following``, ``preserving`` or ``quality``.
* ``rater``: who rated (a person's id; for ``--judge-ratings`` the judge's name).
* ``score``: a number from 0 to 5 (decimals allowed).
* ``verdict`` (optional): ``yes``/``no`` (also ``true``/``false``, ``1``/``0``, ``y``/``n``).
* ``image_id`` (optional): the source photo, used to resample photos in the bootstrap. Without it, it is
  the part of ``sample_id`` before its last ``-<category>`` (``10-local`` -> ``10``); an id without a
  known category suffix is cut at its last ``-``; an id without ``-`` is its own photo.
* ``comment`` (optional): free text, ignored by the statistics.

A row whose ``score`` and ``verdict`` are both blank is an unrated slot (the template is full of them)
and is skipped. Every other problem (missing column, unknown perspective, score outside 0-5, a rater
rating the same item twice) is collected and reported together, one line per problem.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from realedit_bench.errors import RealEditError
from realedit_bench.jsonio import atomic_write_text
from realedit_bench.schema.base import CATEGORIES, PERSPECTIVES

#: Columns every ratings file must have, in the order the template writes them.
REQUIRED_COLUMNS: tuple[str, ...] = ("sample_id", "model", "perspective", "rater", "score")
#: Columns a ratings file may have besides the required ones.
OPTIONAL_COLUMNS: tuple[str, ...] = ("verdict", "image_id", "comment")
SCORE_MIN, SCORE_MAX = 0.0, 5.0
#: Problems listed before the rest are summarised as a count.
MAX_PROBLEMS_SHOWN = 30

_YES = {"yes", "y", "true", "1", "1.0"}
_NO = {"no", "n", "false", "0", "0.0"}


class RatingsError(RealEditError):
    """A ratings file has problems; the message lists them one per line."""


class Rating(NamedTuple):
    """One validated rating."""

    sample_id: str
    image_id: str
    model: str
    perspective: str
    rater: str
    score: float
    verdict: bool | None


class RatingSet(NamedTuple):
    """Ratings read from one or more files, and what was skipped."""

    ratings: list[Rating]
    #: Rows with neither a score nor a verdict (unrated template slots).
    n_blank: int
    #: Files read, in order.
    sources: list[Path]
    #: Ratings used from each file, in the order of ``sources``.
    per_source: list[int]


@functools.lru_cache(maxsize=65536)
def image_id_of(sample_id: str) -> str:
    """Source photo of ``sample_id``: the part before ``-<category>`` (see module docstring)."""
    for cat in CATEGORIES:
        if sample_id.endswith("-" + cat) and len(sample_id) > len(cat) + 1:
            return sample_id[: -len(cat) - 1]
    head, sep, _ = sample_id.rpartition("-")
    return head if sep and head else sample_id


def parse_verdict(text: object) -> bool | None:
    """``yes``/``no`` (and common spellings) to a bool; blank to None; raise ValueError otherwise."""
    if text is None:
        return None
    if isinstance(text, bool):
        return text
    s = str(text).strip().lower()
    if s == "":
        return None
    if s in _YES:
        return True
    if s in _NO:
        return False
    raise ValueError(f"verdict {text!r} is not yes or no")


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _read_records(path: Path) -> tuple[list[str] | None, list[tuple[int, dict]], list[str]]:
    """Return (columns or None for JSONL, [(line number, record)], problems)."""
    suffix = path.suffix.lower()
    problems: list[str] = []
    records: list[tuple[int, dict]] = []
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            reader.fieldnames = columns
            for rec in reader:
                if None in rec:  # more cells than header names
                    problems.append(f"{path}:{reader.line_num}: more cells than columns in the header")
                    rec.pop(None)
                if all(_blank(v) for v in rec.values()):
                    continue  # an empty line in a spreadsheet export
                records.append((reader.line_num, rec))
        return columns, records, problems
    if suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    problems.append(f"{path}:{lineno}: not valid JSON ({exc.msg})")
                    continue
                if not isinstance(rec, dict):
                    problems.append(f"{path}:{lineno}: a line must be a JSON object")
                    continue
                records.append((lineno, rec))
        return None, records, problems
    raise RatingsError(f"{path}: ratings must be a .csv or .jsonl file (got {path.suffix or 'no suffix'!r})")


def _column_problems(path: Path, columns: Iterable[str], where: str = "") -> list[str]:
    cols = list(columns)
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    out = [
        f"{path}{where}: missing column {c!r} (columns: {', '.join(REQUIRED_COLUMNS)}[, verdict, image_id, comment])"
        for c in REQUIRED_COLUMNS
        if c not in cols
    ]
    for c in cols:
        if c not in known:
            near = difflib.get_close_matches(c, known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            out.append(f"{path}{where}: unknown column {c!r}{hint}")
    return out


def read_ratings(paths: Iterable[Path], *, what: str = "ratings") -> RatingSet:
    """Read and validate long-format ratings from CSV/JSONL files.

    Args:
        paths: Files to read; ratings of all files are combined.
        what: How the files are named in messages (e.g. ``--human``).

    Returns:
        The validated ratings and the count of blank (unrated) rows.

    Raises:
        RatingsError: Any problem, listed one per line (file:line: what is wrong).
    """
    ratings: list[Rating] = []
    problems: list[str] = []
    n_blank = 0
    seen: dict[tuple[str, str, str, str], str] = {}
    sources: list[Path] = []
    per_source: list[int] = []
    for path in paths:
        path = Path(path)
        sources.append(path)
        per_source.append(0)
        if not path.is_file():
            problems.append(f"{what} file {path} does not exist")
            continue
        columns, records, file_problems = _read_records(path)
        problems.extend(file_problems)
        if columns is not None:
            col_problems = _column_problems(path, columns)
            if col_problems:
                problems.extend(col_problems)
                continue  # every row would repeat the same complaint
        for lineno, rec in records:
            where = f"{path}:{lineno}"
            if columns is None:
                col_problems = _column_problems(path, rec.keys(), f":{lineno}")
                if col_problems:
                    problems.extend(col_problems)
                    continue
            if _blank(rec.get("score")) and _blank(rec.get("verdict")):
                n_blank += 1
                continue
            row_problems: list[str] = []
            fields = {}
            for c in ("sample_id", "model", "rater"):
                v = rec.get(c)
                if _blank(v):
                    row_problems.append(f"{where}: {c} is empty")
                else:
                    fields[c] = str(v).strip()
            persp = str(rec.get("perspective") or "").strip().lower()
            if persp not in PERSPECTIVES:
                near = difflib.get_close_matches(persp, PERSPECTIVES, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                row_problems.append(
                    f"{where}: unknown perspective {rec.get('perspective')!r}{hint}; use one of {', '.join(PERSPECTIVES)}"
                )
            raw_score = rec.get("score")
            score = math.nan
            if raw_score is None or _blank(raw_score):
                row_problems.append(f"{where}: score is empty (a verdict needs a score beside it)")
            else:
                try:
                    if isinstance(raw_score, bool):
                        raise ValueError
                    score = float(str(raw_score).strip()) if isinstance(raw_score, str) else float(raw_score)
                except (TypeError, ValueError):
                    row_problems.append(f"{where}: score {raw_score!r} is not a number")
                else:
                    if not math.isfinite(score) or not SCORE_MIN <= score <= SCORE_MAX:
                        row_problems.append(f"{where}: score {raw_score!r} is outside 0-5")
            try:
                verdict = parse_verdict(rec.get("verdict"))
            except ValueError as exc:
                row_problems.append(f"{where}: {exc} (use yes, no or leave it blank)")
                verdict = None
            if row_problems:
                problems.extend(row_problems)
                continue
            sid = fields["sample_id"]
            image_id = str(rec.get("image_id")).strip() if not _blank(rec.get("image_id")) else image_id_of(sid)
            key = (sid, fields["model"], persp, fields["rater"])
            if key in seen:
                problems.append(
                    f"{where}: rater {key[3]!r} rated ({sid}, {key[1]}, {persp}) twice (first at {seen[key]})"
                )
                continue
            seen[key] = where
            ratings.append(Rating(sid, image_id, fields["model"], persp, fields["rater"], score, verdict))
            per_source[-1] += 1
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        tail = [f"... and {more} more problems"] if more > 0 else []
        raise RatingsError(
            f"{what}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the ratings:\n"
            + "\n".join("  " + p for p in shown + tail)
        )
    if not ratings:
        raise RatingsError(f"{what}: no ratings found in {', '.join(str(p) for p in sources)} (every row is blank)")
    return RatingSet(ratings, n_blank, sources, per_source)


def write_ratings_csv(path: Path, rows: Iterable[dict]) -> int:
    """Write long-format rows (dicts with the template's columns) as CSV; return the row count."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(REQUIRED_COLUMNS) + ["verdict"], lineterminator="\n")
    writer.writeheader()
    n = 0
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
        n += 1
    atomic_write_text(Path(path), buf.getvalue())
    return n
