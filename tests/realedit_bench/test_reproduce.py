"""``realedit reproduce table1|table2|table3``: the dry run (models, what is missing, GPU time, judge calls
and cost), a reproduction over tiny models and the local judge (resumed without redoing anything), Table 2
on a MagicBrush-format test set, Table 3 from human ratings, and the one-line errors."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import pytest
from cli_runner import invoke
from judge_fixtures import judge_env, make_bench, set_env
from judge_server import FakeJudgeServer
from reproduce_fixtures import EDITORS, METHODS, paper_answer, reproduce_table1, table1_args

from realedit_bench.jsonio import read_model
from realedit_bench.reproduce import ADAPTER_OF, SECONDS_PER_IMAGE, TABLE_METHODS
from realedit_bench.schema import MetricSummary
from realedit_bench.schema.judge import JudgeSummary
from realedit_bench.schema.reproduce import ReproductionRecord


@pytest.fixture
def server(tmp_path: Path, monkeypatch) -> FakeJudgeServer:
    with FakeJudgeServer() as srv:
        set_env(monkeypatch, judge_env(srv, tmp_path / "cache"))
        yield srv


def test_the_tables_methods_are_the_published_ones() -> None:
    from leaderboard.reference import load_reference

    ref = load_reference()
    assert TABLE_METHODS["table1"] == tuple(r.method for r in ref.table1)
    assert TABLE_METHODS["table2"] == tuple(r.method for r in ref.table2)
    assert TABLE_METHODS["table3"] == tuple(r.method for r in ref.table3)
    from realedit_bench.registry import ADAPTERS

    assert all(ADAPTERS.get(a) for a in ADAPTER_OF.values())  # every editor named exists


def test_the_gpu_estimate_scales_with_the_steps_given() -> None:
    from realedit_bench.reproduce import MethodPlan

    default = MethodPlan("InsPix2Pix", "instruct-pix2pix", "planned")
    assert default.gpu == SECONDS_PER_IMAGE["instruct-pix2pix"]
    assert MethodPlan("InsPix2Pix", "instruct-pix2pix", "planned", steps=100).gpu == default.gpu
    fast = MethodPlan("InsPix2Pix", "instruct-pix2pix", "planned", steps=20).gpu
    assert fast.seconds == pytest.approx(4.8 * 20 / 100) and fast.basis.endswith(", scaled to 20 steps")
    assert MethodPlan("HQ-Edit", "hq-edit", "planned", steps=60).gpu.seconds == pytest.approx(3.0)


def test_the_dry_run_lists_models_what_is_missing_the_calls_and_the_cost(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REALEDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    bench = make_bench(tmp_path / "bench", n_photos=2)
    res = invoke("reproduce", "table1", "--dry-run", "--data-dir", str(bench), "--runs",
                 str(tmp_path / "runs"),
                 "--weights", f"instruct-pix2pix={bench}")  # a folder that exists: its weights are "here"
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.startswith("realedit reproduce table1: Table 1: existing methods on Real-Edit, judged by "
                          "GPT-4o")
    assert "data: real-edit in" in out and "14 of 14 samples selected" in out
    assert "InsPix2Pix         instruct-pix2pix" in out and "14 of 14 edits to make" in out
    assert "(4.8 s/image, 100 steps at the rate measured at 20 steps)" in out
    # What is missing: hub weights not cached (offline), editors without default weights, the judge's key.
    assert "  HIVE (hive): weights: none by default" in out
    assert "  SmartEdit (smartedit): weights: none by default" in out
    assert ("MagicBrush (magicbrush): weights: vinesmsuic/magicbrush-jul7 is not in the Hugging Face "
            "cache") in out
    assert "judge: missing: judge openai/gpt-4o-2024-05-13 needs an API key: set OPENAI_API_KEY" in out
    for method in ("KOSMOS-G", "MGIE", "InstructDiffusion"):
        assert f"  {method}: realedit has no editor for it" in out
    assert "GPU time: about 1 min on one H100 for 14 edits (an estimate" in out
    # What the methods whose weights are missing would add (MagicBrush, HIVE, HQ-Edit, Reward-InsPix2Pix,
    # SmartEdit, Reward-SmartEdit: 14 edits each at their seconds per image).
    extra = 14 * sum(SECONDS_PER_IMAGE[a].seconds for a in
                     ("magicbrush", "hive", "hq-edit", "reward-instruct-pix2pix", "smartedit",
                      "reward-smartedit"))
    assert (f"  with the 6 missing method(s) given weights: about {round(extra / 60)} min more for 84 edits "
            f"and up to 252 more judge calls") in out
    assert "up to 42 calls (3 per edit" in out and "at $5/M input and $15/M output tokens" in out
    assert out.rstrip().endswith("dry run: nothing was run, sent or written")
    assert not (tmp_path / "runs").exists()


def test_a_tiny_reproduction_runs_judges_writes_the_record_and_resumes(
    tmp_path, tiny_pix2pix_dir, server
) -> None:
    made, res = reproduce_table1(tmp_path, tiny_pix2pix_dir, server)
    assert res.returncode == 0, res.stderr
    record = read_model(made.runs / "reproduction-table1.json", ReproductionRecord)
    assert [m.method for m in record.methods] == list(TABLE_METHODS["table1"])
    status = {m.method: m.status for m in record.methods}
    assert {status[METHODS[e]] for e in EDITORS} == {"reproduced"}
    assert status["KOSMOS-G"] == "no adapter" and status["SmartEdit"] == "not selected"
    assert record.judge == "openai/gpt-4o-2024-05-13" and record.seed == 42 and record.samples == "all"
    assert len(server.calls()) == 2 * 14 * 3
    for m in record.methods:
        if m.status == "reproduced":
            assert m.settings["steps"] == 2 and m.run is not None
            [summary] = (made.runs / m.run / "judgments").glob("*paper-e72d782.paper-parse.summary.json")
            s = read_model(summary, JudgeSummary)
            assert s.protocol == "paper" and s.paper_figures["following"]["score_mean"] == 3.0
    assert (made.site / "reproduce-table1.html").is_file()
    assert "reproduction page:" in res.stderr
    # Again: the finished runs resume (nothing to edit) and nothing is asked twice.
    server.reset()
    server.responder = paper_answer
    again = invoke(*made.args)
    assert again.returncode == 0, again.stderr
    assert server.calls() == []


def test_a_method_that_cannot_be_reproduced_is_listed_and_the_exit_code_says_so(
    tmp_path, tiny_pix2pix_dir, server
) -> None:
    from paths import PAPER_PROMPTS

    server.responder = paper_answer
    assert invoke("data", "fetch", "paper-prompts", "--from", str(PAPER_PROMPTS)).returncode == 0
    args = table1_args(tmp_path, tiny_pix2pix_dir).args
    args[args.index("--models") + 1] = "instruct-pix2pix,smartedit"
    res = invoke(*args, "--limit", "1")
    assert res.returncode == 1, res.stderr
    assert "SmartEdit: missing (weights: none by default" in res.stderr
    assert "InsPix2Pix: reproduced" in res.stderr and len(server.calls()) == 3
    record = read_model(tmp_path / "runs" / "reproduction-table1.json", ReproductionRecord)
    assert record.samples == "--limit 1"


@pytest.mark.parametrize("args, says", [
    (["table4"], "unknown table 'table4' (reproducible: table1, table2, table3)"),
    (["table1", "--models", "flux-kontext"], "--models: flux-kontext reproduce(s) no method of table1"),
    (["table3"], "reproduce table3 reads human ratings: give --human ratings.csv"),
    (["table1", "--weights", "hq-edit"], "--weights 'hq-edit': expected EDITOR=..."),
    (["table1", "-M", "steps=2"], "-M 'steps=2': expected EDITOR:key=value"),
])
def test_bad_requests_are_one_line(tmp_path, monkeypatch, args, says) -> None:
    monkeypatch.setenv("REALEDIT_CACHE", str(tmp_path / "cache"))
    bench = make_bench(tmp_path / "bench", n_photos=1)
    res = invoke("reproduce", *args, "--data-dir", str(bench), "--runs", str(tmp_path / "runs"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    [line] = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert says in line


def test_table2_without_the_magicbrush_test_set_says_how_to_get_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REALEDIT_CACHE", str(tmp_path / "cache"))
    dry = invoke("reproduce", "table2", "--dry-run", "--runs", str(tmp_path / "runs"))
    assert dry.returncode == 0
    assert ("Table 2 needs the MagicBrush test set: 'realedit data fetch --benchmark magicbrush --from "
            "<the test zip or its folder>' first") in dry.stdout
    res = invoke("reproduce", "table2", "--runs", str(tmp_path / "runs"), "--models", "instruct-pix2pix",
                 "--weights", f"instruct-pix2pix={tmp_path}")
    assert res.returncode == 2
    [line] = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert "Table 2 needs the MagicBrush test set" in line


def test_table2_measures_clip_on_the_magicbrush_test_set(tmp_path, tiny_pix2pix_dir, monkeypatch) -> None:
    from metrics_fixtures import build_magicbrush_test, build_tiny_clip_dir

    monkeypatch.setenv("REALEDIT_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "mb"
    res = invoke("data", "fetch", "--benchmark", "magicbrush", "--from",
                 str(build_magicbrush_test(tmp_path / "download")), "--data-dir", str(data))
    assert res.returncode == 0, res.stderr
    clip = build_tiny_clip_dir(tmp_path / "clip")
    res = invoke("reproduce", "table2", "--data-dir", str(data), "--runs", str(tmp_path / "runs"), "--out",
                 str(tmp_path / "site"), "--models", "instruct-pix2pix", "--weights",
                 f"instruct-pix2pix={tiny_pix2pix_dir}", "-M", "instruct-pix2pix:steps=2", "-M",
                 "instruct-pix2pix:resolution=64", "--clip-weights", str(clip))
    assert res.returncode == 0, res.stderr
    record = read_model(tmp_path / "runs" / "reproduction-table2.json", ReproductionRecord)
    [ip2p] = [m for m in record.methods if m.method == "InsPix2Pix"]
    assert ip2p.status == "reproduced"
    metrics = read_model(tmp_path / "runs" / ip2p.run / "metrics_summary.json", MetricSummary)
    assert set(metrics.means) == {"clip_i", "clip_t"} and metrics.reference == "target" and metrics.n == 4
    page = (tmp_path / "site" / "reproduce-table2.html").read_text()
    assert f"ours {100 * metrics.means['clip_i']:.1f}" in page and "paper 85.4" in page


def _ratings(path: Path) -> Path:
    """Human ratings of 2 photos x 2 edits for both SmartEdit methods (two raters), by model name."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "model", "perspective", "rater", "score"])
        for model, base in (("smartedit", 3.0), ("Reward-SmartEdit", 4.0)):
            for photo in (1, 2):
                for cat in ("local", "add"):
                    for p in ("following", "preserving", "quality"):
                        for rater, delta in (("a", 0.0), ("b", 1.0 if photo == 2 else 0.0)):
                            w.writerow([f"{photo}-{cat}", model, p, rater, base + delta])
    return path


