"""Safe image loading: check the header's size before decoding, convert to RGB, name the file in errors."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from realedit_bench.errors import DataError

#: Largest image we decode (pixels). Real-Edit's largest photo is far below this; a bigger file is
#: refused before decoding so a crafted header cannot exhaust memory (a "decompression bomb").
MAX_PIXELS = 64_000_000


def check_image_header(path: Path, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """Read only the header of ``path`` and return (width, height); refuse oversize or unreadable files."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # PIL warns above its own limit; ours (below) decides, so its warning is noise here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
    except FileNotFoundError as exc:
        raise DataError(f"image {path} does not exist") from exc
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
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
        with Image.open(path) as im:
            # Our own cap is checked above; lift PIL's global one only for this decode.
            im.load()
            # Upright as a person (and a browser) sees it: a phone photo stores its rotation in EXIF.
            # A no-op for images without an orientation tag (all of Real-Edit).
            return ImageOps.exif_transpose(im).convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"image {path} does not decode ({exc.__class__.__name__}: {exc})") from exc


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
