"""Gallery thumbnails of images in unusual modes."""

from __future__ import annotations

import numpy as np
from PIL import Image

from leaderboard.thumbs import ThumbCache


def test_thumbnails_of_16_bit_and_transparent_pngs(tmp_path):
    grey16 = tmp_path / "grey16.png"
    Image.fromarray(np.full((40, 40), 32768, dtype=np.uint16)).save(grey16)
    assert Image.open(grey16).mode.startswith("I")
    clear = tmp_path / "clear.png"
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(clear)
    cache = ThumbCache(tmp_path / "thumbs")
    for path, expect in ((grey16, 128), (clear, 255)):
        thumb = cache.get(path)
        assert thumb is not None
        with Image.open(tmp_path / "thumbs" / thumb.name) as im:
            r, g, b = im.convert("RGB").getpixel((20, 20))
        # Mid-grey stays mid-grey (not clipped to white); transparency is white, as metrics and judge see it.
        assert all(abs(c - expect) <= 3 for c in (r, g, b)), (path.name, (r, g, b))
