"""The network plumbing the judges and the API editors share: classification, retries, the budget."""

from __future__ import annotations

import asyncio
import time

import pytest

from realedit_bench.net import Budget, CallError, RetryPolicy, call_with_retries, status_error


@pytest.mark.parametrize(
    ("status", "code", "quota", "kind"),
    [(429, "", False, "retryable"), (503, "", False, "retryable"), (408, "", False, "retryable"),
     (401, "", False, "fatal"), (403, "", False, "fatal"), (404, "", False, "fatal"),
     (429, "x", True, "fatal"),
     (400, "moderation_blocked", False, "refused"), (400, "other", False, "final")],
)
def test_an_http_error_is_classified_for_the_retry_loop(status, code, quota, kind):
    err = status_error(status, "msg", code=code, headers={"retry-after": "7"}, quota=quota,
                       refusal_codes={"moderation_blocked"})
    expected = (kind == "retryable", kind == "fatal", kind == "refused")
    assert (err.retryable, err.fatal, err.refused) == expected
    assert err.retry_after == (7.0 if kind == "retryable" else None)


def test_the_delay_is_jittered_exponential_and_waits_at_least_the_servers_retry_after_capped():
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=8.0, retry_after_cap=20.0)
    assert all(0.5 <= policy.delay(0, None) <= 1.0 for _ in range(50))
    assert all(4.0 <= policy.delay(10, None) <= 8.0 for _ in range(50))  # capped
    assert policy.delay(0, 5.0) == 5.0 and policy.delay(0, 3600.0) == 20.0


def _flaky(errors: list[CallError | None], calls: list[float]):
    async def call() -> str:
        calls.append(time.perf_counter())
        err = errors.pop(0) if errors else None
        if err is not None:
            raise err
        return "done"
    return call


def test_a_call_is_retried_until_it_passes_but_never_a_refusal_or_a_fatal_error():
    policy = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_cap=0.02)
    calls: list[float] = []
    attempts: list[int] = []
    retry = CallError("429", retryable=True, retry_after=0.2)
    got = asyncio.run(call_with_retries(_flaky([retry, CallError("500", retryable=True)], calls), policy,
                                        on_attempt=lambda: attempts.append(1)))
    assert got == "done" and len(calls) == len(attempts) == 3 and calls[1] - calls[0] >= 0.2
    for final in (CallError("no", refused=True), CallError("key", fatal=True), CallError("400")):
        calls.clear()
        with pytest.raises(CallError) as err:
            asyncio.run(call_with_retries(_flaky([final], calls), policy))
        assert err.value is final and len(calls) == 1
    calls.clear()
    with pytest.raises(CallError, match="500"):  # retries are bounded
        asyncio.run(call_with_retries(_flaky([CallError("500", retryable=True)] * 9, calls), policy))
    assert len(calls) == 4


def test_a_slow_attempt_times_out_and_a_stopping_run_retries_nothing():
    async def slow() -> str:
        await asyncio.sleep(5)
        return "late"

    t0 = time.perf_counter()
    with pytest.raises(CallError, match="took longer than 0.2 s"):
        asyncio.run(call_with_retries(slow, RetryPolicy(max_retries=1, backoff_base=0.01, timeout=0.2)))
    assert time.perf_counter() - t0 < 2
    calls: list[float] = []
    with pytest.raises(CallError):
        asyncio.run(call_with_retries(_flaky([CallError("500", retryable=True)], calls), RetryPolicy(),
                                      stopped=lambda: True))
    assert len(calls) == 1


def test_the_budget_reserves_calls_in_flight_and_stops_before_crossing():
    async def main() -> tuple[bool, bool, bool, float]:
        budget = Budget(0.10)
        first = await budget.reserve(0.04, lambda: False)
        second = await budget.reserve(0.04, lambda: False)
        # a third would cross $0.10 while two are in flight: it waits for one to end at its real cost
        third = asyncio.create_task(budget.reserve(0.04, lambda: False))
        await asyncio.sleep(0.05)
        assert not third.done()
        await budget.release(0.04, 0.01)
        ok_third = await third
        await budget.release(0.04, 0.04)
        await budget.release(0.04, 0.04)
        return first and second, ok_third, await budget.reserve(0.04, lambda: False), budget.spent

    both, third, fourth, spent = asyncio.run(main())
    assert both and third and not fourth and spent == pytest.approx(0.09)
