"""Crash-safe JSON files: the group-commit appender (durable on return, grouped fsyncs, the same lines as
``JsonlAppender``) and schema-checked reads that refuse another format version in one line."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from realedit_bench.errors import SchemaError
from realedit_bench.jsonio import GroupCommitAppender, JsonlAppender, atomic_write_json, read_model, read_rows
from realedit_bench.judges.summary import latest_rows
from realedit_bench.schema import EditRow, RunManifest
from realedit_bench.schema.judge import JudgmentRow


def _row(i: int) -> JudgmentRow:
    return JudgmentRow(
        sample_id=f"{i}-local", image_id=str(i), category="local", model="m", perspective="following",
        status="ok", verdict=True, score=1.0, judge="openai/x", rubric="realedit-v1", edited_sha256="e" * 64,
        finished_at="2026-01-01T00:00:00Z",
    )


def test_rows_are_on_disk_when_append_returns_and_fsyncs_are_grouped(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "j" / "rows.jsonl"
    path.parent.mkdir()
    path.write_text('{"torn": ')  # a line cut by an earlier kill -9 is dropped, as JsonlAppender does
    fsyncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))

    async def main() -> None:
        writer = GroupCommitAppender(path)
        seen: list[int] = []

        async def one(i: int) -> None:
            await writer.append_async(_row(i))
            seen.append(path.read_bytes().count(b"\n"))  # durable (written) before append returned
            assert seen[-1] >= 1

        await asyncio.gather(*(one(i) for i in range(20)))
        await writer.aclose()

    asyncio.run(main())
    rows = read_rows(path, JudgmentRow)
    assert sorted(r.sample_id for r in rows) == sorted(f"{i}-local" for i in range(20))
    assert len(latest_rows(rows)) == 20
    assert 1 <= len(fsyncs) < 20  # twenty rows finished in one tick share fsyncs

    # Same bytes as the one-at-a-time appender writes.
    other = tmp_path / "other.jsonl"
    with JsonlAppender(other) as app:
        app.append(_row(0))
    line = other.read_text()
    assert line in path.read_text().splitlines(keepends=True)


def test_a_failed_write_reaches_the_waiting_appender(tmp_path: Path, monkeypatch) -> None:
    writer_path = tmp_path / "rows.jsonl"

    async def main() -> str:
        writer = GroupCommitAppender(writer_path)
        monkeypatch.setattr(writer, "_write", lambda text: (_ for _ in ()).throw(OSError("disk full")))
        try:
            await writer.append_async(_row(1))
        except OSError as exc:
            return str(exc)
        finally:
            await writer.aclose()
        return "no error"

    assert asyncio.run(main()) == "disk full"


def test_synchronous_and_grouped_appends_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"

    async def main() -> None:
        writer = GroupCommitAppender(path)
        writer.append(_row(0))  # e.g. rows that need no call, written before the calls start
        await writer.append_async(_row(1))
        await writer.aclose()

    asyncio.run(main())
    assert [r.sample_id for r in read_rows(path, JudgmentRow)] == ["0-local", "1-local"]


# Reading refuses every other format version --------------------------------------------------------
def _lines(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("version, says", [
    (1, "schema_version 1 is not the version this realedit reads (3"),
    (2, "schema_version 2 is not the version this realedit reads (3"),
    (4, "schema_version 4 is newer than this realedit reads (3): upgrade realedit"),
    (None, "no schema_version (this realedit reads version 3 only)"),
    ("3", "schema_version '3' is not the version"),
])
def test_rows_of_another_version_are_refused_in_one_line_naming_the_file(
    tmp_path: Path, version, says
) -> None:
    data = _row(0).model_dump(mode="json")
    data.pop("schema_version")
    if version is not None:
        data["schema_version"] = version
    path = _lines(tmp_path / "j.jsonl", [data])
    with pytest.raises(SchemaError) as err:
        read_rows(path, JudgmentRow)
    message = str(err.value)
    assert message.startswith(f"{path}: {says}") and message.endswith(
        "remove the file and rerun realedit judge"
    )
    assert "\n" not in message and err.value.exit_code == 2


def test_a_manifest_of_another_version_names_the_command_that_writes_it(tmp_path: Path) -> None:
    from judge_fixtures import make_bench, make_run_dir

    run = make_run_dir(tmp_path / "r", make_bench(tmp_path / "bench", n_photos=1))
    data = json.loads((run / "manifest.json").read_text())
    assert read_model(run / "manifest.json", RunManifest).schema_version == 2
    atomic_write_json(run / "manifest.json", {**data, "schema_version": 0})
    with pytest.raises(SchemaError, match=r"manifest.json: schema_version 0 .*rerun realedit run$"):
        read_model(run / "manifest.json", RunManifest)
    # A manifest of before the run label (version 1, no 'label') is refused in one line, not converted.
    old = {k: v for k, v in data.items() if k != "label"}
    atomic_write_json(run / "manifest.json", {**old, "schema_version": 1})
    with pytest.raises(SchemaError, match=r"manifest.json: schema_version 1 .*rerun realedit run$") as err:
        read_model(run / "manifest.json", RunManifest)
    assert "\n" not in str(err.value)


def test_a_nested_record_without_its_version_is_refused_too(tmp_path: Path) -> None:
    data = _row(0).model_dump(mode="json")
    del data["usage"]["schema_version"]
    path = _lines(tmp_path / "j.jsonl", [data])
    with pytest.raises(SchemaError, match=r"j.jsonl: usage: no schema_version"):
        read_rows(path, JudgmentRow)


def test_other_problems_still_name_the_row(tmp_path: Path) -> None:
    edit = EditRow(sample_id="1-local", image_id="1", category="local", instruction="x", source="1.jpeg",
                   status="ok", seed=0, finished_at="2025-01-01T00:00:00+00:00").model_dump(mode="json")
    path = _lines(tmp_path / "edits.jsonl", [edit, {**edit, "status": "maybe"}])
    with pytest.raises(SchemaError, match=r"edits.jsonl: row 2: status: "):
        read_rows(path, EditRow)
