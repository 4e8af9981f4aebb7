"""Long-format ratings: the input of ``realedit agree`` (human ratings, and judge scores made elsewhere).

One row per rating, as CSV or TSV (with a header), JSON lines, or a JSON array of objects::

    sample_id,model,perspective,rater,score,verdict
    10-local,instruct-pix2pix,following,alice,4,yes

* ``sample_id``: the benchmark sample, e.g. ``10-local`` (matched case-insensitively).
* ``model``: the editing model that made the image (as named in the run / judgments).
* ``perspective``: ``following``, ``preserving`` or ``quality``.
* ``rater``: who rated (a person's id; for ``--judge-ratings`` the judge's name).
* ``score``: a number from 0 to 5 (decimals allowed, also with a decimal comma).
* ``verdict`` (optional): ``yes``/``no`` (also ``true``/``false``, ``1``/``0``, ``y``/``n``).
* ``image_id`` (optional): the source photo, used to resample photos in the bootstrap. Without it, it is
  the part of ``sample_id`` before its last ``-<category>`` (``10-local`` -> ``10``); an id without a
  known category suffix is cut at its last ``-``; an id without ``-`` is its own photo.
* ``comment`` (optional): free text, ignored by the statistics.

Shapes that spreadsheets and forms produce are accepted: headers match case-insensitively with spaces
stripped (``Sample ID`` = ``sample_id``); other columns (a pandas index, a timestamp, an e-mail) are
ignored with one warning that names them; a ``.csv`` written with ``;`` or tabs is read as such; the file
must be UTF-8 (a byte-order mark is fine). ``N/A``, ``NA``, ``NaN``, ``-``, ``none``, ``null`` and blank
mean "missing". A row whose ``score`` and ``verdict`` are both missing is an unrated slot (the template is
full of them) and is skipped; a row with a verdict but no score is left out with a warning (every
statistic needs the score). Every other problem (missing column, unknown perspective, a score that is not
a number in 0-5, a rater rating the same item twice, a row with more cells than the header, a quoted cell
that is not closed) is collected and reported together, one line per problem.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from realedit_bench.errors import RealEditError
from realedit_bench.jsonio import atomic_write_text
from realedit_bench.schema.base import CATEGORIES, PERSPECTIVES
from realedit_bench.userfiles import check_regular, loads_json, read_bytes

#: Columns every ratings file must have, in the order the template writes them.
REQUIRED_COLUMNS: tuple[str, ...] = ("sample_id", "model", "perspective", "rater", "score")
#: Columns a ratings file may have besides the required ones.
OPTIONAL_COLUMNS: tuple[str, ...] = ("verdict", "image_id", "comment")
#: File suffixes read as ratings.
SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")
SCORE_MIN, SCORE_MAX = 0.0, 5.0
#: Largest ratings file read (a sheet of every Real-Edit edit of ten models is a few MB).
MAX_RATINGS_BYTES = 256 << 20
#: Problems listed before the rest are summarised as a count.
MAX_PROBLEMS_SHOWN = 30
#: Cell texts that mean "no value" (compared lower-cased and stripped).
MISSING_TOKENS = frozenset({"", "n/a", "na", "nan", "-", "none", "null"})

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
    #: One line per thing that was ignored (unknown columns, verdicts without a score).
    warnings: list[str]


@functools.lru_cache(maxsize=65536)
def image_id_of(sample_id: str) -> str:
    """Source photo of ``sample_id``: the part before ``-<category>`` (see module docstring)."""
    for cat in CATEGORIES:
        if sample_id.endswith("-" + cat) and len(sample_id) > len(cat) + 1:
            return sample_id[: -len(cat) - 1]
    head, sep, _ = sample_id.rpartition("-")
    return head if sep and head else sample_id


def is_missing(value: object) -> bool:
    """None, NaN, blank, or a "no value" word such as ``N/A`` (see :data:`MISSING_TOKENS`)."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip().lower() in MISSING_TOKENS


def parse_verdict(text: object) -> bool | None:
    """``yes``/``no`` (and common spellings) to a bool; missing to None; raise ValueError otherwise."""
    if isinstance(text, bool):
        return text
    if is_missing(text):
        return None
    s = str(text).strip().lower()
    if s in _YES:
        return True
    if s in _NO:
        return False
    raise ValueError(f"verdict {text!r} is not yes or no")


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def normalize_column(name: object) -> str:
    """Header as matched: lower case, outer spaces stripped, inner spaces and hyphens as ``_``."""
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


