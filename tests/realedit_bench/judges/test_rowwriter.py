"""The judge runner's group-commit row writer: durable on return, grouped fsyncs, JsonlAppender's format."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from realedit_bench.jsonio import JsonlAppender, read_rows
from realedit_bench.judges.runner import RowWriter
from realedit_bench.judges.summary import latest_rows
from realedit_bench.schema.judge import JudgmentRow


def _row(i: int) -> JudgmentRow:
    return JudgmentRow(
        sample_id=f"{i}-local", image_id=str(i), category="local", model="m", perspective="following",
        status="ok", verdict=True, score=1.0, judge="openai/x", rubric="realedit-v1", finished_at="2026-01-01T00:00:00Z",
    )


def test_rows_are_on_disk_when_append_returns_and_fsyncs_are_grouped(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "j" / "rows.jsonl"
    path.parent.mkdir()
    path.write_text('{"torn": ')  # a line cut by an earlier kill -9 is dropped, as JsonlAppender does
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))

    async def main() -> None:
        writer = RowWriter(path)
        seen: list[int] = []

        async def one(i: int) -> None:
            await writer.append(_row(i))
            seen.append(path.read_bytes().count(b"\n"))  # durable (written) before append returned
            assert seen[-1] >= 1

        await asyncio.gather(*(one(i) for i in range(20)))
        await writer.aclose()

    asyncio.run(main())
    rows = read_rows(path, JudgmentRow)
    assert sorted(r.sample_id for r in rows) == sorted(f"{i}-local" for i in range(20))
    assert len(latest_rows(rows)) == 20
    assert 1 <= len(fsyncs) < 20  # twenty rows finished in one tick share fsyncs

    # Same bytes as the shared appender writes.
    other = tmp_path / "other.jsonl"
    with JsonlAppender(other) as app:
        app.append(_row(0))
    line = other.read_text()
    assert line in path.read_text().splitlines(keepends=True)


def test_a_failed_write_reaches_the_waiting_appender(tmp_path: Path, monkeypatch) -> None:
    writer_path = tmp_path / "rows.jsonl"

    async def main() -> str:
        writer = RowWriter(writer_path)
        monkeypatch.setattr(writer, "_write", lambda text: (_ for _ in ()).throw(OSError("disk full")))
        try:
            await writer.append(_row(1))
        except OSError as exc:
            return str(exc)
        finally:
            await writer.aclose()
        return "no error"

    assert asyncio.run(main()) == "disk full"
