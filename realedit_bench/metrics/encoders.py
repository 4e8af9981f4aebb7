"""The metric models (CLIP and DINO), loaded once per process, pinned and recorded.

Defaults follow the MagicBrush evaluation script (``evaluation/image_eval.py`` of
OSU-NLP-Group/MagicBrush), which the published CLIP-I / CLIP-T / DINO tables use:

* **CLIP**: OpenAI's ViT-B/32 weights, here through open_clip as ``ViT-B-32-quickgelu`` with the
  ``openai`` tag. The ``-quickgelu`` name matters: OpenAI trained ViT-B/32 with QuickGELU, and plain
  ``ViT-B-32`` in open_clip 3.x builds GELU layers (open_clip only warns about the mismatch), which
  would shift every embedding. The image transform is open_clip's own for that model (resize the
  shorter side to 224 bicubic, centre crop 224, OpenAI mean/std), the same as ``clip.load``'s.
* **DINO**: ViT-S/16 (``facebook/dino-vits16`` through transformers), the CLS token of the last
  layer (after the final layer norm, as the torch.hub ``dino_vits16`` returns it), on images resized
  to 256 (shorter side, bicubic), centre-cropped to 224 and normalised with ImageNet mean/std.

Local weights
-------------
``--clip-weights PATH`` takes either

* a **directory** in open_clip's hub layout: ``open_clip_config.json`` (``{"model_cfg": {...},
  "preprocess_cfg": {...}}``) beside one checkpoint (``open_clip_model.safetensors``,
  ``open_clip_pytorch_model.bin``, ...). ``hf download timm/vit_base_patch32_clip_224.openai
  --local-dir DIR`` produces such a directory; or
* a **checkpoint file** (``.safetensors``, ``.bin``, ``.pt``) holding a state dict for the open_clip
  architecture named by ``--clip-model`` (default ``ViT-B-32-quickgelu``).

``--dino-weights DIR`` takes a transformers directory written by ``save_pretrained`` (``config.json``
plus ``model.safetensors``), e.g. ``hf download facebook/dino-vits16 --local-dir DIR``.

When the default weights cannot be fetched (no network), :func:`load_available` leaves their metrics out
with one line saying how to make such a folder; local weights that do not load are an error to fix.

Every model is recorded as ``{id, revision, path, sha256}``: the hub commit when the weights came
from the Hugging Face cache, and the sha256 of the checkpoint file, so two numbers can be checked to
come from the same weights.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from PIL import Image

from realedit_bench.errors import WeightsError
from realedit_bench.metrics.core import Metric

#: open_clip architecture and pretrained tag of the protocol's CLIP (OpenAI ViT-B/32).
DEFAULT_CLIP_MODEL = "ViT-B-32-quickgelu"
DEFAULT_CLIP_PRETRAINED = "openai"
#: transformers id of the protocol's DINO ViT-S/16.
DEFAULT_DINO_ID = "facebook/dino-vits16"
DEFAULT_DINO_REVISION = "main"

#: ImageNet statistics used by DINO's evaluation transform.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: DINO transform sizes of the protocol.
DINO_RESIZE = 256
DINO_CROP = 224

_SNAPSHOT = re.compile(r"snapshots[/\\]([0-9a-f]{40})[/\\]")
_CKPT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _hub_commit(path: str | Path | None) -> str | None:
    """The commit hash of a file that lives in a Hugging Face cache snapshot, else None."""
    if path is None:
        return None
    m = _SNAPSHOT.search(str(path))
    return m.group(1) if m else None


def resolve_device(device: str) -> str:
    """Turn ``auto`` into ``cuda`` when a GPU is visible, else ``cpu``; refuse an unusable choice.

    Raises:
        ConfigError: ``cuda`` is asked for and no GPU (or not that GPU) is visible, or the name is not a
            device.
    """
    from realedit_bench.devices import check_device

    if check_device(device) == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def check_clip_weights(path: Path | None) -> None:
    """Validate ``--clip-weights`` before anything loads (missing files give one clear line)."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        if not (path / "open_clip_config.json").is_file():
            raise WeightsError(
                f"--clip-weights {path}: no open_clip_config.json in this directory (expected open_clip's "
                f"hub layout: open_clip_config.json + open_clip_model.safetensors)"
            )
        if not any(p.suffix in _CKPT_SUFFIXES for p in path.iterdir()):
            raise WeightsError(f"--clip-weights {path}: no checkpoint (*.safetensors, "
                               "*.bin, *.pt) in this directory")
    elif path.is_file():
        if path.suffix not in _CKPT_SUFFIXES:
            raise WeightsError(f"--clip-weights {path}: not a checkpoint file ({', '.join(_CKPT_SUFFIXES)})")
    else:
        raise WeightsError(f"--clip-weights {path} does not exist")


