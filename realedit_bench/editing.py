"""The editing-model contract. Adapters are thin: the runner owns seeding, batching, resume and files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, runtime_checkable

from PIL import Image


@runtime_checkable
class EditModel(Protocol):
    """An instruction-based image editor.

    Class attributes describe the model for ``realedit models``; the constructor takes every setting
    as a keyword argument (``-M key=value`` on the command line) and ``params()`` reports them resolved.
    """

    #: Registry name and family, default weights id, licence, default resolution (for ``realedit models``).
    name: ClassVar[str]
    family: ClassVar[str]
    default_weights: ClassVar[str | None]
    license: ClassVar[str]

    def params(self) -> dict[str, Any]:
        """Every resolved setting that influences the output (recorded in the manifest)."""
        ...

    def edit(self, image: Image.Image, instruction: str, *, seed: int) -> Image.Image:
        """Edit one image as the instruction says, deterministically for a given seed."""
        ...


def edit_batch(
    model: EditModel, images: Sequence[Image.Image], instructions: Sequence[str], seeds: Sequence[int]
) -> list[Image.Image]:
    """Use the model's own ``edit_batch`` when it has one, else edit one by one."""
    batched = getattr(model, "edit_batch", None)
    if callable(batched):
        return list(batched(images, instructions, seeds=seeds))
    return [model.edit(im, ins, seed=s) for im, ins, s in zip(images, instructions, seeds, strict=True)]


def describe(cls: type) -> dict[str, Any]:
    """The row ``realedit models`` prints for an adapter class (from class attributes only)."""
    return {
        "name": getattr(cls, "name", ""),
        "family": getattr(cls, "family", ""),
        "weights": getattr(cls, "default_weights", None) or "-",
        "steps": getattr(cls, "default_steps", None),
        "text_guidance": getattr(cls, "default_guidance", None),
        "image_guidance": getattr(cls, "default_image_guidance", None),
        "resolution": getattr(cls, "default_resolution", None),
        "license": getattr(cls, "license", ""),
    }
