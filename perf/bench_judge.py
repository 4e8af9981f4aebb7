"""Benchmark of the judge engine against the local fake server (tests/support/judge_server.py).

Measures, in one run (medians over --repeats):

1. 1,680 calls (560 edits x 3 perspectives) at concurrency 16 with 200 ms server latency:
   wall time over the ideal 1680 x 0.2 / 16 = 21 s (target <= 1.15);
2. a fully cached rerun of the same calls (fresh engine, same SQLite cache): calls made (target 0)
   and wall time (target < 5 s);
3. client overhead: calls per second at zero latency (concurrency 16, no cache).

It drives the real ``openai`` SDK through :class:`realedit_bench.judges.engine.JudgeEngine`, with
images encoded as the default rubric sends them (small synthetic images, so encoding is not measured).
The fake server runs with TCP_NODELAY (``--nagle`` restores the stdlib default, whose delayed-ACK stall
adds ~40 ms to every reply: 1.3 instead of 1.1 on the ratio with the same client). The SDK is imported
before timing (a once-per-process start-up cost).

    .venv/bin/python perf/bench_judge.py [--calls 1680] [--latency 0.2] [--concurrency 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))


def make_items(root: Path, n_items: int):
    """n_items synthetic (source, edited, instruction) triplets, 80 source photos shared as in Real-Edit."""
    import random

    from PIL import Image

    from realedit_bench.judges.engine import JudgeItem

    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    sources = []
    for i in range(80):
        p = root / f"src{i}.png"
        Image.new("RGB", (64, 48), (rng.randrange(256), rng.randrange(256), i)).save(p)
        sources.append(p)
    items = []
    for j in range(n_items):
        p = root / f"edit{j}.png"
        Image.new("RGB", (64, 48), (j % 256, rng.randrange(256), (j // 256) % 256)).save(p)
        items.append(JudgeItem(f"item{j}", f"make object {j} red", {"source": sources[j % 80], "edited": p}))
    return items


async def run_engine(items, perspectives, *, concurrency: int, cache_path: Path | None):
    from realedit_bench.judges.backends import make_backend
    from realedit_bench.judges.cache import JudgeCache
    from realedit_bench.judges.engine import EngineConfig, JudgeEngine, Task
    from realedit_bench.judges.rubric import load_rubric

    backend = make_backend("openai/gpt-4o-2024-08-06")
    cache = JudgeCache(cache_path) if cache_path else None
    engine = JudgeEngine(backend, load_rubric("realedit-v1"),
                         config=EngineConfig(concurrency=concurrency, timeout=30, max_retries=2), cache=cache)
    t0, c0 = time.perf_counter(), time.process_time()
    planned = [engine.plan(Task(it, p)) for it in items for p in perspectives]
    n = 0

    def count(_out) -> None:
        nonlocal n
        n += 1

    report = await engine.run(planned, count)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    await backend.aclose()
    if cache:
        cache.close()
    assert n == len(planned) and not report.stopped, report.stopped
    return wall, report.calls_sent, cpu


SERVER_SCRIPT = """
import sys, time
sys.path.insert(0, {tests!r})
from judge_server import FakeJudgeServer
import judge_server
# The stdlib handler writes the headers and the body in two sends; with Nagle's algorithm on, the body
# waits for the client's delayed ACK of the headers (~40 ms on Linux): a stall of the fake server, not
# of the client. Provider front ends set TCP_NODELAY; so does this server unless --nagle asks otherwise.
judge_server._Handler.disable_nagle_algorithm = sys.argv[2] != "nagle"
srv = FakeJudgeServer(latency=float(sys.argv[1])).start()
srv.keep_bodies = False
print(srv.base_url, flush=True)
sys.stdin.read()  # serve until the parent closes our stdin
"""


class ServerProcess:
    """The fake server in its own process, so its request handling does not share our GIL."""

    def __init__(self, latency: float, *, nagle: bool = False) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT.format(tests=str(REPO / "tests" / "support")), str(latency),
             "nagle" if nagle else "nodelay"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.base_url = self.proc.stdout.readline().strip()
        self.openai_base_url = self.base_url + "/v1"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=1680)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=1, help="Runs of each measurement (medians are printed).")
    ap.add_argument("--overhead-calls", type=int, default=600)
    ap.add_argument(
        "--nagle",
        action="store_true",
        help="Leave Nagle's algorithm on in the fake server (adds a ~40 ms delayed-ACK stall per reply).",
    )
    args = ap.parse_args()

    persp = ("following", "preserving", "quality")
    tmp = Path(tempfile.mkdtemp(prefix="bench_judge_"))
    items = make_items(tmp / "img", max(1, args.calls // 3))
    ideal = len(items) * 3 * args.latency / args.concurrency
    walls, cached_walls, cached_calls, rates, cpus, cpus0 = [], [], [], [], [], []
    os.environ.pop("AZURE_OPENAI_ENDPOINT", None)
    import openai  # noqa: F401  - SDK import (~0.4 s, once per process) is start-up, not per-call overhead
    server = ServerProcess(args.latency, nagle=args.nagle)
    try:
        os.environ.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=server.openai_base_url)
        for r in range(args.repeats):
            cache = tmp / f"cache{r}.sqlite"
            wall, sent, cpu = asyncio.run(
                run_engine(items, persp, concurrency=args.concurrency, cache_path=cache)
            )
            walls.append(wall)
            cpus.append(cpu / sent)
            wall2, sent2, _ = asyncio.run(
                run_engine(items, persp, concurrency=args.concurrency, cache_path=cache)
            )
            cached_walls.append(wall2)
            cached_calls.append(sent2)
    finally:
        server.close()
    server = ServerProcess(0.0, nagle=args.nagle)
    try:
        os.environ.update(OPENAI_BASE_URL=server.openai_base_url)
        few = items[: max(1, args.overhead_calls // 3)]
        for _ in range(args.repeats):
            wall3, sent3, cpu3 = asyncio.run(
                run_engine(few, persp, concurrency=args.concurrency, cache_path=None)
            )
            rates.append(sent3 / wall3)
            cpus0.append(cpu3 / sent3)
    finally:
        server.close()
    wall = statistics.median(walls)
    print(f"calls: {len(items) * 3}, latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}")
    print(f"1. wall {wall:.2f} s, ideal {ideal:.2f} s, ratio {wall / ideal:.3f} (target <= 1.15)")
    print(f"2. fully cached rerun: {statistics.median(cached_calls):.0f} calls made (target 0), "
          f"wall {statistics.median(cached_walls):.2f} s (target < 5 s)")
    print(
        f"3. client overhead at zero latency: {statistics.median(rates):.0f} calls/s "
        f"(concurrency {args.concurrency}, no cache); "
        f"client CPU {statistics.median(cpus0) * 1000:.1f} ms/call "
        f"(at 200 ms latency: {statistics.median(cpus) * 1000:.1f} ms/call)"
    )
    print(f"fake server: {'Nagle on (--nagle)' if args.nagle else 'TCP_NODELAY'}")
    print(
        f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        f"(wall figures suffer when busy)"
    )


if __name__ == "__main__":
    main()
