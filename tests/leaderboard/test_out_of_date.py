"""``realedit report`` on results that no longer describe the run: metric values of redone images, means of
an older metric formula, and agreement reports whose input files changed or went."""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

import pytest
from report_fixtures import WHEN, make_dataset, make_run, page_soup

from leaderboard.site import build_site
from realedit_bench.jsonio import atomic_write_json
from realedit_bench.schema import MetricRow, MetricSummary


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _metrics_run(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    """A 7-sample run whose edits record their images' sha256, with l1 rows and a summary over all of them."""
    data = make_dataset(tmp_path / "data", 1)
    root = make_run(tmp_path / "runs", "m", 7, 1, data_dir=data, metrics=False)
    edits = [json.loads(x) for x in (root / "edits.jsonl").read_text().splitlines()]
    for e in edits:
        e["output_sha256"] = _sha(root / e["output"])
    (root / "edits.jsonl").write_text("".join(json.dumps(e) + "\n" for e in edits))
    values = {e["sample_id"]: 0.1 * (i + 1) for i, e in enumerate(edits)}
    rows = [
        MetricRow(
            sample_id=e["sample_id"],
            image_id=e["image_id"],
            category=e["category"],
            reference="source",
            status="ok",
            values={"l1": values[e["sample_id"]]},
            image_sha256=e["output_sha256"],
            reference_sha256="c" * 64,
            metrics=["l1"],
            finished_at=WHEN,
        )
        for e in edits
    ]
    (root / "metrics.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in rows))
    atomic_write_json(
        root / "metrics_summary.json",
        MetricSummary(
            run_id=root.name,
            model="m",
            benchmark="real-edit",
            reference="source",
            n=7,
            counts={"l1": 7},
            means={"l1": statistics.mean(values.values())},
            labels={"l1": "L1 to source (preservation)"},
            higher_is_better={"l1": False},
            bootstrap={"resamples": 50, "seed": 0},
            created_at=WHEN,
            realedit_version="0",
        ),
    )
    return root, values


def _metric_cell(index: Path, name: str) -> str:
    td = page_soup(index).select_one(f"table.metrics tbody tr td.metric[data-metric={name}]")
    assert td is not None
    return td.get_text(" ", strip=True)


def test_metrics_of_redone_images_are_left_out_and_the_means_recomputed(tmp_path) -> None:
    root, values = _metrics_run(tmp_path)
    site = build_site(
        tmp_path / "runs", tmp_path / "s0", gallery=False, charts=False, formats=["html", "json"]
    )
    assert _metric_cell(site.index, "l1").startswith(f"{statistics.mean(values.values()):.3f}")
    assert not site.warnings
    # Two samples redone after the metrics were measured: a new edit row with other bytes.
    edits = [json.loads(x) for x in (root / "edits.jsonl").read_text().splitlines()]
    for e in edits[:2]:
        (root / e["output"]).write_bytes((root / e["output"]).read_bytes() + b"\0")
        with (root / "edits.jsonl").open("a") as fh:
            fh.write(json.dumps(dict(e, output_sha256=_sha(root / e["output"]))) + "\n")
    site = build_site(
        tmp_path / "runs", tmp_path / "s1", gallery=False, charts=False, formats=["html", "json"]
    )
    current = statistics.mean(
        v for sid, v in values.items() if sid not in {e["sample_id"] for e in edits[:2]}
    )
    assert _metric_cell(site.index, "l1").startswith(f"{current:.3f}")
    line = "metric values of 2 samples are of older images, left out of the means; rerun realedit metrics"
    # The run's judgments are of the older images too: they are left out as well, and said so.
    judged = "6 judgments are of older images, left out of the numbers; rerun realedit judge"
    assert site.warnings == [f"{root.name}: {judged}", f"{root.name}: {line}"]
    assert line in page_soup(site.index).select_one(".metrics-note").get_text(" ", strip=True)
    export = json.loads((tmp_path / "s1" / "leaderboard.json").read_text())
    assert export["metrics"]["rows"][0]["means"]["l1"] == pytest.approx(current)


def test_a_mean_of_an_older_formula_is_not_shown(tmp_path) -> None:
    root, _ = _metrics_run(tmp_path)
    path = root / "metrics_summary.json"
    s = json.loads(path.read_text())
    # Written before directional CLIP's definition 2: models keyed by encoder, no definition recorded.
    s["means"].update(clip_dir=0.42, clip_i=0.9)
    s["labels"].update(clip_dir="CLIP-dir", clip_i="CLIP-I to source (preservation)")
    s["metric_models"] = {"clip": {"id": "ViT-B-32", "revision": "openai", "sha256": "a" * 64}}
    path.write_text(json.dumps(s))
    site = build_site(
        tmp_path / "runs", tmp_path / "site", gallery=False, charts=False, formats=["html", "md"]
    )
    assert _metric_cell(site.index, "clip_dir") == "–"
    assert _metric_cell(site.index, "clip_i").startswith("0.900")
    line = "clip_dir was measured with an older formula, not shown; rerun realedit metrics --metric clip_dir"
    assert site.warnings == [f"{root.name}: {line}"]
    assert line in page_soup(site.index).select_one(".metrics-note").get_text(" ", strip=True)
    md = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "0.420" not in md and line in md
    # The same summary with the current definition recorded is shown as it is.
    s["metric_models"] = {"clip_dir": {"id": "ViT-B-32", "definition": 2}, "clip_i": {"id": "ViT-B-32"}}
    path.write_text(json.dumps(s))
    site = build_site(tmp_path / "runs", tmp_path / "site2", gallery=False, charts=False)
    assert _metric_cell(site.index, "clip_dir").startswith("0.420") and not site.warnings


def _agreement(tmp_path: Path, inputs: list[Path]) -> Path:
    report = {
        "schema_version": 1,
        "created_at": WHEN,
        "realedit_version": "0",
        "command": ["realedit", "agree"],
        "inputs": [
            {"path": str(p.relative_to(tmp_path)), "kind": "judgments", "sha256": _sha(p), "rows": 1}
            for p in inputs
        ],
        "n_resamples": 50,
        "seed": 0,
        "level": 0.95,
        "raters": ["ann"],
        "models": ["m"],
        "judges": [],
    }
    out = tmp_path / "runs" / "agreement.json"
    out.write_text(json.dumps(report))
    return out


def test_an_agreement_report_of_changed_or_missing_inputs_is_marked_out_of_date(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(
        tmp_path / ".."
    )  # recorded paths are relative to where agree ran: found from the report
    (tmp_path / "runs" / "r" / "judgments").mkdir(parents=True)
    a, b = tmp_path / "runs" / "r" / "judgments" / "a.jsonl", tmp_path / "human.csv"
    a.write_text("one\n")
    b.write_text("sample_id\n")
    _agreement(tmp_path, [b, a])
    site = build_site(tmp_path / "runs", tmp_path / "s0", gallery=False)
    page = page_soup(tmp_path / "s0" / "agreement.html")
    assert page.select_one(".outdated-note") is None and not site.warnings
    a.rename(a.with_suffix(".moved"))  # what 'run --force' does: judgments moved to replaced/
    b.write_text("sample_id\nchanged\n")
    site = build_site(tmp_path / "runs", tmp_path / "s1", gallery=False)
    note = (
        page_soup(tmp_path / "s1" / "agreement.html").select_one(".outdated-note").get_text(" ", strip=True)
    )
    assert "Out of date" in note and "human.csv has changed since" in note and "a.jsonl is missing" in note
    assert (
        len(site.warnings) == 1
        and "out of date" in site.warnings[0]
        and "rerun realedit agree" in site.warnings[0]
    )
