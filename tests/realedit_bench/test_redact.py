"""Secrets stay in the process: URL credentials and query secrets go from names, known keys and key-shaped
tokens from error text."""

from __future__ import annotations

import pytest

from realedit_bench.redact import environment_secrets, mask_secrets, redact_url_secrets


@pytest.mark.parametrize(("text", "shown"), [
    ("openai-api/http://user:PASS@host:8000/v1/m", "openai-api/http://host:8000/v1/m"),
    ("openai-api/https://tok@host/v1/m", "openai-api/https://host/v1/m"),
    ("openai-api/http://host/v1/m?api_key=PASS", "openai-api/http://host/v1/m?api_key=***"),
    ("http://h/v1?x=1&token=PASS&key=K2#f", "http://h/v1?x=1&token=***&key=***#f"),
    ("openai/gpt-4o-2024-08-06", "openai/gpt-4o-2024-08-06"),  # nothing to hide: unchanged
])
def test_url_secrets_leave_names(text: str, shown: str) -> None:
    assert redact_url_secrets(text) == shown


def test_keys_in_error_text_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_API_KEY", "plain-looking-value-1234")
    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnopqrstu")
    monkeypatch.setenv("SHORT_TOKEN", "abc")  # too short to mask without hitting words
    assert "plain-looking-value-1234" in environment_secrets()
    text = ("Incorrect API key provided: plain-looking-value-1234. sk-proj-AbC123xyz789QQ and "
            "sk-ant-api03-ZZZZ9999yyyy; Authorization: Bearer eyJhbGciOi.J9; hf_abcdefghijklmnopqrstu; abc; "
            "see http://u:pw@h/x?api_key=qq")
    masked = mask_secrets(text, extra=("pw",))
    for secret in ("plain-looking-value-1234", "sk-proj-AbC123xyz789QQ", "sk-ant-api03-ZZZZ9999yyyy",
                   "eyJhbGciOi.J9", "hf_abcdefghijklmnopqrstu", "u:pw@", "qq"):
        assert secret not in masked, (secret, masked)
    assert masked.startswith("Incorrect API key provided: ***.") and "; abc; " in masked


def test_ordinary_text_is_left_alone() -> None:
    text = "HTTP 400: image too large (task-sk-1 risk-averse skating); retry"
    assert mask_secrets(text) == text
