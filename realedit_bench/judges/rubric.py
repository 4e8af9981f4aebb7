"""Rubrics: the versioned prompts of the judge, as data, and their file format.

A rubric file is TOML (format 1). Top-level keys are defaults; each ``[perspectives.<name>]`` table
(``following``, ``preserving``, ``quality``) may override any of them::

    format = 1
    name = "my-rubric"            # rubric id is "<name>-<version>": it names the judgments file
    version = "v2"                #   and is part of every cache key, so bump it when a word changes
    image_format = "jpeg"         # png | jpeg | original (the file's bytes as they are)
    jpeg_quality = 75             # used when image_format = "jpeg"
    max_side = 0                  # longest side before encoding; 0 keeps the image size
    max_tokens = 50
    instruction_placeholder = "instruction"   # the token {instruction} in the user text
    instruction_fence = "json"    # json: inserted as an escaped JSON string; none: inserted verbatim
    text_position = "before_images"           # or "after_images"
    verdict_key = "verdict"       # answer keys of the reply object
    score_key = "score"
    reason_key = "reason"         # optional; "" when the reply carries no reason
    score_min = 0
    score_max = 5
    reason_required_below = 5     # optional: a score under 5 must come with a reason (reward rubrics)
    verdict_threshold = 15        # only with verdict_key = "": a judge that gives a score alone (a trained
                                  #   judge on its own scale); the verdict is yes when score >= this
    reask = "Your reply could not be used: {problem} ..."   # optional; {problem} is filled in

    [perspectives.following]
    system = "..."                # or system_file = "following.system.txt" (relative to this file)
    user = "... {instruction} ..."  # or user_file = "following.user.txt"
    images = ["source", "edited"] # which images are sent, in this order
    verdict_key = "following"

Only the placeholder token is replaced; other braces in the text are left alone, so prompts that show
a dict example such as ``{'score': 4.5}`` need no escaping.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from realedit_bench.errors import ConfigError
from realedit_bench.schema.base import PERSPECTIVES
from realedit_bench.userfiles import check_regular, loads_toml, read_text

#: Built-in rubrics shipped with the package: id -> file under ``judges/rubrics/``.
BUILTIN_RUBRICS = {"realedit-v1": "realedit-v1.toml", "editscore-v1": "editscore-v1.toml"}
DEFAULT_RUBRIC = "realedit-v1"
RUBRIC_DIR = Path(__file__).resolve().parent / "rubrics"
#: Largest rubric or prompt file read (the authors' longest prompt is a few kB).
MAX_PROMPT_BYTES = 1 << 20

#: Re-ask used when a rubric file gives none (kept generic: it names the keys the rubric expects).
GENERIC_REASK = (
    "Your previous reply could not be used: {problem}\n"
    "Reply again with only the answer object, with the keys {keys}, and nothing else."
)


class PerspectivePrompt(BaseModel):
    """The resolved prompt of one perspective."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field(description="System text.")
    user: str = Field(description="User text; may hold the instruction placeholder.")
    images: tuple[str, ...] = Field(description="Image roles sent, in order (e.g. source, edited).")
    text_position: Literal["before_images", "after_images"] = Field(description="Where the user text goes.")
    verdict_key: str = Field(description="Key of the yes/no verdict in the reply.")
    score_key: str = Field(description="Key of the score in the reply.")
    reason_key: str = Field(default="", description="Key of the short reason ('' if none).")
    max_tokens: int = Field(description="max tokens of the reply.")


