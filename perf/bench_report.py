"""Benchmark ``realedit report``: 10 synthetic runs x 560 samples (the full Real-Edit size).

Prints the seconds of a cold build (every thumbnail and full-size copy made), the median of warm builds
(images cached, the case the target is about), the ratio to the 10 s target, and the size of
``index.html`` (target < 2 MB) and ``compare.html``.

    .venv/bin/python perf/bench_report.py [--runs 10] [--samples 560] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

from report_fixtures import make_dataset, make_run  # noqa: E402

from leaderboard.site import build_site  # noqa: E402

TARGET_S = 10.0
TARGET_INDEX_BYTES = 2_000_000


def main() -> None:
    """Build the fixture, then time cold and warm site builds."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--samples", type=int, default=560)
    ap.add_argument("--repeats", type=int, default=3, help="warm builds to take the median of")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        data = make_dataset(base / "data", (args.samples + 6) // 7, size=256)
        for i in range(args.runs):
            make_run(base / "runs", f"model-{i:02d}", args.samples, i + 1, data_dir=data, image_size=256)
        print(
            f"fixture: {args.runs} runs x {args.samples} samples written in {time.perf_counter() - t0:.1f} s"
        )

        t0 = time.perf_counter()
        cold = build_site(base / "runs", base / "site")
        cold_s = time.perf_counter() - t0
        warm = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            res = build_site(base / "runs", base / "site")
            warm.append(time.perf_counter() - t0)
            assert res.thumbs_made == 0
        warm_s = statistics.median(warm)
        size = cold.index.stat().st_size
        gallery = sum(p.stat().st_size for p in (base / "site" / "gallery").glob("*.html"))
        print(f"cold build (made {cold.thumbs_made} thumbnails): {cold_s:.2f} s")
        print(
            f"warm build, thumbnails cached, median of {args.repeats}: {warm_s:.2f} s "
            f"(target {TARGET_S:.0f} s, ratio {warm_s / TARGET_S:.2f})"
        )
        compare = (base / "site" / "compare.html").stat().st_size
        print(
            f"index.html: {size / 1e6:.3f} MB (target < 2 MB, ratio {size / TARGET_INDEX_BYTES:.2f}); "
            f"compare.html: {compare / 1e6:.3f} MB; "
            f"{cold.n_gallery_pages} gallery pages, {gallery / 1e6:.2f} MB together"
        )


if __name__ == "__main__":
    main()
