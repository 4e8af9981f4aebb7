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


def coerce_overrides(cls: type[Any], overrides: dict[str, str]) -> dict[str, Any]:
    """Turn ``-M key=value`` strings into constructor arguments typed by ``cls.__init__``'s annotations.

    Unknown keys are an error that lists the accepted ones.
    """
    import inspect
    import math
    import typing

    from realedit_bench.errors import ConfigError

    sig = inspect.signature(cls.__init__)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # unresolved forward references: fall back to strings
        hints = {}
    accepted = [p for p in sig.parameters if p != "self"]
    out: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key not in sig.parameters or key == "self":
            raise ConfigError(f"model {getattr(cls, 'name', cls.__name__)!r} has no setting {key!r} "
                              f"(settings: {', '.join(accepted)})")
        hint = hints.get(key, str)
        args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
        target = args[0]
        try:
            if raw.lower() in {"none", "null"} and type(None) in typing.get_args(hint):
                out[key] = None
            elif target is bool:
                if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                    raise ValueError(raw)
                out[key] = raw.lower() in {"1", "true", "yes"}
            elif target in (int, float):
                value = target(raw)
                if not math.isfinite(value):  # nan/inf would silently turn a feature off (nan > 1 is False)
                    raise ValueError(raw)
                out[key] = value + 0  # -0.0 -> 0.0, so equal settings hash to the same run id
            else:
                out[key] = raw
        except ValueError as exc:
            raise ConfigError(f"-M {key}={raw}: expected a finite {getattr(target, '__name__', target)}" if target is float else f"-M {key}={raw}: expected {getattr(target, '__name__', target)}") from exc
    return out
