"""Speed of ``realedit agree`` at full Real-Edit scale.

560 samples x 3 perspectives x 10 raters x 10 models (168,000 human ratings, every rater rating every
edit) plus one judge, 2,000 bootstrap resamples of the 80 source photos. Prints the median seconds of
reading the CSV and of computing every statistic, and the ratio to the 20 s target.

Run: ``.venv/bin/python perf/bench_agree.py [--repeats 3] [--resamples 2000]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from realedit_bench.agreement.compute import JudgeScores, compute_agreement
from realedit_bench.agreement.ratings import Rating, read_ratings, write_ratings_csv
from realedit_bench.schema.base import CATEGORIES, PERSPECTIVES

TARGET_S = 20.0


def synthetic(n_photos: int = 80, n_models: int = 10, n_raters: int = 10, seed: int = 0):
    """Human rows (dicts for the CSV) and judge ratings with a shared latent quality per edit."""
    rng = np.random.default_rng(seed)
    rows, judge = [], []
    for photo in range(1, n_photos + 1):
        for cat in CATEGORIES:
            sid = f"{photo}-{cat}"
            for m in range(n_models):
                model = f"model-{m}"
                for p in PERSPECTIVES:
                    truth = rng.normal(2.5 + 0.1 * m, 1.2)
                    for r in range(n_raters):
                        s = float(np.clip(np.rint(truth + rng.normal(0, 0.8)), 0, 5))
                        rows.append(
                            {
                                "sample_id": sid,
                                "model": model,
                                "perspective": p,
                                "rater": f"rater-{r}",
                                "score": f"{s:g}",
                                "verdict": "yes" if s >= 3 else "no",
                            }
                        )
                    js = float(np.clip(np.rint(truth + 0.4 + rng.normal(0, 0.9)), 0, 5))
                    judge.append(Rating(sid, str(photo), model, p, "judge", js, js >= 3))
    return rows, judge


def main() -> None:
    """Time reading and computing; print medians and the ratio to the target."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--resamples", type=int, default=2000)
    args = ap.parse_args()
    rows, judge = synthetic()
    judges = [JudgeScores("judge", "judge-ratings", judge, set(), [])]
    read_t, comp_t = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ratings.csv"
        write_ratings_csv(path, rows)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            humans = read_ratings([path]).ratings
            t1 = time.perf_counter()
            compute_agreement(humans, judges, n_resamples=args.resamples, seed=0)
            t2 = time.perf_counter()
            read_t.append(t1 - t0)
            comp_t.append(t2 - t1)
    r, c = statistics.median(read_t), statistics.median(comp_t)
    print(f"data: {len(rows):,} human ratings, {len(judge):,} judge scores; {args.resamples} resamples")
    print(f"read ratings CSV   median {r:6.2f} s  (runs: {', '.join(f'{v:.2f}' for v in read_t)})")
    print(f"compute agreement  median {c:6.2f} s  (runs: {', '.join(f'{v:.2f}' for v in comp_t)})")
    print(
        f"total              median {r + c:6.2f} s  = {(r + c) / TARGET_S:.2f} x the {TARGET_S:.0f} s target"
    )


if __name__ == "__main__":
    main()
