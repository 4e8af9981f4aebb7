"""Charts drawn by matplotlib into inline SVG: deterministic bytes, no file or network fetch.

Determinism: a fixed ``svg.hashsalt`` makes element ids stable, ``metadata={'Date': None}`` drops the
timestamp, and ``svg.fonttype='none'`` writes text as text (smaller, and no glyph cache ids).
``text.parse_math`` is off because model names are untrusted text, not mathtext. matplotlib escapes text
and attributes when it writes SVG; comments are removed here anyway so no run string survives in one.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from markupsafe import Markup

from realedit_bench.schema.base import CATEGORIES, PERSPECTIVES

_RC: dict[Any, Any] = {  # matplotlib types its keys as a Literal of every rc name
    "svg.hashsalt": "realedit-leaderboard",
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}

#: Colour-blind friendly palette (Okabe-Ito), cycled over models.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


class Series(NamedTuple):
    """One model's numbers for the perspective charts."""

    label: str
    #: perspective -> (accuracy, accuracy interval or None, score, score interval or None)
    values: dict[
        str, tuple[float | None, tuple[float, float] | None, float | None, tuple[float, float] | None]
    ]
    #: perspective -> {"0".."5": count}
    histogram: dict[str, dict[str, int]]


def _svg(fig) -> Markup:
    buf = io.StringIO()
    # Fixed margins instead of bbox_inches="tight", which draws every figure twice.
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # drop the XML declaration and DOCTYPE: the SVG sits inside HTML
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    # Our own, escaped-by-matplotlib SVG; never built from run strings by string formatting.
    return Markup(text.strip())


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _legend(ax, among=None) -> None:  # noqa: ANN001 - matplotlib Axes
    """A legend beside ``ax`` of the labelled artists of ``among`` (default ``ax``); none when nothing was
    drawn,
    where matplotlib would warn "No artists with labels found to put in legend" on stderr."""
    handles: dict[str, object] = {}
    for a in among if among is not None else [ax]:
        for h, label in zip(*a.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    if handles:
        ax.legend(
            list(handles.values()), list(handles), loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False
        )


def perspective_chart(series: Sequence[Series], title: str) -> Markup:
    """Grouped bars: accuracy (left) and mean score (right) per perspective, with 95% intervals."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        from matplotlib.figure import Figure

        n = max(len(series), 1)
        fig = Figure(figsize=(10, 3.4 + 0.12 * n))
        axes = fig.subplots(1, 2)
        fig.subplots_adjust(left=0.07, right=0.76, bottom=0.12, top=0.86, wspace=0.28)
        width = 0.8 / n
        for ax, (which, label, top) in zip(
            axes, ((0, "accuracy (share of yes)", 1.0), (2, "mean score (0-5)", 5.0)), strict=True
        ):
            for i, s in enumerate(series):
                xs, ys, lo, hi = [], [], [], []
                for j, p in enumerate(PERSPECTIVES):
                    v = s.values.get(p)
                    if v is None:
                        continue
                    y, ci = (v[0], v[1]) if which == 0 else (v[2], v[3])
                    if y is None:
                        continue
                    xs.append(j - 0.4 + width * (i + 0.5))
                    ys.append(y)
                    lo.append(y - ci[0] if ci else 0.0)
                    hi.append(ci[1] - y if ci else 0.0)
                if not xs:
                    continue  # a run with no numbers here: no empty bar group, no empty legend entry
                ax.bar(
                    xs,
                    ys,
                    width * 0.92,
                    color=PALETTE[i % len(PALETTE)],
                    label=_short(s.label),
                    yerr=[lo, hi],
                    capsize=2,
                    error_kw={"elinewidth": 0.8},
                )
            ax.set_xticks(range(len(PERSPECTIVES)), PERSPECTIVES)
            ax.set_ylim(0, top)
            ax.set_ylabel(label)
        _legend(axes[1])
        fig.suptitle(title)
        return _svg(fig)


def histogram_chart(series: Sequence[Series], title: str) -> Markup:
    """Score distributions: share of valid scores at each integer 0..5, one line per model and perspective."""
    import matplotlib

    with matplotlib.rc_context(_RC):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 3.0))
        axes = fig.subplots(1, len(PERSPECTIVES), sharey=True)
        fig.subplots_adjust(left=0.07, right=0.76, bottom=0.17, top=0.82, wspace=0.12)
        for ax, p in zip(axes, PERSPECTIVES, strict=True):
            for i, s in enumerate(series):
                hist = s.histogram.get(p) or {}
                total = sum(hist.values())
                if not total:
                    continue
                ys = [hist.get(str(k), 0) / total for k in range(6)]
                ax.plot(
                    range(6),
                    ys,
                    marker="o",
                    ms=3,
                    lw=1.2,
                    color=PALETTE[i % len(PALETTE)],
                    label=_short(s.label),
                )
            ax.set_title(p)
            ax.set_xticks(range(6))
            ax.set_xlabel("score")
        axes[0].set_ylabel("share of valid")
        _legend(axes[-1], axes)
        fig.suptitle(title)
        return _svg(fig)


def heatmap_chart(labels: Sequence[str], grid: dict[str, list[list[float | None]]], title: str) -> Markup:
    """Mean score per (model, category), one panel per perspective; ``grid[p][model][category]``."""
    import matplotlib
    import numpy as np

    with matplotlib.rc_context(_RC):
        from matplotlib.figure import Figure

        n = max(len(labels), 1)
        height = 1.9 + 0.3 * n
        fig = Figure(figsize=(10, height))
        axes = fig.subplots(1, len(PERSPECTIVES), sharey=True)
        fig.subplots_adjust(left=0.2, right=0.9, bottom=1.0 / height, top=1 - 0.55 / height, wspace=0.08)
        image = None
        for ax, p in zip(axes, PERSPECTIVES, strict=True):
            data = np.array([[np.nan if v is None else v for v in row] for row in grid[p]], dtype=float)
            if data.size == 0:
                data = np.full((1, len(CATEGORIES)), np.nan)
            image = ax.imshow(data, vmin=0, vmax=5, cmap="viridis", aspect="auto")
            for (r, c), v in np.ndenumerate(data):
                if not np.isnan(v):
                    ax.text(
                        c,
                        r,
                        f"{v:.1f}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if v < 3 else "black",
                    )
            ax.set_xticks(range(len(CATEGORIES)), CATEGORIES, rotation=45, ha="right")
            ax.set_title(p)
        axes[0].set_yticks(range(len(labels)), [_short(x) for x in labels])
        if image is not None:
            cax = fig.add_axes((0.92, 1.0 / height, 0.015, 1 - 1.55 / height))
            fig.colorbar(image, cax=cax, label="mean score")
        fig.suptitle(title)
        return _svg(fig)
