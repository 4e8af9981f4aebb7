"""SmartEdit speed: ``realedit run``'s loop (runner + smartedit adapter) at batch 1 and 4 against a plain
loop of the same modules, the share of time in the LLM stage and in diffusion, and peak GPU memory.

    python perf/bench_smartedit.py            # CUDA: SmartEdit-7B sizes, random weights, bf16 LLM,
                                              # fp16 UNet/VAE, 256 px, 100 steps (the paper's settings)
    python perf/bench_smartedit.py --tiny     # CPU: the tiny test models, 2 steps (a smoke test)

Targets (GPU): batch 4 at >= 1.5x the images/s of batch 1, and our loop at batch 1 within 1.10x the plain
loop's seconds per image. The plain loop is what a researcher writes by hand with the same loaded modules:
resize, the LLM stage, the pipeline with the residual hook, save a PNG, one sample at a time.

The weights are random, written as a converted SmartEdit folder and loaded by the adapter as real ones
are. A random LLM does not answer with image tokens, so it is steered like the tiny test model: the
embeddings of the last prompt token, a filler word and the 32 image tokens are large orthogonal
directions and ``lm_head`` maps each to the next, so each sample decodes 33 or 34 tokens at temperature
0.7 (the trained model says a short sentence first: about 45).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _synthetic import build_sd15_pix2pix, synthetic_real_edit  # noqa: E402

#: LLaMA-7B (Vicuna-7B) and CLIP ViT-L/14 sizes.
LLAMA_7B = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=32, vocab_size=32035, max_position_embeddings=2048, rms_norm_eps=1e-6)
CLIP_L14 = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                image_size=224, patch_size=14, projection_dim=768)


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def write_converted(folder: Path, parts: dict[str, dict[str, Any]]) -> Path:
    """Write tensors as a converted SmartEdit folder (``<part>-NNNNN.safetensors`` + ``manifest.json``)."""
    from safetensors.torch import save_file

    from adapters.smartedit.convert import FORMAT, FORMAT_VERSION, MANIFEST, SHARD_BYTES

    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION, "sources": {},
                                "files": {}, "lora": {}}
    for part, tensors in parts.items():
        shards: list[dict[str, Any]] = [{}]
        size = 0
        for key, tensor in tensors.items():
            if shards[-1] and size + tensor.numel() * tensor.element_size() > SHARD_BYTES:
                shards.append({})
                size = 0
            shards[-1][key] = tensor.detach().cpu().contiguous()
            size += tensor.numel() * tensor.element_size()
        for index, shard in enumerate(shards, start=1):
            path = folder / f"{part}-{index:05d}.safetensors"
            save_file(shard, str(path), metadata={"format": FORMAT})
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 24):
                    digest.update(chunk)
            manifest["files"][path.name] = {"part": part, "size": path.stat().st_size,
                                            "sha256": digest.hexdigest()}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return folder


def build_full(root: Path, device: str = "cuda") -> dict[str, Path]:
    """SmartEdit-7B sizes with random weights: a converted folder and the base-part folders."""
    import torch
    from safetensors.torch import load_file
    from tiny_smartedit import build_tokenizer, steer
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        CLIPVisionModel,
        LlamaConfig,
        LlamaForCausalLM,
    )

    from adapters.smartedit.bridge import Bridge, BridgeConfig
    from adapters.smartedit.interaction import InteractionConfig

    torch.manual_seed(0)
    llm_base = root / "vicuna"
    tokenizer = build_tokenizer(llm_base, vocab_size=2000)
    # The vocabulary is the synthetic tokenizer's (plus SmartEdit's 35 tokens), not LLaMA's 32,000: a
    # smaller lm_head, about 2% of the LLM's compute per token.
    config = LlamaConfig(**{**LLAMA_7B, "vocab_size": len(tokenizer) + 35}, tie_word_embeddings=False,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    config.save_pretrained(llm_base)
    torch.set_default_dtype(torch.bfloat16)  # built in bf16 on the GPU: seconds, not minutes
    try:
        with torch.device(device):
            llm = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(torch.float32)
    with torch.no_grad():
        steer({"model.embed_tokens.weight": llm.model.embed_tokens.weight,
               "lm_head.weight": llm.lm_head.weight}, tokenizer, alpha=1.0, scale=1e4)
    llm_state = llm.state_dict()
    clip = root / "clip"
    CLIPVisionModel(CLIPVisionConfig(**CLIP_L14)).save_pretrained(clip)
    processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    processor.save_pretrained(clip)
    bridge = Bridge(BridgeConfig(vision_dim=CLIP_L14["hidden_size"], llm_dim=LLAMA_7B["hidden_size"],
                                 queries=77, qformer_layers=6, qformer_ffn=3072,
                                 interaction=InteractionConfig(dim=CLIP_L14["hidden_size"])))
    ip2p = build_sd15_pix2pix(root / "ip2p")
    unet = load_file(str(next((ip2p / "unet").glob("*.safetensors"))))
    tensors = {"llm": llm_state, "bridge": bridge.state_dict(), "unet": unet}
    converted = write_converted(root / "converted", tensors)
    del llm, llm_state
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return {"weights": converted, "llm_base": llm_base, "clip": clip, "ip2p": ip2p}


def build_tiny(root: Path) -> dict[str, Path]:
    """The tiny test models: a fake release converted, and the tiny base parts."""
    import tiny_smartedit as ts

    from adapters.smartedit.convert import convert_smartedit

    llm_base = ts.build_llm_base(root / "vicuna")
    release = ts.build_release(root / "release", llm_base)
    converted = convert_smartedit(release.folder, root / "converted", progress=False).folder
    return {"weights": converted, "llm_base": llm_base, "clip": ts.build_clip(root / "clip"),
            "ip2p": ts.build_pix2pix(root / "ip2p")}


class Clock:
    """Seconds spent in the LLM stage (``SmartEditModel.conditions``), the rest being diffusion and I/O."""

    def __init__(self, model: Any) -> None:
        self.llm = 0.0
        stage = model._model
        inner = stage.conditions

        def timed(*args: Any, **kwargs: Any) -> Any:
            _sync()
            t0 = time.perf_counter()
            out = inner(*args, **kwargs)
            _sync()
            self.llm += time.perf_counter() - t0
            return out

        stage.conditions = timed


def plain_loop(model: Any, samples: list[Any], out: Path) -> float:
    """Seconds per image of a hand-written loop over the adapter's loaded modules, one sample at a time."""
    import torch
    from PIL import Image

    from adapters.smartedit.residual import conv_in_residual
    from realedit_bench.runner import derive_seed

    out.mkdir(parents=True, exist_ok=True)
    pipe, stage, size = model._pipe, model._model, model.resolution
    latent = size // pipe.vae_scale_factor
    _sync()
    t0 = time.perf_counter()
    for s in samples:
        image = Image.open(s.image).convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        seed = derive_seed(0, s.sample_id)
        cond = stage.conditions([image], [s.instruction], [seed], (latent, latent))
        with conv_in_residual(pipe.unet, cond.residual):
            edited = pipe(image=image, prompt_embeds=cond.text, negative_prompt_embeds=model._negative,
                          num_inference_steps=model.steps, guidance_scale=7.5, image_guidance_scale=1.5,
                          generator=torch.Generator("cpu").manual_seed(seed)).images[0]
        edited.save(out / f"{s.sample_id}.png")
    _sync()
    return (time.perf_counter() - t0) / len(samples)


