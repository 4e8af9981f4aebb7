"""Opening a user's file safely: every reader of instruction files, ratings, rubrics, prices, result rows
and images goes through here.

A file is opened only when it is a regular file (a named pipe, a device or a folder is refused, never
waited on: the open is non-blocking and the opened descriptor is checked again), it is read up to a size
bound, text must be UTF-8, and JSON is bounded in nesting and in the digits of a number (Python's own
limits end in a RecursionError or a ValueError otherwise). Inside a data folder, a file whose real path
leads outside the folder (the file, or a folder above it, is a symlink out) is refused unless the user
allows it with ``--follow-symlinks``. Every refusal is one line naming the file and the problem, raised as
the caller's :class:`~realedit_bench.errors.RealEditError` subclass (exit code 2).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from realedit_bench.errors import DataError, RealEditError

#: Largest file read whole (instruction files, ratings, rubrics, prices, summaries, manifests).
MAX_FILE_BYTES = 1 << 30
#: Largest line of a JSON-lines file (a row of realedit's is a few kB).
MAX_LINE_BYTES = 64 << 20
#: Largest image file opened (Real-Edit's largest photo is a few MB; pixels are capped in images.py).
MAX_IMAGE_BYTES = 512 << 20
#: Deepest JSON nesting read (realedit's own files nest fewer than ten levels).
MAX_JSON_DEPTH = 64
#: Most digits of a JSON integer (Python refuses more than 4,300 with a ValueError mid-parse).
MAX_NUMBER_DIGITS = 100
#: The option that lets a data folder's files lead outside it through symlinks (the same in every verb).
FOLLOW_SYMLINKS_OPTION = "--follow-symlinks"


def _kind(mode: int) -> str:
    """What a non-regular file is, for a message."""
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def check_name(path: Path | str, what: str, error: type[RealEditError] = DataError) -> None:
    """Refuse a name holding a NUL byte (the OS cannot open it; Python raises ValueError)."""
    if "\x00" in str(path):
        raise error(f"{what} {str(path)!r} has a NUL byte in its name")


def is_inside(path: Path, root: Path) -> bool:
    """True when the real path of ``path`` (symlinks resolved) lies in the real path of ``root``."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def check_inside(path: Path, root: Path, *, what: str, follow_symlinks: bool = False,
                 error: type[RealEditError] = DataError) -> None:
    """Refuse ``path`` when symlinks lead it out of ``root`` (unless ``follow_symlinks``).

    Args:
        path: A file (or folder) of the data folder ``root``; it need not exist.
        root: The data folder.
        what: What the file is, for the message (``image``, ``edited image``).
        follow_symlinks: The user allows links out of the folder.
        error: The error class raised.
    """
    check_name(path, what, error)
    if follow_symlinks or is_inside(path, root):
        return
    raise error(
        f"{what} {path} leads outside {root} (to {os.path.realpath(path)}) through a symlink; move the file "
        f"into the folder, or pass {FOLLOW_SYMLINKS_OPTION} if you keep data behind links on purpose"
    )


def check_regular(path: Path, *, what: str, error: type[RealEditError] = DataError) -> os.stat_result | None:
    """The stat of ``path`` (symlinks followed) when it is a regular file, None when it does not exist.

    Raises:
        error: it exists and is a folder, a pipe, a device or a socket, or its name holds a NUL byte.
    """
    check_name(path, what, error)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} {path} is {_kind(st.st_mode)}, not a file")
    return st