class Rubric(BaseModel):
    """A versioned set of three perspective prompts plus how images and answers are handled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Rubric name.")
    version: str = Field(description="Rubric version; bump it whenever a prompt changes.")
    description: str = Field(default="", description="One line about the rubric.")
    image_format: Literal["png", "jpeg", "original"] = Field(description="How images are encoded.")
    jpeg_quality: int = Field(default=90, ge=1, le=100, description="JPEG quality when image_format is jpeg.")
    max_side: int = Field(
        default=0, ge=0, description="Resize so the longest side is at most this; 0 = keep."
    )
    instruction_placeholder: str = Field(default="instruction", description="Placeholder name in user text.")
    instruction_fence: Literal["json", "none"] = Field(
        description="How the untrusted instruction is inserted."
    )
    score_min: float = Field(default=0.0, description="Lowest valid score.")
    score_max: float = Field(default=5.0, description="Highest valid score.")
    verdict_threshold: float | None = Field(
        default=None,
        description="For a judge that gives a score only (verdict_key = \"\"): the verdict is yes when the "
        "score is at least this. Derived, not asked: rows and summaries read it like an asked verdict.",
    )
    reason_required_below: float | None = Field(
        default=None,
        description="When set, a reply scoring below this must carry a reason that names something (not "
        "empty or 'None'); otherwise it is re-asked, then invalid. Reward data needs the failure text.",
    )
    reask: str = Field(default=GENERIC_REASK, description="Re-ask text; {problem} and {keys} are filled in.")
    perspectives: dict[str, PerspectivePrompt] = Field(description="following / preserving / quality.")
    source: str = Field(default="", description="Where the rubric was loaded from.")
    sha256: str = Field(default="", description="sha256 of the resolved prompts, for provenance.")

    @property
    def id(self) -> str:
        """``<name>-<version>``, e.g. ``realedit-v1``."""
        return f"{self.name}-{self.version}"

    def render(self, perspective: str, instruction: str) -> RenderedPrompt:
        """Fill the instruction into one perspective's prompt.

        Raises:
            ConfigError: the rubric has no such perspective.
        """
        try:
            p = self.perspectives[perspective]
        except KeyError as exc:
            raise ConfigError(f"rubric {self.id} has no perspective {perspective!r}") from exc
        value = fence_instruction(instruction, self.instruction_fence)
        text = p.user.replace("{" + self.instruction_placeholder + "}", value)
        return RenderedPrompt(p.system, text, p.images, p.text_position == "before_images", p.max_tokens,
                              perspective)

    def response_schema(self, perspective: str) -> dict[str, Any]:
        """The JSON schema of one perspective's answer object, for providers that constrain replies to one
        (``--structured``): the rubric's keys, the verdict as yes/no, the score within the rubric's range.

        A provider may still send a score out of range (not every server enforces bounds): the reply is
        parsed and range-checked as any other, so such a reply stays invalid.
        """
        p = self.perspectives[perspective]
        props: dict[str, Any] = {}
        if p.verdict_key:
            props[p.verdict_key] = {"type": "string", "enum": ["yes", "no"]}
        if p.reason_key:
            props[p.reason_key] = {"type": "string"}
        props[p.score_key] = {"type": "number", "minimum": self.score_min, "maximum": self.score_max}
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}

    def reask_text(self, perspective: str, problem: str) -> str:
        """The follow-up message quoting why the previous reply was unusable."""
        p = self.perspectives[perspective]
        keys = ", ".join(repr(k) for k in (p.verdict_key, p.score_key, p.reason_key) if k)
        return self.reask.replace("{problem}", problem).replace("{keys}", keys)


class RenderedPrompt(NamedTuple):
    """One perspective's prompt for one item, ready for a backend."""

    system: str
    text: str
    image_roles: tuple[str, ...]
    text_first: bool
    max_tokens: int
    perspective: str = ""


