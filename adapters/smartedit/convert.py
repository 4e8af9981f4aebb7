"""Convert a SmartEdit release folder, once, into compact safetensors.

The released ``.bin`` files are pickles written from DeepSpeed ZeRO-2 training: each small state dict
drags the whole flat optimizer buffer along (about 5 GB per file). They are read with
``torch.load(weights_only=True, mmap=True)``; only the needed tensors are copied, one output shard at a
time, the LoRA of ``q_proj``/``v_proj`` is merged (W + scale B A, kept in float32 so the update is not
rounded away), and the parts ``llm``, ``bridge`` and ``unet`` are written as safetensors shards with a
``manifest.json`` (source sizes and sha256, output sha256, format version). Rerunning on the same
sources is a no-op.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import torch

from adapters.smartedit import keymaps
from adapters.smartedit.bridge import bridge_config, bridge_keys
from realedit_bench.errors import WeightsError

FORMAT = "realedit-smartedit"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Converted parts, each written as ``<part>-00001.safetensors``, ``-00002``, ... of at most SHARD_BYTES.
PARTS = (keymaps.LLM, keymaps.BRIDGE, keymaps.UNET)
SHARD_BYTES = 2 << 30
#: LoRA of the release (r 8, alpha 16), used when ``adapter_config.json`` is absent.
DEFAULT_LORA = {"r": 8, "lora_alpha": 16}


class Converted(NamedTuple):
    """A converted folder, its manifest, and whether this call wrote it."""

    folder: Path
    manifest: dict
    converted: bool


def find_release(src: str | Path) -> dict[str, Path]:
    """The four released files under ``src``, keyed by their glob in :data:`keymaps.RELEASE`."""
    root = Path(src).expanduser()
    found = {}
    for pattern in keymaps.RELEASE:
        matches = sorted(root.glob(pattern))
        if len(matches) != 1:
            what = "no" if not matches else f"{len(matches)}"
            raise WeightsError(
                f"{root} is not a SmartEdit release folder: {what} file matching {pattern}; "
                "pass the folder of TencentARC/SmartEdit-7B or -13B"
            )
        found[pattern] = matches[0]
    return found


def merge_lora(
    weight: torch.Tensor, lora_a: torch.Tensor, lora_b: torch.Tensor, scale: float
) -> torch.Tensor:
    """``W + scale * B @ A`` in float32."""
    return weight.float() + scale * (lora_b.float() @ lora_a.float())


def read_manifest(folder: str | Path) -> dict | None:
    """The manifest of a converted folder, or None when there is none of our format."""
    path = Path(folder).expanduser() / MANIFEST
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return data if data.get("format") == FORMAT else None


def _stamp(files: Mapping[str, Path], root: Path) -> dict[str, dict]:
    return {
        p.relative_to(root).as_posix(): {"size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns}
        for p in files.values()
    }


def _same_sources(manifest: dict, stamp: dict[str, dict]) -> bool:
    old = {k: {"size": v["size"], "mtime_ns": v["mtime_ns"]} for k, v in manifest["sources"].items()}
    return manifest.get("format_version") == FORMAT_VERSION and old == stamp


def _sha256(path: Path, bar: Any) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 24):
            digest.update(chunk)
            bar.advance(len(chunk))
    return digest.hexdigest()


def _read_bin(path: Path) -> dict[str, torch.Tensor]:
    """A released pickle through the restricted unpickler, memory-mapped when it is a zip checkpoint."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsError(f"cannot read {path}: {first[:200]}") from exc
    if not isinstance(data, Mapping):
        raise WeightsError(f"{path} does not hold a state dict")
    return dict(data)


def _lora_scale(llm_file: Path) -> dict:
    config_path = llm_file.with_name("adapter_config.json")
    config = json.loads(config_path.read_text()) if config_path.is_file() else DEFAULT_LORA
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    return {"rank": rank, "alpha": alpha, "scale": alpha / rank, "targets": list(keymaps.LORA_TARGETS)}


def _split(files: Mapping[str, Path], root: Path) -> tuple[dict[str, dict], dict[tuple[str, str], Any]]:
    """Map every released key; keep the tensors as they were read (memory-mapped views, not copies)."""
    out: dict[str, dict] = {part: {} for part in PARTS}
    lora: dict[tuple[str, str], torch.Tensor] = {}
    for pattern, path in files.items():
        rule, rel = keymaps.RELEASE[pattern], path.relative_to(root).as_posix()
        for key, tensor in _read_bin(path).items():
            try:
                target = rule(key)
            except keymaps.UnexpectedKey:
                raise WeightsError(f"unexpected key {key!r} in {rel}") from None
            if target is None:
                continue
            if target.role == "weight":
                out[target.file][target.key] = tensor
            else:
                lora[(target.key, target.role)] = tensor
    return out, lora