def open_regular(path: Path, *, what: str = "file", max_bytes: int = MAX_FILE_BYTES,
                 error: type[RealEditError] = DataError) -> int:
    """A read-only descriptor of ``path``, a regular file of at most ``max_bytes`` (checked once opened).

    The open never blocks (``O_NONBLOCK``: a named pipe without a writer would wait forever) and the
    descriptor is checked with ``fstat``, so a file swapped for a pipe between the check and the open is
    refused too. The caller closes the descriptor.

    Raises:
        error: missing, not a regular file, too large, unreadable, or a NUL byte in the name.
    """
    check_name(path, what, error)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError as exc:
        raise error(f"{what} {path} does not exist") from exc
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{what} {path} is {_kind(st.st_mode)}, not a file")
        if st.st_size > max_bytes:
            raise error(f"{what} {path} is {st.st_size:,} bytes, over the {max_bytes:,} this reader accepts")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, *, what: str = "file", max_bytes: int = MAX_FILE_BYTES,
               error: type[RealEditError] = DataError) -> bytes:
    """The bytes of the regular file ``path`` (see :func:`open_regular`)."""
    fd = open_regular(path, what=what, max_bytes=max_bytes, error=error)
    try:
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:  # it grew after the check
        raise error(f"{what} {path} is over the {max_bytes:,} bytes this reader accepts")
    return data


def decode(data: bytes, where: str, error: type[RealEditError] = DataError) -> str:
    """UTF-8 text (a byte-order mark is dropped); else one line naming ``where`` and the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it "
                    "as UTF-8") from None


def read_text(path: Path, *, what: str = "file", max_bytes: int = MAX_FILE_BYTES,
              error: type[RealEditError] = DataError) -> str:
    """The UTF-8 text of the regular file ``path`` (see :func:`open_regular` and :func:`decode`)."""
    return decode(read_bytes(path, what=what, max_bytes=max_bytes, error=error), str(path), error)


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise _TooManyDigits(digits)
    return int(text)


class _TooManyDigits(ValueError):
    def __init__(self, digits: int) -> None:
        super().__init__(digits)
        self.digits = digits


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads_json(text: str | bytes, where: str, error: type[RealEditError] = DataError) -> Any:
    """Parse JSON with bounds on nesting and number size; every problem is one line naming ``where``.

    Raises:
        error: not valid JSON, nested deeper than :data:`MAX_JSON_DEPTH`, or an integer of more than
            :data:`MAX_NUMBER_DIGITS` digits.
    """
    try:
        value = json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise error(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except _TooManyDigits as exc:
        raise error(f"{where}: a number of {exc.digits:,} digits (at most {MAX_NUMBER_DIGITS})") from None
    except UnicodeDecodeError:
        raise error(f"{where}: not UTF-8 text") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise error(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def loads_toml(text: str, where: str, error: type[RealEditError] = DataError) -> dict[str, Any]:
    """Parse TOML with the same bounds as :func:`loads_json`; every problem is one line naming ``where``.

    Raises:
        error: not valid TOML, nested deeper than :data:`MAX_JSON_DEPTH` (or than Python's parser can
            follow), or an integer too long for Python to read.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    try:
        value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{where} is not valid TOML: {exc}") from None
    except RecursionError:
        raise error(f"{where}: nested too deeply to read") from None
    except ValueError as exc:  # Python's limit on the digits of an integer
        raise error(f"{where}: {str(exc).split(';')[0]}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise error(f"{where}: nested too deeply to read (more than {MAX_JSON_DEPTH} levels)")
    return value


def read_json(path: Path, *, what: str = "file", max_bytes: int = MAX_FILE_BYTES,
              error: type[RealEditError] = DataError) -> Any:
    """Parse the JSON file ``path`` (a regular UTF-8 file; see :func:`loads_json`)."""
    return loads_json(read_text(path, what=what, max_bytes=max_bytes, error=error), str(path), error)


def iter_lines(path: Path, *, what: str = "file", max_line: int = MAX_LINE_BYTES,
               error: type[RealEditError] = DataError) -> Iterator[tuple[int, str]]:
    """(line number, text) of each complete line of a regular UTF-8 file; a last line without its newline
    (torn by a killed writer) is not yielded. Lines are bounded in length."""
    fd = open_regular(path, what=what, max_bytes=1 << 62, error=error)
    with os.fdopen(fd, "rb") as fh:
        lineno = 0
        while raw := fh.readline(max_line + 1):
            lineno += 1
            if not raw.endswith(b"\n"):
                if len(raw) > max_line:
                    raise error(f"{path}:{lineno}: a line of over {max_line:,} bytes")
                return
            yield lineno, decode(raw, f"{path}:{lineno}", error)