def test_table3_averages_the_human_ratings_per_method(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REALEDIT_CACHE", str(tmp_path / "cache"))
    bench = make_bench(tmp_path / "bench", n_photos=2)
    human = _ratings(tmp_path / "ratings.csv")
    res = invoke("reproduce", "table3", "--human", str(human), "--data-dir", str(bench), "--runs",
                 str(tmp_path / "runs"), "--out", str(tmp_path / "site"))
    assert res.returncode == 0, res.stderr
    record = read_model(tmp_path / "runs" / "reproduction-table3.json", ReproductionRecord)
    by = {m.method: m for m in record.methods}
    # Per edit: the mean of the raters; then the mean over edits (photo 1: 3.0, photo 2: 3.5).
    expected = statistics.fmean([3.0, 3.0, 3.5, 3.5])
    assert by["SmartEdit"].human["following"].mean == pytest.approx(expected)
    assert by["Reward-SmartEdit"].human["quality"].mean == pytest.approx(expected + 1)
    assert by["SmartEdit"].human["following"].n == 4 and by["SmartEdit"].human["following"].n_photos == 2
    assert by["SmartEdit"].human["following"].ci == pytest.approx((3.0, 3.5))
    assert "no run of these editors judged with --protocol paper" in record.notes[0]
    page = (tmp_path / "site" / "reproduce-table3.html").read_text()
    assert "paper 3.09" in page and f"ours {expected:.2f}" in page
