"""Throughput of CLIP-I + DINO: ``realedit metrics`` batched vs one pair at a time.

Models: ViT-B/32 (open_clip ``ViT-B-32-quickgelu``) and ViT-S/16 (DINO's transformers ViT) with random
weights at full size, saved to a temp dir and loaded through ``--clip-weights`` / ``--dino-weights``.
Data: Real-Edit's 80 photos from ``../shared/seed-data/real-edit`` (synthetic 1280x853 photos when absent)
and one synthetic 512x512 edit per instruction: 560 (source, edit) pairs.

Three ways are timed on the same pairs:

* ``one-at-a-time``: the protocol's reference loop (MagicBrush ``image_eval.py``): for each pair open
  both images, run each model on each image separately (batch of 1), take the cosine;
* ``runner, batch 1``: our runner with ``--batch-size 1`` (it already embeds each source photo once);
* ``runner, batched``: our runner with ``--batch-size B`` (default 32).

Figures are medians: seconds per pair of the loop, and seconds per batch / batch size for the runner.
The ways are interleaved (reference-loop pairs run between the runner's batches) so that both see the
same load on a shared machine; a sequential comparison there measured the neighbours, not the code. Run::

    .venv/bin/python perf/bench_metrics.py                      # 560 pairs, torch's thread count
    .venv/bin/python perf/bench_metrics.py --threads 2 --pairs 112 --baseline-pairs 28
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
REAL_EDIT = REPO.parent / "shared" / "seed-data" / "real-edit"
CATS = ("local", "remove", "add", "texture", "background", "global", "style")


def build_models(root: Path) -> tuple[Path, Path]:
    """Full-size random-weight ViT-B/32 CLIP and ViT-S/16 DINO in the layouts users keep weights in."""
    import open_clip
    import torch
    from safetensors.torch import save_file
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    cfg = open_clip.get_model_config("ViT-B-32-quickgelu")
    clip_dir = root / "clip"
    clip_dir.mkdir()
    model = open_clip.CLIP(**cfg)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(clip_dir / "open_clip_model.safetensors"),
    )
    (clip_dir / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg, "preprocess_cfg": {}}))
    dino_cfg = ViTConfig(
        hidden_size=384,
        num_hidden_layers=12,
        num_attention_heads=6,
        intermediate_size=1536,
        image_size=224,
        patch_size=16,
        layer_norm_eps=1e-6,
    )
    ViTModel(dino_cfg, add_pooling_layer=False).save_pretrained(root / "dino")
    return clip_dir, root / "dino"


def build_data(root: Path, n_pairs: int) -> tuple[Path, Path]:
    """A Real-Edit data dir (real photos when available) and a folder of ``n_pairs`` synthetic edits."""
    import numpy as np
    from PIL import Image

    data = root / "data"
    (data / "imgs").mkdir(parents=True)
    n_photos = -(-n_pairs // len(CATS))
    mapping = {}
    rng = np.random.default_rng(0)
    real = sorted((REAL_EDIT / "imgs").glob("*.jpeg"), key=lambda q: int(q.stem) if q.stem.isdigit() else 0)
    for i in range(1, n_photos + 1):
        if i <= len(real):
            (data / "imgs" / f"{i}.jpeg").write_bytes(real[i - 1].read_bytes())
        else:
            arr = rng.integers(0, 256, (853, 1280, 3), dtype=np.uint8)
            Image.fromarray(arr).save(data / "imgs" / f"{i}.jpeg", quality=90)
        mapping[f"{i}.jpeg"] = [f"{k + 1}. {c.capitalize()}: edit {c}" for k, c in enumerate(CATS)]
    (data / "eval_instruct.json").write_text(json.dumps(mapping))
    edits = root / "edits"
    edits.mkdir()
    made = 0
    for i in range(1, n_photos + 1):
        base = Image.open(data / "imgs" / f"{i}.jpeg").convert("RGB").resize((512, 512))
        for c in CATS:
            if made == n_pairs:
                break
            arr = np.asarray(base, dtype=np.int16) + rng.integers(-20, 21, (512, 512, 3))
            Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(edits / f"{i}-{c}.png")
            made += 1
    return data, edits


def one_pair(entry, encoders) -> dict[str, float]:
    """The reference loop's body: open both images, run each model on each image alone, take cosines."""
    from PIL import Image

    from realedit_bench.metrics.core import cosine

    gen = Image.open(entry.edited).convert("RGB")
    ref = Image.open(entry.sample.image).convert("RGB")
    out = {}
    for name, enc in (("clip_i", encoders["clip"]), ("dino", encoders["dino"])):
        a = enc.encode_pixels(enc.transform([gen]))[0]
        b = enc.encode_pixels(enc.transform([ref]))[0]
        out[name] = cosine(a, b)
    return out


