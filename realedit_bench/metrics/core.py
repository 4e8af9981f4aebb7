"""The metrics: plain callables over one measured item, reading embeddings from a shared store.

Definitions follow the MagicBrush evaluation protocol (``evaluation/image_eval.py``):

* ``l1`` / ``l2``: mean absolute / mean squared difference of [0, 1] RGB tensors, after resizing the
  edited image to the reference's size (PIL bicubic, the default of ``Image.resize`` there);
* ``clip_i``: cosine similarity of the CLIP image embeddings of the edited and the reference image;
* ``dino``: cosine similarity of the DINO CLS features of the same two images;
* ``clip_t``: cosine similarity of the edited image's CLIP embedding and the caption's text
  embedding (MagicBrush: the local description of the ground-truth output);
* ``clip_dir``: InstructPix2Pix's directional CLIP similarity, the cosine of
  ``E(edited) - E(source)`` and ``E_text(output caption) - E_text(input caption)``.

The reference is the ground-truth target where the benchmark has one (MagicBrush) and the source
photo otherwise (Real-Edit), where the image metrics measure preservation, not edit quality.
Embeddings are computed in batches by :class:`FeatureStore` and shared between metrics (CLIP-I,
CLIP-T and directional CLIP reuse one CLIP forward of each image) and between the edits of one
source photo (keyed on the image file's sha256, never on its path).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np
from PIL import Image


class Item(NamedTuple):
    """One edited image and what it is compared with."""

    sample_id: str
    edited: Image.Image
    #: sha256 of the edited image file (cache key of its embeddings).
    edited_key: str
    reference: Image.Image
    reference_key: str
    #: The unedited input (for directional CLIP); equal to ``reference`` on source-referenced benchmarks.
    source: Image.Image
    source_key: str
    #: Captions: ``caption`` (CLIP-T), ``input_caption`` / ``output_caption`` (directional CLIP).
    extra: dict[str, Any]


class FeatureStore:
    """Embeddings of images (by content key) and texts, computed batch-wise by the loaded encoders."""

    def __init__(self, encoders: dict[str, Any]) -> None:
        self.encoders = encoders
        self._images: dict[tuple[str, str], Any] = {}
        self._texts: dict[str, Any] = {}

    def fill_images(self, encoder: str, images: Sequence[tuple[str, Image.Image]]) -> None:
        """Embed every image not yet embedded by ``encoder`` in one forward pass."""
        todo: dict[str, Image.Image] = {}
        for key, im in images:
            if (encoder, key) not in self._images and key not in todo:
                todo[key] = im
        if not todo:
            return
        feats = self.encoders[encoder].encode_images(list(todo.values()))
        for key, f in zip(todo, feats, strict=True):
            self._images[(encoder, key)] = f

    def fill_texts(self, texts: Sequence[str]) -> None:
        """Embed every caption not yet embedded, in one CLIP text forward pass."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._texts))
        if not todo:
            return
        feats = self.encoders["clip"].encode_texts(todo)
        for t, f in zip(todo, feats, strict=True):
            self._texts[t] = f

    def image(self, encoder: str, key: str) -> Any:
        """The stored embedding of image ``key`` by ``encoder``."""
        return self._images[(encoder, key)]

    def text(self, text: str) -> Any:
        """The stored CLIP embedding of ``text``."""
        return self._texts[text]

    def forget(self, keys: Sequence[str]) -> None:
        """Drop embeddings of images that will not be seen again (edited images of a finished batch)."""
        drop = set(keys)
        for k in [k for k in self._images if k[1] in drop]:
            del self._images[k]


def cosine(a: Any, b: Any) -> float:
    """Cosine similarity of two 1-D vectors, computed in float64."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    den = float(np.linalg.norm(x) * np.linalg.norm(y))
    if den == 0.0:
        return float("nan")
    return float(np.dot(x, y) / den)


def _unit(v: Any) -> np.ndarray:
    """``v`` as a float64 vector of length 1 (a zero vector stays zero)."""
    x = np.asarray(v, dtype=np.float64).ravel()
    n = float(np.linalg.norm(x))
    return x / n if n > 0 else x


def to_unit_tensor(image: Image.Image) -> np.ndarray:
    """RGB image as a float32 (H, W, 3) array in [0, 1] (what ``ToTensor`` gives, channel-last)."""
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def pixel_pair(edited: Image.Image, reference: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The two images as [0, 1] arrays, the edited one resized (bicubic) to the reference's size."""
    edited = edited.convert("RGB")
    if edited.size != reference.size:
        edited = edited.resize(reference.size, Image.Resampling.BICUBIC)
    return to_unit_tensor(edited), to_unit_tensor(reference)


