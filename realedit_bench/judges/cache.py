"""Content-addressed cache of judge calls in SQLite (WAL).

The key is the sha256 of a canonical JSON of everything that can change an answer: provider, requested
model, rubric id, the rendered prompt (system, user text, re-ask turns), the sha256 of each image as
sent, every generation parameter and the repeat index. Only calls that returned a usable reply are
stored (errors and refusals are not), so a rerun repeats exactly what is worth repeating.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from realedit_bench.errors import ConfigError
from realedit_bench.judges.backends.base import ChatReply
from realedit_bench.userfiles import check_regular


def cache_key(
    *,
    provider: str,
    model: str,
    rubric: str,
    system: str,
    text: str,
    text_first: bool,
    image_sha256: Sequence[str],
    params: Mapping[str, Any],
    followups: Sequence[tuple[str, str]] = (),
    repeat: int = 0,
) -> str:
    """sha256 hex of the canonical request description (see module docstring)."""
    payload = {
        "v": 1,
        "provider": provider,
        "model": model,
        "rubric": rubric,
        "system": system,
        "text": text,
        "text_first": text_first,
        "images": list(image_sha256),
        "params": dict(params),
        "followups": [list(f) for f in followups],
        "repeat": repeat,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache:
    """A small SQLite key -> reply store, safe for several processes (WAL, busy timeout)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            check_regular(self.path, what="judge cache", error=ConfigError)  # never a pipe or a folder
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS replies "
                "(key TEXT PRIMARY KEY, reply TEXT NOT NULL, created REAL NOT NULL)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS encodings (key TEXT PRIMARY KEY, sha256 TEXT NOT NULL, "
                "width INTEGER NOT NULL, height INTEGER NOT NULL)"
            )
            self._db.execute("BEGIN IMMEDIATE")  # a read-only cache fails here, not after the first call
            self._db.execute("ROLLBACK")
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"cannot use {self.path} as the judge cache ({exc}); give another --cache "
                              "FILE, or --no-cache") from exc
        self.encodings = EncodingStore(self._db)

    def get(self, key: str) -> ChatReply | None:
        """The stored reply for ``key``, or None."""
        row = self._db.execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        return ChatReply(**data)

    def put(self, key: str, reply: ChatReply) -> None:
        """Store a usable reply (callers never store errors or refusals)."""
        data = {
            "text": reply.text, "finish_reason": reply.finish_reason, "refused": reply.refused,
            "model": reply.model, "system_fingerprint": reply.system_fingerprint,
            "input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens,
        }
        self._db.execute(
            "INSERT OR REPLACE INTO replies (key, reply, created) VALUES (?, ?, ?)",
            (key, json.dumps(data, ensure_ascii=False), time.time()),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        self._db.close()


class EncodingStore:
    """(file sha256, encoding settings) -> sha256 and size of the bytes as sent.

    Lets a rerun check whether an image changed without re-encoding it (PNG encoding of 640 photos
    takes far longer than hashing them).
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def get(self, key: str) -> tuple[str, int, int] | None:
        """Stored (sha256, width, height) for ``key``."""
        row = self._db.execute("SELECT sha256, width, height FROM encodings WHERE key = ?", (key,)).fetchone()
        return (row[0], int(row[1]), int(row[2])) if row else None

    def put(self, key: str, value: tuple[str, int, int]) -> None:
        """Remember an encoding result."""
        self._db.execute(
            "INSERT OR REPLACE INTO encodings (key, sha256, width, height) VALUES (?, ?, ?, ?)", (key, *value)
        )
