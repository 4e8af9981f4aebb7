"""Values of an older formula of a metric (a lower ``definition``) are never kept or averaged.

Directional CLIP is definition 2 (InstructPix2Pix's formula); a value of definition 1 records no
definition. The runner drops such values even when the metric is not asked this time, and the summary
lists a metric with such values in ``excluded`` instead of averaging it. Only pixel metrics are computed
here (no encoder); the old-formula values are written into the rows by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from realedit_bench.inputs import resolve_edits
from realedit_bench.jsonio import read_rows
from realedit_bench.metrics.runner import choose_metrics, compute_metrics, outdated_metrics, summarize
from realedit_bench.schema.metrics import MetricRow

OLD_CLIP = {"id": "ViT-B-32", "revision": "openai", "sha256": "a" * 64}


def _folder(real_edit_dir: Path, dest: Path) -> Path:
    dest.mkdir()
    src10 = Image.open(real_edit_dir / "imgs" / "10.jpeg").convert("RGB")
    src10.resize((64, 48)).save(dest / "10-local.png")
    Image.new("RGB", (40, 40), (200, 10, 10)).save(dest / "3-add.png")
    return dest


def _add_old_clip_dir(path: Path) -> None:
    """Give every row a clip_dir value of the old formula: its model records no definition."""
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    for r in rows:
        r["values"]["clip_dir"] = 0.75
        r["metrics"].append("clip_dir")
        r["metric_models"]["clip_dir"] = dict(OLD_CLIP)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _run(real_edit_dir: Path, folder: Path, names: list[str]):
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    return compute_metrics(edits, choose_metrics(names, edits.benchmark), {}, n_resamples=50)


def test_a_subset_run_drops_old_formula_values_it_reuses_the_rest(real_edit_dir, tmp_path) -> None:
    folder = _folder(real_edit_dir, tmp_path / "m")
    first = _run(real_edit_dir, folder, ["l1"])
    _add_old_clip_dir(first.rows_path)
    # l1 is reused as it is (nothing to measure), yet the old clip_dir is neither kept nor averaged.
    res = _run(real_edit_dir, folder, ["l1"])
    assert (res.measured, res.skipped) == (0, 2)
    rows = read_rows(res.rows_path, MetricRow)
    assert all("clip_dir" not in r.values and "clip_dir" not in r.metrics for r in rows)
    assert all("clip_dir" not in r.metric_models for r in rows)
    assert "clip_dir" not in res.summary.means and set(res.summary.means) == {"l1"}
    assert {r.sample_id: r.values["l1"] for r in rows} == {
        r.sample_id: r.values["l1"] for r in read_rows(first.rows_path, MetricRow)
    }


def test_a_merge_drops_old_formula_values_of_metrics_not_asked(real_edit_dir, tmp_path) -> None:
    folder = _folder(real_edit_dir, tmp_path / "m")
    first = _run(real_edit_dir, folder, ["l1"])
    _add_old_clip_dir(first.rows_path)
    res = _run(real_edit_dir, folder, ["l2"])  # measures l2, merges it into the rows
    assert res.measured == 2
    rows = read_rows(res.rows_path, MetricRow)
    assert all(set(r.values) == {"l1", "l2"} and r.metrics == ["l1", "l2"] for r in rows)
    assert set(res.summary.means) == {"l1", "l2"} and not res.summary.excluded


def _row(sid: str, value: float, model: dict | None) -> MetricRow:
    return MetricRow(
        sample_id=sid, image_id=sid.split("-")[0], category="local", reference="source", status="ok",
        values={"clip_dir": value}, image_sha256="b" * 64, reference_sha256="c" * 64, metrics=["clip_dir"],
        metric_models={"clip_dir": model} if model is not None else {},
        finished_at="2026-01-01T00:00:00+00:00",
    )


def test_summary_excludes_a_metric_with_old_formula_values() -> None:
    new = dict(OLD_CLIP, definition=2)
    kw = {"reference": "source", "run_id": "r", "model": "m", "benchmark": "real-edit", "n_resamples": 50}
    only_old = [_row("1-local", 0.5, OLD_CLIP), _row("2-local", 0.7, OLD_CLIP)]
    s = summarize(only_old, **kw)
    assert "clip_dir" not in s.means and "clip_dir" not in s.cis and "clip_dir" not in s.metric_models
    assert s.excluded["clip_dir"] == "measured with an older formula; rerun with --metric clip_dir"
    assert outdated_metrics(only_old[0]) == ["clip_dir"]
    # Mixed with values of the current formula: still not averaged (the mean would mix two measures).
    mixed = [_row("1-local", 0.5, OLD_CLIP), _row("2-local", 0.1, new)]
    assert "clip_dir" in summarize(mixed, **kw).excluded
    current = [_row("1-local", 0.2, new), _row("2-local", 0.1, new)]
    s = summarize(current, **kw)
    assert s.means["clip_dir"] == pytest.approx(0.15)
    assert s.metric_models["clip_dir"]["definition"] == 2 and not s.excluded
    assert outdated_metrics(current[0]) == []
