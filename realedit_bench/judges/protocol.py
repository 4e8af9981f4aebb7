"""Judging protocols: realedit's own, and the authors' (``realedit judge --protocol paper``).

A protocol gives the defaults of everything that shapes a judge's request. Each can still be set by hand;
a setting that differs from the protocol's is recorded (the summary's ``overrides``), and the summary's
``sent`` says what every request carried.

``paper`` is what the authors' scripts send (``bytedance/Multi-Reward-Editing``: ``gpt_eval/eval_*.py``
called by ``eval.py``):

* their prompts, read from their scripts (:mod:`realedit_bench.judges.paper_prompts`), and their parser
  (``--parse paper``: ``'yes'`` anywhere in the reply, the regex ``'score': (\\d+\\.\\d+)``, no re-ask);
* the snapshot ``gpt-4o-2024-05-13``, ``max_tokens=50`` under that name, a 100 s timeout, and neither a
  temperature nor a seed (the API's defaults apply); the system message, then the text before the images;
* the images as they sent them (:class:`PaperView`): the model's input (the source photo cropped and
  resized as the editor prepared it, recorded per edit by ``realedit run``) and the edit, both resized to
  height 512 at the source photo's aspect with Pillow's default resize filter (bicubic), each saved as JPEG
  with Pillow's defaults (quality 75). Following and preserving get the original then the edit, quality the
  edit alone. An editor that recorded no model input (the identity, the paid APIs) had the photo itself as
  input: the photo is sent, and the rows say so.
"""

from __future__ import annotations

import io
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast

from realedit_bench.errors import ConfigError, RealEditError

if TYPE_CHECKING:
    from PIL import Image

    from realedit_bench.inputs import EditedItem
    from realedit_bench.judges.paper_prompts import PaperPrompts
    from realedit_bench.judges.rubric import Rubric
    from realedit_bench.schema.run import ModelInput

#: realedit's own protocol, or the authors'.
ProtocolName = Literal["realedit", "paper"]
PROTOCOLS: tuple[ProtocolName, ...] = ("realedit", "paper")
#: The height both images are resized to before the authors' judge sees them.
HEIGHT = 512
#: What a row's ``params["source_image"]`` says was sent as the original.
MODEL_INPUT = "model input"
SOURCE_PHOTO = "source photo (the editor recorded no model input)"


class Defaults(NamedTuple):
    """The settings a protocol sends unless told otherwise (None temperature or seed: not sent)."""

    judge: str
    #: A built-in rubric id, or None for the authors' prompts.
    rubric: str | None
    parse: str
    temperature: float | None
    seed: int | None
    timeout: float
    #: The name ``max_tokens`` is sent under, where the backend has a choice (None: the backend's).
    max_tokens_name: str | None


DEFAULTS = {
    "realedit": Defaults("openai/gpt-4o-2024-08-06", "realedit-v1", "robust", 0.0, 0, 60.0, None),
    "paper": Defaults("openai/gpt-4o-2024-05-13", None, "paper", None, None, 100.0, "max_tokens"),
}


class Settings(NamedTuple):
    """Every protocol setting resolved, and those given that differ from the protocol's."""

    protocol: ProtocolName
    judge: str
    #: A rubric id or file; None: the authors' prompts (:func:`paper_rubric`).
    rubric: str | Path | None
    parse: str
    temperature: float | None
    seed: int | None
    timeout: float
    max_tokens_name: str | None
    overrides: list[str]


def _number(value: float | int | str | None, default: float | int | None, flag: str,
            kind: type[float] | type[int]) -> float | int | None:
    """A ``--temperature``/``--seed`` value: None (not given) keeps the default, ``none`` sends none."""
    if value is None:
        return default
    if isinstance(value, str):
        if value.strip().lower() == "none":
            return None
        try:
            value = kind(value.strip())
        except ValueError as exc:
            raise ConfigError(f"{flag} must be {'a number' if kind is float else 'an integer'} or none, "
                              f"not {value!r}") from exc
    if isinstance(value, float) and not math.isfinite(value) or flag == "--temperature" and value < 0:
        raise ConfigError(f"{flag} must be a finite number of at least 0 or none, not {value!r}")
    return value


def _shown(value: object, name: str) -> str:
    if value is None:
        return "the authors' prompts" if name == "rubric" else "none (not sent)"
    return str(value)


def resolve_settings(
    protocol: str, *, judge: str | None, rubric: str | Path | None, parse: str | None,
    temperature: float | str | None, seed: int | str | None, timeout: float | None,
) -> Settings:
    """The protocol's defaults with the settings given (None: not given) put over them.

    The authors' prompts are not loaded here (see :func:`paper_rubric`): the rubric stays None for them.

    Raises:
        ConfigError: an unknown protocol, or a temperature or seed that is neither a number nor ``none``.
    """
    if protocol not in DEFAULTS:
        raise ConfigError(f"--protocol must be {' or '.join(PROTOCOLS)}, not {protocol!r}")
    d = DEFAULTS[protocol]
    given: dict[str, Any] = {"judge": judge, "rubric": rubric, "parse": parse, "temperature": temperature,
                             "seed": seed, "timeout": timeout}
    values: dict[str, Any] = {
        "judge": judge or d.judge, "rubric": rubric if rubric is not None else d.rubric,
        "parse": parse or d.parse, "temperature": _number(temperature, d.temperature, "--temperature", float),
        "seed": _number(seed, d.seed, "--seed", int),
        "timeout": timeout if timeout is not None else d.timeout,
    }
    overrides = [f"{name}={_shown(value, name)} ({protocol} protocol: {_shown(getattr(d, name), name)})"
                 for name, value in values.items()
                 if given[name] is not None and str(value) != str(getattr(d, name))]
    return Settings(protocol=cast(ProtocolName, protocol), max_tokens_name=d.max_tokens_name,
                    overrides=overrides, **values)


