"""``realedit_bench.api`` used as a library, as a notebook would: each function's result object, its exit
code, its summary and the files it names. Editors are the identity editor and a tiny random-weight
InstructPix2Pix; judges are the real openai SDK against the local fake server."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from judge_fixtures import judge_env, make_bench, set_env
from judge_server import FakeJudgeServer, RecordedRequest, Reply
from metrics_fixtures import build_magicbrush_test
from PIL import Image
from report_fixtures import make_dataset, make_run
from reward_fixtures import (
    _one_thread_and_fresh_accelerate,  # noqa: F401  (autouse fixture)
    make_rewardedit_json,
    make_triplet_folder,
)

from realedit_bench import api
from realedit_bench.errors import ConfigError, RealEditError, UnknownNameError
from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.outcome import EXIT_INTERRUPTED, STOPPED
from realedit_bench.registry import ADAPTERS
from realedit_bench.schema.metrics import MetricSummary
from realedit_bench.schema.run import EditRow, RunManifest


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    """A Real-Edit-shaped benchmark of 2 photos x 7 instructions (small images: identity runs are quick)."""
    return make_bench(tmp_path / "data", n_photos=2)


def _identity_run(data: Path, out: Path, **kw):
    return api.run_model("identity", data_dir=data, out=out, run_id="r", **kw)


# --------------------------------------------------------------------------------------------- import


def test_importing_the_library_imports_nothing_heavy():
    code = ("import sys; import realedit_bench.api; heavy = [n for n in ('torch', 'diffusers', "
            "'transformers', 'openai', 'anthropic', 'open_clip', 'pandas') if "
            "n in sys.modules]; print(heavy)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------ run_model


def test_run_model_runs_resumes_and_reports_progress(data: Path, tmp_path: Path):
    seen: list[tuple[int, int | None]] = []
    first = _identity_run(data, tmp_path / "runs", limit=3, on_progress=lambda d, t: seen.append((d, t)))
    assert first.exit_code == 0 and first.run_dir == tmp_path / "runs" / "r"
    assert (first.ok, first.errors, first.done_before, first.n_selected) == (3, 0, 0, 3)
    assert first.manifest is not None and first.manifest.status == "complete"
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)  # told the total when the loop starts, then per sample
    assert first.describe() == ("run r: 3 ok, 0 failed, 0 not run, of 3 in the run (3 selected now, 0 of "
                                f"the run done before) -> {first.run_dir}")
    again = _identity_run(data, tmp_path / "runs", categories=["local", "add"])
    assert (again.ok, again.done_before, again.n_selected) == (2, 3, 4)  # 1-local and 1-add were done already
    assert again.manifest.counts == {"ok": 5, "error": 0, "not_run": 0}
    assert again.manifest.benchmark.filters == {"limit": None, "category": ["local", "add"], "samples": None}
    assert len(read_rows(again.run_dir / "edits.jsonl", EditRow)) == 5


class _Recorder:
    """An ``on_progress`` that also listens for phases and steps, as the command line's display does."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def __call__(self, done: int, total: int | None) -> None:
        self.events.append(("count", done, total))

    def phase(self, label: str) -> None:
        self.events.append(("phase", label))

    def step(self, done: int, total: int) -> None:
        self.events.append(("step", done, total))