def check_dino_weights(path: Path | None) -> None:
    """Validate ``--dino-weights`` before anything loads."""
    if path is None:
        return
    path = Path(path)
    if not path.is_dir():
        raise WeightsError(f"--dino-weights {path} is not a directory (give a save_pretrained directory)")
    if not (path / "config.json").is_file():
        raise WeightsError(f"--dino-weights {path}: no config.json (expected a "
                           "transformers save_pretrained directory)")
    if not any(p.suffix in (".safetensors", ".bin") for p in path.iterdir()):
        raise WeightsError(f"--dino-weights {path}: no weights file (model.safetensors or pytorch_model.bin)")


class _ImageEncoder:
    """What the metrics call on an image encoder: its preprocessing, then one forward pass per batch."""

    preprocess: Callable[[Image.Image], Any]
    _torch: Any

    def transform(self, images: Sequence[Image.Image]) -> Any:
        """The protocol's preprocessing of ``images`` as one (N, 3, H, W) tensor."""
        return self._torch.stack([self.preprocess(im) for im in images])

    def encode_pixels(self, pixels: Any) -> Any:
        """Features (float32 on CPU) of a preprocessed batch."""
        raise NotImplementedError

    def encode_images(self, images: Sequence[Image.Image]) -> Any:
        """Features of PIL images, in one forward pass."""
        return self.encode_pixels(self.transform(images))


class ClipEncoder(_ImageEncoder):
    """An open_clip model with its evaluation transform and tokenizer.

    Args:
        weights: ``--clip-weights`` (directory or checkpoint file), or None for the hub default.
        model_name: open_clip architecture (used with a checkpoint file or the hub default).
        pretrained: open_clip pretrained tag for the hub default.
        device: torch device string.
    """

    def __init__(
        self,
        weights: Path | None = None,
        *,
        model_name: str = DEFAULT_CLIP_MODEL,
        pretrained: str = DEFAULT_CLIP_PRETRAINED,
        device: str = "cpu",
    ) -> None:
        import open_clip
        import torch

        check_clip_weights(weights)
        self.device = device
        checkpoint: str | None = None
        try:
            if weights is not None and Path(weights).is_dir():
                name = f"local-dir:{Path(weights)}"
                model, _, preprocess = open_clip.create_model_and_transforms(name, device=device)
                tokenizer = open_clip.get_tokenizer(name)
                checkpoint = _checkpoint_in_dir(Path(weights))
                ident = f"local:{Path(weights).name}"
            elif weights is not None:
                model, _, preprocess = open_clip.create_model_and_transforms(
                    model_name, pretrained=str(weights), device=device
                )
                tokenizer = open_clip.get_tokenizer(model_name)
                checkpoint = str(weights)
                ident = f"{model_name}/local:{Path(weights).name}"
            else:
                model, _, preprocess = open_clip.create_model_and_transforms(
                    model_name, pretrained=pretrained, device=device
                )
                tokenizer = open_clip.get_tokenizer(model_name)
                cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
                checkpoint = _cached_open_clip_file(cfg)
                ident = f"{model_name}/{pretrained}"
        except (RuntimeError, OSError, ValueError, KeyError) as exc:
            if weights is not None:
                raise WeightsError(
                    f"CLIP weights from {weights} could not be loaded ({_first_line(exc)}); pass "
                    f"--clip-weights DIR holding open_clip_config.json + a checkpoint"
                ) from exc
            hub = (open_clip.get_pretrained_cfg(model_name, pretrained) or {}).get("hf_hub", "").rstrip("/")
            raise WeightsError(
                f"CLIP weights {model_name}/{pretrained} could not be loaded from the Hugging Face hub "
                f"({_first_line(exc)}); " + _offline_copy(hub, "--clip-weights")
            ) from exc
        model.eval()
        self.model = model
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.dim = int(getattr(model, "embed_dim", 0) or model.visual.output_dim)
        self.ref = {
            "id": ident,
            "revision": _hub_commit(checkpoint),
            "path": str(checkpoint) if checkpoint else None,
            "sha256": _sha256(Path(checkpoint)) if checkpoint and Path(checkpoint).is_file() else None,
            "library": f"open_clip {getattr(open_clip, '__version__', '?')}",
            "device": device,
        }
        self._torch = torch

    def encode_pixels(self, pixels: Any) -> Any:
        """Image embeddings (unnormalised, float32 on CPU) of a preprocessed batch."""
        with self._torch.inference_mode():
            return self.model.encode_image(pixels.to(self.device)).float().cpu()

    def encode_texts(self, texts: Sequence[str]) -> Any:
        """Text embeddings (unnormalised, float32 on CPU); captions longer than 77 tokens are truncated."""
        with self._torch.inference_mode():
            tokens = self.tokenizer(list(texts)).to(self.device)
            return self.model.encode_text(tokens).float().cpu()


