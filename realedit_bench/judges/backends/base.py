"""The thin backend contract: messages with images in, text and usage out. Network only.

Everything else (prompts, parsing, re-asks, retries, cache, files) lives in the engine above it.
A backend turns provider errors into :class:`CallError` with the facts the retry loop needs.
"""

from __future__ import annotations

import email.utils
import os
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple
from urllib.parse import urlparse

from realedit_bench.errors import ConfigError


class ImagePart(NamedTuple):
    """An image in a message: bytes as sent and their media type."""

    data: bytes
    mime: str


@dataclass(frozen=True)
class ChatRequest:
    """One judge call.

    ``content`` is the first user message (text and images in order). ``followups`` continue the
    conversation for a re-ask: alternating assistant / user texts after the first user message.
    """

    system: str
    content: tuple[str | ImagePart, ...]
    max_tokens: int
    temperature: float | None = 0.0
    seed: int | None = None
    followups: tuple[tuple[str, str], ...] = ()
    timeout: float = 60.0


@dataclass
class ChatReply:
    """What a backend read from one response."""

    text: str | None
    finish_reason: str | None = None
    refused: bool = False
    model: str | None = None
    system_fingerprint: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class CallError(Exception):
    """A failed call, classified for the retry loop.

    Attributes:
        retryable: another attempt may succeed (429, 5xx, timeout, connection).
        fatal: the whole run must stop (bad key, no access, unknown model, exhausted quota).
        refused: the provider refused the content (e.g. a content-policy 400): a ``refused`` row.
        retry_after: seconds the server asked us to wait, if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        fatal: bool = False,
        refused: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.fatal = fatal
        self.refused = refused
        self.retry_after = retry_after


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (delta seconds or an HTTP date)."""
    if headers is None:
        return None
    get = headers.get
    ms = get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_loopback(url: str) -> bool:
    """True for http(s) URLs on this machine (no key is needed there)."""
    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "127.0.0.1", "::1") or host.startswith("127.")


def env_key(*names: str) -> str | None:
    """The first non-empty environment variable of ``names`` (keys only ever come from here)."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


class Backend:
    """Base class of judge backends. Subclasses set ``provider`` and implement :meth:`complete`.

    Construction must check keys and settings and raise :class:`ConfigError` before any call.
    """

    provider: ClassVar[str] = ""
    #: True when the provider honours a sampling seed.
    supports_seed: ClassVar[bool] = False
    #: Batch API support (OpenAI Batch, Anthropic Message Batches).
    supports_batch: ClassVar[bool] = False

    def __init__(self, model: str) -> None:
        if not model:
            raise ConfigError(f"judge '{self.provider}/' names no model (e.g. {self.provider}/<model>)")
        self.model = model

    @property
    def name(self) -> str:
        """``provider/model`` as the user wrote it."""
        return f"{self.provider}/{self.model}"

    def describe(self) -> dict[str, Any]:
        """Non-secret facts recorded with results (endpoint kind, base URL host)."""
        return {"provider": self.provider, "model": self.model}

    def request_params(self, req: ChatRequest) -> dict[str, Any]:
        """Every generation parameter this backend sends for ``req`` (for cache keys and rows)."""
        params: dict[str, Any] = {"max_tokens": req.max_tokens, "temperature": req.temperature}
        if self.supports_seed and req.seed is not None:
            params["seed"] = req.seed
        return params

    async def complete(self, req: ChatRequest) -> ChatReply:
        """Send one request; raise :class:`CallError` on failure."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release network resources."""

    # Batch API (optional) -------------------------------------------------------------------
    def batch_line(self, custom_id: str, req: ChatRequest) -> dict[str, Any]:
        """One request of a batch, in the provider's format."""
        raise NotImplementedError

    async def submit_batch(self, lines: list[dict[str, Any]]) -> str:
        """Submit a batch and return its id."""
        raise NotImplementedError

    async def poll_batch(self, batch_id: str) -> tuple[str, bool]:
        """Return (provider status, ended?)."""
        raise NotImplementedError

    async def batch_results(self, batch_id: str) -> dict[str, ChatReply | CallError]:
        """custom_id -> reply or error, for an ended batch."""
        raise NotImplementedError