def check_llm(llm: Mapping[str, Any], lora: Mapping[tuple[str, str], Any], rel: str) -> None:
    """Every ``LlamaForCausalLM`` key and both LoRA factors of each q/v projection, nothing more."""
    layers = {int(m.group(1)) for k in llm if (m := re.match(r"model\.layers\.(\d+)\.", k))}
    expected = keymaps.llm_keys(max(layers) + 1 if layers else 0)
    for key in sorted(expected):
        if key not in llm:
            where = "the embeddings_qformer file" if key == "lm_head.weight" else rel
            raise WeightsError(f"missing key {key!r} (from {where})")
    targets = {k for k in expected if k.endswith(tuple(f"{t}.weight" for t in keymaps.LORA_TARGETS))}
    for key, role in sorted((k, r) for k in targets for r in ("lora_A", "lora_B")):
        if (key, role) not in lora:
            released = key.replace("model.", keymaps.LLM_PREFIX, 1).replace(
                ".weight", f".{role}.default.weight"
            )
            raise WeightsError(f"missing key {released!r} in {rel}")
    extra = sorted({k for k, _ in lora} - targets)
    if extra:
        raise WeightsError(f"unexpected LoRA factors for {extra[0]!r} in {rel}")


def check_bridge(tensors: Mapping[str, torch.Tensor], source: str) -> None:
    """Every bridge key present with its shape, none extra (one line naming the first offender)."""
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    try:
        expected = bridge_keys(bridge_config(shapes))
    except KeyError as exc:
        raise WeightsError(f"missing key for {exc.args[0]!r} in {source}") from None
    for key in sorted(expected):
        if key not in shapes:
            raise WeightsError(f"missing key {key!r} (ours) in {source}")
        if shapes[key] != expected[key]:
            raise WeightsError(f"key {key!r} in {source} has shape {shapes[key]}, expected {expected[key]}")
    for key in sorted(set(shapes) - set(expected)):
        raise WeightsError(f"unexpected key {key!r} (ours) in {source}")


@contextmanager
def _bars(show: bool) -> Iterator[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not show) as progress:
        yield progress


class _Bar:
    def __init__(self, progress: Any, description: str, total: float) -> None:
        self.progress, self.task = progress, progress.add_task(description, total=total)

    def advance(self, amount: float) -> None:
        self.progress.advance(self.task, amount)


def _materialize(key: str, tensor: torch.Tensor, lora: Mapping, scale: float) -> torch.Tensor:
    """A private contiguous copy of ``tensor``, with its LoRA merged when it has one."""
    if (key, "lora_A") in lora:
        return merge_lora(tensor, lora[(key, "lora_A")], lora[(key, "lora_B")], scale)
    return tensor.detach().clone().contiguous()


def _shards(tensors: Mapping[str, torch.Tensor], lora: Mapping) -> list[list[str]]:
    """Keys grouped in file order so that no shard (but a single huge tensor) exceeds SHARD_BYTES."""
    shards: list[list[str]] = [[]]
    size = 0
    for key, tensor in tensors.items():
        nbytes = tensor.numel() * (4 if (key, "lora_A") in lora else tensor.element_size())
        if shards[-1] and size + nbytes > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append(key)
        size += nbytes
    return shards


def _write(dst: Path, tensors: dict[str, dict], lora: Mapping, manifest: dict, bar: _Bar) -> None:
    """Copy one shard at a time into a private folder, move each in; the manifest last marks completion.

    Only one shard is ever copied into memory: the released tensors are memory-mapped views.
    """
    from safetensors.torch import save_file

    work = dst / f".partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    scale = manifest["lora"]["scale"]
    for part in PARTS:
        for index, keys in enumerate(_shards(tensors[part], lora), start=1):
            name = f"{part}-{index:05d}.safetensors"
            chunk = {key: _materialize(key, tensors[part][key], lora, scale) for key in keys}
            save_file(chunk, str(work / name), metadata={"format": FORMAT})
            del chunk
            size = (work / name).stat().st_size
            manifest["files"][name] = {"part": part, "size": size, "sha256": _sha256(work / name, bar)}
            os.replace(work / name, dst / name)
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(work / MANIFEST, dst / MANIFEST)
    work.rmdir()


