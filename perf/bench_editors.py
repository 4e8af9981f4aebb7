"""Images/s and peak GPU memory of the open-weight editors: realedit's loop against the plain diffusers call,
and with compile, offload and quantize.

    python perf/bench_editors.py                  # CUDA: full-size random weights (bf16), 1280x853 photos
    python perf/bench_editors.py --tiny           # CPU: the tests' tiny pipelines (checks that it runs)
    python perf/bench_editors.py --editors instruct-pix2pix,flux2-klein --modes plain,ours,compile

Modes (each after one warm-up sample, which also pays for compilation):

* ``plain``: a hand-written loop calling the pipeline with the editor's own arguments (what a researcher
  would write with diffusers alone: prepare the photo, call, resize back, save a PNG);
* ``ours``: ``realedit run``'s runner with the editor (seeds, fsynced rows, atomic PNGs), same pipeline;
* ``compile``: ``-M compile=true``; ``offload-model`` / ``offload-group``: ``-M offload=...``;
  ``quantize-8bit`` / ``quantize-4bit``: ``-M quantize=...`` (bitsandbytes; the pipeline is saved and
  loaded back through the editor, so it needs disk for the weights).

Full-size pipelines are built in memory (``perf/_full_editors.py``; InstructPix2Pix is SD-1.5's size in
fp16). Targets: ``ours`` <= 1.10x the seconds per image of ``plain``; ``compile`` >= 1.3x faster than
``ours`` on InstructPix2Pix. The table prints images/s, seconds per image, peak GPU memory, and each mode's
seconds per image against the plain call's (and the speed settings' speed-up over ``ours``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import build_sd15_pix2pix, synthetic_real_edit  # noqa: E402

EDITORS = ("instruct-pix2pix", "flux-kontext", "qwen-image-edit", "flux2-klein", "longcat-edit")
MODES = ("plain", "ours", "compile", "offload-model", "offload-group", "quantize-8bit", "quantize-4bit")
#: -M settings of each mode that is one.
SETTINGS = {"compile": {"compile": True}, "offload-model": {"offload": "model"},
            "offload-group": {"offload": "group"}, "quantize-8bit": {"quantize": "8bit"},
            "quantize-4bit": {"quantize": "4bit"}}


class Row(NamedTuple):
    """One measured (or skipped) mode of one editor."""

    editor: str
    mode: str
    seconds: float | None
    peak_gib: float | None
    note: str = ""


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def plain_loop(editor: Any, samples: list[Any], out: Path) -> float:
    """Seconds per image of the pipeline called by hand with the editor's own arguments."""
    import torch

    from realedit_bench.images import load_image
    from realedit_bench.runner import derive_seed

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for s in samples:
        source = load_image(s.image)
        prepared = editor.prepare(source)
        args: dict[str, Any] = {
            "prompt": [editor.prompt(s.instruction)],
            "image": [prepared.image] if editor.batch_images else prepared.image,
            "num_inference_steps": editor.steps, "output_type": "pil",
            "generator": [torch.Generator("cpu").manual_seed(derive_seed(0, s.sample_id))],
            **({"negative_prompt": [editor.negative_prompt]} if editor.negative_prompt else {}),
            **editor.call_kwargs([prepared]),
        }
        edited = editor._pipe(**args).images[0]
        editor.finish(edited, source).save(out / f"{s.sample_id}.png")
    _sync()
    return (time.perf_counter() - t0) / len(samples)


def our_loop(editor: Any, name: str, bench: Any, samples: list[Any], out: Path) -> float:
    """Seconds per image through the runner of ``realedit run``."""
    from realedit_bench.runner import Runner

    runner = Runner(editor, model_name=name, family="bench", bench=bench, samples=samples, filters={},
                    run_dir=out)
    t0 = time.perf_counter()
    result = runner.run()
    _sync()
    if result.ok != len(samples):
        raise RuntimeError(f"{len(samples) - result.ok} samples failed; see {out / 'edits.jsonl'}")
    return (time.perf_counter() - t0) / len(samples)


def measure(loop: Callable[[Path], float], work: Path, rounds: int) -> tuple[float, float | None]:
    """(median seconds per image, peak GPU GiB) of ``loop`` after one warm-up call."""
    import torch

    loop(work / "warm")
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    seconds = statistics.median(loop(work / f"r{r}") for r in range(rounds))
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    return seconds, peak