def test_run_model_takes_typed_settings_and_records_them(tiny_pix2pix_dir: Path, data: Path, tmp_path: Path):
    progress = _Recorder()
    outcome = api.run_model("instruct-pix2pix", weights=str(tiny_pix2pix_dir),
                            settings={"steps": 2, "resolution": 64}, data_dir=data, out=tmp_path,
                            samples="1-local, 2-add", on_progress=progress)
    assert outcome.exit_code == 0 and outcome.ok == 2
    manifest = read_model(outcome.run_dir / "manifest.json", RunManifest)
    params = manifest.adapter.params
    assert params["steps"] == 2 and params["resolution"] == 64
    # The default label: the model and what differs from its defaults (local weights by their last parts).
    weights = f"{tiny_pix2pix_dir.parent.name}/pipe"
    assert manifest.label == f"instruct-pix2pix (resolution=64, steps=2, weights={weights})"
    # What is loading, then the total, then each denoising step of each sample before the sample ends.
    assert progress.events[0] == ("phase", f"loading {tiny_pix2pix_dir}")
    assert progress.events[1:] == [("count", 0, 2), ("step", 1, 2), ("step", 2, 2), ("count", 1, 2),
                                   ("step", 1, 2), ("step", 2, 2), ("count", 2, 2)]
    assert outcome.manifest.benchmark.filters["samples"] == "1-local, 2-add"  # recorded as given
    with pytest.raises(ConfigError, match="expected int"):
        api.run_model("instruct-pix2pix", weights=str(tiny_pix2pix_dir), settings={"steps": 2.5},
                      data_dir=data, out=tmp_path)


def test_a_run_label_is_recorded_and_kept_on_resume(data: Path, tmp_path: Path):
    first = _identity_run(data, tmp_path, limit=1, label="baseline (no edit)")
    assert first.manifest.label == "baseline (no edit)"
    again = _identity_run(data, tmp_path, limit=2)  # a resume without a label keeps the run's
    assert again.manifest.label == "baseline (no edit)"
    assert api.run_model("identity", data_dir=data, out=tmp_path, limit=1).manifest.label == "identity"
    seeded = api.run_model("identity", data_dir=data, out=tmp_path, limit=1, seed=3)
    assert seeded.manifest.label == "identity (seed=3)"
    with pytest.raises(ConfigError, match="--label must not be empty"):
        _identity_run(data, tmp_path, label=" ")


def test_a_failed_sample_is_exit_code_1_and_a_rerun_retries_it(data: Path, tmp_path: Path):
    (data / "imgs" / "2.jpeg").write_bytes(b"garbage")
    failed = _identity_run(data, tmp_path)
    assert failed.exit_code == 1 and (failed.ok, failed.errors) == (7, 7)
    assert failed.manifest.status == "failed" and "7 failed" in failed.describe()
    make_bench(data, n_photos=2)  # the photo is repaired
    fixed = _identity_run(data, tmp_path)
    assert fixed.exit_code == 0 and (fixed.ok, fixed.done_before) == (7, 7)


class _StopsOnThirdSample:
    """Raises KeyboardInterrupt (a second Ctrl-C) while editing its third sample."""

    family = "test"

    def __init__(self, **kwargs: object) -> None:
        self.calls = 0

    def params(self) -> dict:
        return {}

    def edit(self, image, instruction, *, seed):
        self.calls += 1
        if self.calls == 3:
            raise KeyboardInterrupt
        return image.copy()


class _CtrlCWhileLoading(_StopsOnThirdSample):
    def load(self) -> None:
        raise KeyboardInterrupt


def _register(monkeypatch: pytest.MonkeyPatch, name: str, cls: type) -> None:
    ADAPTERS.names()  # entry points scanned first, so the test entry is the only addition
    monkeypatch.setitem(ADAPTERS._entries, name, cls)


