"""What every page of the site shares: the template environment, the security policy, the navigation, safe
file names and JSON data blocks.

Safety: every string read from a run is untrusted. Templates autoescape everything and redact every printed
string (:func:`leaderboard.redact.redact_printed`); the only values marked safe are our own CSS, our own
script and JSON data blocks written by :func:`json_for_html`, whose strings were redacted before they were
serialised. A Content-Security-Policy meta tag allows only the one inline script by its hash, images from
the site, and nothing from the network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from realedit_bench.jsonio import atomic_write_text

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: The comparison page of two runs, written when a table has two runs or more.
COMPARE_PAGE = "compare.html"


def write_page(path: Path, text: str) -> None:
    """Atomic write, then readable by everyone: a static host serves the files as another user."""
    atomic_write_text(path, text)
    os.chmod(path, 0o644)


def slug(text: str, taken: set[str]) -> str:
    """A file-name-safe, unique name for ``text`` (run strings never reach a path unfiltered)."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:48] or "x"
    name = base
    if name != text or name in taken:
        name = f"{base}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    while name in taken:  # only on a hash clash; keeps the name unique and deterministic
        name += "_"
    taken.add(name)
    return name


def inside(root: Path, rel: str | None) -> Path | None:
    """``root / rel`` when ``rel`` stays inside ``root``; None for absolute or climbing paths."""
    if not rel:
        return None
    pure = PurePosixPath(rel.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        return None
    return root / Path(*pure.parts)


def script_hash(js: str) -> str:
    """The CSP source expression allowing exactly the inline script ``js``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode() + "'"


def content_security_policy(js: str | None) -> str:
    """Nothing from the network; images from the site; our one inline script by hash (none without ``js``).

    Inline styles stay allowed for the stylesheet in each page, and ``data:`` images for pages mailed as
    one file; every run string is escaped.
    """
    script = f"script-src {script_hash(js)}; " if js is not None else ""
    return (
        f"default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; {script}"
        "base-uri 'none'; form-action 'none'"
    )


def json_for_html(obj: object) -> str:
    """JSON that cannot end its <script> block: '<', '>' and '&' are written as unicode escapes."""
    text = json.dumps(obj, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def make_env() -> Any:
    """The jinja environment of the site: autoescaping and redaction of every printed string."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from leaderboard.redact import redact_printed
    from leaderboard.tables import coverage_text, fmt_num, fmt_pct, metric_value, p_text, vs_text

    env = Environment(
        finalize=redact_printed,
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its extension
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = fmt_pct
    env.filters["num"] = fmt_num
    env.filters["cmd"] = lambda argv: shlex.join(argv) if argv else "–"
    env.filters["coverage"] = coverage_text
    env.filters["vs"] = vs_text
    env.filters["ptext"] = p_text
    env.globals["metric_value"] = metric_value
    return env


class NavLink(NamedTuple):
    """One link of the navigation bar: its target relative to the site root, and its text."""

    href: str
    text: str


def nav_links(*, gallery: bool, compare: bool, agreement_pages: list[str],
              reproduction_pages: Sequence[NavLink] = (), judges: bool = False) -> list[NavLink]:
    """The navigation every page shows: the index's sections, then the other pages that were written."""
    links = [
        NavLink("index.html#leaderboard", "Leaderboard"),
        NavLink("index.html#categories", "Per category"),
        NavLink("index.html#charts", "Charts"),
    ]
    if judges:  # panels, canaries, drift checks or calibrated scores
        links.append(NavLink("index.html#judges", "Judges"))
    if compare:
        links.append(NavLink(COMPARE_PAGE, "Compare"))
    if gallery:
        links.append(NavLink("gallery/index.html", "Gallery"))
    links += [NavLink("index.html#reference", "Published"), NavLink("index.html#provenance", "Provenance")]
    for i, page in enumerate(agreement_pages):
        links.append(NavLink(page, "Agreement" + (f" {i + 1}" if len(agreement_pages) > 1 else "")))
    return [*links, *reproduction_pages]


def page_common(
    *, gallery: bool, compare: bool, agreement_pages: list[str], script: bool = True,
    reproduction_pages: Sequence[NavLink] = (), judges: bool = False,
) -> dict[str, Any]:
    """The values every page template gets: our assets, the CSP, the version and the navigation."""
    from markupsafe import Markup

    from realedit_bench import __version__

    js = (STATIC / "site.js").read_text(encoding="utf-8") if script else None
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    return {
        "csp": content_security_policy(js),
        # Our own static assets, not run strings: marked safe so the script bytes match the CSP hash.
        "js": Markup(js) if js is not None else None,
        "css": Markup(css),
        "version": __version__,
        "has_gallery": gallery,
        "nav": nav_links(gallery=gallery, compare=compare, agreement_pages=agreement_pages,
                         reproduction_pages=reproduction_pages, judges=judges),
    }


def data_block(obj: object) -> Any:
    """``obj`` as the body of a ``<script type="application/json">`` block (strings already redacted)."""
    from markupsafe import Markup

    return Markup(json_for_html(obj))