class Interleaved:
    """Runs our runner and, after each of its batches, ``k`` pairs of the reference loop.

    On a shared machine the load changes from minute to minute; measuring the two ways in alternation
    puts both under the same conditions, so their ratio means something.
    """

    def __init__(self, edits, encoders, k: int) -> None:
        self.edits, self.encoders, self.k = edits, encoders, k
        self.next = 0
        self.loop_times: list[float] = []
        self.loop_values: dict[str, dict[str, float]] = {}

    def run_loop_pairs(self) -> None:
        for _ in range(self.k):
            entry = self.edits.items[self.next % len(self.edits.items)]
            self.next += 1
            t0 = time.perf_counter()
            self.loop_values[entry.sample.sample_id] = one_pair(entry, self.encoders)
            self.loop_times.append(time.perf_counter() - t0)

    def runner(self, edits, metrics, batch_size: int, out: Path):
        """Our runner; returns seconds per pair of each batch (loop pairs excluded), wall, rows."""
        from realedit_bench.jsonio import read_rows
        from realedit_bench.metrics.runner import compute_metrics
        from realedit_bench.schema.metrics import MetricRow

        per_pair: list[float] = []
        last = [0.0]
        excluded = [0.0]

        def tick(n: int) -> None:
            now = time.perf_counter()
            per_pair.append((now - last[0]) / n)
            t0 = time.perf_counter()
            self.run_loop_pairs()
            excluded[0] += time.perf_counter() - t0
            last[0] = time.perf_counter()

        t0 = time.perf_counter()
        last[0] = t0
        compute_metrics(
            edits,
            metrics,
            self.encoders,
            batch_size=batch_size,
            out_dir=out,
            n_resamples=100,
            on_progress=tick,
        )
        wall = time.perf_counter() - t0 - excluded[0]
        rows = {r.sample_id: r.values for r in read_rows(out / "metrics.jsonl", MetricRow)}
        return per_pair, wall, rows


def main() -> int:
    """Run the three timings and print the figures and ratios."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=560, help="pairs measured by the runner (default 560)")
    p.add_argument(
        "--baseline-pairs", type=int, default=None, help="pairs for the slow loops (default: --pairs)"
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)"
    )
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    import torch

    sys.path.insert(0, str(REPO))
    from realedit_bench.inputs import resolve_edits
    from realedit_bench.metrics.encoders import load_encoders
    from realedit_bench.registry import METRICS

    if args.threads:
        torch.set_num_threads(args.threads)
    n_base = min(args.baseline_pairs or args.pairs, args.pairs)
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        clip_dir, dino_dir = build_models(root)
        data, edit_dir = build_data(root, args.pairs)
        metrics = [METRICS.get("clip_i")(), METRICS.get("dino")()]
        encoders = load_encoders(metrics, clip_weights=clip_dir, dino_weights=dino_dir, device=args.device)
        edits = resolve_edits(edit_dir, data_dir=data)
        setup = time.perf_counter() - t
        print(
            f"setup {setup:.0f}s; device {args.device}; torch threads {torch.get_num_threads()}; "
            f"os.cpu_count {os.cpu_count()}; load avg {os.getloadavg()[0]:.1f}; "
            f"{len(edits.items)} pairs ({'Real-Edit photos' if REAL_EDIT.is_dir() else 'synthetic photos'})"
        )
        base_edits = edits._replace(items=edits.items[:n_base], missing=[])
        # Phase 1: runner with batch 1 on n_base pairs, one reference-loop pair after each.
        one = Interleaved(base_edits, encoders, k=1)
        one_t, one_wall, _ = one.runner(base_edits, metrics, 1, root / "out1")
        # Phase 2: the batched runner on every pair, k reference-loop pairs after each batch.
        n_batches = -(-len(edits.items) // args.batch_size)
        bat = Interleaved(base_edits, encoders, k=max(1, -(-n_base // n_batches)))
        bat_t, bat_wall, bat_rows = bat.runner(edits, metrics, args.batch_size, root / "outB")

        worst = max(abs(bat_rows[k][m] - v[m]) for k, v in bat.loop_values.items() for m in v)
        med = statistics.median
        loop1, loopB = med(one.loop_times), med(bat.loop_times)
        print(f"{'way':<30}{'pairs':>6}{'median s/pair':>15}{'pairs/s':>10}{'wall s':>9}")
        rows = (
            ("one-at-a-time, phase 1", len(one.loop_times), loop1, sum(one.loop_times)),
            ("runner, batch 1", len(base_edits.items), med(one_t), one_wall),
            ("one-at-a-time, phase 2", len(bat.loop_times), loopB, sum(bat.loop_times)),
            (f"runner, batch {args.batch_size}", len(edits.items), med(bat_t), bat_wall),
        )
        for name, n, m, wall in rows:
            print(f"{name:<30}{n:>6}{m:>15.4f}{1 / m:>10.2f}{wall:>9.1f}")
        print(f"ratio batched / one-at-a-time (phase 2 medians): {loopB / med(bat_t):.2f}x (target >= 1.5x)")
        print(f"ratio runner batch 1 / one-at-a-time (phase 1 medians): {loop1 / med(one_t):.2f}x")
        print(f"ratio batched / runner batch 1 (medians): {med(one_t) / med(bat_t):.2f}x")
        print(
            f"whole-run pairs/s: batched {len(edits.items) / bat_wall:.2f}, runner batch 1 "
            f"{len(base_edits.items) / one_wall:.2f}; load avg now {os.getloadavg()[0]:.1f}"
        )
        print(
            f"largest |batched - one-at-a-time| over {len(bat.loop_values)} pairs and 2 metrics: {worst:.2e}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
