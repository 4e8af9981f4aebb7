"""The base of every result row: a ``schema_version`` field, forbidden extras, and one version per format.

realedit reads exactly the format it writes. A file written in another version (or without one) is
refused with one line naming the file, the version found and the command that writes it anew; nothing
is converted, because no earlier format was ever released.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

Category = Literal["local", "remove", "add", "texture", "background", "global", "style"]
#: The seven Real-Edit edit types, in the order the benchmark lists them.
CATEGORIES: tuple[Category, ...] = ("local", "remove", "add", "texture", "background", "global", "style")

Perspective = Literal["following", "preserving", "quality"]
#: The three judging perspectives of the paper.
PERSPECTIVES: tuple[Perspective, ...] = ("following", "preserving", "quality")

#: Validation context key that :mod:`realedit_bench.jsonio` sets while reading a file: there, a record
#: must say which version it is (in code, a new record gets the current version).
FROM_FILE = "from_file"
#: Error type of a refused version (``jsonio`` reports it as one line naming the file).
VERSION_ERROR = "schema_version"


def is_category(value: object) -> TypeGuard[Category]:
    """True when ``value`` is one of :data:`CATEGORIES` (narrows a checked string to :data:`Category`)."""
    return value in CATEGORIES


def is_perspective(value: object) -> TypeGuard[Perspective]:
    """True when ``value`` is one of :data:`PERSPECTIVES` (narrows a string to :data:`Perspective`)."""
    return value in PERSPECTIVES


class Row(BaseModel):
    """A versioned, strict record. Subclasses set ``SCHEMA_VERSION`` and ``WRITTEN_BY``."""

    model_config = ConfigDict(extra="forbid")
    #: The one version of this record that this realedit reads and writes.
    SCHEMA_VERSION: ClassVar[int] = 1
    #: The command that writes these records, named when a file of another version is refused.
    WRITTEN_BY: ClassVar[str] = "the realedit command that wrote it"

    schema_version: int = Field(default=1, description="Version of this record's schema.")

    @classmethod
    def version_problem(cls, found: object) -> str | None:
        """What is wrong with a record of version ``found`` (None: missing), or None when it is current."""
        if isinstance(found, int) and not isinstance(found, bool) and found == cls.SCHEMA_VERSION:
            return None
        redo = f"remove the file and rerun {cls.WRITTEN_BY}"
        if found is None:
            return f"no schema_version (this realedit reads version {cls.SCHEMA_VERSION} only): {redo}"
        if isinstance(found, int) and not isinstance(found, bool) and found > cls.SCHEMA_VERSION:
            return (f"schema_version {found} is newer than this realedit reads ({cls.SCHEMA_VERSION}): "
                    f"upgrade realedit, or {redo}")
        return (f"schema_version {found!r} is not the version this realedit reads ({cls.SCHEMA_VERSION}; "
                f"other versions are not converted): {redo}")

    @model_validator(mode="before")
    @classmethod
    def _check_version(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        from_file = bool(info.context and info.context.get(FROM_FILE))
        if "schema_version" not in data and not from_file:
            return {**data, "schema_version": cls.SCHEMA_VERSION}
        problem = cls.version_problem(data.get("schema_version"))
        if problem is not None:
            raise PydanticCustomError(VERSION_ERROR, "{problem}", {"problem": problem})
        return data