def test_ctrl_c_is_exit_code_130_with_how_to_resume(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _register(monkeypatch, "stops-test", _StopsOnThirdSample)
    stopped = api.run_model("stops-test", data_dir=data, out=tmp_path, run_id="s")
    assert stopped.exit_code == EXIT_INTERRUPTED and stopped.interrupted and stopped.ok == 2
    assert stopped.describe().splitlines()[-1] == STOPPED
    assert stopped.manifest.status == "interrupted"
    _register(monkeypatch, "loading-test", _CtrlCWhileLoading)
    nothing = api.run_model("loading-test", data_dir=data, out=tmp_path, run_id="l")
    assert nothing.exit_code == EXIT_INTERRUPTED and nothing.manifest is None
    assert nothing.describe() == "stopped by Ctrl-C or SIGTERM while loading the model; nothing was run"
    assert not (tmp_path / "l").exists()


def test_run_model_checks_its_inputs_before_any_work(data: Path, tmp_path: Path):
    runs = tmp_path / "runs"
    with pytest.raises(UnknownNameError, match="did you mean 'identity'"):
        api.run_model("identty", data_dir=data, out=runs)
    with pytest.raises(ConfigError, match="the filters select no sample"):
        api.run_model("identity", data_dir=data, out=runs, limit=0)
    with pytest.raises(ConfigError, match="plain folder name"):
        api.run_model("identity", data_dir=data, out=runs, run_id="../x")
    # Several processes are started by a launcher (or the command line), never by a library call.
    with pytest.raises(ConfigError, match="accelerate launch"):
        api.run_model("identity", data_dir=data, out=runs, num_processes=2)
    assert not runs.exists()


def test_force_says_what_it_replaces_through_log(data: Path, tmp_path: Path):
    lines: list[str] = []
    assert _identity_run(data, tmp_path, limit=1).exit_code == 0
    manifest = tmp_path / "r" / "manifest.json"
    m = json.loads(manifest.read_text())
    m["base_seed"] = 5
    manifest.write_text(json.dumps(m))
    with pytest.raises(ConfigError, match="seed: 5 -> 0"):
        _identity_run(data, tmp_path, limit=1)
    replaced = _identity_run(data, tmp_path, limit=1, force=True, log=lines.append)
    assert replaced.exit_code == 0 and lines and lines[0].startswith("--force: replacing the run in")


# ------------------------------------------------------------------------------------ compute_metrics


def test_compute_metrics_returns_the_summary_and_names_what_failed(data: Path, tmp_path: Path):
    run = _identity_run(data, tmp_path, categories=["local", "add"]).run_dir  # 2 photos x 2 edits
    lines: list[str] = []
    seen: list[tuple[int, int | None]] = []
    ok = api.compute_metrics(run, metrics=["l1", "l2"], resamples=100, log=lines.append,
                             on_progress=lambda d, t: seen.append((d, t)))
    assert ok.exit_code == 0 and (ok.measured, ok.reused) == (4, 0) and ok.failed == []
    assert ok.summary.means == {"l1": 0.0, "l2": 0.0}  # the identity editor changes nothing
    assert read_model(ok.summary_path, MetricSummary).means == ok.summary.means
    assert len(lines) == 1 and lines[0].startswith("identity: 4 edits on real-edit "
                                                   "(0 missing); metrics l1, l2 on ")
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert ok.table_rows()[0] == ("L1 to source (preservation)", "0.0000", "[0.0000, 0.0000]", "4")
    assert "4 samples measured, 0 reused, 0 errors" in ok.describe()
    rows = read_rows(run / "edits.jsonl", EditRow)
    (run / rows[1].output).write_bytes(b"junk")
    bad = api.compute_metrics(run, metrics=["l1"], resamples=100)
    assert bad.exit_code == 1 and [sid for sid, _ in bad.failed] == [rows[1].sample_id]
    assert f"  {rows[1].sample_id}: " in bad.describe()
    assert "1 samples could not be measured" in bad.describe()


# --------------------------------------------------------------------------------------- build_report


def test_build_report_writes_exports_and_counts_the_runs(tmp_path: Path):
    data = make_dataset(tmp_path / "data", n_photos=1)
    make_run(tmp_path / "runs", "model-a", 7, seed=1, data_dir=data)
    outcome = api.build_report(tmp_path / "runs", out=tmp_path / "site", formats=["md", "csv"], gallery=False)
    assert outcome.exit_code == 0 and outcome.n_runs == 1 and outcome.index is None
    assert {p.suffix for p in outcome.written} == {".md", ".csv"}
    assert all(p.is_file() for p in outcome.written)
    assert outcome.describe().endswith("1 run(s), 1 leaderboard table(s), 0 "
                                       "gallery page(s), 0 new thumbnail(s)")
    # No runs/ in the working directory: the site shows the reference rows only.
    empty = api.build_report(out=tmp_path / "ref-only", formats=["json"])
    assert empty.n_runs == 0 and "no runs found at runs" in empty.describe()
    with pytest.raises(ConfigError, match="--runs"):
        api.build_report(tmp_path / "nope", out=tmp_path / "x")


# ---------------------------------------------------------------------------------------------- agree


def _ratings(path: Path, rater_noise: float, seed: int, rater: str | None = None) -> Path:
    """Ratings of 3 models x 8 photos x 2 perspectives by 2 raters (or one named ``rater``)."""
    rng = np.random.default_rng(seed)
    truth = np.random.default_rng(0)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "model", "perspective", "rater", "score"])
        for photo in range(1, 9):
            for m, model in enumerate(("model-1", "model-2", "model-3")):
                for p in ("following", "quality"):
                    t = truth.normal(2 + m * 0.6, 1)
                    for r in [rater] if rater else ["ann", "bo"]:
                        w.writerow([f"{photo}-local", model, p, r,
                                    int(np.clip(round(t + rng.normal(0, rater_noise)), 0, 5))])
    return path


