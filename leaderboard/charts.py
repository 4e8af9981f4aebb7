"""The numbers behind the page's charts, and the colour scale of its per-category heat map.

The charts are drawn in the browser by the site's own script (``static/site.js``), as SVG at the width of
their box and again whenever that width changes, so a chart is as legible on a phone as on a wide screen
(a picture drawn once at 10 inches only shrinks). This module gives that script plain JSON-ready numbers;
labels are run strings, which the script only ever sets as text (never as markup). Without script the
tables hold every number the charts show.
"""

from __future__ import annotations

from typing import Any

from leaderboard.redact import redact
from realedit_bench.schema import JudgeSummary
from realedit_bench.schema.base import PERSPECTIVES

#: Steps of the heat-map colour scale over the 0-5 score (one CSS class each: ``heat-0`` .. ``heat-10``).
HEAT_STEPS = 10


def _triple(value: float | None, ci: tuple[float, float] | None) -> list[float | None]:
    """[value, low, high], rounded so the page's bytes do not depend on float noise."""
    lo, hi = ci if ci is not None else (None, None)
    return [None if x is None else round(x, 6) for x in (value, lo, hi)]


def chart_series(label: str, summary: JudgeSummary, photos: dict[str, int | None]) -> dict[str, Any]:
    """One run of a leaderboard table, as the charts draw it.

    Args:
        label: the run's display label.
        summary: its judge summary.
        photos: perspective -> source photos among its valid samples (an interval from fewer than 10 is
            marked in the chart as in the table).

    Returns:
        ``{"label": ..., "values": {perspective: {"acc": [v, lo, hi], "score": [v, lo, hi],
        "hist": [n0..n5], "photos": n}}}``; a perspective without a summary is left out.
    """
    values: dict[str, Any] = {}
    for p in PERSPECTIVES:
        ps = summary.perspectives.get(p)
        if ps is None:
            continue
        values[p] = {
            "acc": _triple(ps.accuracy, ps.accuracy_ci),
            "score": _triple(ps.score_mean, ps.score_ci),
            "hist": [int(ps.score_histogram.get(str(k), 0)) for k in range(6)],
            "photos": photos.get(p),
        }
    return {"label": redact(label), "values": values}


def heat_class(score: float | None) -> str:
    """The CSS class colouring a 0-5 mean score in the per-category table ('' for no score)."""
    if score is None:
        return ""
    step = min(HEAT_STEPS, max(0, round(score / 5 * HEAT_STEPS)))
    return f"heat-{step}"
