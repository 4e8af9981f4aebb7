"""The editing-model contract. Adapters are thin: the runner owns seeding, batching, resume and files."""

from __future__ import annotations

import inspect
import math
import re
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

from PIL import Image

from realedit_bench.errors import ConfigError


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


@runtime_checkable
class ReportsSteps(Protocol):
    """An editor that reports the steps of each edit (e.g. denoising steps) to ``on_step(done, total)``.

    The runner sets ``on_step`` for its progress display, so a long edit shows progress before it ends.
    """

    on_step: Callable[[int, int], None] | None


class Prepared(NamedTuple):
    """A source photo as an editor's model sees it, and how it was made from the source.

    An editor with a ``prepare(image) -> Prepared`` method tells what its model was given: resizing the
    ``crop_box`` region of the source to ``size`` (Lanczos) gives ``image`` again.
    """

    #: The model's input.
    image: Image.Image
    #: (left, upper, right, lower) of the region of the source the model sees, in source pixels.
    crop_box: tuple[float, float, float, float]
    #: (width, height) of the model's input.
    size: tuple[int, int]


class WeightsConversion(NamedTuple):
    """What an editor's ``convert_weights(src, dst)`` classmethod did (``realedit weights convert``)."""

    #: The converted file or folder.
    path: Path
    #: False when ``path`` already held the conversion of the same source (nothing was written).
    converted: bool


def edit_batch(
    model: EditModel, images: Sequence[Image.Image], instructions: Sequence[str], seeds: Sequence[int]
) -> list[Image.Image]:
    """Use the model's own ``edit_batch`` when it has one, else edit one by one."""
    batched = getattr(model, "edit_batch", None)
    if callable(batched):
        return list(batched(images, instructions, seeds=seeds))
    return [model.edit(im, ins, seed=s) for im, ins, s in zip(images, instructions, seeds, strict=True)]


#: Setting -> the class attribute holding its documented default, where that is not ``default_<setting>``.
_DEFAULT_ATTRS = {"guidance_scale": "default_guidance", "image_guidance_scale": "default_image_guidance"}


def class_default(cls: type, setting: str) -> Any:
    """The default an editor class documents for ``setting`` (``default_steps`` for ``steps``), or None."""
    return getattr(cls, _DEFAULT_ATTRS.get(setting, f"default_{setting}"), None)


def describe(cls: type) -> dict[str, Any]:
    """The row ``realedit models`` prints for an adapter class (from class attributes only)."""
    return {
        "name": getattr(cls, "name", ""),
        "family": getattr(cls, "family", ""),
        # Editors without downloadable defaults say where their weights come from.
        "weights": class_default(cls, "weights") or getattr(cls, "weights_hint", None) or "-",
        "steps": class_default(cls, "steps"),
        "text_guidance": class_default(cls, "guidance_scale"),
        "image_guidance": class_default(cls, "image_guidance_scale"),
        "resolution": class_default(cls, "resolution"),
        "license": getattr(cls, "license", ""),
    }


class Setting(NamedTuple):
    """One constructor argument of an editor: a ``-M`` key."""

    name: str
    #: The resolved annotation (``str`` where there is none or it cannot be resolved).
    hint: Any
    #: The constructor's default, or ``inspect.Parameter.empty`` for a required argument.
    default: Any


def _settings_classes(cls: type) -> list[type]:
    """The classes whose constructors take an editor's settings, most derived first.

    A constructor that passes ``**settings`` on to its base's adds its own keyword arguments to the
    base's: the chain goes up the class hierarchy until a constructor without ``**``.
    """
    chain = []
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None or klass is object:
            continue
        chain.append(klass)
        if all(p.kind is not p.VAR_KEYWORD for p in inspect.signature(init).parameters.values()):
            break
    return chain


def settings(cls: type) -> list[Setting]:
    """The settings (``-M`` keys) of an editor class, base settings first, typed by their annotations."""
    found: dict[str, Setting] = {}
    for klass in reversed(_settings_classes(cls)):
        init = vars(klass)["__init__"]
        try:
            hints = typing.get_type_hints(init)
        except (NameError, TypeError):  # unresolved forward references: fall back to strings
            hints = {}
        for p in list(inspect.signature(init).parameters.values())[1:]:
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                # A subclass that declares a base setting again wins (its type, its default).
                found[p.name] = Setting(p.name, hints.get(p.name, str), p.default)
    return list(found.values())


#: "; default ``default_steps``": the default column says it already.
_DEFAULT_CLAUSE = re.compile(r"[;,]?\s*default ``default_\w+``")
#: A Sphinx role such as ":meth:`prepare`": shown as its target.
_ROLE = re.compile(r":\w+:`~?([^`]+)`")


def setting_help(cls: type) -> dict[str, str]:
    """What each setting of an editor means, from the ``Args:`` sections (Google style) of the docstrings
    of the classes whose constructors take its settings (class or ``__init__`` docstring; a subclass's
    wording wins). A setting documented nowhere is absent."""
    import docstring_parser

    found: dict[str, str] = {}
    for klass in reversed(_settings_classes(cls)):
        for doc in (klass.__doc__, vars(klass)["__init__"].__doc__):
            for p in docstring_parser.parse(doc or "", style=docstring_parser.DocstringStyle.GOOGLE).params:
                if not p.arg_name.startswith("*") and p.description:
                    text = _DEFAULT_CLAUSE.sub("", " ".join(p.description.split()))
                    found[p.arg_name] = _ROLE.sub(r"\1", text).replace("``", "")
    return found


def _parse(raw: str, target: Any) -> Any:
    """``raw`` as a ``target`` (bool, int, float; anything else stays a string); ValueError if it is not."""
    if target is bool:
        if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
            raise ValueError(raw)
        return raw.lower() in {"1", "true", "yes"}
    if target in (int, float):
        value = target(raw)
        if not math.isfinite(value):  # nan/inf would silently turn a feature off (nan > 1 is False)
            raise ValueError(raw)
        return value + 0  # -0.0 -> 0.0, so equal settings hash to the same run id
    return raw


def _coerce(key: str, raw: str, hint: Any) -> Any:
    """One ``-M key=value`` typed by the setting's annotation; a value of the wrong type is one line."""
    optional = type(None) in typing.get_args(hint)
    target = ([a for a in typing.get_args(hint) if a is not type(None)] or [hint])[0]
    if optional and raw.lower() in {"none", "null"}:
        return None
    try:
        return _parse(raw, target)
    except ValueError as exc:
        name = getattr(target, "__name__", target)
        expected = f"a finite {name}" if target is float else name
        raise ConfigError(f"-M {key}={raw}: expected {expected}") from exc


def coerce_overrides(cls: type[Any], overrides: dict[str, str]) -> dict[str, Any]:
    """Turn ``-M key=value`` strings into constructor arguments typed by the editor's :func:`settings`.

    Unknown keys are an error that lists the accepted ones.
    """
    known = {s.name: s for s in settings(cls)}
    out: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key not in known:
            raise ConfigError(f"model {getattr(cls, 'name', cls.__name__)!r} has no setting {key!r} "
                              f"(settings: {', '.join(known)})")
        out[key] = _coerce(key, raw, known[key].hint)
    return out
