"""The content-addressed judge cache: what its key covers, and the SQLite store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from realedit_bench.judges.backends.base import ChatReply
from realedit_bench.judges.cache import JudgeCache, cache_key

BASE = dict(provider="openai", model="m", rubric="r-v1", system="s", text="t", text_first=False,
            image_sha256=["a", "b"], params={"temperature": 0.0}, followups=(), repeat=0)
CHANGES = [("provider", "anthropic"), ("model", "m2"), ("rubric", "r-v2"), ("system", "s2"), ("text", "t2"),
           ("text_first", True), ("image_sha256", ["b", "a"]), ("params", {"temperature": 0.5}),
           ("followups", (("assistant", "x"),)), ("repeat", 1)]


def test_cache_key_covers_every_input() -> None:
    k0 = cache_key(**BASE)
    keys = {cache_key(**{**BASE, k: v}) for k, v in CHANGES}
    assert k0 not in keys and len(keys) == len(CHANGES)
    assert cache_key(**BASE) == k0


@pytest.mark.parametrize("field, value", CHANGES)
def test_each_input_changes_the_key(field: str, value: object) -> None:
    assert cache_key(**{**BASE, field: value}) != cache_key(**BASE)


def test_cache_round_trip_in_wal_mode(tmp_path: Path) -> None:
    c = JudgeCache(tmp_path / "c.sqlite")
    assert c.get("k") is None
    c.put("k", ChatReply("hi", "stop", False, "snap", "fp", 10, 2))
    c.close()
    c2 = JudgeCache(tmp_path / "c.sqlite")
    got = c2.get("k")
    assert got is not None and got.text == "hi" and got.model == "snap" and got.input_tokens == 10
    assert len(c2) == 1
    c2.close()
    mode = sqlite3.connect(tmp_path / "c.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