class Bench:
    """The editors and modes asked for, on one device."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch

        self.args, self.tiny = args, args.tiny
        self.cuda = torch.cuda.is_available() and not args.tiny
        self.work = Path(tempfile.mkdtemp(prefix="bench_editors_", dir=args.work))
        size = (96, 64) if self.tiny else (1280, 853)
        from realedit_bench.datasets.real_edit import RealEditBenchmark

        self.bench = RealEditBenchmark().load(synthetic_real_edit(self.work / "data", args.samples, size))
        # One instruction of each photo: every sample is another photo.
        first = {s.image_id: s for s in reversed(self.bench.samples)}
        self.samples = sorted(first.values(), key=lambda s: s.sample_id)[: args.samples]
        self.rows: list[Row] = []

    def settings(self, name: str) -> dict[str, Any]:
        """Steps, size, device and dtype of the runs of ``name``."""
        from realedit_bench.registry import ADAPTERS

        cls = ADAPTERS.get(name)
        steps = min(self.args.steps, cls.default_steps)
        out: dict[str, Any] = {"steps": steps, "device": "cpu" if self.tiny else "cuda"}
        out["dtype"] = "fp32" if self.tiny else ("fp16" if name == "instruct-pix2pix" else "bf16")
        if self.tiny and name != "longcat-edit":
            out["resolution"] = 64
        return out

    def source(self, name: str) -> tuple[str | None, Any]:
        """(weights folder, in-memory pipeline): one of them."""
        if name == "instruct-pix2pix":
            from tiny_models import build_tiny_pix2pix

            builder = build_tiny_pix2pix if self.tiny else build_sd15_pix2pix
            return str(builder(self.work / name / "weights")), None
        if self.tiny:
            from tiny_editors import BUILDERS

            return str(BUILDERS[name](self.work / name / "weights")), None
        import _full_editors

        return None, _full_editors.build(name, "cuda")

    def editor(self, name: str, weights: str | None, pipe: Any, **mode: Any) -> Any:
        """The registered editor, loading ``weights`` or handed the in-memory ``pipe``."""
        from realedit_bench.registry import ADAPTERS

        cls = ADAPTERS.get(name)
        if pipe is not None:
            cls = type(f"InMemory{cls.__name__}", (cls,), {"load_weights": lambda self: pipe})
        editor = cls(weights=weights or f"random/{name}", **self.settings(name), **mode)
        editor.load()
        return editor

    def run_editor(self, name: str) -> None:
        """Every mode asked for of one editor; a failing mode is a row with its error, not the end."""
        weights, pipe = self.source(name)
        quantized = any(m.startswith("quantize") and not self.skip(m) for m in self.args.modes)
        # Quantization happens while loading: the in-memory pipeline is saved once, before offload hooks.
        saved = self.saved(name, pipe) if pipe is not None and quantized else weights
        for mode in self.args.modes:
            why = self.skip(mode)
            if why:
                self.rows.append(Row(name, mode, None, None, why))
                print(self.format(self.rows[-1]), flush=True)
                continue
            try:
                from_disk = mode.startswith("quantize")
                self.rows.append(self.run_mode(name, mode, saved if from_disk else weights,
                                               None if from_disk else pipe))
            except Exception as exc:  # noqa: BLE001 - one mode's failure is reported, the others still run
                self.rows.append(Row(name, mode, None, None, f"failed: {type(exc).__name__}: {exc}"[:160]))
            print(self.format(self.rows[-1]), flush=True)

    def skip(self, mode: str) -> str:
        """Why ``mode`` cannot run here ('' when it can)."""
        import importlib.util

        if mode.startswith(("offload", "quantize")) and not self.cuda:
            return "skipped: needs CUDA"
        if mode == "compile" and not self.cuda and not self.args.cpu_compile:
            return "skipped on CPU (--cpu-compile to run it)"
        if mode.startswith("quantize") and importlib.util.find_spec("bitsandbytes") is None:
            return "skipped: bitsandbytes is not installed (pip install 'realedit[quantize]')"
        return ""

    def run_mode(self, name: str, mode: str, weights: str | None, pipe: Any) -> Row:
        """One mode of one editor."""
        work = self.work / name / mode
        if pipe is not None and mode.startswith("offload"):
            pipe.to("cpu")  # the offload hooks move each part to the GPU when it runs
        editor = self.editor(name, weights, pipe, **SETTINGS.get(mode, {}))
        if mode == "plain":
            seconds, peak = measure(lambda out: plain_loop(editor, self.samples, out), work, self.args.rounds)
        else:
            seconds, peak = measure(lambda out: our_loop(editor, name, self.bench, self.samples, out), work,
                                    self.args.rounds)
        self.undo(editor, mode, pipe)
        return Row(name, mode, seconds, peak)

    def saved(self, name: str, pipe: Any) -> str:
        """The in-memory pipeline saved once, for the modes that load through the editor."""
        folder = self.work / name / "saved"
        if not folder.exists():
            pipe.save_pretrained(folder)
        return str(folder)

    @staticmethod
    def undo(editor: Any, mode: str, pipe: Any) -> None:
        """Leave the shared in-memory pipeline as it was for the next mode."""
        import torch

        if pipe is None:
            return
        if mode == "compile":
            getattr(pipe, editor.denoiser)._compiled_call_impl = None  # nn.Module.compile's own attribute
            torch._dynamo.reset()
        if mode == "offload-model":
            pipe.remove_all_hooks()
            pipe.to("cuda")

    def format(self, row: Row) -> str:
        """One line of the table."""
        if row.seconds is None:
            return f"{row.editor:<17} {row.mode:<14} {row.note}"
        peak = f"{row.peak_gib:7.2f}" if row.peak_gib is not None else "      -"
        return (f"{row.editor:<17} {row.mode:<14} {1 / row.seconds:9.3f} {row.seconds:9.3f} {peak}  "
                f"{self.ratio(row)}")

    def ratio(self, row: Row) -> str:
        """Every mode's seconds per image against ``plain``'s; the speed settings also as a speed-up over
        ``ours`` (the same loop without them)."""
        base = {r.mode: r.seconds for r in self.rows if r.editor == row.editor and r.seconds}
        parts = []
        if row.mode != "plain" and "plain" in base and row.seconds:
            target = " (target <= 1.10)" if row.mode == "ours" else ""
            parts.append(f"{row.seconds / base['plain']:.3f}x plain's s/image{target}")
        if row.mode not in ("plain", "ours") and "ours" in base and row.seconds:
            target = " (target >= 1.3)" if row.mode == "compile" and row.editor == "instruct-pix2pix" else ""
            parts.append(f"{base['ours'] / row.seconds:.2f}x faster than ours{target}")
        return "; ".join(parts)


def main() -> None:
    """Measure and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="the tests' tiny pipelines on the CPU")
    ap.add_argument("--editors", default=",".join(EDITORS), help=f"comma-separated, of {', '.join(EDITORS)}")
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    ap.add_argument("--samples", type=int, default=None, help="photos per measurement (default 4; --tiny 2)")
    ap.add_argument("--rounds", type=int, default=1, help="measurements per mode (the median is shown)")
    ap.add_argument("--steps", type=int, default=None,
                    help="steps, at most each editor's default (default 8; --tiny 2)")
    ap.add_argument("--cpu-compile", action="store_true", help="run the compile mode on the CPU too")
    ap.add_argument("--work", default=None, help="folder for weights and runs (a temporary one is removed)")
    args = ap.parse_args()
    args.editors = [e for e in args.editors.split(",") if e]
    args.modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(args.editors) - set(EDITORS)) + sorted(set(args.modes) - set(MODES))
    if unknown:
        ap.error(f"unknown editors or modes: {', '.join(unknown)}")
    args.samples = args.samples or (2 if args.tiny else 4)
    args.steps = args.steps or (2 if args.tiny else 8)

    import torch

    bench = Bench(args)
    device = torch.cuda.get_device_name() if bench.cuda else "cpu"
    print(f"device={device} torch={torch.__version__} samples={args.samples} rounds={args.rounds} "
          f"steps<={args.steps} {'tiny pipelines' if args.tiny else 'full-size random weights'}")
    print(f"{'editor':<17} {'mode':<14} {'images/s':>9} {'s/image':>9} {'peak GiB':>7}  ratio")
    try:
        for name in args.editors:
            bench.run_editor(name)
            if bench.cuda:
                torch.cuda.empty_cache()
    finally:
        if args.work is None:
            shutil.rmtree(bench.work, ignore_errors=True)


if __name__ == "__main__":
    main()
