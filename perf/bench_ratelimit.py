"""Throughput at a provider's rate limit: the judge engine against a local server that enforces a requests-
and a tokens-per-minute limit (tests/support/judge_server.py, ``RateLimit``).

The server keeps each limit as a token bucket (refilled at limit / 60 per second, holding ``--burst`` seconds
of it, as providers quantise their per-minute limits), charges each call one request and ``--prompt-tokens``
plus its ``max_tokens`` in tokens on admission, sends ``x-ratelimit-*`` headers with every answer and a 429
with ``retry-after-ms`` for a call that does not fit. By default the limits are scaled so that 1,680 calls
(560 edits x 3 perspectives) are allowed in 60 s: tokens bind (60 s), requests would allow them in 50 s.

Printed, in one run:

1. wall time over the time the limit allows: the calls beyond what the buckets hold at the start, at the
   refill rate of the binding limit, plus one call's latency (target <= 1.10);
2. refusals: how many calls the server refused (429) and the most times one request was refused in a row
   (target: never more than once in a row);
3. what the limiter did: waits, time waited, and the lowest / highest in-flight cap.

It drives the real ``openai`` SDK through :class:`realedit_bench.judges.engine.JudgeEngine`, as
``perf/bench_judge.py`` does (whose ratio without a limit must stay <= 1.15).

    .venv/bin/python perf/bench_ratelimit.py [--calls 1680] [--seconds 60] [--latency 0.2] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))
sys.path.insert(0, str(REPO / "perf"))

SERVER_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from judge_server import FakeJudgeServer, RateLimit
rpm, tpm, burst, prompt, latency = (float(a) for a in sys.argv[1:6])
srv = FakeJudgeServer(latency=latency).start()
srv.keep_bodies = False
srv.rate_limit = RateLimit(rpm=rpm, tpm=tpm, burst=burst, prompt_tokens=int(prompt))
print(srv.base_url, flush=True)
sys.stdin.read()  # serve until the parent closes our stdin
rl = srv.rate_limit
counts = {{"admitted": rl.admitted, "refused": rl.refused, "in_a_row": rl.max_refused_in_a_row}}
print(json.dumps(counts), flush=True)
"""


class LimitedServer:
    """The rate-limited fake server in its own process (its request handling does not share our GIL)."""

    def __init__(self, rpm: float, tpm: float, burst: float, prompt_tokens: int, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT.format(tests=str(REPO / "tests" / "support")),
             *(str(v) for v in (rpm, tpm, burst, prompt_tokens, latency))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.openai_base_url = self.proc.stdout.readline().strip() + "/v1"

    def close(self) -> dict:
        """Stop the server; what its limiter counted."""
        self.proc.stdin.close()
        stats = json.loads(self.proc.stdout.readline())
        self.proc.wait(timeout=10)
        return stats


async def run(items, *, concurrency: int):
    """Judge every item from three perspectives, no cache; (wall seconds, the engine's limiter)."""
    from realedit_bench.judges.backends import make_backend
    from realedit_bench.judges.engine import EngineConfig, JudgeEngine, Task
    from realedit_bench.judges.rubric import load_rubric

    backend = make_backend("openai/gpt-4o-2024-08-06")
    engine = JudgeEngine(backend, load_rubric("realedit-v1"),
                         config=EngineConfig(concurrency=concurrency, timeout=60, max_retries=8), cache=None)
    planned = [engine.plan(Task(it, p)) for it in items for p in ("following", "preserving", "quality")]
    done = []
    t0 = time.perf_counter()
    report = await engine.run(planned, done.append)
    wall = time.perf_counter() - t0
    await backend.aclose()
    assert len(done) == len(planned) and not report.stopped, report.stopped
    assert all(o.status == "ok" for o in done), {o.status for o in done}
    return wall, engine.limiter


def main() -> None:
    from bench_judge import make_items

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1680)
    ap.add_argument("--seconds", type=float, default=60.0,
                    help="The time the token limit allows the calls in.")
    ap.add_argument("--request-headroom", type=float, default=1.2,
                    help="The request limit allows this many times the calls in --seconds (tokens bind).")
    ap.add_argument("--burst", type=float, default=1.0, help="Seconds of each limit a bucket holds.")
    ap.add_argument("--prompt-tokens", type=int, default=400)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()

    n_items = max(1, args.calls // 3)
    calls = n_items * 3
    cost = args.prompt_tokens + 200  # realedit-v1 asks for max_tokens = 200
    tpm = calls * cost / args.seconds * 60
    rpm = calls * args.request_headroom / args.seconds * 60
    # The buckets start full: what they hold is sent at once, the rest at the binding limit's refill rate.
    ideal = max((calls - rpm / 60 * args.burst) / (rpm / 60),
                (calls * cost - tpm / 60 * args.burst) / (tpm / 60)) + args.latency
    items = make_items(Path(tempfile.mkdtemp(prefix="bench_ratelimit_")) / "img", n_items)
    os.environ.pop("AZURE_OPENAI_ENDPOINT", None)
    import openai  # noqa: F401  - SDK import (once per process) is start-up, not throughput
    server = LimitedServer(rpm, tpm, args.burst, args.prompt_tokens, args.latency)
    try:
        os.environ.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=server.openai_base_url)
        wall, limiter = asyncio.run(run(items, concurrency=args.concurrency))
    finally:
        stats = server.close()
    s = limiter.stats
    print(f"calls: {calls}, limits {rpm:.0f} requests/min and {tpm:.0f} tokens/min ({cost} tokens a call, "
          f"buckets of {args.burst:g} s), latency {args.latency * 1000:.0f} ms, concurrency up to "
          f"{args.concurrency}")
    print(f"1. wall {wall:.2f} s, the limit allows {ideal:.2f} s, ratio {wall / ideal:.3f} (target <= 1.10)")
    print(f"2. refused (429): {stats['refused']} of {stats['admitted'] + stats['refused']} requests; at most "
          f"{stats['in_a_row']} time(s) in a row for one request (target <= 1)")
    lowest = s.lowest_limit if math.isfinite(s.lowest_limit) else float(args.concurrency)
    print(f"3. limiter: {s.waits} waits, {s.waited_s:.1f} s waited in all, in-flight cap {lowest:.1f} to "
          f"{s.highest_limit:.1f}")
    print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
          "(wall figures suffer when busy)")


if __name__ == "__main__":
    main()
