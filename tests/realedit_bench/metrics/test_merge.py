"""Metrics merge per metric: a subset keeps the others, reruns reuse values, no duplicate rows.

A value is keyed on (sample, metric, edited-image sha256, reference sha256, metric-model identity);
encoders are the tiny random-weight models of ``test_metrics`` wrapped to count their forwards.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from realedit_bench.inputs import EditSet, resolve_edits
from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.metrics.runner import choose_metrics, compute_metrics
from realedit_bench.schema.metrics import MetricRow, MetricSummary

ALL = ["l1", "l2", "clip_i", "dino"]


class Counting:
    """An encoder that counts the images it embeds; ``sha256`` overrides the weights' identity."""

    def __init__(self, inner: Any, sha256: str | None = None) -> None:
        self.inner = inner
        self.ref = dict(inner.ref, **({"sha256": sha256} if sha256 else {}))
        self.images = 0

    def encode_images(self, images: list) -> Any:
        self.images += len(images)
        return self.inner.encode_images(images)

    def encode_texts(self, texts: list) -> Any:
        return self.inner.encode_texts(texts)


def _folder(real_edit_dir: Path, dest: Path) -> Path:
    dest.mkdir()
    src10 = Image.open(real_edit_dir / "imgs" / "10.jpeg").convert("RGB")
    src10.save(dest / "10-local.png")
    shutil.copy(real_edit_dir / "imgs" / "3.jpeg", dest / "3-style.jpeg")
    src10.resize((256, 170)).save(dest / "10-remove.png")
    Image.new("RGB", (300, 300), (200, 10, 10)).save(dest / "3-add.png")
    return dest


def _run(edits: EditSet, names: list[str], encoders: dict, **kw: Any):
    return compute_metrics(edits, choose_metrics(names, edits.benchmark), encoders, n_resamples=100, **kw)


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_subset_after_full_keeps_every_metric_and_reuses(real_edit_dir, metric_encoders, tmp_path) -> None:
    folder = _folder(real_edit_dir, tmp_path / "m")
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    full = _run(edits, ALL, metric_encoders)
    before = {r.sample_id: r.values for r in read_rows(full.rows_path, MetricRow)}

    sub = _run(edits, ["l1"], {})  # what `-m l1` loads: no encoder at all
    assert (sub.measured, sub.skipped) == (0, 4)  # l1 was measured already
    s = read_model(folder / "metrics_summary.json", MetricSummary)
    assert set(s.means) == set(ALL) and set(s.cis) == set(ALL) and set(s.labels) == set(ALL)
    assert s.higher_is_better == {"l1": False, "l2": False, "clip_i": True, "dino": True}
    assert set(s.metric_models) == {"clip_i", "dino"}
    assert s.metric_models["dino"] == metric_encoders["dino"].ref
    assert s.means == pytest.approx(full.summary.means) and s.counts == full.summary.counts
    assert len(_lines(full.rows_path)) == 4
    assert {r.sample_id: r.values for r in read_rows(full.rows_path, MetricRow)} == before


def test_rerun_reuses_without_forward_or_duplicate_rows(real_edit_dir, metric_encoders, tmp_path) -> None:
    folder = _folder(real_edit_dir, tmp_path / "m")
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    _run(edits, ALL, metric_encoders)
    first = _lines(folder / "metrics.jsonl")
    # full -> subset -> full: neither run adds a row or runs a model.
    _run(edits, ["l1"], {})
    enc = {k: Counting(v) for k, v in metric_encoders.items()}
    again = _run(edits, ALL, enc)
    assert (again.measured, again.skipped) == (0, 4)
    assert enc["clip"].images == 0 and enc["dino"].images == 0
    assert _lines(folder / "metrics.jsonl") == first  # not rewritten, not grown


def test_subset_first_then_the_rest_measures_only_what_is_new(
    real_edit_dir, metric_encoders, tmp_path, monkeypatch
) -> None:
    from realedit_bench.metrics import core

    calls: list[str] = []
    l1_call = core.L1.__call__
    monkeypatch.setattr(core.L1, "__call__",
                        lambda self, it, st: calls.append(it.sample_id) or l1_call(self, it, st))
    folder = _folder(real_edit_dir, tmp_path / "m")
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    _run(edits, ["l1", "clip_i"], metric_encoders)
    assert len(calls) == 4
    enc = {k: Counting(v) for k, v in metric_encoders.items()}
    res = _run(edits, ALL, enc)
    assert res.measured == 4 and len(calls) == 4  # l1 reused; l2 and dino measured
    assert enc["clip"].images == 0 and enc["dino"].images > 0
    rows = read_rows(folder / "metrics.jsonl", MetricRow)
    assert len(rows) == 4 and all(set(r.values) == set(ALL) and set(r.metrics) == set(ALL) for r in rows)
    assert set(res.summary.means) == set(ALL)