def _checkpoint_in_dir(path: Path) -> str | None:
    """The checkpoint open_clip picks in a local directory (its preference order), to hash and record."""
    for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
                 "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth", "model.safetensors",
                 "pytorch_model.bin", "pytorch_model.pth", "model.pth"):
        if (path / name).is_file():
            return str(path / name)
    found = sorted((p for p in path.iterdir() if p.suffix in _CKPT_SUFFIXES),
                   key=lambda p: (p.suffix != ".safetensors", p.name))
    return str(found[0]) if found else None


def _cached_open_clip_file(cfg: dict[str, Any]) -> str | None:
    """Where open_clip's download of a pretrained tag lies in the hub cache (to record its commit)."""
    hub = (cfg or {}).get("hf_hub") or ""
    if not hub:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency of open_clip
        return None
    repo = hub.rstrip("/")
    for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return found
    return None


def _first_line(exc: BaseException) -> str:
    """The error's type and first line, whole (a message cut mid-word hides what to do)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {' '.join(text[0].split())}" if text else type(exc).__name__


def _offline_copy(repo: str, flag: str) -> str:
    """How to make a local copy of hub weights and use it."""
    if not repo:
        return f"pass {flag} DIR (a local copy of the weights)"
    return (f"save them once where the hub is reachable with 'hf download {repo} --local-dir DIR' and pass "
            f"{flag} DIR")


class Quiet:
    """Silence library loggers and progress bars while loading: failures become our one-line error."""

    def __enter__(self) -> None:
        import logging

        logging.disable(logging.ERROR)
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover
            pass

    def __exit__(self, *exc: object) -> None:
        import logging

        logging.disable(logging.NOTSET)


def dino_transform() -> Callable[[Image.Image], Any]:
    """The protocol's DINO transform: resize 256 bicubic, centre crop 224, ImageNet normalisation."""
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.Resize(DINO_RESIZE, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(DINO_CROP),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


class DinoEncoder(_ImageEncoder):
    """A DINO ViT (transformers) returning the final CLS token as the image feature.

    Args:
        weights: ``--dino-weights`` directory, or None for ``model_id`` from the hub.
        model_id: hub id used when ``weights`` is None.
        revision: hub revision (branch, tag or commit) used when ``weights`` is None.
        device: torch device string.
    """

    def __init__(
        self,
        weights: Path | None = None,
        *,
        model_id: str = DEFAULT_DINO_ID,
        revision: str = DEFAULT_DINO_REVISION,
        device: str = "cpu",
    ) -> None:
        import torch
        import transformers
        from transformers import AutoModel

        check_dino_weights(weights)
        source = str(weights) if weights is not None else model_id
        kwargs: dict[str, Any] = {} if weights is not None else {"revision": revision}
        try:
            try:
                # DINO checkpoints carry no pooler; asking for none avoids randomly initialised layers.
                model = AutoModel.from_pretrained(source, add_pooling_layer=False, **kwargs)
            except TypeError:
                model = AutoModel.from_pretrained(source, **kwargs)
        except (OSError, ValueError, RuntimeError) as exc:
            if weights is not None:
                raise WeightsError(
                    f"DINO weights {source!r} could not be loaded ({_first_line(exc)}); pass --dino-weights "
                    f"DIR (a save_pretrained directory of {DEFAULT_DINO_ID})"
                ) from exc
            raise WeightsError(
                f"DINO weights {source!r} could not be loaded from the Hugging Face hub "
                f"({_first_line(exc)}); " + _offline_copy(model_id, "--dino-weights")
            ) from exc
        model.eval().to(device)
        self.model = model
        self.device = device
        self.preprocess = dino_transform()
        self.dim = int(model.config.hidden_size)
        weights_file = None
        if weights is not None:
            weights_file = next(
                (Path(weights) / n for n in ("model.safetensors", "pytorch_model.bin")
                 if (Path(weights) / n).is_file()),
                None,
            )
        self.ref = {
            "id": model_id if weights is None else f"local:{Path(weights).name}",
            "revision": getattr(model.config, "_commit_hash", None)
            or (revision if weights is None else None),
            "path": str(weights) if weights is not None else None,
            "sha256": _sha256(weights_file) if weights_file is not None else None,
            "library": f"transformers {transformers.__version__}",
            "device": device,
        }
        self._torch = torch

    def encode_pixels(self, pixels: Any) -> Any:
        """CLS features (float32 on CPU) of a preprocessed batch."""
        with self._torch.inference_mode():
            out = self.model(pixel_values=pixels.to(self.device))
            return out.last_hidden_state[:, 0].float().cpu()


def describe_refs(refs: dict[str, dict[str, Any]]) -> str:
    """One short line naming the metric models, for the console."""
    return ", ".join(f"{k}={v.get('id')}@{(v.get('revision') or '-')[:12]}" for k, v in sorted(refs.items()))


def load_encoders(
    metrics: Sequence[Metric],
    *,
    clip_weights: Path | None = None,
    clip_model: str | None = None,
    clip_pretrained: str | None = None,
    dino_weights: Path | None = None,
    dino_id: str | None = None,
    dino_revision: str | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Load (once) the encoders the metrics need. Raises WeightsError with one line when unreachable."""
    need = {m.encoder for m in metrics if m.encoder}
    # Validate local paths of every needed encoder before loading any (no half-done work).
    if "clip" in need:
        check_clip_weights(clip_weights)
    if "dino" in need:
        check_dino_weights(dino_weights)
    out: dict[str, Any] = {}
    with Quiet():
        if "dino" in need:  # the smaller download first: an unreachable hub is found out sooner
            out["dino"] = DinoEncoder(
                dino_weights,
                model_id=dino_id or DEFAULT_DINO_ID,
                revision=dino_revision or DEFAULT_DINO_REVISION,
                device=device,
            )
        if "clip" in need:
            out["clip"] = ClipEncoder(
                clip_weights,
                model_name=clip_model or DEFAULT_CLIP_MODEL,
                pretrained=clip_pretrained or DEFAULT_CLIP_PRETRAINED,
                device=device,
            )
    return out


class Available(NamedTuple):
    """The encoders that loaded, and why each of the others could not (one line each, with the way out)."""

    encoders: dict[str, Any]
    failed: dict[str, str]


def load_available(
    metrics: Sequence[Metric],
    *,
    clip_weights: Path | None = None,
    clip_model: str | None = None,
    clip_pretrained: str | None = None,
    dino_weights: Path | None = None,
    dino_revision: str | None = None,
    device: str = "cpu",
) -> Available:
    """Load the encoders the metrics need, as :func:`load_encoders` does, leaving out (with the reason) each
    whose default hub weights cannot be loaded, e.g. with no network.

    Local weights the user named still raise WeightsError: they are input to fix, not a missing download.
    """
    need = {m.encoder for m in metrics if m.encoder}
    if "clip" in need:
        check_clip_weights(clip_weights)
    if "dino" in need:
        check_dino_weights(dino_weights)
    given = {"clip": clip_weights, "dino": dino_weights}
    loaded: dict[str, Any] = {}
    failed: dict[str, str] = {}
    for name in sorted(need, key=("dino", "clip").index):  # the smaller download first
        try:
            loaded.update(load_encoders(
                [m for m in metrics if m.encoder == name], clip_weights=clip_weights, clip_model=clip_model,
                clip_pretrained=clip_pretrained, dino_weights=dino_weights, dino_revision=dino_revision,
                device=device,
            ))
        except WeightsError as exc:
            if given[name] is not None:
                raise
            failed[name] = str(exc)
    return Available(loaded, failed)
