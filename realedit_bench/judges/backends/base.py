"""The thin backend contract: messages with images in, text and usage out. Network only.

Everything else (prompts, parsing, re-asks, the retry loop, cache, files) lives in the engine above it.
A backend class declares everything about its provider in one place: the judge-name prefix and how the
name reads in help, the environment variable of its key, prices, the image-token estimate, what it can
do (seed, batches), and how its errors map to :class:`CallError` (the facts the retry loop needs).

:class:`SDKBackend` adds the plumbing the official ``openai`` and ``anthropic`` SDKs share (a lazily made
async client with the SDK's own retries off, their common exception classes, error bodies), so a
provider is one file: see :mod:`realedit_bench.judges.backends.openai_chat`.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple
from urllib.parse import urlsplit

from realedit_bench.errors import ConfigError
from realedit_bench.net import (
    CallError,
    check_base_url,
    check_key_text,
    env_key,
    error_detail,
    is_loopback,
    parse_retry_after,
    sdk_call_error,
    status_error,
)
from realedit_bench.ratelimit import RateInfo
from realedit_bench.redact import mask_secrets, redact_url_secrets

#: Shared with the API editors (:mod:`realedit_bench.net`); importable from here as the backends always did.
__all__ = ["Backend", "CallError", "ChatReply", "ChatRequest", "ImagePart", "Price", "SDKBackend", "env_key",
           "error_detail", "is_loopback", "parse_retry_after"]


class ImagePart(NamedTuple):
    """An image in a message: bytes as sent and their media type."""

    data: bytes
    mime: str


class Price(NamedTuple):
    """USD per million tokens."""

    input: float
    output: float


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
    #: The answer's JSON schema, sent as a structured-output format (only to backends that take one).
    response_schema: Mapping[str, Any] | None = None


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
    #: What the response's rate-limit headers said (the limiter paces the next calls by it).
    rate: RateInfo | None = None


def estimate_text_tokens(text: str) -> int:
    """About 4 characters per token: an estimate for planning, never used for money spent."""
    return max(1, math.ceil(len(text) / 4))


class Backend:
    """Base class of judge backends: a subclass declares its provider and implements :meth:`complete`.

    Construction reads the environment (:meth:`configure`) and checks the key (:meth:`check_key`), so a
    missing key or a bad setting is a :class:`ConfigError` before any call.

    Args:
        model: The part of the judge name after ``provider/``.
        check_key: False for ``--dry-run``, which sends nothing (a run can be priced without a key).
    """

    #: The judge-name prefix: ``provider/model``.
    provider: ClassVar[str] = ""
    #: How the judge name reads in ``--judge``'s help, e.g. ``"anthropic/<model>"``.
    name_help: ClassVar[str] = ""
    #: Environment variables that hold this provider's keys (the first is the one to set); none: no key.
    key_envs: ClassVar[tuple[str, ...]] = ()
    #: The API's base URL, and the environment variable that overrides it.
    default_base_url: ClassVar[str] = ""
    base_url_env: ClassVar[str] = ""
    #: USD per million tokens by model-name prefix (the longest prefix of the model applies).
    prices: ClassVar[Mapping[str, Price]] = {}
    #: What a batch API call costs, as a share of the price above.
    batch_discount: ClassVar[float] = 0.5
    #: True when the provider honours a sampling seed.
    supports_seed: ClassVar[bool] = False
    #: Batch API support (:meth:`batch_line`, :meth:`submit_batch`, :meth:`poll_batch`,
    #: :meth:`batch_results`).
    supports_batch: ClassVar[bool] = False
    #: True when the backend sends :attr:`ChatRequest.response_schema` as a structured-output format.
    supports_structured: ClassVar[bool] = False
    #: Error codes that mean the account cannot pay (no retry will help).
    quota_codes: ClassVar[frozenset[str]] = frozenset()
    #: 400 error codes that mean the provider refused the content (a ``refused`` row, not an error).
    refusal_codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, model: str, *, check_key: bool = True) -> None:
        if not model:
            raise ConfigError(f"judge '{self.provider}/' names no model (e.g. {self.provider}/<model>)")
        #: The model part of the judge name as given (it may hold URL credentials: never shown).
        self.target = model
        #: The model part as names, files, rows and cache keys show it (URL credentials removed).
        self.model = redact_url_secrets(model)
        self.configure()
        if check_key:
            self.check_key()

    # Settings and keys ----------------------------------------------------------------------
    def configure(self) -> None:
        """Read the provider's settings from the environment (the base URL, checked; subclasses add
        theirs)."""
        given = env_key(self.base_url_env) if self.base_url_env else None
        self.base_url = check_base_url(given, self.base_url_env) if given else self.default_base_url

    @property
    def api_key(self) -> str | None:
        """The key from the environment, or None."""
        return env_key(*self.key_envs[:1]) if self.key_envs else None

    def check_key(self) -> None:
        """Raise :class:`ConfigError` when the provider needs a key and the environment has none, or one
        that cannot be sent (a control or non-ASCII character)."""
        if not self.key_envs:
            return
        key = self.api_key
        if key is None:
            raise ConfigError(self.missing_key_message())
        check_key_text(key, self.key_envs)

    def secret_values(self) -> tuple[str, ...]:
        """What this backend sends that must never be shown: its key, and the password and query values of
        the URL in its judge name (an ``openai-api/`` server's credentials)."""
        url = re.search(r"https?://\S+", self.target)
        try:
            parts = urlsplit(url.group(0)) if url else None
            password = parts.password if parts else None
        except ValueError:
            parts, password = None, None
        query = [v for _, _, v in (q.partition("=") for q in parts.query.split("&"))] if parts else []
        return tuple(v for v in (self.api_key, password, *query) if v)

    def missing_key_message(self) -> str:
        """The one line shown when the key is missing."""
        return f"judge {self.name} needs an API key: set {self.key_envs[0]}"

    @property
    def name(self) -> str:
        """``provider/model`` as the user wrote it, less any URL credentials."""
        return f"{self.provider}/{self.model}"

    def describe(self) -> dict[str, Any]:
        """Non-secret facts recorded with results (endpoint kind, base URL host)."""
        return {"provider": self.provider, "model": self.model}

    def served_by(self) -> str:
        """Who answers this backend's calls, as rows record it: the endpoint kind and the host (and port) of
        its base URL, never a credential."""
        kind = str(self.describe().get("endpoint") or self.provider)
        try:
            parts = urlsplit(getattr(self, "base_url", "") or "")
            host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        except ValueError:
            host = ""
        return f"{kind} {host}".strip()

    # Money and tokens -----------------------------------------------------------------------
    @classmethod
    def price(cls, model: str) -> Price | None:
        """The price of the longest key of :attr:`prices` that prefixes ``model``, or None."""
        best = max((k for k in cls.prices if model.startswith(k)), key=len, default=None)
        return cls.prices[best] if best is not None else None

    @classmethod
    def image_tokens(cls, width: int, height: int) -> int:
        """Input tokens of one image, a planning estimate. This default is Anthropic's published rule (about
        width*height/750 after fitting the long side to 1568 px), a fair guess where a provider says none."""
        scale = min(1.0, 1568 / max(width, height))
        return math.ceil(width * scale * height * scale / 750)

    def estimate_input_tokens(self, text: str, sizes: Sequence[tuple[int, int]]) -> int:
        """Input tokens of a prompt with images of ``sizes``: for ``--dry-run`` and ``--max-cost``."""
        return estimate_text_tokens(text) + sum(self.image_tokens(w, h) for w, h in sizes)

    # Requests and errors --------------------------------------------------------------------
    def request_params(self, req: ChatRequest) -> dict[str, Any]:
        """Every generation parameter this backend sends for ``req`` (for cache keys and rows)."""
        params: dict[str, Any] = {"max_tokens": req.max_tokens, "temperature": req.temperature}
        if self.supports_seed and req.seed is not None:
            params["seed"] = req.seed
        return params

    def is_quota(self, status: int, code: str) -> bool:
        """True when an error says the account cannot pay."""
        return status == 402 or code in self.quota_codes

    def status_error(self, status: int, message: str, *, code: str = "", headers: Any = None) -> CallError:
        """Classify an HTTP error of the provider for the retry loop."""
        return status_error(status, message, code=code, headers=headers, quota=self.is_quota(status, code),
                            refusal_codes=self.refusal_codes)

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


class SDKBackend(Backend):
    """A backend over an official SDK of the ``openai`` / ``anthropic`` family.

    Those SDKs share their error classes (``APITimeoutError``, ``APIConnectionError``,
    ``APIStatusError`` with the status, the error body and the response headers), so a subclass names
    the SDK module and its base error class, makes its client (:meth:`make_client`, with the SDK's own
    retries off: the engine owns them) and sends one request (:meth:`send`). The SDK is imported on the
    first call, never when the backend is listed or built.
    """

    #: The SDK's import name.
    sdk: ClassVar[str] = ""
    #: The SDK's base exception class: everything it raises is turned into a :class:`CallError`.
    sdk_error: ClassVar[str] = ""

    def configure(self) -> None:
        """The base URL; no client yet: it is made on first use, inside the running event loop."""
        super().configure()
        self._client: Any = None

    def make_client(self) -> Any:
        """The SDK's async client for this backend."""
        raise NotImplementedError

    @property
    def client(self) -> Any:
        """The async SDK client, made on first use."""
        if self._client is None:
            self._client = self.make_client()
        return self._client

    async def send(self, req: ChatRequest) -> ChatReply:
        """One call through the SDK (its exceptions are classified by :meth:`complete`)."""
        raise NotImplementedError

    async def complete(self, req: ChatRequest) -> ChatReply:
        """One call; the SDK's errors become :class:`CallError`."""
        with self.sdk_errors():
            return await self.send(req)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    @contextlib.contextmanager
    def sdk_errors(self) -> Iterator[None]:
        """Turn what the SDK raises inside the block into a :class:`CallError` (secrets masked)."""
        module = importlib.import_module(self.sdk)
        try:
            yield
        except getattr(module, self.sdk_error) as exc:
            err = self.classify(exc, module)
            err.args = (mask_secrets(str(err), self.secret_values()),)
            raise err from exc

    def classify(self, exc: Exception, module: Any) -> CallError:
        """Map one SDK exception to a :class:`CallError`."""
        return sdk_call_error(exc, module, self.status_error)

    @staticmethod
    def user_turns(req: ChatRequest, image: Callable[[ImagePart], dict[str, Any]]) -> list[dict[str, Any]]:
        """The first user message (text parts and images, in order, ``image`` wiring each image) and
        the re-ask turns after it."""
        content = [image(p) if isinstance(p, ImagePart) else {"type": "text", "text": p} for p in req.content]
        return [{"role": "user", "content": content}, *({"role": r, "content": t} for r, t in req.followups)]
