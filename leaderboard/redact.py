"""Keep local paths and credentials off a published site.

A run records its command line, settings (local weights), data folder and error messages as the user's
machine saw them: ``/home/alice/...``, ``/root/...``, a ``user:pass@`` inside an ``openai-api/<url>/model``
judge name. The site is meant to be published, so every string it shows goes through :func:`redact`:
home directories become ``~``, the folder the report is built from becomes ``.``, the realedit checkout
``<repo>``, and URL credentials are dropped.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Path characters: a prefix only matches a whole path component (``/root`` is not ``/rootfs``).
_END = r"(?![^/\s'\"=:,;()\[\]{}<>|])"
_START = r"(?<![\w.~/-])"
#: Any home directory, also another user's (a run made on another machine).
_HOMES = re.compile(
    _START + r"(?:/home/[^/\s'\"]+|/Users/[^/\s'\"]+|/root" + _END + r"|[A-Za-z]:\\Users\\[^\\\s'\"]+)"
)
#: ``scheme://user:pass@host``: the user part goes.
_USERINFO = re.compile(r"(?<=://)[^/\s@'\"]+@")
#: ``?api_key=...`` and friends in a URL.
_QUERY_SECRET = re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access_token|password|secret)=)[^&\s'\"/]+")
#: What every pattern above needs: a path separator (homes, folders, URLs) or a query delimiter.
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
    if not text or not _MAY_HOLD.search(text):
        return text  # no path, URL or query: most printed strings (numbers, labels) end here
    try:
        cwd = os.getcwd()
    except OSError:  # the working folder was deleted
        cwd = "/"
    home = os.path.expanduser("~")
    for pattern, repl in _prefixes(cwd, home):
        text = pattern.sub(repl, text)
    text = _HOMES.sub("~", text)
    text = _USERINFO.sub("", text)
    return _QUERY_SECRET.sub(r"\1***", text)


def redact_printed(value: object) -> object:
    """Jinja ``finalize`` hook: every printed string is redacted before it is escaped (so ``&`` in a URL
    is still ``&`` when the patterns see it); our own markup (script, CSS, charts) is left as it is."""
    from markupsafe import Markup

    if isinstance(value, str) and not isinstance(value, Markup):
        return redact(value)
    return value
