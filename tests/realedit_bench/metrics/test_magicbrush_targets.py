"""MagicBrush: importing the authors' test layout (folder or zip), the single-turn protocol, and metrics
against ground-truth targets with captions, from a plain folder and from a run directory."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from metrics_fixtures import build_magicbrush_test, build_tiny_clip_dir, build_tiny_dino_dir, noise_image

from realedit_bench.datasets.magicbrush import MagicBrushBenchmark
from realedit_bench.errors import DataError
from realedit_bench.inputs import resolve_edits
from realedit_bench.jsonio import read_rows
from realedit_bench.metrics.encoders import load_encoders
from realedit_bench.metrics.runner import choose_metrics, compute_metrics
from realedit_bench.registry import BENCHMARKS
from realedit_bench.schema.metrics import MetricRow


@pytest.fixture()
def upstream(tmp_path: Path) -> Path:
    return build_magicbrush_test(tmp_path / "download")


@pytest.fixture(scope="module")
def encoders(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("mb-weights")
    metrics = choose_metrics(["clip_i", "dino"], _dummy_bench())
    return load_encoders(
        metrics,
        clip_weights=build_tiny_clip_dir(root / "clip"),
        dino_weights=build_tiny_dino_dir(root / "dino"),
    )


def _dummy_bench():
    from realedit_bench.datasets import LoadedBenchmark

    return LoadedBenchmark("x", Path("."), [], "")


def test_registered_and_single_turn_protocol(upstream: Path, tmp_path: Path) -> None:
    assert BENCHMARKS.get("magicbrush") is MagicBrushBenchmark
    bench = MagicBrushBenchmark().fetch(tmp_path / "data", from_dir=upstream)
    ids = [s.sample_id for s in bench.samples]
    assert ids == ["30-turn1", "139-turn1", "139-turn2", "139-turn3"]  # numeric session order, then turn
    by = {s.sample_id: s for s in bench.samples}
    t1, t2 = by["139-turn1"], by["139-turn2"]
    # Turn 1 starts from the real photo; turn K > 1 from the ground-truth output of turn K-1.
    assert t1.image.name == "139-input.png" and t1.target.name == "139-output1.png"
    assert t2.image.name == "139-output1.png" and t2.target.name == "139-output2.png"
    assert t2.image.read_bytes() == (upstream / "test/images/139/139-output1.png").read_bytes()
    assert t2.image_id == "139" and t2.category == "turn2" and t2.instruction == "make change 2 to photo 139"
    assert t2.extra["caption"] == "a red thing 2"  # local description of the target (CLIP-T)
    assert t2.extra["input_caption"] == "a photo number 139 after edit 1"
    assert t2.extra["output_caption"] == "a photo number 139 after edit 2"
    assert MagicBrushBenchmark.reference == "target"
    prov = json.loads((tmp_path / "data/test/PROVENANCE.json").read_text())
    assert prov["turns"] == 4 and prov["sessions"] == 2 and len(prov["upstream_sha256"]) == 3
    assert prov["captions"] == {"caption": 4, "input_caption": 4, "output_caption": 4}
    # Loading again gives the same content hash; a rerun of the import is idempotent.
    again = MagicBrushBenchmark().fetch(tmp_path / "data", from_dir=upstream / "test")
    assert (
        again.content_sha256
        == bench.content_sha256
        == MagicBrushBenchmark().load(tmp_path / "data").content_sha256
    )


def test_import_from_the_zip(upstream: Path, tmp_path: Path) -> None:
    zpath = tmp_path / "test.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted((upstream / "test").rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(upstream).as_posix())
    bench = MagicBrushBenchmark().fetch(tmp_path / "z", from_dir=zpath)
    assert len(bench.samples) == 4 and all(s.target.is_file() for s in bench.samples)


def test_import_errors_are_data_errors(upstream: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not on the Hugging Face hub"):
        MagicBrushBenchmark().fetch(tmp_path / "d")
    with pytest.raises(DataError, match="no edit_sessions.json"):
        MagicBrushBenchmark().fetch(tmp_path / "d", from_dir=tmp_path)
    with pytest.raises(DataError, match="not found"):
        MagicBrushBenchmark().load(tmp_path / "nothing-here")
    sessions = upstream / "test/edit_sessions.json"
    data = json.loads(sessions.read_text())
    data["30"][0]["output"] = "../../escape.png"
    sessions.write_text(json.dumps(data))
    with pytest.raises(DataError, match="escapes|bare file name"):
        MagicBrushBenchmark().fetch(tmp_path / "d", from_dir=upstream)
    assert not (tmp_path / "d/test/samples.jsonl").exists()
    sessions.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        MagicBrushBenchmark().fetch(tmp_path / "d", from_dir=upstream)
    build_magicbrush_test(tmp_path / "again")
    (tmp_path / "again/test/images/139/139-output2.png").unlink()
    with pytest.raises(DataError, match="139-output2.png"):
        MagicBrushBenchmark().fetch(tmp_path / "d2", from_dir=tmp_path / "again")


def test_metrics_against_targets_from_a_plain_folder(upstream: Path, encoders: dict, tmp_path: Path) -> None:
    data = tmp_path / "data"
    bench = MagicBrushBenchmark().fetch(data, from_dir=upstream)
    folder = tmp_path / "edits"
    folder.mkdir()
    for s in bench.samples:
        if s.sample_id == "139-turn2":
            noise_image((64, 64), 999).save(folder / f"{s.sample_id}.png")
        else:  # a perfect editor: the ground truth itself
            shutil.copy(s.target, folder / f"{s.sample_id}.png")
    edits = resolve_edits(folder, data_dir=data, benchmark="magicbrush")
    metrics = choose_metrics(None, edits.benchmark)
    assert [m.name for m in metrics] == ["l1", "l2", "clip_i", "dino", "clip_t", "clip_dir"]
    res = compute_metrics(edits, metrics, encoders, n_resamples=100)
    rows = {r.sample_id: r for r in read_rows(res.rows_path, MetricRow)}
    perfect = rows["139-turn1"]
    assert perfect.reference == "target" and perfect.category == "turn1"
    assert perfect.values["l1"] == 0.0 and perfect.values["clip_i"] == pytest.approx(1.0, abs=1e-6)
    assert set(perfect.values) == {"l1", "l2", "clip_i", "dino", "clip_t", "clip_dir"}
    assert rows["139-turn2"].values["l1"] > 0.1 and rows["139-turn2"].values["clip_i"] < 0.9999
    # CLIP-T of a perfect edit is the CLIP score of the ground truth with its local caption.
    clip = encoders["clip"]
    from realedit_bench.images import load_image
    from realedit_bench.metrics.core import cosine

    target = next(s for s in bench.samples if s.sample_id == "139-turn1").target
    expected = cosine(clip.encode_images([load_image(target)])[0], clip.encode_texts(["a red thing 1"])[0])
    assert perfect.values["clip_t"] == pytest.approx(expected, abs=1e-5)
    s = res.summary
    assert s.benchmark == "magicbrush" and s.reference == "target" and s.n == 4
    assert s.labels["clip_i"] == "CLIP-I to target" and s.labels["clip_t"] == "CLIP-T"
    assert set(s.per_category) == {"turn1", "turn2", "turn3"}


def test_metrics_from_a_run_directory(upstream: Path, encoders: dict, tmp_path: Path) -> None:
    from realedit_bench.jsonio import JsonlAppender, atomic_write_json
    from realedit_bench.schema.run import AdapterRef, BenchmarkRef, EditRow, RunManifest

    data = tmp_path / "data"
    bench = MagicBrushBenchmark().fetch(data, from_dir=upstream)
    run = tmp_path / "runs" / "r1"
    (run / "images").mkdir(parents=True)
    now = "2026-01-01T00:00:00+00:00"
    with JsonlAppender(run / "edits.jsonl") as out:
        for i, s in enumerate(bench.samples):
            ok = s.sample_id != "30-turn1"  # one failed edit: missing from the metrics
            if ok:
                shutil.copy(s.image, run / "images" / f"{s.sample_id}.png")  # an editor that changes nothing
            out.append(
                EditRow(
                    sample_id=s.sample_id,
                    image_id=s.image_id,
                    category=s.category,
                    instruction=s.instruction,
                    source=s.image.name,
                    status="ok" if ok else "error",
                    output=f"images/{s.sample_id}.png" if ok else None,
                    seed=i,
                    error=None if ok else "boom",
                    finished_at=now,
                )
            )
    atomic_write_json(
        run / "manifest.json",
        RunManifest(
            run_id="r1",
            label="identity",
            realedit_version="0",
            command=["realedit", "run"],
            created_at=now,
            updated_at=now,
            benchmark=BenchmarkRef(
                name="magicbrush",
                data_dir=str(data),
                instructions_sha256=bench.content_sha256,
                n_samples_total=4,
                n_samples_selected=4,
            ),
            adapter=AdapterRef(name="identity", params={}),
            base_seed=0,
            device="cpu",
            dtype="float32",
            status="failed",
        ),
    )
    edits = resolve_edits(run)
    res = compute_metrics(
        edits, choose_metrics(["clip_i", "clip_dir"], edits.benchmark), encoders, n_resamples=100
    )
    rows = {r.sample_id: r for r in read_rows(run / "metrics.jsonl", MetricRow)}
    assert set(rows) == {"139-turn1", "139-turn2", "139-turn3"}
    assert res.summary.model == "identity" and res.summary.n_missing == 1
    assert rows["139-turn1"].values["clip_i"] < 0.9999  # the source photo is not the target
    # An unchanged image has no direction (zero image difference): 0, as InstructPix2Pix's code gives.
    assert rows["139-turn1"].values["clip_dir"] == 0.0 and rows["139-turn1"].metrics == ["clip_i", "clip_dir"]
    assert res.summary.counts == {"clip_i": 3, "clip_dir": 3} and res.summary.means["clip_dir"] == 0.0
    # A value stored by the earlier (unnormalised) formula is measured again, not reused.
    lines = (run / "metrics.jsonl").read_text().splitlines()
    old = [json.loads(x) for x in lines]
    for row in old:
        row["values"]["clip_dir"] = 0.5
        row["metric_models"]["clip_dir"].pop("definition")
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    again = compute_metrics(
        edits, choose_metrics(["clip_i", "clip_dir"], edits.benchmark), encoders, n_resamples=100
    )
    assert (
        again.summary.means["clip_dir"] == 0.0
        and again.summary.means["clip_i"] == res.summary.means["clip_i"]
    )


@pytest.mark.gpu
def test_cuda_gives_the_cpu_values(upstream: Path, tmp_path: Path) -> None:
    """The same tiny weights on CUDA and on CPU give the same metrics (TF32 convolutions allow ~1e-3)."""
    root = tmp_path / "w"
    clip_dir, dino_dir = build_tiny_clip_dir(root / "clip"), build_tiny_dino_dir(root / "dino")
    data = tmp_path / "data"
    bench = MagicBrushBenchmark().fetch(data, from_dir=upstream)
    folder = tmp_path / "edits"
    folder.mkdir()
    for i, s in enumerate(bench.samples):
        noise_image((80, 60), 500 + i).save(folder / f"{s.sample_id}.png")
    edits = resolve_edits(folder, data_dir=data, benchmark="magicbrush")
    metrics = choose_metrics(None, edits.benchmark)
    values = {}
    for device in ("cpu", "cuda"):
        enc = load_encoders(metrics, clip_weights=clip_dir, dino_weights=dino_dir, device=device)
        assert next(enc["clip"].model.parameters()).device.type == device
        res = compute_metrics(edits, metrics, enc, out_dir=tmp_path / device, batch_size=3, n_resamples=100)
        values[device] = {r.sample_id: r.values for r in read_rows(res.rows_path, MetricRow)}
    assert values["cpu"].keys() == values["cuda"].keys()
    for sid, v in values["cpu"].items():
        assert v.keys() == values["cuda"][sid].keys()
        for name in v:
            assert values["cuda"][sid][name] == pytest.approx(v[name], abs=2e-3), (sid, name)


def test_realedit_run_on_magicbrush_then_metrics_through_the_cli(upstream: Path, tmp_path: Path) -> None:
    """The user path of the paper's Table 2: data fetch --from, run --benchmark magicbrush, metrics."""
    from cli_runner import invoke

    data = tmp_path / "mb"
    res = invoke("data", "fetch", "--benchmark", "magicbrush", "--from", str(upstream), 
                 "--data-dir", str(data))
    assert res.returncode == 0, res.stderr
    res = invoke(
        "run",
        "--model",
        "identity",
        "--benchmark",
        "magicbrush",
        "--data-dir",
        str(data),
        "--out",
        str(tmp_path / "runs"),
        "--run-id",
        "mb",
    )
    assert res.returncode == 0, res.stderr
    clip, dino = build_tiny_clip_dir(tmp_path / "clip"), build_tiny_dino_dir(tmp_path / "dino")
    res = invoke(
        "metrics",
        "--images",
        str(tmp_path / "runs" / "mb"),
        "--clip-weights",
        str(clip),
        "--dino-weights",
        str(dino),
        "--metric",
        "clip_i,clip_t,l1",
    )
    assert res.returncode == 0, res.stderr
    rows = read_rows(tmp_path / "runs" / "mb" / "metrics.jsonl", MetricRow)
    assert {r.sample_id for r in rows} == {"139-turn1", "139-turn2", "139-turn3", "30-turn1"}
    assert all(r.reference == "target" and {"clip_i", "clip_t", "l1"} <= set(r.values) for r in rows)
    # identity returns the turn's input, which differs from the ground-truth output: L1 is not 0
    assert all(r.values["l1"] > 0 for r in rows)
