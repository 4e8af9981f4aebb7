"""The Row base: one schema version per record, set in code, required in files, strict fields."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import Field, ValidationError

from realedit_bench.schema.base import FROM_FILE, Row


class Thing(Row):
    """A record at version 3."""

    SCHEMA_VERSION: ClassVar[int] = 3
    WRITTEN_BY: ClassVar[str] = "realedit thing"

    name: str = Field(description="A name.")


def test_a_new_record_gets_the_current_version() -> None:
    assert Thing(name="a").schema_version == 3
    assert Thing.model_validate({"name": "a"}).schema_version == 3
    assert Thing.model_validate_json(Thing(name="a").model_dump_json()) == Thing(name="a")


@pytest.mark.parametrize("version, says", [
    (2, "schema_version 2 is not the version this realedit reads (3; other versions are not converted)"),
    (4, "schema_version 4 is newer than this realedit reads (3): upgrade realedit"),
    (True, "schema_version True is not the version"),
])
def test_any_other_version_is_refused_with_what_to_do(version: object, says: str) -> None:
    with pytest.raises(ValidationError) as err:
        Thing.model_validate({"name": "a", "schema_version": version})
    message = err.value.errors()[0]["msg"]
    assert message.startswith(says) and message.endswith("remove the file and rerun realedit thing")


def test_a_record_read_from_a_file_must_say_its_version() -> None:
    with pytest.raises(ValidationError, match="no schema_version"):
        Thing.model_validate({"name": "a"}, context={FROM_FILE: True})
    assert Thing.model_validate({"name": "a", "schema_version": 3}, context={FROM_FILE: True}).name == "a"


def test_extra_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Thing(name="a", colour="red")  # type: ignore[call-arg]
