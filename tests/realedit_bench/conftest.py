"""Fixtures of the judge tests: the local fake judge server, and a tiny benchmark with a folder of edits
whose environment points the real SDKs at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from judge_fixtures import judge_env, make_bench, make_edits, set_env
from judge_server import FakeJudgeServer


@pytest.fixture
def fake_server() -> Iterator[FakeJudgeServer]:
    """A fresh fake OpenAI / Anthropic server for one test."""
    with FakeJudgeServer() as srv:
        yield srv


@pytest.fixture
def judge_setup(
    tmp_path: Path, fake_server: FakeJudgeServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """Tiny benchmark (2 photos x 7 edits) and a folder of edits; keys, base URLs and the cache in the
    environment point both SDKs at ``fake_server``."""
    bench = make_bench(tmp_path / "bench")
    edits = make_edits(tmp_path / "edits")
    set_env(monkeypatch, judge_env(fake_server, tmp_path / "cache"))
    return bench, edits
