"""Calls to paid HTTP APIs, shared by the judge backends and the API editors.

One place for what both need: keys from the environment only, a failed call classified for the retry
loop (:class:`CallError`), the bounded retry loop itself (jittered exponential backoff that waits at
least the server's ``Retry-After``, capped; a whole-call timeout), the error mapping of the official SDKs
of the ``openai``/``anthropic`` family, and the ``--max-cost`` budget that reserves the estimate of every
call in flight. Nothing here imports an SDK.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse, urlsplit

from realedit_bench.errors import ConfigError
from realedit_bench.redact import mask_secrets, redact_url_secrets

T = TypeVar("T")


class CallError(Exception):
    """A failed call, classified for the retry loop.

    Attributes:
        retryable: another attempt may succeed (429, 5xx, timeout, connection).
        fatal: the whole run must stop (bad key, no access, unknown model, exhausted quota).
        refused: the provider refused the content (moderation): never retried, recorded as ``refused``.
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
        # A provider may quote the key it was sent (a 401 body, a proxy's echo): never recorded or shown.
        super().__init__(mask_secrets(message))
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


def check_base_url(url: str, where: str) -> str:
    """``url`` when it is an http(s) URL with a host (and a valid port); else the one-line ConfigError naming
    ``where`` (the environment variable or judge name that gave it), never a connection error later."""
    shown = redact_url_secrets(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parses the port: ValueError when it is not a number in 0-65535
    except ValueError:
        parts = None
    bad_text = any(ord(c) < 0x21 or ord(c) == 0x7F for c in url)
    if parts is None or bad_text or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where} {shown!r} is not an http(s) URL with a host (e.g. https://host:port/v1); "
                          "fix it or unset it")
    return url


def check_key_text(key: str, names: Sequence[str]) -> None:
    """Refuse a key holding a control character (an inner newline, a tab) or a non-ASCII one: it cannot go
    into an HTTP header, and the SDK would report a connection error and retry."""
    where = " or ".join(names) or "the API key"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise ConfigError(f"{where} holds a newline or another control character; set it to the key alone")
    if not key.isascii():
        raise ConfigError(f"{where} holds a non-ASCII character; set it to the key alone (keys are ASCII)")


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


def status_error(
    status: int,
    message: str,
    *,
    code: str = "",
    headers: Any = None,
    quota: bool = False,
    refusal_codes: Collection[str] = (),
) -> CallError:
    """Classify an HTTP error of a provider for the retry loop.

    Args:
        status: The HTTP status.
        message: The provider's message.
        code: The provider's error code or type.
        headers: The response headers (for ``Retry-After``).
        quota: The provider says the account cannot pay (each provider says it its own way).
        refusal_codes: Codes of a 400 that mean the content was refused (moderation).
    """
    if quota:
        return CallError(f"quota exhausted ({code or status}): {message}", status=status, fatal=True)
    if status in (401, 403):
        return CallError(f"HTTP {status}: the key was refused or lacks access: {message}", status=status,
                         fatal=True)
    if status == 404:
        return CallError(f"HTTP 404: unknown model or endpoint: {message}", status=status, fatal=True)
    if status == 400 and code in refusal_codes:
        return CallError(f"content refused by the provider ({code})", status=status, refused=True)
    if status in (408, 409, 429) or status >= 500:
        return CallError(f"HTTP {status}: {message}", status=status, retryable=True,
                         retry_after=parse_retry_after(headers))
    return CallError(f"HTTP {status}: {message}", status=status)


def error_detail(exc: Any) -> tuple[str, str]:
    """(error code or type, message) of an SDK status error, from its parsed body where it has one."""
    body = getattr(exc, "body", None)
    inner = body.get("error", body) if isinstance(body, dict) else None
    err: dict[str, Any] = inner if isinstance(inner, dict) else {}
    code = (
        getattr(exc, "code", None) or err.get("code") or err.get("type") or getattr(exc, "type", None) or ""
    )
    message = err.get("message") or getattr(exc, "message", None) or exc
    return str(code), str(message)[:300]


