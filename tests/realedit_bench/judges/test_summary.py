"""Summaries of judgment rows: counts of every status, bootstrap intervals, repeats, the authors' figures."""

from __future__ import annotations

import numpy as np
import pytest

from realedit_bench.judges.summary import paper_figures, summarize_rows
from realedit_bench.schema.judge import JudgmentRow
from realedit_bench.stats.bootstrap import cluster_mean_ci


def _row(
    sid: str,
    persp: str,
    *,
    status: str = "ok",
    verdict: bool | None = True,
    score: float | None = 4.0,
    repeat: int = 0,
    image: str | None = None,
    cat: str = "local",
    pp: dict | None = None,
) -> JudgmentRow:
    return JudgmentRow(
        sample_id=sid, image_id=image or sid.split("-")[0], category=cat, model="m", perspective=persp,
        repeat=repeat, status=status, verdict=verdict if status == "ok" else None,
        score=score if status == "ok" else None, paper_parse=pp, judge="openai/x", rubric="r-v1",
        edited_sha256="e" * 64, finished_at="2025-01-01T00:00:00+00:00",
    )


def test_paper_figures_keep_the_scripts_list_quirk() -> None:
    ok = {"verdict": True, "score": 4.0, "ok": True, "text": True}
    no = {"verdict": False, "score": 2.0, "ok": True, "text": True}
    bad = {"verdict": True, "score": None, "ok": False, "text": True}
    rows = [
        _row("1-local", "following", pp=ok),
        _row("1-local", "preserving", pp=ok),
        _row("1-local", "quality", pp=no),
        # preserving's score fails: following fully counted, preserving's yes/no kept, quality untouched.
        _row("2-local", "following", pp=no),
        _row("2-local", "preserving", pp=bad),
        _row("2-local", "quality", pp=ok),
        # an error reply: the whole sample is skipped.
        _row("3-local", "following", pp=ok),
        _row("3-local", "preserving", status="error", pp=None),
        _row("3-local", "quality", pp=ok),
    ]
    figures, dropped = paper_figures(rows)
    assert dropped == 2
    assert figures["following"] == {"n": 2, "accuracy": 0.5, "score_mean": 3.0}
    assert figures["preserving"] == {"n": 1, "accuracy": 1.0, "score_mean": 4.0}  # 2 yes entries, 1 score
    assert figures["quality"] == {"n": 1, "accuracy": 0.0, "score_mean": 2.0}


def test_summary_counts_statuses_and_matches_the_bootstrap() -> None:
    rows = []
    scores = {"1-local": 5.0, "1-add": 3.0, "2-local": 1.0, "2-add": 4.0, "3-local": 2.0}
    verdicts = {"1-local": True, "1-add": False, "2-local": False, "2-add": True, "3-local": True}
    for sid, s in scores.items():
        rows.append(_row(sid, "following", score=s, verdict=verdicts[sid], cat=sid.split("-")[1]))
    rows.append(_row("3-add", "following", status="invalid", cat="add"))
    rows.append(_row("4-add", "following", status="error", cat="add"))
    rows.append(_row("4-add", "following", status="refused", cat="add"))  # redone: last row wins
    rows.append(_row("5-add", "following", status="error", cat="add"))
    s = summarize_rows(rows, n_resamples=500)
    f = s["perspectives"]["following"]
    assert (f.n, f.n_valid, f.n_invalid, f.n_refused, f.n_error) == (8, 5, 1, 1, 1)
    assert f.score_mean == pytest.approx(3.0) and f.accuracy == pytest.approx(0.6) and f.score_median == 3.0
    ids = list(scores)
    ci = cluster_mean_ci([scores[i] for i in ids], [i.split("-")[0] for i in ids], n_resamples=500)
    assert f.score_ci == (ci.low, ci.high)
    assert f.score_histogram == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1}
    assert s["per_category"]["add"]["following"].n == 5
    assert s["variance"] == {}


def test_summary_with_repeats_uses_the_item_mean() -> None:
    rows = [_row("1-local", "quality", score=sc, repeat=r, verdict=v)
            for r, (sc, v) in enumerate([(2.0, False), (4.0, True), (3.0, True)])]
    rows += [_row("2-local", "quality", score=5.0, repeat=r) for r in range(3)]
    s = summarize_rows(rows, n_resamples=200)
    q = s["perspectives"]["quality"]
    assert q.score_mean == pytest.approx(np.mean([3.0, 5.0]))
    assert q.accuracy == pytest.approx(np.mean([2 / 3, 1.0]))
    item = next(i for i in s["items"] if i.sample_id == "1-local")
    assert (item.score_mean, item.score_median, item.score_spread) == (3.0, 3.0, 2.0)
    v = s["variance"]["quality"]
    assert v["items"] == 2 and v["spread_max"] == 2.0 and v["verdict_disagreement"] == 0.5


def test_selected_items_without_rows_are_counted_as_not_run() -> None:
    rows = [_row("1-local", "quality")]
    s = summarize_rows(
        rows, n_resamples=50, selected=[("1-local", "quality", "local"), ("1-add", "quality", "add")]
    )
    q = s["perspectives"]["quality"]
    assert (q.n, q.n_valid, q.n_not_run) == (2, 1, 1)
    assert s["per_category"]["add"]["quality"].n_not_run == 1 and s["n_samples"] == 2