def test_agree_writes_the_report_and_says_where(tmp_path: Path):
    human = _ratings(tmp_path / "human.csv", 0.5, 1)
    judge = _ratings(tmp_path / "judge.csv", 0.8, 2, rater="gpt")
    seen: list[tuple[int, int | None]] = []
    outcome = api.agree([human], judge_ratings=[judge], out=tmp_path / "a.json", resamples=100,
                        on_progress=lambda d, t: seen.append((d, t)))
    assert outcome.exit_code == 0 and outcome.out.is_file()
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]  # one judge x three perspectives, as each is computed
    assert [j.judge for j in outcome.report.judges] == ["gpt"]
    assert outcome.report.raters == ["ann", "bo"]
    assert outcome.report.models == ["model-1", "model-2", "model-3"]
    assert outcome.report.judges[0].perspectives["following"].n_items == 24
    text = outcome.describe()
    assert "Spearman, within model" in text and f"wrote {tmp_path / 'a.json'}\n" in text
    assert text.endswith("--verbose")
    assert all(len(line) <= 80 for line in text.splitlines() if not line.startswith("wrote "))
    text = outcome.describe(verbose=True)
    assert "Spearman rho" in text and text.endswith(f"wrote {tmp_path / 'a.json'}")
    with pytest.raises(ConfigError, match="give the judge's scores"):
        api.agree([human])
    with pytest.raises(ConfigError, match="give --human"):
        api.agree([], judge_ratings=[judge])


def test_agree_template_writes_a_sheet_and_a_page(data: Path, tmp_path: Path):
    run = _identity_run(data, tmp_path / "runs", limit=2).run_dir
    outcome = api.agree_template(run, thumb_size=64)
    assert outcome.exit_code == 0 and outcome.csv_path == run / "ratings" / "ratings_template.csv"
    assert outcome.html_path.is_file() and (outcome.n_rows, outcome.n_edits) == (6, 2)
    assert outcome.describe().splitlines()[0].endswith("(6 blank rows: 2 edits x 3 perspectives)")
    # A plain folder of edits: the samples without an image are counted, and the sheet goes where asked.
    folder = tmp_path / "edits"
    folder.mkdir()
    Image.new("RGB", (40, 32)).save(folder / "1-local.png")
    plain = api.agree_template(folder, out=tmp_path / "sheet", data_dir=data, thumb_size=64)
    assert (plain.n_edits, plain.n_missing) == (1, 13) and plain.csv_path.parent == tmp_path / "sheet"
    assert plain.describe().splitlines()[-1] == "13 sample(s) have no edited image and are not in the sheet"


# --------------------------------------------------------------------------------------- train_reward


