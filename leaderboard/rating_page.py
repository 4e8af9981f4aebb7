"""The annotation page of ``realedit agree --template``: one self-contained HTML file for a human rater.

Design: the page embeds every image as a small JPEG thumbnail (``data:`` URI, longest side
``thumb_size``), each source photo once, so the single file can be mailed to a rater and opened from disk
with no server and no network; paths into a run directory would break as soon as the file moves. The
rater types a name, gives each edit a 0-5 score and a yes/no verdict per perspective, and presses
*Export CSV*: the download is the long ratings format ``realedit agree --human`` reads (rows left blank
are not exported). Progress is kept in the browser's localStorage, keyed by the page's content hash.

Safety: instructions and ids go into a JSON data block with ``<`` escaped; the one inline script is ours
and allowed by its sha256 in the Content-Security-Policy; nothing is fetched from the network.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from pathlib import Path

from leaderboard.render import script_hash
from realedit_bench.images import load_image
from realedit_bench.jsonio import atomic_write_text
from realedit_bench.schema.base import PERSPECTIVES

HERE = Path(__file__).resolve().parent

#: What each perspective asks, shown to the rater (our own wording).
QUESTIONS = {
    "following": "Does the edited image do what the instruction asks?",
    "preserving": "Does it keep everything the instruction did not ask to change?",
    "quality": "Is the edited image natural, sharp and free of artefacts?",
}


def thumbnail_data_uri(path: Path, size: int) -> str:
    """A JPEG thumbnail of ``path`` (longest side ``size``) as a ``data:`` URI."""
    im = load_image(path)
    im.thumbnail((size, size))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=82, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _json_for_html(obj: object) -> str:
    """JSON that cannot end its <script> block: '<', '>' and '&' are written as unicode escapes."""
    text = json.dumps(obj, ensure_ascii=True, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_annotation_page(edits, out_path: Path, *, thumb_size: int = 384) -> Path:  # noqa: ANN001 - EditSet
    """Write the annotation page for an :class:`realedit_bench.inputs.EditSet`.

    Args:
        edits: The edits to rate (from ``resolve_edits``).
        out_path: HTML file to write.
        thumb_size: Longest side of the embedded thumbnails, in pixels.

    Returns:
        ``out_path``.
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    from markupsafe import Markup

    sources: dict[str, str] = {}
    items = []
    for it in edits.items:
        s = it.sample
        key = str(s.image)
        if key not in sources:
            sources[key] = thumbnail_data_uri(s.image, thumb_size)
        items.append({
            "sample_id": s.sample_id, "category": s.category, "instruction": s.instruction,
            "source": key, "edited": thumbnail_data_uri(it.edited, thumb_size),
        })
    data = {"model": edits.model, "run_id": edits.run_id, "perspectives": list(PERSPECTIVES),
            "questions": QUESTIONS, "sources": sources, "items": items}
    payload = _json_for_html(data)
    page_id = hashlib.sha256(payload.encode()).hexdigest()[:16]
    js = (HERE / "static" / "rating_page.js").read_text(encoding="utf-8")
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src {script_hash(js)}; base-uri 'none'; form-action 'none'"
    )
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True,
                      undefined=StrictUndefined, keep_trailing_newline=True)
    html = env.get_template("rating_page.html.j2").render(
        csp=csp,
        model=edits.model,
        run_id=edits.run_id,
        n_items=len(items),
        page_id=page_id,
        thumb_size=thumb_size,
        # Ours, escaped for a script block above; the script bytes must stay exact for the CSP hash.
        payload=Markup(payload),
        js=Markup(js),
    )
    out_path = Path(out_path)
    atomic_write_text(out_path, html)
    os.chmod(out_path, 0o644)
    return out_path
