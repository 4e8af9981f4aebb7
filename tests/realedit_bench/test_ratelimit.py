"""The rate-limit headers as providers send them, and how the adaptive limiter answers them: the in-flight cap
halves on a 429 and grows back, calls wait while the provider's bucket is empty, and a 429 holds every call
until its Retry-After has passed."""

from __future__ import annotations

import asyncio

import pytest

from realedit_bench.ratelimit import AdaptiveLimiter, Bucket, RateInfo, parse_duration, parse_rate_headers


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("text", "seconds"), [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("0.5", 0.5),
                                               ("1h2m", 3720.0), ("soon", None), ("1s later", None)])
def test_durations_in_the_forms_providers_write_them(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_openai_and_anthropic_headers_are_read_and_others_ignored() -> None:
    openai = {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499",
              "x-ratelimit-reset-requests": "120ms", "x-ratelimit-limit-tokens": "30000",
              "x-ratelimit-remaining-tokens": "29000", "x-ratelimit-reset-tokens": "2s"}
    assert parse_rate_headers(openai) == RateInfo(Bucket(500, 499, 0.12), Bucket(30000, 29000, 2.0))
    anthropic = {"anthropic-ratelimit-tokens-limit": "80000", "anthropic-ratelimit-tokens-remaining": "-3"}
    assert parse_rate_headers(anthropic) == RateInfo(None, Bucket(80000, 0.0, None))
    assert parse_rate_headers({"content-type": "application/json"}) is None
    zero = {"x-ratelimit-limit-requests": "0", "x-ratelimit-remaining-requests": "0"}
    assert parse_rate_headers(zero) is None
    assert parse_rate_headers(None) is None


def test_a_429_halves_the_cap_and_holds_every_call_until_retry_after() -> None:
    async def go() -> None:
        clock = Clock()
        lim = AdaptiveLimiter(ceiling=8, clock=clock)
        ticket = await lim.acquire(100)
        await lim.release(ticket, refused=True, retry_after=2.0)
        assert (lim.cap, lim.stats.refusals, lim.paused_until) == (4, 1, 102.0)
        assert lim._delay(100) == pytest.approx(2.0)
        clock.now = 102.5
        assert lim._delay(100) == 0.0
        for _ in range(3):  # halves again, never below one call
            await lim.release(await lim.acquire(100), refused=True, retry_after=0.0)
        assert lim.cap == 1 and lim.stats.lowest_limit == 1.0

    asyncio.run(go())


def test_without_headers_the_cap_grows_back_by_one_per_cap_answers() -> None:
    async def go() -> None:
        lim = AdaptiveLimiter(ceiling=4, clock=Clock())
        await lim.release(await lim.acquire(1), refused=True, retry_after=0.0)
        assert lim.cap == 2
        for _ in range(3):  # 2 + 1/2 + 1/2.5 + 1/2.9: one more call after about two answers
            await lim.release(await lim.acquire(1))
        assert lim.cap == 3
        for _ in range(40):
            await lim.release(await lim.acquire(1))
        assert lim.cap == 4 and lim.stats.highest_limit == 4.0  # never past --concurrency

    asyncio.run(go())


def test_an_empty_token_bucket_makes_the_next_call_wait_for_its_refill() -> None:
    async def go() -> None:
        clock = Clock()
        lim = AdaptiveLimiter(ceiling=8, clock=clock)
        ticket = await lim.acquire(600)
        # 60,000 tokens a minute (1,000 a second); the server had 600 left after admitting this call.
        await lim.release(ticket, rate=RateInfo(tokens=Bucket(60_000, 600)))
        assert lim._delay(600) == pytest.approx(0.024)  # all but the safety room (2% of the bucket) is there
        clock.now += 1.0
        await lim.release(await lim.acquire(600), rate=RateInfo(tokens=Bucket(60_000, 0)))
        assert lim._delay(600) == pytest.approx(0.624)  # the refill of 600 tokens and the safety room
        clock.now += 1.0
        assert lim._delay(600) == 0.0

    asyncio.run(go())


def test_the_first_call_goes_alone_until_an_answer_tells_the_limits() -> None:
    async def go() -> None:
        lim = AdaptiveLimiter(ceiling=8, clock=Clock())
        first = await lim.acquire(10)
        second = asyncio.ensure_future(lim.acquire(10))
        await asyncio.sleep(0.05)
        assert not second.done() and lim.in_flight == 1
        await lim.release(first, rate=RateInfo(requests=Bucket(600, 500)))
        await asyncio.wait_for(second, 1.0)
        assert lim.in_flight == 1

    asyncio.run(go())


def test_after_the_first_answer_without_headers_calls_go_up_to_the_cap_at_once() -> None:
    async def go() -> None:
        lim = AdaptiveLimiter(ceiling=5, clock=Clock())
        await lim.release(await lim.acquire(10))
        tickets = [await asyncio.wait_for(lim.acquire(10), 1.0) for _ in range(5)]
        assert lim.in_flight == 5 and lim.stats.waits == 0
        sixth = asyncio.ensure_future(lim.acquire(10))
        await asyncio.sleep(0.05)
        assert not sixth.done()  # the cap holds
        await lim.release(tickets[0])
        await asyncio.wait_for(sixth, 1.0)

    asyncio.run(go())
