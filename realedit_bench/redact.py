"""Keep secrets inside the process: credentials in URLs and keys in error text never reach a file, a row,
the console or a page.

* :func:`redact_url_secrets`: ``scheme://user:password@host`` loses its user part and ``?api_key=...``
  (``key``, ``token``, ``access_token``, ``password``, ``secret``, ``sig``) its value, wherever such a URL
  appears in a text (a judge name ``openai-api/http://user:PASS@host/v1/model``, a command line);
* :func:`mask_secrets`: that, and every key the environment holds (``*_API_KEY``, ``*_TOKEN``, ...) and
  anything shaped like a provider key (``sk-...``, ``sk-ant-...``, ``hf_...``, ``Bearer ...``), replaced by
  ``***``: for error text a provider sent back, which may quote the key it was given.

The leaderboard's own redaction (home folders, the working folder) builds on these.
"""

from __future__ import annotations

import os
import re

MASK = "***"

#: ``scheme://user[:password]@``: the user part goes.
_USERINFO = re.compile(r"(?<=://)[^/\s@'\"]+@")
#: ``?api_key=...`` and friends in a URL or a query string.
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:api[_-]?key|key|token|access[_-]?token|auth|password|passwd|secret|sig|signature)=)"
    r"[^&\s'\"/#]+"
)
#: Key shapes of the providers realedit talks to (and the Hugging Face hub), and bearer tokens.
_KEY_SHAPES = re.compile(
    r"\b(?:sk-(?:ant-)?[A-Za-z0-9_\-]{8,}|hf_[A-Za-z0-9]{16,}|AIza[A-Za-z0-9_\-]{20,})"
    r"|(?i:(?<=bearer )[A-Za-z0-9._~+/=\-]{8,})"
)
#: Environment variables whose values are secrets (names ending so), masked wherever they appear.
_SECRET_ENV = re.compile(r"(?i)(?:API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$")
#: Shorter values are not masked: they would hit ordinary words.
_MIN_SECRET = 8


def redact_url_secrets(text: str) -> str:
    """``text`` with URL credentials (``user:pass@``) dropped and query secrets (``?api_key=``) masked."""
    if not text:
        return text
    text = _USERINFO.sub("", text)
    return _QUERY_SECRET.sub(r"\1" + MASK, text)


def environment_secrets() -> list[str]:
    """Values of the environment variables that hold keys or tokens, longest first."""
    values = {v.strip() for k, v in os.environ.items()
              if _SECRET_ENV.search(k) and len(v.strip()) >= _MIN_SECRET}
    return sorted(values, key=len, reverse=True)


def mask_secrets(text: str, extra: tuple[str, ...] = ()) -> str:
    """``text`` with known key values (the environment's, and ``extra``), key-shaped tokens and URL
    secrets replaced by ``***``: for provider error text and anything else that may quote a key."""
    if not text:
        return text
    for value in (*extra, *environment_secrets()):
        if value and len(value) >= _MIN_SECRET:
            text = text.replace(value, MASK)
    text = _KEY_SHAPES.sub(MASK, text)
    return redact_url_secrets(text)