def realedit_loop(model: Any, bench: Any, samples: list[Any], out: Path, batch_size: int) -> float:
    """Seconds per image through the runner (seeding, fsync'd rows, atomic PNGs) and the adapter."""
    from realedit_bench.runner import Runner

    runner = Runner(model, model_name="smartedit", family="smartedit", bench=bench, samples=samples,
                    filters={}, run_dir=out, batch_size=batch_size)
    _sync()
    t0 = time.perf_counter()
    result = runner.run()
    _sync()
    assert result.ok == len(samples), result
    return (time.perf_counter() - t0) / len(samples)


def _peak_reset() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak() -> str:
    import torch

    if not torch.cuda.is_available():
        return "n/a (cpu)"
    return f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"


def measure(model: Any, bench: Any, samples: list[Any], work: Path, rounds: int) -> tuple[dict, dict]:
    """Alternate the three loops ``rounds`` times: seconds per image and LLM seconds per image of each
    round, and each loop's peak GPU memory."""
    clock = Clock(model)
    times: dict[str, list[float]] = {}
    peaks: dict[str, str] = {}
    for r in range(rounds):
        for name, run in (
            ("plain", lambda r=r: plain_loop(model, samples, work / f"plain{r}")),
            ("batch1", lambda r=r: realedit_loop(model, bench, samples, work / f"b1_{r}", 1)),
            ("batch4", lambda r=r: realedit_loop(model, bench, samples, work / f"b4_{r}", 4)),
        ):
            _peak_reset()
            before = clock.llm
            times.setdefault(name, []).append(run())
            times.setdefault(f"{name}_llm", []).append((clock.llm - before) / len(samples))
            peaks[name] = _peak()
    return times, peaks