class Metric:
    """Base of the metrics. Subclasses set the class attributes and implement ``__call__``."""

    name: ClassVar[str] = ""
    #: Display name, e.g. "CLIP-I".
    label: ClassVar[str] = ""
    #: Encoder the metric needs ("clip", "dino") or None.
    encoder: ClassVar[str | None] = None
    #: ``Sample.extra`` keys the metric needs; the metric is skipped for samples without them.
    captions: ClassVar[tuple[str, ...]] = ()
    #: True when the metric compares with the reference image (source or target); False for text metrics.
    uses_reference: ClassVar[bool] = True
    #: Higher is better (False for distances).
    higher_is_better: ClassVar[bool] = True
    #: Bumped when the formula changes, so stored values of the old formula are measured again.
    definition: ClassVar[int] = 1

    def applies(self, item: Item) -> bool:
        """Whether the item has what this metric needs."""
        return all(isinstance(item.extra.get(k), str) and item.extra.get(k, "").strip()
                   for k in self.captions)

    def images(self, item: Item) -> list[tuple[str, Image.Image]]:
        """(key, image) pairs the metric needs embedded by its encoder."""
        return [(item.edited_key, item.edited), (item.reference_key, item.reference)]

    def texts(self, item: Item) -> list[str]:
        """Captions the metric needs embedded."""
        return [item.extra[k] for k in self.captions]

    def __call__(self, item: Item, store: FeatureStore) -> float:
        """The metric's value for one item."""
        raise NotImplementedError


class L1(Metric):
    """Mean absolute pixel difference (lower is closer)."""

    name = "l1"
    label = "L1"
    higher_is_better = False

    def images(self, item: Item) -> list[tuple[str, Image.Image]]:
        """No embeddings: a pixel metric."""
        return []

    def __call__(self, item: Item, store: FeatureStore) -> float:
        """``mean(|edited - reference|)`` over every pixel and channel."""
        a, b = pixel_pair(item.edited, item.reference)
        return float(np.mean(np.abs(a - b), dtype=np.float64))


class L2(L1):
    """Mean squared pixel difference (``MSELoss``; no square root, as the protocol reports it)."""

    name = "l2"
    label = "L2"

    def __call__(self, item: Item, store: FeatureStore) -> float:
        """``mean((edited - reference)^2)`` over every pixel and channel."""
        a, b = pixel_pair(item.edited, item.reference)
        d = a.astype(np.float64) - b
        return float(np.mean(d * d))


class _ImageCosine(Metric):
    """Cosine similarity of the ``encoder`` features of the edited and the reference image."""

    encoder: ClassVar[str]

    def __call__(self, item: Item, store: FeatureStore) -> float:
        """Cosine of the two stored features."""
        enc = self.encoder
        return cosine(store.image(enc, item.edited_key), store.image(enc, item.reference_key))


class ClipI(_ImageCosine):
    """Cosine similarity of CLIP image embeddings of the edited and the reference image."""

    name = "clip_i"
    label = "CLIP-I"
    encoder = "clip"


class Dino(_ImageCosine):
    """Cosine similarity of DINO ViT-S/16 CLS features of the edited and the reference image."""

    name = "dino"
    label = "DINO"
    encoder = "dino"


class ClipT(Metric):
    """Cosine similarity of the edited image's CLIP embedding and the caption's text embedding."""

    name = "clip_t"
    label = "CLIP-T"
    encoder = "clip"
    captions = ("caption",)
    uses_reference = False

    def images(self, item: Item) -> list[tuple[str, Image.Image]]:
        """Only the edited image."""
        return [(item.edited_key, item.edited)]

    def __call__(self, item: Item, store: FeatureStore) -> float:
        """Cosine of image and caption embeddings."""
        return cosine(store.image("clip", item.edited_key), store.text(item.extra["caption"]))


class ClipDirectional(Metric):
    """InstructPix2Pix's directional CLIP similarity (image change vs caption change)."""

    name = "clip_dir"
    label = "CLIP-dir"
    encoder = "clip"
    captions = ("input_caption", "output_caption")
    uses_reference = False
    definition = 2  # 1 subtracted unnormalised embeddings (not InstructPix2Pix's formula)

    def images(self, item: Item) -> list[tuple[str, Image.Image]]:
        """The edited image and the unedited source."""
        return [(item.edited_key, item.edited), (item.source_key, item.source)]

    def __call__(self, item: Item, store: FeatureStore) -> float:
        """Cosine of ``e(edited) - e(source)`` and ``e(output caption) - e(input caption)``, where ``e`` is
        the L2-normalised CLIP embedding, as InstructPix2Pix's ``metrics/clip_similarity.py`` defines it.

        An unchanged image has no direction: 0, as ``F.cosine_similarity`` (with its eps) gives there.
        """
        d_img = _unit(store.image("clip", item.edited_key)) - _unit(store.image("clip", item.source_key))
        d_txt = (_unit(store.text(item.extra["output_caption"]))
                 - _unit(store.text(item.extra["input_caption"])))
        value = cosine(d_img, d_txt)
        return 0.0 if math.isnan(value) else value


def label_for(metric: Metric, reference: str) -> str:
    """Display label; image metrics against the source photo are named as preservation measures."""
    if reference == "source" and metric.uses_reference:
        return f"{metric.label} to source (preservation)"
    if metric.uses_reference:
        return f"{metric.label} to target"
    return metric.label
