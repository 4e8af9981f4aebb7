"""Crash-safe file writing: append-and-fsync JSON lines (one at a time, or group-committed from an event
loop), atomic whole-file writes, and schema-checked reads that refuse other format versions in one line."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from realedit_bench.errors import SchemaError
from realedit_bench.schema.base import FROM_FILE, VERSION_ERROR
from realedit_bench.userfiles import check_regular, iter_lines, loads_json, read_json

M = TypeVar("M", bound=BaseModel)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        # mkstemp creates 0600; results are meant to be shared like any file the user writes.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask, read once (by setting and restoring it: there is no read-only call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Atomically write UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: object) -> None:
    """Atomically write ``obj`` (a pydantic model or plain JSON data), pretty-printed with sorted keys."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def jsonl_line(row: BaseModel | dict) -> str:
    """One JSON line as every appender here writes it (sorted keys, UTF-8 kept, newline)."""
    data = row.model_dump(mode="json") if isinstance(row, BaseModel) else row
    return json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n"


class JsonlAppender:
    """Append one JSON line per record, flushed and fsynced, so a crash loses at most the line in flight."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A named pipe or a folder in its place would hang or fail the appends: one line instead.
        check_regular(self.path, what="results file", error=SchemaError)
        _repair_torn_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _write(self, text: str) -> None:
        self._fh.write(text)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def append(self, row: BaseModel | dict) -> None:
        """Write one row and make it durable before returning."""
        self._write(jsonl_line(row))

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GroupCommitAppender(JsonlAppender):
    """Durable JSONL appends from an event loop without blocking it (group commit).

    An fsync takes milliseconds; done on the event loop for every row it would stall every call in
    flight. Here one writer task writes every row queued so far with one write and one fsync in a
    worker thread, and :meth:`append_async` returns only once its row is on disk, so a ``kill -9``
    loses nothing beyond the rows whose callers were still waiting. Lines are the same as
    :class:`JsonlAppender`'s, and a line torn by an earlier kill is dropped the same way.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._queue: list[tuple[str, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def append_async(self, row: BaseModel | dict) -> None:
        """Queue one row and return once it (and whatever was queued with it) is durable."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((jsonl_line(row), fut))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        await fut

    async def _drain(self) -> None:
        try:
            while self._queue:
                group, self._queue = self._queue, []
                try:
                    await asyncio.to_thread(self._write, "".join(line for line, _ in group))
                except BaseException as exc:
                    _settle(group, exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
                    raise
                _settle(group, None)
        finally:
            self._task = None

    async def aclose(self) -> None:
        """Finish pending writes and close the file."""
        if self._task is not None:
            try:
                await asyncio.shield(self._task)
            except Exception:  # noqa: BLE001 - the failing append already raised it to its caller
                pass
        self.close()


def _settle(group: list[tuple[str, asyncio.Future[None]]], exc: Exception | None) -> None:
    """Wake the callers of one group commit: done, or the write's error."""
    for _, fut in group:
        if fut.done():
            continue
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)


def _repair_torn_tail(path: Path) -> None:
    """Drop a last line without its newline: the trace of a process killed mid-write."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 1))
        if fh.read(1) == b"\n":
            return
        # Find the last newline and truncate after it.
        chunk = 65536
        pos = size
        while pos > 0:
            start = max(0, pos - chunk)
            fh.seek(start)
            buf = fh.read(pos - start)
            idx = buf.rfind(b"\n")
            if idx >= 0:
                fh.truncate(start + idx + 1)
                return
            pos = start
        fh.truncate(0)


def iter_jsonl(path: Path) -> Iterator[dict]:
    """Yield each complete JSON line of ``path`` (a regular UTF-8 file) as parsed; a torn final line is
    skipped. Lines are bounded in length, nesting and number size (:mod:`realedit_bench.userfiles`)."""
    path = Path(path)
    if not path.exists():
        return
    for lineno, line in iter_lines(path, what="results file", error=SchemaError):
        line = line.strip()
        if line:
            yield loads_json(line, f"{path}:{lineno}", SchemaError)


def _schema_error(path: Path, exc: ValidationError, row: str = "") -> SchemaError:
    """One line naming the file (and row): a refused version says only that, with what to do."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    where = f"{where}: " if where else ""
    if first["type"] == VERSION_ERROR:
        row = ""  # every row of the file is in that version: the row number says nothing
    return SchemaError(f"{path}: {row}{where}{first['msg']}")


def read_rows(path: Path, model: type[M]) -> list[M]:
    """Read a JSONL file into validated rows of ``model``; one clear error names the bad line.

    Raises:
        SchemaError: a line does not match ``model``, or the file holds another schema version.
    """
    rows: list[M] = []
    context = {FROM_FILE: True}
    for lineno, data in enumerate(iter_jsonl(path), 1):
        try:
            rows.append(model.model_validate(data, context=context))
        except ValidationError as exc:
            raise _schema_error(path, exc, f"row {lineno}: ") from exc
    return rows


def read_model(path: Path, model: type[M]) -> M:
    """Read one JSON file into ``model`` with a clear error."""
    path = Path(path)
    data = read_json(path, what="results file", error=SchemaError)
    try:
        return model.model_validate(data, context={FROM_FILE: True})
    except ValidationError as exc:
        raise _schema_error(path, exc) from exc
