"""Safe image loading: a regular file only, its header's size checked before decoding, converted to RGB,
the file named in errors."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from realedit_bench.errors import DataError
from realedit_bench.userfiles import MAX_IMAGE_BYTES, open_regular

#: Largest image we decode (pixels). Real-Edit's largest photo is far below this; a bigger file is
#: refused before decoding so a crafted header cannot exhaust memory (a "decompression bomb").
MAX_PIXELS = 64_000_000


def open_image_file(path: Path) -> BinaryIO:
    """The image file ``path`` opened for reading: a regular file of at most
    :data:`~realedit_bench.userfiles.MAX_IMAGE_BYTES` (a named pipe is refused, never waited on)."""
    fd = open_regular(path, what="image", max_bytes=MAX_IMAGE_BYTES)
    return os.fdopen(fd, "rb")


def check_image_header(path: Path, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Read only the header of ``path`` and return (width, height); refuse oversize or unreadable files."""
    path = Path(path)
    try:
        with warnings.catch_warnings(), open_image_file(path) as fh:
            # PIL warns above its own limit; ours (below) decides, so its warning is noise here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(fh) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:  # PIL's own hard limit (about 179 MP) comes first
        raise DataError(
            f"image {path} is over {max_pixels:,} pixels, the cap (possible decompression bomb): {exc}"
        ) from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"image {path} is not a readable image ({exc.__class__.__name__})") from exc
    if width <= 0 or height <= 0:
        raise DataError(f"image {path} has an empty size {width}x{height}")
    if width * height > max_pixels:
        raise DataError(
            f"image {path} is {width}x{height} = {width * height:,} pixels, over the cap of "
            f"{max_pixels:,} (possible decompression bomb)"
        )
    return width, height


def load_image(path: Path, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``path`` to an RGB image after checking its header size; errors name the file."""
    check_image_header(path, max_pixels)
    try:
        with open_image_file(path) as fh, Image.open(fh) as im:
            im.load()
            # Upright as a person (and a browser) sees it: a phone photo stores its rotation in EXIF.
            # A no-op for images without an orientation tag (all of Real-Edit).
            return to_rgb(ImageOps.exif_transpose(im))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"image {path} does not decode ({exc.__class__.__name__}: {exc})") from exc


def to_rgb(im: Image.Image) -> Image.Image:
    """8-bit RGB as a viewer shows the image.

    PIL's ``convert("RGB")`` clips 16-bit greyscale (modes I;16, I) instead of scaling it, which turns a
    16-bit PNG nearly white; transparency is composited onto white, as a browser page shows it.
    """
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        import numpy as np

        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a regular file's bytes (a named pipe or a folder is refused in one line)."""
    h = hashlib.sha256()
    try:
        with os.fdopen(open_regular(path, max_bytes=1 << 62), "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return h.hexdigest()