def sdk_call_error(exc: Exception, module: Any, classify: Callable[..., CallError]) -> CallError:
    """Map an exception of an ``openai``/``anthropic``-family SDK to a :class:`CallError`.

    Those SDKs share their error classes (``APITimeoutError``, ``APIConnectionError``, ``APIStatusError``
    with the status, the body and the response headers); ``classify(status, message, code=, headers=)``
    is the provider's :func:`status_error`.
    """
    if isinstance(exc, module.APITimeoutError):
        return CallError("the call timed out", retryable=True)
    if isinstance(exc, module.APIConnectionError):
        return CallError(f"connection error: {exc}", retryable=True)
    if isinstance(exc, module.APIStatusError):
        code, message = error_detail(exc)
        return classify(exc.status_code, message, code=code, headers=exc.response.headers)
    return CallError(f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call is retried."""

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    #: The longest ``Retry-After`` honoured (a server asking for an hour gets this).
    retry_after_cap: float = 120.0
    #: Seconds one whole attempt may take, on top of the client's own timeouts (None: the caller bounds
    #: its own phases, e.g. a submitted task that must not be sent again because polling it is slow).
    timeout: float | None = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry ``attempt + 1``: jittered exponential, at least ``Retry-After``."""
        delay = min(self.backoff_cap, self.backoff_base * 2**attempt)
        delay = delay / 2 + random.uniform(0, delay / 2)  # jitter spreads a burst of 429s apart
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.retry_after_cap))
        return delay


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_attempt: Callable[[], None] | None = None,
    stopped: Callable[[], bool] = lambda: False,
) -> T:
    """Run ``call()`` until it succeeds, retrying what :class:`CallError` says may succeed.

    Args:
        call: Makes one attempt; raises :class:`CallError` on failure.
        policy: Retries, backoff and the timeout of one attempt.
        on_attempt: Told before every attempt (to count calls).
        stopped: True once the run is stopping: no further retry.

    Raises:
        CallError: the last failure, when it is fatal, not retryable (a refusal never is), the retries are
            used up, or the run is stopping.
    """
    attempt = 0
    while True:
        if on_attempt is not None:
            on_attempt()
        try:
            return await asyncio.wait_for(call(), timeout=policy.timeout)
        except asyncio.TimeoutError:
            err = CallError(f"the call took longer than {policy.timeout:g} s", retryable=True)
        except CallError as exc:
            err = exc
        if err.fatal or err.refused or not err.retryable or attempt >= policy.max_retries or stopped():
            raise err
        await asyncio.sleep(policy.delay(attempt, err.retry_after))
        if stopped():  # stopped while waiting: no further call
            raise err
        attempt += 1


class Budget:
    """``--max-cost`` for one run: what is spent, and the upper-bound estimates of the calls in flight.

    A call reserves its upper-bound estimate while in flight and releases it to its real cost when it ends;
    a worker whose next call would cross the budget while others are in flight waits for them, and
    dispatching stops only when spent + reserved + the next estimate would exceed the budget with nothing
    left in flight.

    Args:
        limit: USD not to cross, or None for no budget (then only the money spent is counted).
        spent: USD spent before this run by the same engine.
    """

    def __init__(self, limit: float | None, *, spent: float = 0.0) -> None:
        self.limit = limit
        self.spent = spent
        self.reserved = 0.0
        self.in_flight = 0
        #: The estimate of the call that did not fit (for the stop message).
        self.next_est = 0.0
        #: True once a call did not fit with nothing left in flight to wait for.
        self.exceeded = False
        self._cond = asyncio.Condition()

    async def reserve(self, est: float, stopped: Callable[[], bool]) -> bool:
        """Reserve ``est`` for one call, waiting for calls in flight when needed.

        Returns:
            False when the call must not be sent: it would cross the budget with nothing in flight
            (:attr:`exceeded`), or the run was stopped meanwhile.
        """
        if self.limit is None:
            return not stopped()
        async with self._cond:
            while self.spent + self.reserved + est > self.limit:
                if self.in_flight == 0 or stopped():
                    self.next_est, self.exceeded = est, True
                    return False
                await self._cond.wait()  # a call in flight ends: its reservation turns into its real cost
            if stopped():
                return False
            self.reserved += est
            self.in_flight += 1
            return True

    async def release(self, est: float, cost: float) -> None:
        """One call ended: its reservation ``est`` becomes its real ``cost``."""
        if self.limit is None:
            self.spent += cost
            return
        async with self._cond:
            self.reserved -= est
            self.in_flight -= 1
            if self.in_flight == 0:
                self.reserved = 0.0  # no float residue once nothing is in flight
            self.spent += cost
            self._cond.notify_all()