_KNOWN = frozenset(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
#: A line break as the csv module and pandas' python parser see one.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

#: A record and where it is, as messages name it (``file:line`` or ``file: record N``).
_Record = tuple[str, dict]


def _decode(path: Path) -> str:
    data = read_bytes(path, what="ratings file", max_bytes=MAX_RATINGS_BYTES, error=RatingsError)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RatingsError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8 "
            "(Excel: 'CSV UTF-8'; LibreOffice: character set Unicode (UTF-8)) and run again"
        ) from None


def _delimiter(path: Path, text: str) -> str:
    """Tab for .tsv; for .csv a comma unless the header has none but has ';' or tabs (regional Excel)."""
    if path.suffix.lower() == ".tsv":
        return "\t"
    header = text.split("\n", 1)[0]
    if "," not in header:
        for d in (";", "\t"):
            if d in header:
                return d
    return ","


def _line_breaks(text: str) -> int:
    return len(_LINE_BREAK.findall(text))


def _read_table(path: Path, text: str, problems: list[str]) -> tuple[list[str], list[_Record]]:
    """The header cells and the non-blank rows of a CSV/TSV, each row named ``file:line``.

    pandas' python parser reads every cell as text, nothing converted, quoted cells as Excel writes them.
    The frame has one column more than the header: a row with more cells than the header holds the text
    of its extra cells there (trailing empty cells, as spreadsheets add, are not a problem).

    Raises:
        RatingsError: The quoting is broken (pandas would skip such a row without a word).
    """
    import pandas as pd

    _check_line_lengths(path, text)
    options: dict[str, Any] = {
        "sep": _delimiter(path, text),
        "header": None,
        "engine": "python",
        "dtype": object,
        "na_filter": False,
        "skip_blank_lines": False,
    }
    broken = RatingsError(
        f"{path}: not a valid table: a cell that opens with a quote must close it just before a separator "
        "or the end of its line"
    )
    try:
        width = pd.read_csv(io.StringIO(text, newline=""), nrows=1, **options).shape[1]
    except pd.errors.EmptyDataError:
        return [], []
    except pd.errors.ParserError:
        raise broken from None

    def spill(cells: list[str]) -> list[str]:
        return [*cells[:width], "".join(cells[width:])]

    frame = pd.read_csv(
        io.StringIO(text, newline=""), names=range(width + 1), index_col=False, on_bad_lines=spill, **options
    )
    rows = frame.to_numpy().tolist()
    header = [str(c) for c in rows[0][:width]]
    columns = [normalize_column(c) for c in header]
    quoted = '"' in text  # only a quoted cell can span lines
    line = 1 + sum(_line_breaks(c) for c in header)
    records: list[_Record] = []
    for cells in rows[1:]:
        present = [c for c in cells if c]  # a short row is padded with None
        line += 1 + (sum(_line_breaks(c) for c in present) if quoted else 0)
        if not "".join(present).strip():
            continue  # an empty line in a spreadsheet export
        where = f"{path}:{line}"
        if not _blank(cells[width]):
            problems.append(f"{where}: more cells than columns in the header")
        records.append((where, dict(zip(columns, cells[:width], strict=True))))
    if line != _line_breaks(text) + (not _LINE_BREAK.match(text[-1:])):
        raise broken
    return header, records


def _check_line_lengths(path: Path, text: str) -> None:
    """Refuse a line longer than a cell may be (the csv module's limit, 128 KiB): one line, not a parser
    error that blames the quoting."""
    limit = csv.field_size_limit()
    for lineno, line in enumerate(_LINE_BREAK.split(text), 1):
        if len(line) > limit:
            raise RatingsError(f"{path}:{lineno}: a line of {len(line):,} characters; a ratings cell holds "
                               f"at most {limit:,}")


def _read_json(path: Path, text: str, problems: list[str]) -> list[_Record]:
    records: list[_Record] = []
    if path.suffix.lower() == ".json":
        try:
            data = loads_json(text, str(path), RatingsError)
        except RatingsError as exc:
            if "not valid JSON (Extra data" not in str(exc):  # JSON lines saved as .json: read below
                raise
        else:
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise RatingsError(
                    f"{path}: a .json ratings file must be an array of objects, one per rating"
                )
            return [(f"{path}: record {i}", rec) for i, rec in enumerate(data, 1)]
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = loads_json(line, f"{path}:{lineno}", RatingsError)
        except RatingsError as exc:
            problems.append(str(exc))
            continue
        if not isinstance(rec, dict):
            problems.append(f"{path}:{lineno}: a line must be a JSON object")
            continue
        records.append((f"{path}:{lineno}", rec))
    return records


