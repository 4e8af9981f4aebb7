"""The base of every result row: a ``schema_version`` field, forbidden extras, and version checks.

Readers reject rows written by a newer realedit (they may mean something we do not know) and migrate
older ones; a row without ``schema_version`` is taken as version 1.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, model_validator

Category = Literal["local", "remove", "add", "texture", "background", "global", "style"]
#: The seven Real-Edit edit types, in the order the benchmark lists them.
CATEGORIES: tuple[Category, ...] = ("local", "remove", "add", "texture", "background", "global", "style")

Perspective = Literal["following", "preserving", "quality"]
#: The three judging perspectives of the paper.
PERSPECTIVES: tuple[Perspective, ...] = ("following", "preserving", "quality")


def is_category(value: object) -> TypeGuard[Category]:
    """True when ``value`` is one of :data:`CATEGORIES` (narrows a checked string to :data:`Category`)."""
    return value in CATEGORIES


def is_perspective(value: object) -> TypeGuard[Perspective]:
    """True when ``value`` is one of :data:`PERSPECTIVES` (narrows a checked string to :data:`Perspective`)."""
    return value in PERSPECTIVES


class Row(BaseModel):
    """A versioned, strict record. Subclasses set ``SCHEMA_VERSION``."""

    model_config = ConfigDict(extra="forbid")
    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: int = Field(default=1, description="Version of this record's schema.")

    @model_validator(mode="before")
    @classmethod
    def _check_version(cls, data: Any) -> Any:
        if isinstance(data, dict):
            version = data.get("schema_version", 1)
            if not isinstance(version, int):
                raise ValueError(f"schema_version must be an integer, got {version!r}")
            if version > cls.SCHEMA_VERSION:
                raise ValueError(
                    f"schema_version {version} is newer than this realedit understands "
                    f"({cls.SCHEMA_VERSION}); upgrade realedit"
                )
            if version < cls.SCHEMA_VERSION:
                data = cls.migrate(dict(data), version)
            data.setdefault("schema_version", cls.SCHEMA_VERSION)
        return data

    @classmethod
    def migrate(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Bring an older row up to ``SCHEMA_VERSION`` (nothing to do while we are at version 1)."""
        data["schema_version"] = cls.SCHEMA_VERSION
        return data