def test_a_changed_image_is_measured_again_and_replaces_its_row(
    real_edit_dir, metric_encoders, tmp_path
) -> None:
    folder = _folder(real_edit_dir, tmp_path / "m")
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    _run(edits, ALL, metric_encoders)
    old = {r.sample_id: r for r in read_rows(folder / "metrics.jsonl", MetricRow)}
    Image.new("RGB", (64, 64), (0, 0, 255)).save(folder / "10-local.png")
    # Only l1 is asked: the other values described the old image and must not survive beside it.
    res = _run(edits, ["l1"], {})
    assert (res.measured, res.skipped) == (1, 3)
    rows = read_rows(folder / "metrics.jsonl", MetricRow)
    assert len(rows) == 4
    new = {r.sample_id: r for r in rows}["10-local"]
    assert new.image_sha256 != old["10-local"].image_sha256 and new.values["l1"] > 0.1
    assert set(new.values) == {"l1"} and new.metrics == ["l1"]
    assert res.summary.counts == {"l1": 4, "l2": 3, "clip_i": 3, "dino": 3}
    # The full set then measures that one sample again, and only it.
    enc = {k: Counting(v) for k, v in metric_encoders.items()}
    full = _run(edits, ALL, enc)
    assert (full.measured, full.skipped) == (1, 3) and enc["dino"].images == 2
    assert full.summary.counts == {m: 4 for m in ALL}


def test_a_changed_reference_is_measured_again(real_edit_dir, metric_encoders, tmp_path) -> None:
    data = tmp_path / "data"
    shutil.copytree(real_edit_dir, data)
    folder = _folder(data, tmp_path / "m")
    edits = resolve_edits(folder, data_dir=data)
    _run(edits, ["l1"], {})
    Image.new("RGB", (64, 64), (9, 9, 9)).save(data / "imgs" / "3.jpeg", format="JPEG")
    edits = resolve_edits(folder, data_dir=data)
    res = _run(edits, ["l1"], {})
    assert (res.measured, res.skipped) == (2, 2)  # 3-add and 3-style share source photo 3


def test_other_metric_weights_remeasure_that_metric_only(real_edit_dir, metric_encoders, tmp_path) -> None:
    folder = _folder(real_edit_dir, tmp_path / "m")
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    _run(edits, ALL, metric_encoders)
    enc = {
        "clip": Counting(metric_encoders["clip"], sha256="f" * 64), "dino": Counting(metric_encoders["dino"])
    }
    res = _run(edits, ALL, enc)
    assert res.measured == 4 and enc["clip"].images > 0 and enc["dino"].images == 0
    rows = read_rows(folder / "metrics.jsonl", MetricRow)
    assert len(rows) == 4 and all(r.metric_models["clip_i"]["sha256"] == "f" * 64 for r in rows)
    assert all(r.metric_models["dino"] == metric_encoders["dino"].ref for r in rows)
    assert res.summary.metric_models["clip_i"]["sha256"] == "f" * 64 and not res.summary.excluded


def test_values_from_two_model_versions_are_not_averaged(real_edit_dir, metric_encoders, tmp_path) -> None:
    folder = _folder(real_edit_dir, tmp_path / "m")
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    _run(edits, ALL, metric_encoders)
    # An interrupted rerun with other CLIP weights: half the samples hold the new clip_i.
    half = EditSet(*edits[:4], edits.items[:2], *edits[5:])
    _run(half, ["clip_i"], {"clip": Counting(metric_encoders["clip"], sha256="e" * 64)})
    s = _run(edits, ["l1"], {}).summary
    assert "clip_i" in s.excluded and "clip_i" not in s.means and "dino" in s.means
    assert "clip_i" not in s.metric_models and "--metric clip_i" in s.excluded["clip_i"]
    # Rerunning that metric brings every sample to the weights given now, and it is averaged again.
    again = _run(edits, ["clip_i"], {"clip": Counting(metric_encoders["clip"], sha256="e" * 64)})
    assert again.measured == 2 and "clip_i" in again.summary.means and not again.summary.excluded