def _missing_columns(path: Path, columns: set[str], where: str, unknown: list[str]) -> list[str]:
    """Problems for required columns that are absent (with hints from the unknown ones)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if not missing:
        return []
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    out = [
        f"{where}: missing column {c!r} (columns: {', '.join(REQUIRED_COLUMNS)}[, verdict, image_id, "
        "comment])"
        for c in missing
    ]
    wide = "perspective" in missing and bool(columns & set(PERSPECTIVES))
    if "score" in missing and "verdict" in columns:
        out.append(
            f"{where}: verdict-only ratings are not supported: every statistic needs a 0-5 score; "
            "add a score column (a verdict may stay beside it)"
        )
    if wide:
        out.append(
            f"{where}: this looks like a wide file (one column per perspective); use one row per rating with "
            "'perspective' and 'score' columns"
        )
    for c in unknown:
        if wide and c in PERSPECTIVES:
            continue
        near = difflib.get_close_matches(c, known, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        out.append(f"{where}: unknown column {c!r}{hint}")
    return out


def _describe_ignored(names: Iterable[str]) -> str:
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    parts = []
    for c in names:
        if c == "":
            parts.append("'' (unnamed, e.g. a spreadsheet index)")
            continue
        near = difflib.get_close_matches(c, known, n=1)
        parts.append(f"{c!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
    return ", ".join(parts)


def _parse_score(raw: object) -> float:
    """A 0-5 score from a cell; raise ValueError with the message's tail."""
    if isinstance(raw, bool):
        raise ValueError(f"score {raw!r} is not a number")
    try:
        if isinstance(raw, str):
            text = raw.strip()
            if re.fullmatch(r"[+-]?\d+,\d+", text):  # decimal comma (regional spreadsheets)
                text = text.replace(",", ".")
            score = float(text)
        else:
            score = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"score {raw!r} is not a number") from None
    if not math.isfinite(score) or not SCORE_MIN <= score <= SCORE_MAX:
        raise ValueError(f"score {raw!r} is outside 0-5")
    return score


def _table_records(
    path: Path, text: str, problems: list[str]
) -> tuple[list[_Record], dict[str, None]] | None:
    """Rows and unknown columns of a CSV/TSV; None (problems noted) when its columns are wrong, since every
    row would repeat the same complaint."""
    try:
        header, records = _read_table(path, text, problems)
    except RatingsError as exc:
        problems.append(str(exc))
        return None
    columns = [normalize_column(c) for c in header]
    dups = sorted({c for c in columns if c and columns.count(c) > 1} & _KNOWN)
    for c in dups:
        spellings = ", ".join(repr(h) for h in header if normalize_column(h) == c)
        problems.append(f"{path}: column {c!r} appears more than once ({spellings})")
    unknown = [c for c in dict.fromkeys(columns) if c not in _KNOWN]
    col_problems = _missing_columns(path, set(columns), str(path), unknown)
    if col_problems or dups:
        problems.extend(col_problems)
        return None
    return records, dict.fromkeys(unknown)


def _json_records(
    path: Path, text: str, problems: list[str]
) -> tuple[Iterator[_Record], dict[str, None]] | None:
    """Records of a JSON/JSONL file and the unknown keys seen (filled in as the records are taken)."""
    try:
        raw = _read_json(path, text, problems)
    except RatingsError as exc:
        problems.append(str(exc))
        return None
    ignored: dict[str, None] = {}
    return _matched_keys(path, raw, problems, ignored), ignored


def _matched_keys(
    path: Path, raw: list[_Record], problems: list[str], ignored: dict[str, None]
) -> Iterator[_Record]:
    """Each record with its keys matched as headers are; one lacking a required key is left out with its
    problems noted, in turn with the problems of the records before it."""
    for where, raw_rec in raw:
        rec = {normalize_column(k): v for k, v in raw_rec.items()}
        unknown = [c for c in rec if c not in _KNOWN]
        col_problems = _missing_columns(path, set(rec), where, unknown)
        if col_problems:
            problems.extend(col_problems)
            continue
        ignored.update(dict.fromkeys(unknown))
        yield where, rec


def _rating(where: str, rec: dict, problems: list[str]) -> Rating | None:
    """The rating of a record with a score, or None with every problem of the record noted."""
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
            f"{where}: unknown perspective {rec.get('perspective')!r}{hint}; use one of "
            f"{', '.join(PERSPECTIVES)}"
        )
    score = math.nan
    try:
        score = _parse_score(rec.get("score"))
    except ValueError as exc:
        row_problems.append(f"{where}: {exc}")
    try:
        verdict = parse_verdict(rec.get("verdict"))
    except ValueError as exc:
        row_problems.append(f"{where}: {exc} (use yes, no or leave it blank)")
        verdict = None
    if row_problems:
        problems.extend(row_problems)
        return None
    sid = fields["sample_id"]
    image_id = str(rec.get("image_id")).strip() if not is_missing(rec.get("image_id")) else image_id_of(sid)
    return Rating(sid, image_id, fields["model"], persp, fields["rater"], score, verdict)