def convert_smartedit(src: str | Path, dst: str | Path, *, progress: bool = True) -> Converted:
    """Convert the release in ``src`` into ``dst`` (llm/bridge/unet safetensors + manifest.json).

    Args:
        src: a SmartEdit-7B or -13B release folder.
        dst: the folder to write; a finished conversion of the same source files is kept as it is.
        progress: show a progress bar on stderr.

    Raises:
        WeightsError: ``src`` is not a release, a file cannot be read, a key is missing or unexpected,
            or ``dst`` holds the conversion of other files.
    """
    root, out = Path(src).expanduser().resolve(), Path(dst).expanduser().resolve()
    files = find_release(root)
    stamp = _stamp(files, root)
    existing = read_manifest(out)
    if existing is not None:
        if _same_sources(existing, stamp):
            return Converted(out, existing, False)
        raise WeightsError(f"{out} already holds a SmartEdit conversion of other files; pass another folder")
    out.mkdir(parents=True, exist_ok=True)
    llm_rel = files["LLM-*/adapter_model.bin"].relative_to(root).as_posix()
    lora_info = _lora_scale(files["LLM-*/adapter_model.bin"])
    with _bars(progress) as bars:
        hashing = _Bar(bars, "hashing the release", sum(s["size"] for s in stamp.values()))
        for rel, path in zip(stamp, files.values(), strict=True):
            stamp[rel]["sha256"] = _sha256(path, hashing)
        tensors, lora = _split(files, root)
        check_llm(tensors[keymaps.LLM], lora, llm_rel)
        check_bridge(tensors[keymaps.BRIDGE], "the embeddings_qformer and modulate files")
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "sources": stamp,
            "files": {},
            "lora": lora_info,
        }
        total = sum(t.numel() * t.element_size() for part in tensors.values() for t in part.values())
        _write(out, tensors, lora, manifest, _Bar(bars, "writing", total))
    return Converted(out, manifest, True)


def converted_sha256(folder: str | Path) -> dict[str, str]:
    """The sha256 of each converted file (from the manifest, after checking the sizes on disk).

    Raises:
        WeightsError: the folder is not a finished conversion, or a file changed size since.
    """
    root = Path(folder).expanduser()
    manifest = read_manifest(root)
    if manifest is None or manifest.get("format_version") != FORMAT_VERSION:
        raise WeightsError(
            f"{root} is not a converted SmartEdit folder; run: realedit weights convert smartedit SRC {root}"
        )
    for name, info in manifest["files"].items():
        path = root / name
        if not path.is_file() or path.stat().st_size != info["size"]:
            raise WeightsError(
                f"{path} is missing or changed since conversion; convert again into an empty folder"
            )
    return {name: info["sha256"] for name, info in manifest["files"].items()}


def part_files(folder: str | Path, part: str) -> list[Path]:
    """The shards of ``part`` (``llm``, ``bridge`` or ``unet``) listed in a converted folder's manifest."""
    root = Path(folder).expanduser()
    manifest = read_manifest(root) or {"files": {}}
    return [root / name for name, info in manifest["files"].items() if info.get("part") == part]


def release_cache(src: str | Path) -> Path:
    """Where the release in ``src`` is converted on first use: ``<cache>/weights/smartedit/<name>-<key>``.

    The key digests the release's resolved path and its files' sizes and modification times, so a
    replaced release gets a conversion of its own.

    Raises:
        WeightsError: ``src`` is not a release folder.
    """
    from realedit_bench.settings import cache_root

    root = Path(src).expanduser().resolve()
    stamp = _stamp(find_release(root), root)
    key = hashlib.sha256(json.dumps([str(root), stamp], sort_keys=True).encode()).hexdigest()[:12]
    return cache_root() / "weights" / "smartedit" / f"{root.name}-{key}"


def ensure_converted(weights: str | Path, *, progress: bool = True) -> Path:
    """A converted folder as it is, or a release folder converted once into :func:`release_cache`.

    Processes that start together (a sharded run) convert one at a time: the others wait on a lock,
    then find the conversion done.

    Raises:
        WeightsError: ``weights`` is neither a converted folder nor a release folder, or the conversion fails.
    """
    from filelock import FileLock

    path = Path(weights).expanduser()
    if read_manifest(path) is not None:
        return path.resolve()
    if not path.is_dir():
        raise WeightsError(
            f"SmartEdit weights {str(weights)!r}: no such directory; download TencentARC/SmartEdit-7B "
            "(or -13B) and pass its folder"
        )
    dst = release_cache(path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dst.with_name(dst.name + ".lock"))):
        return convert_smartedit(path, dst, progress=progress).folder