def paper_rubric(prompts: PaperPrompts) -> Rubric:
    """The authors' prompts as a rubric: their answer keys, ``max_tokens=50``, the text before the images,
    the instruction inserted verbatim for ``{prompt}``, and the images sent as :class:`PaperView` makes
    them."""
    from realedit_bench.judges.paper_prompts import COMMIT, LICENSE, REPO
    from realedit_bench.judges.rubric import rubric_from_dict

    t = prompts.texts
    table = {
        "following": ("following", ["source", "edited"], "following"),
        "preserving": ("keep_detail", ["source", "edited"], "consistent"),
        "quality": ("quality", ["edited"], "clear"),
    }
    data = {
        "format": 1, "name": "paper", "version": COMMIT[:7],
        "description": f"The authors' judge prompts ({REPO} at {COMMIT[:7]}, {LICENSE}).",
        "image_format": "original", "jpeg_quality": 75, "max_tokens": 50, "instruction_placeholder": "prompt",
        "instruction_fence": "none", "text_position": "before_images", "score_key": "score", "reason_key": "",
        "perspectives": {
            name: {"system": t[f"{stem}.system.txt"], "user": t[f"{stem}.user.txt"], "images": images,
                   "verdict_key": key}
            for name, (stem, images, key) in table.items()
        },
    }
    return rubric_from_dict(data, base_dir=prompts.folder, source=f"{REPO}@{COMMIT[:7]} ({prompts.folder})")


def jpeg(image: Image.Image) -> bytes:
    """``image`` saved as JPEG with Pillow's defaults (quality 75), as the authors' scripts save it."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG")
    return buf.getvalue()


def paper_size(source_size: tuple[int, int]) -> tuple[int, int]:
    """Height 512 at the source photo's aspect, the width truncated as the authors' driver computes it."""
    width, height = source_size
    return int(HEIGHT * width / height), HEIGHT


class PaperImages(NamedTuple):
    """The two images of one edit as sent (JPEG bytes), and what was sent as the original."""

    images: dict[str, bytes]
    source_image: str


class PaperView:
    """Makes the images of each edit as the authors' judge saw them (see the module docstring).

    The original of a photo is made once per crop (the seven edits of a photo share it).
    """

    def __init__(self) -> None:
        self._originals: dict[tuple[object, ...], tuple[bytes, tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def original(self, photo: Path, model_input: ModelInput | None) -> tuple[bytes, tuple[int, int]]:
        """The model's input (or the photo), resized to height 512, as JPEG; and the photo's size."""
        from PIL import Image

        from realedit_bench.images import load_image

        key = (str(photo), *(model_input.crop_box if model_input else ()),
               *(model_input.size if model_input else ()))
        with self._lock:
            known = self._originals.get(key)
        if known is not None:
            return known
        source = load_image(photo)
        model_sees = source if model_input is None else source.resize(
            model_input.size, Image.Resampling.LANCZOS, box=model_input.crop_box)
        made = (jpeg(model_sees.resize(paper_size(source.size), Image.Resampling.BICUBIC)), source.size)
        with self._lock:
            self._originals[key] = made
        return made

    def __call__(self, item: EditedItem) -> PaperImages:
        """The original and the edit of ``item``.

        Raises:
            UnreadableImage: the photo or the edit cannot be read (its role says which).
        """
        from PIL import Image

        from realedit_bench.images import load_image
        from realedit_bench.judges.engine import UnreadableImage

        try:
            original, size = self.original(item.sample.image, item.model_input)
        except RealEditError as exc:
            raise UnreadableImage("source", str(exc)) from exc
        try:
            edited = load_image(item.edited)
        except RealEditError as exc:
            raise UnreadableImage("edited", str(exc)) from exc
        edit = jpeg(edited.resize(paper_size(size), Image.Resampling.BICUBIC))
        said = MODEL_INPUT if item.model_input is not None else SOURCE_PHOTO
        return PaperImages({"source": original, "edited": edit}, said)


def sent_record(backend: Any, rubric: Rubric, *, temperature: float | None, seed: int | None,
                timeout: float, protocol: ProtocolName, source_images: dict[str, int]) -> dict[str, Any]:
    """What every request of a judging run carried, for the summary (``sent``)."""
    from realedit_bench.redact import redact_url_secrets

    max_tokens = sorted({p.max_tokens for p in rubric.perspectives.values()})
    if protocol == "paper":
        images = (f"JPEG with Pillow's defaults (quality 75) of the model's input and the edit, each resized "
                  f"to height {HEIGHT} at the source photo's aspect (bicubic)")
    else:
        side = f", longest side at most {rubric.max_side}" if rubric.max_side else ""
        images = f"{rubric.image_format}{side}"
    return {
        "model": redact_url_secrets(str(getattr(backend, "wire_model", backend.model))),
        "max_tokens": max_tokens[0] if len(max_tokens) == 1 else max_tokens,
        "max_tokens_param": getattr(backend, "max_tokens_param", "max_tokens"),
        "temperature": temperature,
        "seed": seed if backend.supports_seed else None,
        "timeout": timeout,
        "text_first": all(p.text_position == "before_images" for p in rubric.perspectives.values()),
        "images": images,
        **({"source_image": source_images} if source_images else {}),
    }
