"""The tiny SmartEdit model loaded from the session's converted fake release (tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smartedit_model(tiny_smartedit):
    from adapters.smartedit.model import load_smartedit

    return load_smartedit(
        tiny_smartedit.converted, llm_base=str(tiny_smartedit.llm_base), clip=str(tiny_smartedit.clip)
    )
