"""Keep local paths and credentials off a published site.

A run records its command line, settings (local weights), data folder and error messages as the user's
machine saw them: ``/home/alice/...``, ``/root/...``, a ``user:pass@`` inside an ``openai-api/<url>/model``
judge name. The site is meant to be published, so every string it shows goes through :func:`redact`:
home directories become ``~``, the folder the report is built from becomes ``.``, the realedit checkout
``<repo>``, and URL credentials and keys are dropped (:func:`realedit_bench.redact.mask_secrets`).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from realedit_bench.redact import mask_secrets

REPO = Path(__file__).resolve().parents[1]

# Path characters: a prefix only matches a whole path component (``/root`` is not ``/rootfs``).
_END = r"(?![^/\s'\"=:,;()\[\]{}<>|])"
_START = r"(?<![\w.~/-])"
#: Any home directory, also another user's (a run made on another machine).
_HOMES = re.compile(
    _START + r"(?:/home/[^/\s'\"]+|/Users/[^/\s'\"]+|/root" + _END + r"|[A-Za-z]:\\Users\\[^\\\s'\"]+)"
)
#: What the path patterns above need: a path separator; a URL's credentials also need '/' or a query.
_MAY_HOLD = re.compile(r"[/\\?&]")


@lru_cache(maxsize=8)
def _prefixes(cwd: str, home: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    pairs = {cwd: ".", str(REPO): "<repo>", home: "~"}
    out = []
    # Longest first: the working folder inside the home is '.', not '~/...'.
    for prefix, repl in sorted(pairs.items(), key=lambda kv: -len(kv[0])):
        if len(Path(prefix).parts) < 2:  # never '/' itself
            continue
        out.append((re.compile(_START + re.escape(prefix.rstrip("/")) + _END), repl))
    return tuple(out)


def redact(text: str) -> str:
    """``text`` with home directories, this machine's working folder and URL credentials hidden."""
    if not text:
        return text
    if _MAY_HOLD.search(text):  # no path or URL in most printed strings (numbers, labels): skip these
        try:
            cwd = os.getcwd()
        except OSError:  # the working folder was deleted
            cwd = "/"
        home = os.path.expanduser("~")
        for pattern, repl in _prefixes(cwd, home):
            text = pattern.sub(repl, text)
        text = _HOMES.sub("~", text)
    # URL credentials, keys of this machine's environment and key-shaped tokens (also without a '/'): the
    # core's one rule, on every string.
    return mask_secrets(text)


def redact_printed(value: object) -> object:
    """Jinja ``finalize`` hook: every printed string is redacted before it is escaped (so ``&`` in a URL
    is still ``&`` when the patterns see it); our own markup (script, CSS, charts) is left as it is."""
    from markupsafe import Markup

    if isinstance(value, str) and not isinstance(value, Markup):
        return redact(value)
    return value
