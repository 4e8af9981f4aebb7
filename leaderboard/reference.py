"""The paper's published results (Tables 1-3 of Gu et al., ICLR 2025), shipped as data with their citation,
and where each editing model is published (its paper and weights).

The CSV files in ``leaderboard/reference/`` are transcribed from the paper one cell at a time; accuracy is
stored as the whole percent the paper prints, so the site never shows more precision than was published.
``model_links.csv`` maps registry names and the paper's method names to https links; a model it does not
name is shown without links.
"""

from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from realedit_bench.schema.base import PERSPECTIVES

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


class Citation(NamedTuple):
    """Where the reference numbers come from."""

    authors: str
    title: str
    venue: str
    arxiv: str
    code: str
    short: str


class JudgedReference(NamedTuple):
    """One row of Table 1: a method judged by GPT-4o on Real-Edit."""

    method: str
    edit_data: str
    #: perspective -> (accuracy as a fraction, mean score)
    perspectives: dict[str, tuple[float, float]]


class ClipReference(NamedTuple):
    """One row of Table 2: CLIP-I and CLIP-T (x100) on the MagicBrush test set."""

    method: str
    clip_i_x100: float
    clip_t_x100: float


class HumanReference(NamedTuple):
    """One row of Table 3: mean human 0-5 scores on Real-Edit."""

    method: str
    scores: dict[str, float]


class ReferenceTables(NamedTuple):
    """Everything published that the site can show beside measured rows."""

    citation: Citation
    captions: dict[str, str]
    judge: str
    rubric: str
    table1: list[JudgedReference]
    table2: list[ClipReference]
    table3: list[HumanReference]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def load_reference(root: Path = REFERENCE_DIR) -> ReferenceTables:
    """Read the shipped reference tables and their citation.

    Args:
        root: folder holding ``citation.json`` and the table CSVs.

    Returns:
        The three tables with accuracies converted to fractions.
    """
    meta = json.loads((root / "citation.json").read_text(encoding="utf-8"))
    tables = meta["tables"]
    t1 = [
        JudgedReference(
            r["method"],
            r["edit_data"],
            {p: (float(r[f"{p}_acc_pct"]) / 100.0, float(r[f"{p}_score"])) for p in PERSPECTIVES},
        )
        for r in _read_csv(root / tables["table1"]["file"])
    ]
    t2 = [
        ClipReference(r["method"], float(r["clip_i_x100"]), float(r["clip_t_x100"]))
        for r in _read_csv(root / tables["table2"]["file"])
    ]
    t3 = [
        HumanReference(r["method"], {p: float(r[f"{p}_score"]) for p in PERSPECTIVES})
        for r in _read_csv(root / tables["table3"]["file"])
    ]
    return ReferenceTables(
        citation=Citation(**meta["citation"]),
        captions={k: v["caption"] for k, v in tables.items()},
        judge=tables["table1"]["judge"],
        rubric=tables["table1"]["rubric"],
        table1=t1,
        table2=t2,
        table3=t3,
    )


class ModelLinks(NamedTuple):
    """Where a model is published: its paper and its weights (either may be unknown)."""

    title: str
    paper: str | None
    weights: str | None


LINKS_FILE = "model_links.csv"


def _https(url: str) -> str | None:
    """``url`` when it is an https address (the only links the site makes to other sites), else None."""
    url = url.strip()
    return url if url.startswith("https://") and not any(c in url for c in " \"'<>") else None


@lru_cache(maxsize=4)
def load_model_links(root: Path = REFERENCE_DIR) -> dict[str, ModelLinks]:
    """Registry names and published method names -> the model's paper and weights (``model_links.csv``).

    Names match exactly: the registry's ``magicbrush`` (a diffusers conversion) and the paper's
    ``MagicBrush`` (the authors' release) link to different weights.
    """
    out: dict[str, ModelLinks] = {}
    for r in _read_csv(root / LINKS_FILE):
        links = ModelLinks(r["model"], _https(r["paper"]), _https(r["weights"]))
        for name in r["names"].split(";"):
            out.setdefault(name.strip(), links)
    return out


def model_links(model: str) -> ModelLinks | None:
    """The paper and weights of ``model``; None for a model the table does not know (shown without links)."""
    return load_model_links().get(model)
