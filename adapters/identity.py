"""Identity: returns the source image unchanged.

The honest reference for the judge: it should fail instruction following and ace detail preserving.
No weights, no licence constraints.
"""

from __future__ import annotations

from typing import Any, ClassVar

from PIL import Image


class Identity:
    """An 'editor' that edits nothing.

    Args:
        device: Accepted so that the common options work; the copy is made on the CPU.
        dtype: Accepted likewise; changes nothing.
        weights: Accepted likewise; there are none.
        revision: Accepted likewise; changes nothing.
    """

    name: ClassVar[str] = "identity"
    family: ClassVar[str] = "baseline"
    default_weights: ClassVar[str | None] = None
    license: ClassVar[str] = "n/a"
    default_resolution: ClassVar[int | None] = None

    def __init__(self, device: str = "auto", dtype: str = "auto", weights: str | None = None,
                 revision: str | None = None) -> None:
        # device/dtype/weights are accepted so the generic CLI flags work; they change nothing here.
        self.device = "cpu"
        self.dtype = "none"

    def params(self) -> dict[str, Any]:
        """No settings: the output is the input."""
        return {"device": self.device, "dtype": self.dtype}

    def edit(self, image: Image.Image, instruction: str, *, seed: int) -> Image.Image:
        """Return a copy of ``image``."""
        return image.copy()
