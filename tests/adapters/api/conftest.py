"""The fake image APIs for the API editors' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from image_api_server import FakeImageAPI


@pytest.fixture
def api() -> Iterator[FakeImageAPI]:
    """The fake server, BFL tasks ready at the second poll."""
    with FakeImageAPI(polls_pending=1) as server:
        yield server