def test_train_reward_from_a_mapping_names_the_pipeline_to_run(tiny_pix2pix_dir: Path, tmp_path: Path):
    make_triplet_folder(tmp_path / "t", n=2)
    make_rewardedit_json(tmp_path / "r.json", ["s0", "s1"])
    settings = dict(pretrained=str(tiny_pix2pix_dir), output_dir=tmp_path / "o",
                    reward_files=[tmp_path / "r.json"],
                    triplets=str(tmp_path / "t"), resolution=32, batch_size=2, gradient_accumulation_steps=1,
                    max_steps=1, checkpoint_every=0, num_workers=0, gradient_checkpointing=False,
                    report_to="none", use_ema=False)
    progress = _Recorder()
    outcome = api.train_reward(settings, on_progress=progress)
    assert outcome.exit_code == 0 and (outcome.start_step, outcome.final_step) == (0, 1)
    assert progress.events == [("phase", "reading and checking the reward data"),
                               ("phase", f"loading {tiny_pix2pix_dir}"), ("count", 0, 1), ("count", 1, 1)]
    assert outcome.pipeline_dir == tmp_path / "o" / "pipeline" and len(outcome.losses) == 1
    assert outcome.describe().splitlines() == [
        f"trained steps 0->1; pipeline: {outcome.pipeline_dir}",
        f"run it: realedit run --model reward-instruct-pix2pix --weights {outcome.pipeline_dir}",
    ]
    with pytest.raises(ConfigError, match="--reward-integration"):
        api.train_reward({**settings, "reward_integration": "sideways"})
    with pytest.raises(ConfigError, match="accelerate launch"):
        api.train_reward({**settings, "output_dir": tmp_path / "o2"}, num_processes=2)


# ----------------------------------------------------------------------------------- annotate_rewards


def _scores(req: RecordedRequest) -> Reply:
    return Reply.ok(json.dumps({"verdict": "yes", "score": 5, "failure": "None"}))


def test_annotate_rewards_estimates_then_annotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    triplets = make_triplet_folder(tmp_path / "t", n=2)
    with FakeJudgeServer() as server:
        server.responder = _scores
        set_env(monkeypatch, judge_env(server, tmp_path / "cache"))
        estimate = api.annotate_rewards(triplets, tmp_path / "o", dry_run=True)
        assert estimate.exit_code == 0 and estimate.summary is None and server.calls() == []
        assert estimate.dry_run["calls"] == 6 and "Nothing was sent" in estimate.describe()
        lines: list[str] = []
        progress = _Recorder()
        done = api.annotate_rewards(triplets, tmp_path / "o", log=lines.append, on_progress=progress)
        assert done.exit_code == 0 and done.error is None and len(server.calls()) == 6
    assert progress.events[:2] == [("phase", "reading and hashing 2 triplets"), ("count", 0, 6)]
    assert progress.events[-1] == ("count", 6, 6) and len(progress.events) == 8  # then one per answer
    assert (done.summary.n_complete, done.failed) == (2, 0) and done.paths.rewards.is_file()
    assert done.describe().splitlines()[1] == f"rewards: {done.paths.rewards}"
    assert lines == ["2 triplets x 3 perspectives: 0 answered before, 6 to ask"]
    with pytest.raises(ConfigError, match="exclude each other"):
        api.annotate_rewards(triplets, tmp_path / "o", cache=tmp_path / "c.sqlite", no_cache=True)


# ---------------------------------------------------------------------------------------------- data


def test_fetch_data_imports_a_local_copy_and_reports_progress(real_edit_dir: Path, tmp_path: Path):
    seen: list[tuple[int, int | None]] = []
    outcome = api.fetch_data(data_dir=tmp_path / "d", from_dir=real_edit_dir,
                             on_progress=lambda d, t: seen.append((d, t)))
    assert outcome.exit_code == 0 and outcome.target == tmp_path / "d"
    assert outcome.describe().startswith("Real-Edit ready in "
                                         f"{tmp_path / 'd'}: 81 files written, 81 verified")
    assert seen[0] == (0, 81) and seen[-1] == (81, 81)
    again = api.fetch_data(data_dir=tmp_path / "d", from_dir=real_edit_dir)
    assert ": 0 files written" in again.ready
    with pytest.raises(ConfigError, match="--source must be github or hf"):
        api.fetch_data(data_dir=tmp_path / "e", source="gitlab")


