"""Seconds per sample of ``realedit run`` (the runner + adapter) against a plain diffusers loop.

Same model, same images, same settings, same machine, one process. The plain loop is what a researcher
would write by hand: load image, resize, call the pipeline with a seeded generator, save a PNG.

    python perf/bench_run.py                 # CPU, tiny random-weight model (target ratio <= 1.10)
    python perf/bench_run.py --gpu           # full-size SD-1.5 InstructPix2Pix, random weights,
                                                   # 512 px, fp16, 20 steps: images/s at batch 1 and 4
                                                   # against the plain loop (targets >= 1.0x and >= 1.5x)
Both sides alternate over several rounds; medians are reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import build_sd15_pix2pix, synthetic_real_edit  # noqa: E402


def plain_loop(pipe, samples, steps: int, resolution: int, out: Path) -> float:
    """Seconds per sample of a hand-written loop over the same samples."""
    import torch
    from PIL import Image

    from adapters.base import fit
    from realedit_bench.runner import derive_seed

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for s in samples:
        image = fit(Image.open(s.image).convert("RGB"), resolution).image
        gen = torch.Generator("cpu").manual_seed(derive_seed(0, s.sample_id))
        result = pipe(
            s.instruction,
            image=image,
            num_inference_steps=steps,
            guidance_scale=7.5,
            image_guidance_scale=1.5,
            generator=gen,
        ).images[0]
        result.save(out / f"{s.sample_id}.png")
    _sync()
    return (time.perf_counter() - t0) / len(samples)


def realedit_loop(model, bench, samples, out: Path, batch_size: int) -> float:
    """Seconds per sample through the runner (seeding, resume bookkeeping, fsync'd rows, atomic PNGs)."""
    from realedit_bench.runner import Runner

    runner = Runner(
        model,
        model_name="instruct-pix2pix",
        family="instruct-pix2pix",
        bench=bench,
        samples=samples,
        filters={},
        run_dir=out,
        batch_size=batch_size,
    )
    t0 = time.perf_counter()
    result = runner.run()
    _sync()
    assert result.ok == len(samples), result
    return (time.perf_counter() - t0) / len(samples)


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main() -> None:
    """Run the benchmark and print medians and ratios."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", action="store_true", help="full-size SD-1.5 architecture on CUDA, fp16")
    ap.add_argument("--limit", type=int, default=None, help="samples per round (the first N)")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds")
    args = ap.parse_args()

    import torch

    from realedit_bench.datasets.real_edit import RealEditBenchmark
    from realedit_bench.registry import ADAPTERS

    work = Path(tempfile.mkdtemp(prefix="bench_run_"))
    if args.gpu:
        n, rounds, steps, res, device, dtype = args.limit or 16, args.rounds or 3, 20, 512, "cuda", "fp16"
        weights = build_sd15_pix2pix(work / "pipe")
        data = synthetic_real_edit(work / "data", n_photos=max(1, n // 7 + 1), size=(640, 480))
    else:
        from tiny_models import build_tiny_pix2pix

        n, rounds, steps, res, device, dtype = args.limit or 14, args.rounds or 5, 2, 64, "cpu", "fp32"
        weights = build_tiny_pix2pix(work / "pipe")
        data = synthetic_real_edit(work / "data", n_photos=max(1, n // 7 + 1), size=(96, 64))
    bench = RealEditBenchmark().load(data)
    samples = bench.samples[:n]
    model = ADAPTERS.get("instruct-pix2pix")(
        weights=str(weights), steps=steps, resolution=res, device=device, dtype=dtype
    )
    model.load()
    pipe = model._pipe  # the very same pipeline object for the plain loop: only the loop differs
    print(
        f"device={device} ({torch.cuda.get_device_name() if args.gpu else 'cpu'}) "
        f"dtype={dtype} steps={steps} "
        f"res={res} samples/round={n} rounds={rounds}"
    )
    # Warm-up both paths once (CUDA kernels, allocator, first-call costs).
    plain_loop(pipe, samples[:2], steps, res, work / "warm_plain")
    realedit_loop(model, bench, samples[:2], work / "warm_run", 1)
    plain, ours1, ours4 = [], [], []
    for r in range(rounds):
        plain.append(plain_loop(pipe, samples, steps, res, work / f"plain{r}"))
        ours1.append(realedit_loop(model, bench, samples, work / f"run1_{r}", 1))
        if args.gpu:
            ours4.append(realedit_loop(model, bench, samples, work / f"run4_{r}", 4))
    p, o1 = statistics.median(plain), statistics.median(ours1)
    print(
        f"plain diffusers loop : {p:.4f} s/sample  ({1 / p:.2f} images/s)  "
        f"rounds={[f'{x:.4f}' for x in plain]}"
    )
    print(
        f"realedit run batch 1 : {o1:.4f} s/sample  ({1 / o1:.2f} images/s)  "
        f"rounds={[f'{x:.4f}' for x in ours1]}"
    )
    print(f"ratio realedit/plain seconds per sample (batch 1): {o1 / p:.3f}  (target <= 1.10)")
    if args.gpu:
        o4 = statistics.median(ours4)
        print(
            f"realedit run batch 4 : {o4:.4f} s/sample  ({1 / o4:.2f} images/s)  "
            f"rounds={[f'{x:.4f}' for x in ours4]}"
        )
        print(
            f"throughput vs plain loop: batch 1 {p / o1:.2f}x (target >= 1.0x), "
            f"batch 4 {p / o4:.2f}x (target >= 1.5x)"
        )
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
