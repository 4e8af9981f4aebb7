"""Turn image files into the exact bytes a judge is sent, and hash those bytes.

The sha256 of the bytes as sent (not of the file) goes into the cache key and the judgment row, so a
changed image, a changed encoding or a changed resize all lead to a fresh judgment.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, NamedTuple

from realedit_bench.errors import DataError
from realedit_bench.images import check_image_header, load_image
from realedit_bench.userfiles import MAX_IMAGE_BYTES, read_bytes

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}


class EncodedImage(NamedTuple):
    """Image bytes as sent, their media type, sha256 and pixel size."""

    data: bytes
    mime: str
    sha256: str
    width: int
    height: int


def encode_bytes(raw: bytes, image_format: str, *, jpeg_quality: int = 90, max_side: int = 0) -> EncodedImage:
    """Encode an image given as file bytes (see :func:`encode_image`)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(raw)) as probe:
        src_format = (probe.format or "").lower()
        width, height = probe.size
        rotated = probe.getexif().get(0x0112, 1) not in (1, None)  # EXIF orientation
    needs_resize = max_side and max(width, height) > max_side
    if image_format == "original" and not needs_resize and not rotated:
        fmt = "jpeg" if src_format in ("jpg", "jpeg", "mpo") else src_format
        if fmt not in _MIME:
            raise DataError(
                f"image format {src_format!r} cannot be sent as is; use png or jpeg in the rubric"
            )
        return EncodedImage(raw, _MIME[fmt], hashlib.sha256(raw).hexdigest(), width, height)
    with Image.open(io.BytesIO(raw)) as im:
        im.load()
        # The judge sees the photo upright, as the editor did (realedit_bench.images.load_image).
        rgb = ImageOps.exif_transpose(im).convert("RGB")
    width, height = rgb.size
    if needs_resize:
        scale = max_side / max(width, height)
        rgb = rgb.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS
        )
    out = io.BytesIO()
    fmt = "jpeg" if image_format in ("jpeg", "original") else "png"
    if fmt == "jpeg":
        rgb.save(out, format="JPEG", quality=jpeg_quality)
    else:
        rgb.save(out, format="PNG", optimize=False)
    data = out.getvalue()
    return EncodedImage(data, _MIME[fmt], hashlib.sha256(data).hexdigest(), rgb.width, rgb.height)


def encode_image(path: Path, image_format: str, *, jpeg_quality: int = 90, max_side: int = 0) -> EncodedImage:
    """Read ``path`` (size-checked) and encode it as the rubric asks.

    Args:
        path: Image file.
        image_format: ``png``, ``jpeg`` or ``original`` (the file's bytes untouched unless resized).
        jpeg_quality: JPEG quality for ``jpeg``.
        max_side: Longest side after resizing; 0 keeps the size.

    Raises:
        DataError: the file is missing, unreadable or oversized.
    """
    path = Path(path)
    check_image_header(path)
    if image_format != "original":
        load_image(path)  # decodes fully once so a truncated file fails here, naming the file
    raw = read_bytes(path, what="image", max_bytes=MAX_IMAGE_BYTES)
    try:
        return encode_bytes(raw, image_format, jpeg_quality=jpeg_quality, max_side=max_side)
    except OSError as exc:
        raise DataError(f"image {path} does not decode ({exc})") from exc


def _file_id(path: Path) -> tuple[int, int, int, int]:
    """(device, inode, size, mtime) of ``path``: changes when the file is rewritten or replaced."""
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f"image {path} does not exist") from exc
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class ImageEncoder:
    """Memoised :func:`encode_image`: a source photo is shared by 7 edits x 3 perspectives x K asks.

    Entries are keyed on the file's (device, inode, size, mtime), so an image rewritten in place is
    encoded again. The memo is bounded by the bytes it holds (``max_bytes``), not by a count: a count
    of 64 was smaller than the 80 source photos a run cycles through, so every call re-encoded.
    """

    def __init__(
        self,
        image_format: str,
        *,
        jpeg_quality: int = 90,
        max_side: int = 0,
        max_bytes: int = 256 * 2**20,
        store: Any = None,
    ) -> None:
        self.image_format = image_format
        self.jpeg_quality = jpeg_quality
        self.max_side = max_side
        self.max_bytes = max_bytes
        #: Persistent (file sha, settings) -> (sha as sent, w, h) map with get/put, e.g. the judge cache's.
        self.store = store
        self._memo: OrderedDict[tuple, EncodedImage] = OrderedDict()
        self._memo_bytes = 0
        self._file_sha: dict[tuple, str] = {}
        self._sent: dict[str, tuple[str, int, int]] = {}
        self._lock = threading.Lock()

    def _settings_key(self, file_sha: str) -> str:
        return f"{file_sha}:{self.image_format}:{self.jpeg_quality}:{self.max_side}"

    def file_sha256(self, path: Path) -> str:
        """sha256 of the file's bytes (memoised on the file's identity: a rewritten file is hashed anew)."""
        path = Path(path)
        fkey = _file_id(path)
        sha = self._file_sha.get(fkey)
        if not sha:
            sha = hashlib.sha256(read_bytes(path, what="image", max_bytes=MAX_IMAGE_BYTES)).hexdigest()
            self._file_sha[fkey] = sha
        return sha

    def hashes(self, image: Path | bytes) -> tuple[str, tuple[int, int], str]:
        """sha256 and (width, height) as sent, and the sha256 of the file (or bytes) they came from."""
        file_sha = (
            hashlib.sha256(image).hexdigest()
            if isinstance(image, (bytes, bytearray))
            else self.file_sha256(image)
        )
        skey = self._settings_key(file_sha)
        known = self._sent.get(skey)
        if known is None and self.store is not None:
            known = self.store.get(skey)
        if known is None:
            enc = self(image)
            known = (enc.sha256, enc.width, enc.height)
            if self.store is not None:
                self.store.put(skey, known)
        self._sent[skey] = known
        return known[0], (known[1], known[2]), file_sha

    def cached(self, image: Path | bytes) -> EncodedImage | None:
        """The memoised encoding of a path, or None (never encodes; raw bytes are never memoised)."""
        if isinstance(image, (bytes, bytearray)):
            return None
        key = _file_id(Path(image))
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
            return hit

    def __call__(self, image: Path | bytes) -> EncodedImage:
        """Encode a path (memoised) or raw image bytes."""
        if isinstance(image, (bytes, bytearray)):
            return encode_bytes(
                bytes(image), self.image_format, jpeg_quality=self.jpeg_quality, max_side=self.max_side
            )
        path = Path(image)
        key = _file_id(path)
        with self._lock:
            hit = self._memo.get(key)
            if hit is not None:
                self._memo.move_to_end(key)
                return hit
        enc = encode_image(path, self.image_format, jpeg_quality=self.jpeg_quality, max_side=self.max_side)
        with self._lock:
            if key not in self._memo:
                self._memo[key] = enc
                self._memo_bytes += len(enc.data)
            while self._memo_bytes > self.max_bytes and len(self._memo) > 1:
                _, old = self._memo.popitem(last=False)
                self._memo_bytes -= len(old.data)
        return enc
