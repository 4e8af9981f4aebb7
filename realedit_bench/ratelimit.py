"""Calls at the provider's rate limit: what its headers say, and a limiter that keeps within it.

Providers say how much of their limit is left on every response: OpenAI (and servers that copy it, such
as vLLM behind a gateway) in ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, Anthropic in
``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}``. Limits are per minute and replenish
continuously (a token bucket): ``limit / 60`` per second, up to the bucket's size.

:class:`AdaptiveLimiter` sits in front of every call of a run:

* **concurrency adapts**: at most ``limit`` calls in flight, which starts at the ceiling
  (``--concurrency``), halves on a 429 and grows again by one per ``limit`` answered calls (additive
  increase) while the headers show room left (or, from a provider that sends none, after every success);
* **pacing** (when the provider sends the headers): the limiter keeps its own copy of each bucket
  (requests, tokens), takes each call's cost from it before sending (the tokens a call may use: its
  estimated input plus ``max_tokens``, as providers count them), and waits for the refill when the copy is
  short. Every answer re-synchronises the copy with what the server said was left when it admitted that
  call, less what was sent since: an estimate that was too high or too low is corrected within one round
  trip. Until the first answer only one call is in flight, so the bucket's size is learnt before any
  burst;
* **a 429** empties the copy and holds every call until the server's ``Retry-After`` has passed, so the
  retried call is not the first to be refused again.

Without rate headers (a local vLLM, the fake server of the speed script) nothing waits: only the in-flight
cap applies, which stays at the ceiling unless the server answers 429.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: Seconds one "per minute" limit spans.
MINUTE = 60.0
#: Room kept free in each bucket copy: rounding in the provider's counts must not cost a refusal.
SAFETY = 0.02
#: The pause after a 429 that names no Retry-After.
DEFAULT_PAUSE = 1.0

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class Bucket(NamedTuple):
    """One limit as a response states it: per-minute size, what is left, seconds until full again."""

    limit: float
    remaining: float
    reset: float | None = None


class RateInfo(NamedTuple):
    """The rate-limit state a response reports (either part may be missing)."""

    requests: Bucket | None = None
    tokens: Bucket | None = None


def parse_duration(text: str) -> float | None:
    """Seconds of an OpenAI-style duration (``"1s"``, ``"6m0s"``, ``"20ms"``, ``"0.5"``), or None."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def _reset_seconds(value: str | None) -> float | None:
    """A reset given as a duration (OpenAI) or as an RFC 3339 time (Anthropic)."""
    if not value:
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:
        from datetime import datetime

        when = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
    return max(0.0, when - time.time())


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _bucket(get: Callable[[str], str | None], names: tuple[str, str, str]) -> Bucket | None:
    limit, remaining = _number(get(names[0])), _number(get(names[1]))
    if limit is None or remaining is None or limit <= 0:
        return None
    return Bucket(limit, max(0.0, remaining), _reset_seconds(get(names[2])))


def parse_rate_headers(headers: Mapping[str, str] | Any) -> RateInfo | None:
    """The rate-limit state in a response's headers (OpenAI or Anthropic names), or None when it has none."""
    if headers is None:
        return None
    get = headers.get

    def pick(kind: str) -> Bucket | None:
        return _bucket(
            get, (f"x-ratelimit-limit-{kind}", f"x-ratelimit-remaining-{kind}", f"x-ratelimit-reset-{kind}")
        ) or _bucket(
            get,
            (
                f"anthropic-ratelimit-{kind}-limit",
                f"anthropic-ratelimit-{kind}-remaining",
                f"anthropic-ratelimit-{kind}-reset",
            ),
        )

    info = RateInfo(pick("requests"), pick("tokens"))
    return info if info.requests is not None or info.tokens is not None else None