def test_fetch_data_of_magicbrush_goes_through_the_benchmark(tmp_path: Path):
    upstream = build_magicbrush_test(tmp_path / "download")
    seen: list[tuple[int, int | None]] = []
    outcome = api.fetch_data("magicbrush", data_dir=tmp_path / "mb", from_dir=upstream,
                             on_progress=lambda d, t: seen.append((d, t)))
    assert outcome.exit_code == 0 and outcome.ready == f"magicbrush ready in {tmp_path / 'mb'}: 4 samples"
    assert outcome.notes == [] and seen[0] == (0, None) and seen[-1][0] == seen[-1][1]
    assert api.verify_data("magicbrush", data_dir=tmp_path / "mb").line.startswith(f"ok: {tmp_path / 'mb'}: ")


def test_verify_data_and_data_info_describe_the_benchmark(real_edit_dir: Path):
    verified = api.verify_data(data_dir=real_edit_dir, check_hashes=False)
    assert verified.exit_code == 0 and "80 images decode within the pixel cap" in verified.describe()
    info = api.data_info(data_dir=real_edit_dir)
    assert sum(info.counts.values()) == 560 and info.counts["local"] == 80
    assert (info.unit, info.n_images) == ("photos", 80)
    assert info.identity() == f"photos: 80; instructions sha256:\n{info.content_sha256}"
    assert info.describe().splitlines()[-3] == "  total: 560"


# -------------------------------------------------------------------------------------------- models


def test_list_models_and_model_settings():
    models = api.list_models()
    by_name = {row["name"]: row for row in models.rows}
    assert {"identity", "instruct-pix2pix", "magicbrush", "reward-instruct-pix2pix"} <= set(by_name)
    assert {"smartedit", "reward-smartedit", "hive"} <= set(by_name)
    assert by_name["smartedit"]["weights"] == "--weights TencentARC/SmartEdit-7B|13B folder"  # no default
    assert by_name["instruct-pix2pix"]["steps"] == "100" and by_name["identity"]["steps"] == "-"
    settings = dict(api.model_settings("instruct-pix2pix").rows)
    assert settings["steps"] == "100" and settings["weights"] == "'timbrooks/instruct-pix2pix'"
    assert "steps = 100" in api.model_settings("instruct-pix2pix").describe()
    with pytest.raises(RealEditError, match="unknown model"):
        api.model_settings("nope")


def test_convert_weights_says_where_the_conversion_is_and_whether_it_wrote_it(tmp_path: Path):
    import tiny_hive

    ckpt = tiny_hive.build_checkpoint(tmp_path / "hive_rw.ckpt")
    first = api.convert_weights("hive", ckpt, tmp_path / "hive.safetensors")
    assert (first.exit_code, first.converted, first.target) == (0, True, tmp_path / "hive.safetensors")
    second = api.convert_weights("hive", ckpt, tmp_path / "hive.safetensors")
    assert not second.converted and second.describe().startswith("already converted: ")
    with pytest.raises(ConfigError, match="nothing to convert"):
        api.convert_weights("identity", ckpt, tmp_path / "x")


def test_images_that_change_are_measured_again_by_the_library(data: Path, tmp_path: Path):
    run = _identity_run(data, tmp_path, limit=2).run_dir
    first = api.compute_metrics(run, metrics=["l1"], resamples=100)
    rows = read_rows(run / "edits.jsonl", EditRow)
    Image.new("RGB", (40, 32), (255, 0, 0)).save(run / rows[0].output)
    second = api.compute_metrics(run, metrics=["l1"], resamples=100)
    assert (first.measured, second.measured, second.reused) == (2, 1, 1)
    assert second.summary.means["l1"] > first.summary.means["l1"]
