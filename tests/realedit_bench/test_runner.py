"""``realedit run`` on a tiny random-weight InstructPix2Pix saved with save_pretrained and loaded back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import invoke, realedit_cli
from PIL import Image

from realedit_bench.api import compute_metrics, run_model
from realedit_bench.datasets import select
from realedit_bench.datasets.real_edit import RealEditBenchmark
from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.inputs import load_benchmark
from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.registry import ADAPTERS
from realedit_bench.runner import Runner, derive_seed
from realedit_bench.schema import EditRow, RunManifest

TINY = ["-M", "steps=2", "-M", "resolution=64"]
#: The same settings for a library call.
TINY_SETTINGS = {"steps": 2, "resolution": 64}


def _runner(model, bench, samples, run_dir, **kw):
    return Runner(model, model_name="instruct-pix2pix", family="instruct-pix2pix", bench=bench,
                  samples=samples, filters={}, run_dir=run_dir, **kw)


@pytest.fixture(scope="module")
def tiny_model(tiny_pix2pix_dir):
    model = ADAPTERS.get("instruct-pix2pix")(weights=str(tiny_pix2pix_dir), steps=2, resolution=64,
                                             device="cpu")
    model.load()
    return model


def test_seed_is_a_function_of_base_seed_and_sample_id():
    assert derive_seed(0, "10-local") == derive_seed(0, "10-local")
    assert derive_seed(0, "10-local") != derive_seed(1, "10-local")
    assert derive_seed(0, "10-local") != derive_seed(0, "10-add")


def test_same_seed_same_image_and_order_does_not_matter(tiny_model, real_edit_dir, tmp_path):
    bench = RealEditBenchmark().load(real_edit_dir)
    chosen = select(bench.samples, limit=4)
    _runner(tiny_model, bench, chosen, tmp_path / "a").run()
    _runner(tiny_model, bench, list(reversed(chosen)), tmp_path / "b").run()
    a = {r.sample_id: r.output_sha256 for r in read_rows(tmp_path / "a" / "edits.jsonl", EditRow)}
    b = {r.sample_id: r.output_sha256 for r in read_rows(tmp_path / "b" / "edits.jsonl", EditRow)}
    assert a == b and len(a) == 4
    assert len(set(a.values())) == 4  # different samples really differ
    _runner(tiny_model, bench, chosen, tmp_path / "c", base_seed=1).run()
    c = {r.sample_id: r.output_sha256 for r in read_rows(tmp_path / "c" / "edits.jsonl", EditRow)}
    assert c != a


def test_batched_run_matches_single(tiny_model, real_edit_dir, tmp_path):
    import numpy as np

    bench = RealEditBenchmark().load(real_edit_dir)
    chosen = select(bench.samples, limit=4)
    _runner(tiny_model, bench, chosen, tmp_path / "one").run()
    _runner(tiny_model, bench, chosen, tmp_path / "four", batch_size=4).run()
    for s in chosen:
        x = np.asarray(Image.open(tmp_path / "one" / "images" / f"{s.sample_id}.png"), dtype=float)
        y = np.asarray(Image.open(tmp_path / "four" / "images" / f"{s.sample_id}.png"), dtype=float)
        assert np.abs(x - y).max() <= 2  # batched matmuls may differ in the last bit, not in content


def test_each_row_records_how_the_editor_prepared_its_input(tiny_model, real_edit_dir, tmp_path):
    import math

    from PIL import ImageOps

    bench = RealEditBenchmark().load(real_edit_dir)
    chosen = select(bench.samples, limit=2)
    _runner(tiny_model, bench, chosen, tmp_path / "r", batch_size=2).run()
    for row, sample in zip(read_rows(tmp_path / "r" / "edits.jsonl", EditRow), chosen, strict=True):
        photo = Image.open(sample.image).convert("RGB")
        w, h = photo.size
        # The InstructPix2Pix edit script's size rule, written out here (resolution 64).
        factor = 64 / max(w, h)
        factor = math.ceil(min(w, h) * factor / 64) * 64 / min(w, h)
        size = (int((w * factor) // 64) * 64, int((h * factor) // 64) * 64)
        assert row.model_input is not None and row.model_input.size == size
        assert Image.open(tmp_path / "r" / row.output).size == size
        # The recorded crop rebuilds the authors' input: ImageOps.fit of the photo, pixel for pixel.
        rebuilt = photo.resize(size, Image.Resampling.LANCZOS, box=row.model_input.crop_box)
        assert rebuilt.tobytes() == ImageOps.fit(photo, size, method=Image.Resampling.LANCZOS).tobytes()


def test_bad_image_is_a_recorded_failure_and_the_run_goes_on(tiny_pix2pix_dir, real_edit_dir, tmp_path):
    data = tmp_path / "data"
    (data / "imgs").mkdir(parents=True)
    raw = json.loads((real_edit_dir / "eval_instruct.json").read_text())
    names = list(raw)[:2]
    shutil.copy(real_edit_dir / "imgs" / names[0], data / "imgs" / names[0])
    (data / "imgs" / names[1]).write_bytes(b"garbage")
    (data / "eval_instruct.json").write_text(json.dumps({n: raw[n][:2] for n in names}))

    def run():
        return run_model("instruct-pix2pix", weights=str(tiny_pix2pix_dir), settings=TINY_SETTINGS,
                         data_dir=data, out=tmp_path / "runs", run_id="r")

    res = run()
    assert res.exit_code == 1
    rows = read_rows(tmp_path / "runs" / "r" / "edits.jsonl", EditRow)
    status = {r.sample_id: r.status for r in rows}
    stem0, stem1 = Path(names[0]).stem, Path(names[1]).stem
    assert status == {f"{stem0}-local": "ok", f"{stem0}-remove": "ok", f"{stem1}-local": "error",
                      f"{stem1}-remove": "error"}
    assert "not a readable image" in next(r.error for r in rows if r.status == "error")
    manifest = read_model(tmp_path / "runs" / "r" / "manifest.json", RunManifest)
    assert manifest.status == "failed" and manifest.counts == {"ok": 2, "error": 2, "not_run": 0}
    # Fix the image and rerun: only the failed samples are redone, and no duplicate row remains.
    shutil.copy(real_edit_dir / "imgs" / names[1], data / "imgs" / names[1])
    res = run()
    assert res.exit_code == 0
    assert res.done_before == 2 and "2 of the run done before" in res.describe()
    rows = read_rows(tmp_path / "runs" / "r" / "edits.jsonl", EditRow)
    assert sorted(r.sample_id for r in rows) == sorted(status) and all(r.status == "ok" for r in rows)


def test_kill_9_mid_run_resumes_without_redoing_or_duplicating(tiny_pix2pix_dir, real_edit_dir, tmp_path):
    out = tmp_path / "runs"
    args = ["run", "--model", "instruct-pix2pix", "--weights", str(tiny_pix2pix_dir), "-M", "steps=12",
            "-M", "resolution=64", "--limit", "10", "--data-dir", str(real_edit_dir), "--out", str(out),
            "--run-id", "k"]
    exe = Path(sys.executable).with_name("realedit")
    proc = subprocess.Popen([str(exe), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    edits = out / "k" / "edits.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if edits.exists() and len(edits.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {r.sample_id: r for r in read_rows(edits, EditRow)}
    assert 3 <= len(before) < 10, "the run should have been killed mid-way"
    mtimes = {sid: (out / "k" / r.output).stat().st_mtime_ns for sid, r in before.items()}
    res = realedit_cli(*args)
    assert res.returncode == 0, res.stderr
    rows = read_rows(edits, EditRow)
    ids = [r.sample_id for r in rows]
    assert len(ids) == len(set(ids)) == 10
    for sid, r in before.items():  # finished samples were not redone
        assert (out / "k" / r.output).stat().st_mtime_ns == mtimes[sid]
    assert f"{len(before)} of the run done before" in " ".join(res.stderr.split())


def test_changed_settings_do_not_mix_into_an_existing_run(tiny_pix2pix_dir, real_edit_dir, tmp_path):
    kw = dict(weights=str(tiny_pix2pix_dir), limit=1, data_dir=real_edit_dir, out=tmp_path, run_id="x")
    assert run_model("instruct-pix2pix", settings={"resolution": 64, "steps": 2}, **kw).exit_code == 0
    with pytest.raises(ConfigError, match="other settings"):
        run_model("instruct-pix2pix", settings={"resolution": 64, "steps": 3}, **kw)


def test_identity_run_and_manifest_records_how(real_edit_dir, tmp_path):
    res = invoke("run", "--model", "identity", "--category", "remove", "--limit", "3",
                       "--data-dir", str(real_edit_dir), "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    (run_dir,) = tmp_path.iterdir()
    m = read_model(run_dir / "manifest.json", RunManifest)
    assert m.status == "complete" and m.counts["ok"] == 3
    assert m.command[:2] == ["realedit", "run"] and "--category" in m.command
    sha = "110b85a4397642fefd26f82e95fe8e0496e801b57ad4ba8415937860eed9afbf"
    assert m.benchmark.instructions_sha256 == sha
    assert m.benchmark.filters["category"] == ["remove"]
    assert "torch" in m.library_versions and m.adapter.name == "identity"
    rows = read_rows(run_dir / "edits.jsonl", EditRow)
    src = Image.open(real_edit_dir / "imgs" / rows[0].source).convert("RGB")
    out_img = Image.open(run_dir / rows[0].output)
    assert (out_img.size, out_img.tobytes()) == (src.size, src.tobytes())
    assert all(r.model_input is None for r in rows)  # no prepare: the model took the photo as it is


def test_unknown_setting_and_model_are_clear(real_edit_dir, tmp_path):
    res = invoke("run", "--model", "instruct-pix2pix", "-M", "stepz=3", "--data-dir", str(real_edit_dir))
    assert res.returncode == 2 and "no setting 'stepz'" in res.stderr
    res = invoke("run", "--model", "magicbrsh")
    assert res.returncode == 2 and "did you mean 'magicbrush'" in res.stderr


def test_two_processes_make_the_same_images_as_one(tiny_pix2pix_dir, real_edit_dir, tmp_path):
    common = ["run", "--model", "instruct-pix2pix", "--weights", str(tiny_pix2pix_dir), *TINY, "--limit", "6",
              "--data-dir", str(real_edit_dir), "--out", str(tmp_path)]
    assert invoke(*common, "--run-id", "one").returncode == 0
    res = realedit_cli(*common, "--run-id", "two", "--num-processes", "2", env={"OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    one = {r.sample_id: r.output_sha256 for r in read_rows(tmp_path / "one" / "edits.jsonl", EditRow)}
    two_rows = read_rows(tmp_path / "two" / "edits.jsonl", EditRow)
    assert {r.sample_id: r.output_sha256 for r in two_rows} == one and len(two_rows) == 6
    assert {r.process_index for r in two_rows} == {0, 1}  # really sharded
    m = read_model(tmp_path / "two" / "manifest.json", RunManifest)
    assert m.num_processes == 2 and m.status == "complete"


def test_ctrl_c_stops_after_the_current_sample_and_keeps_everything(
    tiny_pix2pix_dir, real_edit_dir, tmp_path
):
    out = tmp_path / "runs"
    exe = Path(sys.executable).with_name("realedit")
    proc = subprocess.Popen(
        [str(exe), "run", "--model", "instruct-pix2pix", "--weights", str(tiny_pix2pix_dir), "-M", "steps=12",
         "-M", "resolution=64", "--limit", "12", "--data-dir", str(real_edit_dir), "--out", str(out),
         "--run-id", "c"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    edits = out / "c" / "edits.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (edits.exists() and len(edits.read_text().splitlines()) >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "rerun the same command to resume" in err
    rows = read_rows(edits, EditRow)
    assert 2 <= len(rows) < 12 and all(r.status == "ok" for r in rows)
    assert all((out / "c" / r.output).is_file() for r in rows)
    m = read_model(out / "c" / "manifest.json", RunManifest)
    assert m.status == "interrupted"
    assert m.counts == {"ok": len(rows), "error": 0, "not_run": 12 - len(rows)}


def test_result_files_get_the_usual_permissions(real_edit_dir, tmp_path):
    old = os.umask(0o022)
    try:
        assert run_model("identity", limit=1, data_dir=real_edit_dir, out=tmp_path, run_id="p").exit_code == 0
    finally:
        os.umask(old)
    for name in ("manifest.json", "edits.jsonl", "images/2-local.png"):
        assert (tmp_path / "p" / name).stat().st_mode & 0o777 == 0o644, name


def test_extending_a_run_keeps_its_history_and_counts_the_whole_run(real_edit_dir, tmp_path, monkeypatch):
    # Both invocations inside one clock second (as on a fast machine) must still be two history entries.
    monkeypatch.setattr("realedit_bench.runner.utc_now", lambda: "2026-01-01T00:00:00+00:00")
    common = ["run", "--model", "identity", "--data-dir", str(real_edit_dir), "--out", str(tmp_path),
              "--run-id", "h"]
    assert invoke(*common, "--limit", "3").returncode == 0
    assert invoke(*common, "--samples", "10-local").returncode == 0  # another sample, same run
    m = read_model(tmp_path / "h" / "manifest.json", RunManifest)
    assert m.counts == {"ok": 4, "error": 0, "not_run": 0} and m.status == "complete"
    assert m.benchmark.n_samples_selected == 4
    assert [h["n_selected"] for h in m.history] == [3, 1]
    assert "--limit" in m.history[0]["command"] and "--samples" in m.history[1]["command"]
    res = invoke(*common[:-2], "--out", str(tmp_path), "--run-id", "../escape")
    assert res.returncode == 2 and "plain folder name" in res.stderr
    (tmp_path / "afile").write_text("x")
    res = invoke(*common[:-4], "--out", str(tmp_path / "afile"))
    assert res.returncode == 2 and "is a file" in res.stderr


def test_error_messages_print_user_text_literally_not_as_markup(tmp_path):
    # Paths with square brackets are ordinary on disk; Rich would eat "[bold]" or crash on "[/x]".
    for name in ("x[bold]y", "runs[/x]"):
        res = invoke("run", "--model", "identity", "--data-dir", str(tmp_path / name),
                     "--out", str(tmp_path / "o"))
        assert res.returncode == 2, res.stderr
        assert f"{tmp_path / name}" in " ".join(res.stderr.split()) and "Traceback" not in res.stderr


def test_retrained_weights_at_the_same_path_make_a_new_run(tiny_pix2pix_dir, real_edit_dir, tmp_path):
    weights = tmp_path / "w"
    shutil.copytree(tiny_pix2pix_dir, weights)
    kw = dict(weights=str(weights), settings=TINY_SETTINGS, limit=1, data_dir=real_edit_dir,
              out=tmp_path / "runs")
    first = run_model("instruct-pix2pix", **kw)
    assert first.exit_code == 0
    # "Training on" rewrites the U-Net at the same path: the old images must not be resumed as its output.
    unet = next((weights / "unet").glob("*.safetensors"))
    st = unet.stat()
    os.utime(unet, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = run_model("instruct-pix2pix", **kw)
    assert second.exit_code == 0
    assert first.run_dir != second.run_dir
    assert second.done_before == 0
    # Forcing the old run directory names what changed.
    with pytest.raises(ConfigError, match="weights_fingerprint"):
        run_model("instruct-pix2pix", run_id=first.run_dir.name, **kw)


def test_force_with_other_settings_replaces_the_whole_run(tiny_pix2pix_dir, real_edit_dir, tmp_path):
    kw = dict(weights=str(tiny_pix2pix_dir), data_dir=real_edit_dir, out=tmp_path, run_id="f")
    first = run_model("instruct-pix2pix", settings={"resolution": 64, "steps": 2}, limit=3, **kw)
    assert first.exit_code == 0
    (tmp_path / "f" / "judgments").mkdir()
    (tmp_path / "f" / "judgments" / "j__r.jsonl").write_text("{}\n")  # results made of the old images
    (tmp_path / "f" / "metrics_summary.json").write_text("{}")
    with pytest.raises(ConfigError, match="steps: 2 -> 3"):
        run_model("instruct-pix2pix", settings={"resolution": 64, "steps": 3}, limit=1, **kw)
    notes: list[str] = []
    res = run_model("instruct-pix2pix", settings={"resolution": 64, "steps": 3}, limit=1, force=True,
                    log=notes.append, **kw)
    assert res.exit_code == 0
    assert "replacing the run" in " ".join(notes)
    # No image made with steps=2 may stay under a manifest that says steps=3.
    rows = read_rows(tmp_path / "f" / "edits.jsonl", EditRow)
    assert len(rows) == 1 and rows[0].status == "ok"
    assert sorted(p.name for p in (tmp_path / "f" / "images").iterdir()) == [rows[0].output.split("/")[-1]]
    m = read_model(tmp_path / "f" / "manifest.json", RunManifest)
    assert m.adapter.params["steps"] == 3 and m.counts["ok"] == 1 and len(m.history) == 1
    # The old run's records are set aside where no reader looks, not deleted (judgments cost money).
    assert not (tmp_path / "f" / "judgments").exists()
    assert not (tmp_path / "f" / "metrics_summary.json").exists()
    (archive,) = (tmp_path / "f" / "replaced").iterdir()
    assert sorted(p.name for p in archive.iterdir()) == ["edits.jsonl", "judgments", "manifest.json",
                                                         "metrics_summary.json"]
    assert read_model(archive / "manifest.json", RunManifest).adapter.params["steps"] == 2


def test_weights_that_fail_to_load_leave_no_empty_run_directory(real_edit_dir, tmp_path):
    with pytest.raises(RealEditError, match="weights"):
        run_model("instruct-pix2pix", weights=str(tmp_path), limit=1, data_dir=real_edit_dir,
                  out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


class _StopsOnThirdSample:
    """Raises KeyboardInterrupt (a second Ctrl-C) while editing its third sample."""

    def __init__(self) -> None:
        self.calls = 0

    def params(self) -> dict:
        return {"device": "cpu"}

    def edit(self, image, instruction, *, seed):
        self.calls += 1
        if self.calls == 3:
            raise KeyboardInterrupt
        return image.copy()


def test_a_second_ctrl_c_still_records_the_run_as_interrupted(real_edit_dir, tmp_path):
    bench = load_benchmark("real-edit", real_edit_dir)
    runner = Runner(_StopsOnThirdSample(), model_name="stops", family="test", bench=bench,
                    samples=bench.samples[:5], filters={}, run_dir=tmp_path / "r")
    result = runner.run()
    assert result.interrupted and result.ok == 2
    m = read_model(tmp_path / "r" / "manifest.json", RunManifest)
    assert m.status == "interrupted" and m.counts == {"ok": 2, "error": 0, "not_run": 3}


def test_output_folders_that_cannot_be_made_are_one_line(real_edit_dir, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    run = invoke("run", "--model", "identity", "--limit", "1", "--data-dir", str(real_edit_dir),
                 "--out", str(tmp_path / "runs"), "--run-id", "r")
    assert run.returncode == 0, run.stderr
    for bad in (blocker / "sub", Path("/proc/realedit-no-such/sub")):
        for args in (["run", "--model", "identity", "--limit", "1", "--data-dir", str(real_edit_dir),
                      "--out", str(bad)],
                     ["metrics", "--images", str(tmp_path / "runs" / "r"), "--metric", "l1",
                      "--out", str(bad)]):
            res = invoke(*args)
            assert res.returncode == 2 and "cannot create or write" in res.stderr, (args, res.stderr)
            assert "Traceback" not in res.stderr


def test_metrics_count_the_samples_an_interrupted_run_never_reached(real_edit_dir, tmp_path):
    bench = load_benchmark("real-edit", real_edit_dir)
    Runner(_StopsOnThirdSample(), model_name="stops", family="test", bench=bench, samples=bench.samples[:6],
           filters={}, run_dir=tmp_path / "r").run()
    notes: list[str] = []
    res = compute_metrics(tmp_path / "r", metrics=["l1"], data_dir=real_edit_dir, log=notes.append)
    assert res.exit_code == 0
    summary = json.loads((tmp_path / "r" / "metrics_summary.json").read_text())
    assert summary["n_missing"] == 4  # 6 selected, 2 made
    assert "missing edits (not measured): 4 selected samples not yet run" in notes


def test_a_manifest_that_lacks_a_setting_is_another_run(tiny_pix2pix_dir, real_edit_dir, tmp_path):
    kw = dict(weights=str(tiny_pix2pix_dir), settings=TINY_SETTINGS, data_dir=real_edit_dir, out=tmp_path,
              run_id="old")
    assert run_model("instruct-pix2pix", limit=1, **kw).exit_code == 0
    path = tmp_path / "old" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["adapter"]["params"]["weights_fingerprint"]  # a setting the run does not record
    path.write_text(json.dumps(manifest))
    # Its images may come from other weights: the run is not resumed, and the message names the setting.
    with pytest.raises(ConfigError, match=r"weights_fingerprint \(not recorded in the run\).*--force"):
        run_model("instruct-pix2pix", limit=2, **kw)
    replaced = run_model("instruct-pix2pix", limit=2, force=True, **kw)
    assert replaced.exit_code == 0 and replaced.done_before == 0
    assert "weights_fingerprint" in replaced.manifest.adapter.params


def test_metrics_exit_1_and_name_the_images_they_could_not_measure(real_edit_dir, tmp_path):
    assert invoke("run", "--model", "identity", "--limit", "3", "--data-dir", str(real_edit_dir),
                  "--out", str(tmp_path), "--run-id", "r").returncode == 0
    rows = read_rows(tmp_path / "r" / "edits.jsonl", EditRow)
    (tmp_path / "r" / rows[1].output).write_bytes(b"junk")
    res = invoke("metrics", "--images", str(tmp_path / "r"), "--metric", "l1", "--model", "my[/b]model")
    assert res.returncode == 1, res.stderr
    text = " ".join(res.stderr.split())
    assert f"{rows[1].sample_id}:" in text and "1 samples could not be measured" in text
    assert "my[/b]model on real-edit" in " ".join(res.stdout.split())  # the title is text, not markup


def test_a_changed_source_photo_is_edited_again_on_resume(real_edit_dir, tmp_path):
    # 'data fetch --repair' (or any edit of the data) changes a photo under a half-done run: its old edits no
    # longer belong to the data, so a resume must redo them rather than mix two versions of the photo.
    data = tmp_path / "data"
    shutil.copytree(real_edit_dir, data)
    kw = dict(data_dir=data, out=tmp_path / "runs", run_id="r")
    assert run_model("identity", limit=2, **kw).exit_code == 0
    first = {r.sample_id: r for r in read_rows(tmp_path / "runs" / "r" / "edits.jsonl", EditRow)}
    photo = data / "imgs" / next(iter(first.values())).source
    Image.open(photo).convert("RGB").resize((64, 40)).save(photo, format="JPEG")
    res = run_model("identity", limit=3, **kw)
    assert res.exit_code == 0
    rows = {r.sample_id: r for r in read_rows(tmp_path / "runs" / "r" / "edits.jsonl", EditRow)}
    assert len(rows) == 3 and {tuple(r.size) for r in rows.values()} == {(64, 40)}
    assert all(rows[sid].source_sha256 != first[sid].source_sha256 for sid in first)


def test_a_weights_path_recorded_as_typed_is_another_setting(tiny_pix2pix_dir, real_edit_dir, tmp_path,
                                                            monkeypatch):
    import re

    shutil.copytree(tiny_pix2pix_dir, tmp_path / "w")
    monkeypatch.chdir(tmp_path)
    kw = dict(weights="w", settings=TINY_SETTINGS, data_dir=real_edit_dir, out=tmp_path / "runs",
              run_id="old")
    first = run_model("instruct-pix2pix", limit=1, **kw)
    assert first.exit_code == 0 and first.manifest.adapter.params["weights"] == str(tmp_path / "w")
    path = tmp_path / "runs" / "old" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["adapter"]["params"]["weights"] = "w"  # as typed, not resolved
    path.write_text(json.dumps(manifest))
    # (the message shortens long values: the resolved path is cut after 57 characters)
    with pytest.raises(ConfigError, match=re.escape(f"weights: w -> {str(tmp_path / 'w')[:20]}")):
        run_model("instruct-pix2pix", limit=2, **kw)
    assert len(read_rows(path.parent / "edits.jsonl", EditRow)) == 1  # nothing was added to the refused run


class _Plain:
    """A third-party editor written to the README's contract only: no device/dtype/weights arguments."""

    def params(self) -> dict:
        return {}

    def edit(self, image, instruction, *, seed):
        return image.copy()


class _Broken(_Plain):
    def edit(self, image, instruction, *, seed):
        raise ZeroDivisionError("a bug")

    def __init__(self, **kwargs) -> None:
        raise KeyError("a bug in the constructor")


def test_a_minimal_third_party_editor_runs_and_a_crash_is_exit_3(real_edit_dir, tmp_path, monkeypatch):
    from realedit_bench.registry import ADAPTERS

    ADAPTERS.names()  # entry points scanned first, so the test entries are the only additions
    monkeypatch.setitem(ADAPTERS._entries, "plain-test", _Plain)  # removed again after the test
    monkeypatch.setitem(ADAPTERS._entries, "broken-test", _Broken)
    common = ["--limit", "1", "--data-dir", str(real_edit_dir), "--out", str(tmp_path)]
    res = invoke("run", "--model", "plain-test", *common)
    assert res.returncode == 0, res.stderr
    res = invoke("run", "--model", "plain-test", "--weights", "x", *common)
    assert res.returncode == 2 and "takes no --weights" in res.stderr
    res = invoke("run", "--model", "broken-test", *common)
    assert res.returncode == 3 and "KeyError" in res.stderr and "internal error" in res.stderr
