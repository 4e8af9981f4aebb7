"""The API editors' environment pointed at the fake image APIs (tests/support/image_api_server.py)."""

from __future__ import annotations

import pytest
from image_api_server import FakeImageAPI

#: A key that must never reach a file or a message.
SECRET = "sk-test-SECRET-7f3a9c1d"
#: Editor -> (the fake's provider name, environment with {base} for the server's URL).
EDITORS = {
    "gpt-image": ("openai", {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": "{base}/v1"}),
    "gemini-image": ("gemini", {"GOOGLE_API_KEY": SECRET, "GOOGLE_GEMINI_BASE_URL": "{base}"}),
    "flux-kontext-api": ("bfl", {"BFL_API_KEY": SECRET, "BFL_BASE_URL": "{base}"}),
    "seededit": ("ark", {"ARK_API_KEY": SECRET, "ARK_BASE_URL": "{base}/api/v3"}),
}
#: Every variable any of them reads a key or a base URL from.
VARIABLES = {"OPENAI_API_KEY", "OPENAI_BASE_URL", "GOOGLE_API_KEY", "GEMINI_API_KEY",
             "GOOGLE_GEMINI_BASE_URL", "BFL_API_KEY", "BFL_BASE_URL", "ARK_API_KEY", "ARK_BASE_URL",
             "GOOGLE_GENAI_USE_VERTEXAI"}


def point_at(monkeypatch: pytest.MonkeyPatch, name: str, api: FakeImageAPI, *, key: bool = True) -> str:
    """Set editor ``name``'s key and base URL to the fake (no other provider's); its provider name."""
    for var in VARIABLES:
        monkeypatch.delenv(var, raising=False)
    provider, env = EDITORS[name]
    for var, value in env.items():
        if key or not var.endswith("_KEY"):
            monkeypatch.setenv(var, value.format(base=api.base_url))
    return provider