def test_an_interrupted_run_is_read_and_compacted(real_edit_dir, metric_encoders, tmp_path) -> None:
    folder = _folder(real_edit_dir, tmp_path / "m")
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    _run(edits, ALL, metric_encoders)
    path = folder / "metrics.jsonl"
    rows = _lines(path)
    stale = dict(rows[0], values=dict(rows[0]["values"], l1=123.0))
    newest = dict(rows[0], values=dict(rows[0]["values"], l1=0.5))
    # Two rows of one sample (a run killed before its rewrite): the last one counts.
    path.write_text("".join(json.dumps(r) + "\n" for r in [stale, *rows[1:], newest]))
    enc = {k: Counting(v) for k, v in metric_encoders.items()}
    res = _run(edits, ALL, enc)
    assert (res.measured, res.skipped) == (0, 4) and enc["clip"].images == 0
    assert res.summary.metric_models["clip_i"] == metric_encoders["clip"].ref
    after = read_rows(path, MetricRow)
    assert len(after) == 4 and {r.sample_id: r.values["l1"] for r in after}[rows[0]["sample_id"]] == 0.5
    # A further subset run measures nothing and keeps every metric in the summary.
    assert set(_run(edits, ["l1"], {}).summary.means) == set(ALL)


def test_values_whose_model_is_recorded_under_the_encoder_are_measured_again(
    real_edit_dir, metric_encoders, tmp_path
):
    folder = _folder(real_edit_dir, tmp_path / "m")
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    _run(edits, ALL, metric_encoders)
    path = folder / "metrics.jsonl"
    rows = _lines(path)
    # Model identity is recorded per metric; a row keyed by encoder ("clip") names no model for clip_i.
    # (The DINO metric and its encoder share the name "dino": its record stays valid.)
    for r in rows:
        r["metric_models"] = {"clip": r["metric_models"]["clip_i"], "dino": r["metric_models"]["dino"]}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    enc = {k: Counting(v) for k, v in metric_encoders.items()}
    res = _run(edits, ALL, enc)
    assert (res.measured, res.skipped) == (4, 0) and enc["clip"].images > 0 and enc["dino"].images == 0
    after = read_rows(path, MetricRow)
    assert len(after) == 4 and all(set(r.metric_models) == {"clip_i", "dino"} for r in after)
    refs = {"clip_i": metric_encoders["clip"].ref, "dino": metric_encoders["dino"].ref}
    assert res.summary.metric_models == refs
    assert set(res.summary.means) == set(ALL) and not res.summary.excluded


def _cli(args: list[str]):
    from realedit_bench.cli.metrics import register

    app = typer.Typer()
    register(app)
    app.command("noop", hidden=True)(lambda: None)
    return CliRunner().invoke(app, ["metrics", *args])


def test_cli_subset_after_full_and_unmatched_files(real_edit_dir, metric_weights, tmp_path) -> None:
    folder = _folder(real_edit_dir, tmp_path / "cli-model")
    Image.new("RGB", (8, 8)).save(folder / "foo.png")
    Image.new("RGB", (8, 8)).save(folder / "2-removed.png")  # no such sample (case is ignored, spelling not)
    common = ["--images", str(folder), "--data-dir", str(real_edit_dir), "--resamples", "100"]
    full = _cli([*common, "--clip-weights", str(metric_weights[0]), "--dino-weights", str(metric_weights[1])])
    assert full.exit_code == 0, full.output
    assert "files matching no sample id (ignored):" in full.output
    assert "2-removed.png" in full.output and "foo.png" in full.output
    assert "missing edits (not measured):" in full.output and "(556 in all)" in full.output
    sub = _cli([*common, "--metric", "l1"])
    assert sub.exit_code == 0, sub.output
    assert "0 samples measured, 4 reused" in sub.output
    assert "DINO to source (preservation)" in sub.output and "CLIP-I to source (preservation)" in sub.output
    s = json.loads((folder / "metrics_summary.json").read_text())
    assert set(s["means"]) == set(ALL) and set(s["metric_models"]) == {"clip_i", "dino"}
    assert len(_lines(folder / "metrics.jsonl")) == 4