class _Reader:
    """What reading one set of ratings files gathers, file after file."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.ratings: list[Rating] = []
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.n_blank = 0
        self.sources: list[Path] = []
        self.per_source: list[int] = []
        #: Where each (sample, model, perspective, rater) was first rated.
        self.seen: dict[tuple[str, str, str, str], str] = {}

    def read(self, path: Path) -> None:
        """Read one file, noting its ratings, problems and warnings."""
        self.sources.append(path)
        self.per_source.append(0)
        try:
            exists = check_regular(path, what="ratings file", error=RatingsError) is not None
        except RatingsError as exc:  # a folder, a named pipe: never opened
            self.problems.append(str(exc))
            return
        if not exists:
            self.problems.append(f"{self.what} file {path} does not exist")
            return
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES:
            raise RatingsError(
                f"{path}: ratings must be a .csv, .tsv, .jsonl or .json file (got "
                f"{path.suffix or 'no suffix'!r})"
            )
        try:
            text = _decode(path)
        except RatingsError as exc:
            self.problems.append(str(exc))
            return
        read = _table_records if suffix in (".csv", ".tsv") else _json_records
        found = read(path, text, self.problems)
        if found is None:
            return
        records, ignored = found
        n_verdict_only = 0
        for where, rec in records:
            score_missing = is_missing(rec.get("score"))
            if score_missing and is_missing(rec.get("verdict")):
                self.n_blank += 1
            elif score_missing:
                n_verdict_only += 1
            else:
                self._add(where, rec)
        if ignored:
            self.warnings.append(f"{path}: ignored column(s) {_describe_ignored(ignored)}")
        if n_verdict_only:
            self.warnings.append(
                f"{path}: {n_verdict_only} row(s) have a verdict but no score and are left out "
                "(every statistic needs the 0-5 score)"
            )

    def _add(self, where: str, rec: dict) -> None:
        rating = _rating(where, rec, self.problems)
        if rating is None:
            return
        # Sample ids match case-insensitively (10-Local is 10-local), so a twice-rated item is found too.
        key = (rating.sample_id.casefold(), rating.model, rating.perspective, rating.rater)
        if key in self.seen:
            self.problems.append(
                f"{where}: rater {key[3]!r} rated ({rating.sample_id}, {key[1]}, {key[2]}) twice "
                f"(first at {self.seen[key]})"
            )
            return
        self.seen[key] = where
        self.ratings.append(rating)
        self.per_source[-1] += 1

    def result(self) -> RatingSet:
        """The ratings read, or every problem found in one error."""
        what, problems, sources = self.what, self.problems, ", ".join(str(p) for p in self.sources)
        if len(problems) == 1:  # one problem, one line
            raise RatingsError(f"{what}: {problems[0]}")
        if problems:
            shown = problems[:MAX_PROBLEMS_SHOWN]
            more = len(problems) - len(shown)
            tail = [f"... and {more} more problems"] if more > 0 else []
            raise RatingsError(
                f"{what}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the ratings:\n"
                + "\n".join("  " + p for p in shown + tail)
            )
        if not self.ratings:
            if any("verdict but no score" in w for w in self.warnings):
                raise RatingsError(
                    f"{what}: no rating in {sources} has a score: verdict-only ratings are not supported "
                    "(every statistic needs a 0-5 score; a verdict may stay beside it)"
                )
            raise RatingsError(f"{what}: no ratings found in {sources} (every row is blank)")
        return RatingSet(self.ratings, self.n_blank, self.sources, self.per_source, self.warnings)


def read_ratings(paths: Iterable[Path], *, what: str = "ratings") -> RatingSet:
    """Read and validate long-format ratings from CSV/TSV/JSONL/JSON files.

    Args:
        paths: Files to read; ratings of all files are combined.
        what: How the files are named in messages (e.g. ``--human``).

    Returns:
        The validated ratings, the count of blank (unrated) rows, and warnings about what was ignored.

    Raises:
        RatingsError: Any problem, listed one per line (file:line: what is wrong).
    """
    reader = _Reader(what)
    for path in paths:
        reader.read(Path(path))
    return reader.result()


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