def report(times: dict, peaks: dict, device: str, n: int, rounds: int, steps: int, size: int) -> None:
    """Print images/s, the LLM share and peak memory of each loop, and the two ratios with their targets."""
    print(f"device={device} samples/round={n} rounds={rounds} steps={steps} size={size}x{size}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, label in (("plain", "plain loop (batch 1)"), ("batch1", "realedit run batch 1"),
                        ("batch4", "realedit run batch 4")):
        sec, llm = med[name], med[f"{name}_llm"]
        print(f"{label:22s}: {sec:.3f} s/image ({1 / sec:.2f} images/s); LLM stage {100 * llm / sec:.0f}%, "
              f"diffusion and the rest {100 * (1 - llm / sec):.0f}%; peak {peaks[name]}")
    print(f"batch 4 vs batch 1 images/s: {med['batch1'] / med['batch4']:.2f}x  (target >= 1.5x)")
    print(f"realedit run batch 1 vs plain loop seconds/image: {med['batch1'] / med['plain']:.3f}  "
          "(target <= 1.10)")


def main() -> None:
    """Build the models, warm up, measure and report."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="the tiny test models on the CPU (a smoke test)")
    ap.add_argument("--samples", type=int, default=None, help="samples per round (a multiple of 4)")
    ap.add_argument("--rounds", type=int, default=None, help="alternating rounds")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: 100 on GPU)")
    args = ap.parse_args()

    import torch

    from realedit_bench.datasets.real_edit import RealEditBenchmark
    from realedit_bench.registry import ADAPTERS

    work = Path(tempfile.mkdtemp(prefix="bench_smartedit_"))
    if args.tiny:
        n, rounds, steps, size, device = args.samples or 4, args.rounds or 1, args.steps or 2, 64, "cpu"
        parts = build_tiny(work / "parts")
    else:
        if not torch.cuda.is_available():
            sys.exit("no CUDA GPU: run with --tiny for the CPU smoke test")
        n, rounds, steps, size, device = args.samples or 8, args.rounds or 2, args.steps or 100, 256, "cuda"
        parts = build_full(work / "parts")
    data = synthetic_real_edit(work / "data", n_photos=max(1, n // 7 + 1), size=(640, 480))
    bench = RealEditBenchmark().load(data)
    samples = bench.samples[:n]
    model = ADAPTERS.get("smartedit")(
        weights=str(parts["weights"]), llm_base=str(parts["llm_base"]), clip=str(parts["clip"]),
        ip2p=str(parts["ip2p"]), steps=steps, resolution=size, device=device,
    )
    model.load()
    # Warm-up of both paths (kernels, allocator, first calls).
    plain_loop(model, samples[:1], work / "warm_plain")
    realedit_loop(model, bench, samples[:4], work / "warm_run", 4)
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    times, peaks = measure(model, bench, samples, work, rounds)
    report(times, peaks, name, n, rounds, steps, size)


if __name__ == "__main__":
    main()
