"""Thumbnails for the gallery, made once and cached by content.

A thumbnail is named by the sha256 of the image bytes and the size, so the cache can never serve a stale
picture after a file is replaced (a path-keyed cache could), and a rebuild with the same images writes
nothing. JPEG encoding by Pillow with fixed settings is deterministic, so identical inputs give identical
bytes.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import NamedTuple

from realedit_bench.errors import DataError
from realedit_bench.images import check_image_header, open_image_file, sha256_file, to_rgb
from realedit_bench.jsonio import atomic_write_bytes

#: Longest side of a gallery thumbnail, in pixels.
THUMB_SIDE = 256
_SUFFIX = ".jpg"
#: Pixel sizes of the cached thumbnails, kept beside them.
SIZES_FILE = "sizes.json"


class Thumb(NamedTuple):
    """A thumbnail file inside the site and its pixel size (for width/height attributes)."""

    name: str
    width: int
    height: int


class ThumbCache:
    """Makes and remembers thumbnails in ``<site>/thumbs/``."""

    def __init__(self, folder: Path, side: int = THUMB_SIDE) -> None:
        self.folder = Path(folder)
        self.side = side
        self.used: set[str] = set()
        self.made = 0
        self._by_sha: dict[str, Thumb | None] = {}
        # name -> (width, height) of every cached file, so a warm build opens no image at all.
        self._sizes: dict[str, tuple[int, int]] = {}
        index = self.folder / SIZES_FILE
        if index.is_file():
            try:
                self._sizes = {k: (int(v[0]), int(v[1])) for k, v in json.loads(index.read_text()).items()}
            except (ValueError, TypeError, IndexError, KeyError):
                self._sizes = {}  # a damaged index only costs re-reading the headers

    def get(self, path: Path, sha256: str | None = None) -> Thumb | None:
        """The thumbnail of ``path`` (made if absent); None when the image is missing or unreadable.

        Args:
            path: the full-size image.
            sha256: its hex sha256 when already known (``edits.jsonl`` records it); hashed otherwise.
        """
        path = Path(path)
        if not path.is_file():
            return None
        digest = sha256 or sha256_file(path)
        if digest in self._by_sha:
            thumb = self._by_sha[digest]
        else:
            thumb = self._make(path, digest)
            self._by_sha[digest] = thumb
        if thumb is not None:
            self.used.add(thumb.name)
        return thumb

    def _make(self, path: Path, digest: str) -> Thumb | None:
        from PIL import Image, ImageOps

        name = f"{digest[:32]}-{self.side}{_SUFFIX}"
        target = self.folder / name
        if target.is_file() and name in self._sizes:
            return Thumb(name, *self._sizes[name])
        if target.is_file():
            try:
                with Image.open(target) as im:
                    self._sizes[name] = im.size
                    return Thumb(name, *im.size)
            except OSError:
                pass  # a damaged cache file is simply made again
        try:
            check_image_header(path)
            with open_image_file(path) as fh, Image.open(fh) as im:  # a regular file, never a pipe
                im.draft("RGB", (self.side, self.side))  # JPEG: decode at a reduced scale, much faster
                # Upright and in 8-bit RGB as the editors, metrics and judge see it: 16-bit scaled (not
                # clipped to white), transparency over white (realedit_bench.images.load_image).
                rgb = to_rgb(ImageOps.exif_transpose(im))
        except (DataError, OSError, ValueError):
            return None
        rgb.thumbnail((self.side, self.side), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        rgb.save(buf, format="JPEG", quality=82, optimize=False, progressive=False)
        atomic_write_bytes(target, buf.getvalue())
        os.chmod(target, 0o644)  # served by a static host as another user
        self.made += 1
        self._sizes[name] = rgb.size
        return Thumb(name, *rgb.size)

    def prune(self) -> int:
        """Delete cached thumbnails no page of this build uses, save the size index; return how many."""
        removed = 0
        if not self.folder.is_dir():
            return 0
        for p in self.folder.glob(f"*{_SUFFIX}"):
            if p.name not in self.used:
                p.unlink()
                removed += 1
        sizes = {k: list(v) for k, v in sorted(self._sizes.items()) if k in self.used}
        atomic_write_bytes(self.folder / SIZES_FILE, json.dumps(sizes, sort_keys=True).encode())
        os.chmod(self.folder / SIZES_FILE, 0o644)
        return removed