def fence_instruction(instruction: str, fence: str) -> str:
    """Insert untrusted text so it cannot close its fence or pose as new prompt lines.

    ``json`` quotes it as a JSON string (newlines and quotes escaped) and escapes ``<``/``>`` so a
    ``</request>`` inside the instruction stays inert; ``none`` inserts it verbatim (the paper's way).
    """
    if fence == "none":
        return instruction
    return json.dumps(instruction, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


_PERSPECTIVE_KEYS = set(PerspectivePrompt.model_fields) | {"system_file", "user_file"}
_TOP_KEYS = (set(Rubric.model_fields) - {"perspectives", "source", "sha256"}) | {"format"} | _PERSPECTIVE_KEYS


def load_rubric(name_or_path: str | Path) -> Rubric:
    """Load a built-in rubric by id (``realedit-v1``) or a rubric TOML file by path.

    Raises:
        ConfigError: unknown id, unreadable file, unknown keys, missing perspective or text.
    """
    text = str(name_or_path)
    if text in BUILTIN_RUBRICS:
        path = RUBRIC_DIR / BUILTIN_RUBRICS[text]
    else:
        path = Path(text).expanduser()
        if check_regular(path, what="rubric file", error=ConfigError) is None:
            known = ", ".join(BUILTIN_RUBRICS)
            raise ConfigError(f"--rubric {text!r} is neither a built-in rubric ({known}) nor a rubric file")
    source = read_text(path, what="rubric file", max_bytes=MAX_PROMPT_BYTES, error=ConfigError)
    data = loads_toml(source, f"rubric file {path}", ConfigError)
    return rubric_from_dict(data, base_dir=path.parent, source=str(path))


def rubric_from_dict(data: dict[str, Any], *, base_dir: Path, source: str = "") -> Rubric:
    """Build a :class:`Rubric` from parsed rubric-file data (see the module docstring)."""
    if data.get("format", 1) != 1:
        raise ConfigError(f"rubric {source}: format {data.get('format')!r} is not supported (expected 1)")
    unknown = set(data) - _TOP_KEYS - {"perspectives"}
    if unknown:
        raise ConfigError(f"rubric {source}: unknown key(s) {', '.join(sorted(unknown))}")
    tables = data.get("perspectives")
    if not isinstance(tables, dict) or set(tables) != set(PERSPECTIVES):
        got = ", ".join(sorted(tables)) if isinstance(tables, dict) else "none"
        raise ConfigError(
            f"rubric {source}: needs exactly the perspectives {', '.join(PERSPECTIVES)} (got {got})"
        )
    defaults = {k: v for k, v in data.items() if k in _PERSPECTIVE_KEYS}
    resolved: dict[str, PerspectivePrompt] = {}
    for name in PERSPECTIVES:
        table = tables[name]
        bad = set(table) - _PERSPECTIVE_KEYS
        if bad:
            raise ConfigError(
                f"rubric {source}: [perspectives.{name}] has unknown key(s) {', '.join(sorted(bad))}"
            )
        merged = {**defaults, **table}
        for part in ("system", "user"):
            file_key = f"{part}_file"
            if file_key in merged:
                file = (base_dir / str(merged.pop(file_key))).expanduser()
                merged[part] = read_text(file, what=f"rubric {source}: the {part} text of {name},",
                                         max_bytes=MAX_PROMPT_BYTES, error=ConfigError)
            if not merged.get(part):
                raise ConfigError(
                    f"rubric {source}: perspective {name} has no {part} text ({part} or {file_key})"
                )
        merged.setdefault("text_position", "after_images")
        merged.setdefault("verdict_key", "verdict")
        merged.setdefault("score_key", "score")
        merged.setdefault("max_tokens", 200)
        merged.setdefault("images", ["source", "edited"])
        try:
            resolved[name] = PerspectivePrompt.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(
                f"rubric {source}: perspective {name}: {first['loc'][0]}: {first['msg']}"
            ) from exc
        bad_roles = set(resolved[name].images) - {"source", "edited"}
        if bad_roles:
            raise ConfigError(
                f"rubric {source}: perspective {name}: unknown image role(s) {sorted(bad_roles)}"
            )
    top = {k: v for k, v in data.items() if k in Rubric.model_fields and k not in _PERSPECTIVE_KEYS}
    top.setdefault("image_format", "png")
    top.setdefault("instruction_fence", "json")
    digest = hashlib.sha256(
        json.dumps({k: v.model_dump() for k, v in resolved.items()} | {"top": top}, sort_keys=True).encode()
    ).hexdigest()
    try:
        rubric = Rubric.model_validate({**top, "perspectives": resolved, "source": source, "sha256": digest})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"rubric {source}: {first['loc'][0]}: {first['msg']}") from exc
    scored_only = [n for n, p in resolved.items() if not p.verdict_key]
    if scored_only and rubric.verdict_threshold is None:
        raise ConfigError(f"rubric {source}: perspective {scored_only[0]} asks for no verdict (verdict_key = "
                          f"\"\"): set verdict_threshold, the score from which the verdict is yes")
    return rubric