@dataclass
class _Copy:
    """The limiter's copy of one provider bucket: ``level`` at ``stamp``, refilled at ``rate`` per second."""

    rate: float = 0.0
    size: float = 0.0
    level: float = 0.0
    stamp: float = 0.0
    #: Cost taken from the copy so far (to tell what was sent after a given call).
    taken: float = 0.0

    def refill(self, now: float) -> None:
        self.level = min(self.size, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` fits (0 when it fits now)."""
        self.refill(now)
        short = min(cost, self.size * (1 - SAFETY)) - (self.level - self.size * SAFETY)
        return 0.0 if short <= 0 else short / self.rate

    def take(self, cost: float) -> float:
        """Take ``cost``; returns the running total taken before it (the call's place in the stream)."""
        before = self.taken
        self.level -= cost
        self.taken += cost
        return before

    def observe(self, bucket: Bucket, taken_before: float, cost: float, sent_at: float, now: float) -> None:
        """Re-synchronise with what the server had left after admitting a call sent at ``sent_at``."""
        self.rate = bucket.limit / MINUTE
        self.size = max(self.size, bucket.remaining + cost)
        since = self.taken - taken_before - cost  # sent after that call
        self.refill(now)
        self.level = min(self.size, bucket.remaining + (now - sent_at) * self.rate) - since


class Ticket(NamedTuple):
    """A call admitted by the limiter: its cost and where it stood in each bucket's stream."""

    tokens: float
    sent_at: float
    taken: dict[str, float]


@dataclass
class LimiterStats:
    """What the limiter did in a run (for the speed script and for curious users)."""

    #: Calls that waited before they were sent, and the seconds they waited in all.
    waits: int = 0
    waited_s: float = 0.0
    refusals: int = 0
    lowest_limit: float = math.inf
    highest_limit: float = 0.0


@dataclass
class AdaptiveLimiter:
    """In-flight cap and pacing for the calls of one run (see the module docstring).

    Args:
        ceiling: The most calls in flight (``--concurrency``).
        clock: Monotonic seconds (tests pass their own).
    """

    ceiling: int
    clock: Callable[[], float] = time.monotonic
    limit: float = 0.0
    in_flight: int = 0
    paused_until: float = 0.0
    stats: LimiterStats = field(default_factory=LimiterStats)
    _copies: dict[str, _Copy] = field(default_factory=dict)
    #: True once a response carried rate headers: pacing is on.
    _paced: bool = False
    #: True once any call has ended: until then one call goes alone, to learn the limits before a burst.
    _answered: bool = False
    _cond: asyncio.Condition | None = None

    def __post_init__(self) -> None:
        self.ceiling = max(1, self.ceiling)
        self.limit = float(self.ceiling)

    @property
    def cap(self) -> int:
        """Calls allowed in flight now."""
        return max(1, int(self.limit))

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()  # made inside the running loop
        return self._cond

    def _delay(self, tokens: float) -> float:
        """Seconds before a call of ``tokens`` may go (0: now)."""
        now = self.clock()
        delay = max(0.0, self.paused_until - now)
        if self._paced:
            for kind, copy in self._copies.items():
                delay = max(delay, copy.wait(1.0 if kind == "requests" else tokens, now))
        return delay

    async def acquire(self, tokens: float) -> Ticket:
        """Wait until a call that may use ``tokens`` tokens fits; it is then in flight."""
        cond = self._condition()
        start = self.clock()
        waited = False
        async with cond:
            while True:
                if self.in_flight >= (self.cap if self._answered else 1):
                    waited = True
                    await cond.wait()
                    continue
                delay = self._delay(tokens)
                if delay <= 0:
                    break
                waited = True
                try:  # woken early when an answer re-synchronises the buckets
                    await asyncio.wait_for(cond.wait(), timeout=delay)
                except asyncio.TimeoutError:
                    pass
            if waited:
                self.stats.waits += 1
                self.stats.waited_s += self.clock() - start
            self.in_flight += 1
            taken = {k: c.take(1.0 if k == "requests" else tokens) for k, c in self._copies.items()}
            return Ticket(tokens, self.clock(), taken)

    async def release(
        self,
        ticket: Ticket,
        *,
        rate: RateInfo | None = None,
        refused: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """A call ended: learn from its headers, or from its 429, and let the next ones go."""
        cond = self._condition()
        async with cond:
            self.in_flight -= 1
            self._answered = True
            now = self.clock()
            if refused:
                self._refused(now, retry_after)
            elif rate is not None:
                self._observe(ticket, rate, now)
            else:
                self._grow()
            self.stats.lowest_limit = min(self.stats.lowest_limit, self.limit)
            self.stats.highest_limit = max(self.stats.highest_limit, self.limit)
            cond.notify_all()

    def _refused(self, now: float, retry_after: float | None) -> None:
        self.stats.refusals += 1
        self.limit = max(1.0, self.limit / 2)
        self.paused_until = max(
            self.paused_until, now + (retry_after if retry_after is not None else DEFAULT_PAUSE)
        )
        for copy in self._copies.values():
            copy.refill(now)
            copy.level = min(copy.level, 0.0)

    def _observe(self, ticket: Ticket, rate: RateInfo, now: float) -> None:
        room = True
        for kind, bucket in (("requests", rate.requests), ("tokens", rate.tokens)):
            if bucket is None:
                continue
            cost = 1.0 if kind == "requests" else ticket.tokens
            copy = self._copies.get(kind)
            if copy is None:  # the first answer naming this bucket: it was full before that call
                copy = self._copies[kind] = _Copy(stamp=now)
                copy.taken = cost
            copy.observe(bucket, ticket.taken.get(kind, 0.0), cost, ticket.sent_at, now)
            room &= bucket.remaining >= cost * (self.in_flight + 1)
        self._paced = True
        if room:
            self._grow()

    def _grow(self) -> None:
        self.limit = min(float(self.ceiling), self.limit + 1.0 / max(1.0, self.limit))
