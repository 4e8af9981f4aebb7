"""Every API editor through ``realedit run`` against a local server speaking its wire format.

The same behaviours for all four: two photos edited and kept as returned, then judged at the source's size;
429 with Retry-After, 500, a slow reply and a cut connection retried; a moderation refusal recorded as
``refused`` and never retried; a fatal error stopping the run; the key checked before any work; the dry
run's cost line; ``--max-cost``; the money in every row and at the end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from api_fixtures import EDITORS, SECRET, point_at
from cli_runner import invoke
from image_api_server import Reply
from paths import REPO
from PIL import Image

from realedit_bench.jsonio import read_rows
from realedit_bench.registry import ADAPTERS
from realedit_bench.schema import EditRow

NAMES = list(EDITORS)


def _run(name: str, real_edit_dir: Path, out: Path, *extra: str, limit: int = 2):
    """``realedit run`` of ``name`` on the first ``limit`` Real-Edit samples (BFL polled quickly)."""
    fast = ["-M", "poll_interval=0.05"] if name == "flux-kontext-api" else []
    return invoke("run", "--model", name, "--limit", str(limit), *fast, "--data-dir", str(real_edit_dir),
                  "--out", str(out), *extra)


def _rows(res) -> list[EditRow]:
    return read_rows(Path(res.stdout.strip()) / "edits.jsonl", EditRow)


@pytest.mark.parametrize("name", NAMES)
def test_two_photos_are_edited_kept_as_returned_and_judged_at_their_size(name, api, real_edit_dir, tmp_path,
                                                                       monkeypatch):
    provider = point_at(monkeypatch, name, api)
    res = _run(name, real_edit_dir, tmp_path)
    assert res.returncode == 0, res.stderr
    run_dir = Path(res.stdout.strip())
    rows = _rows(res)
    assert [r.status for r in rows] == ["ok", "ok"] and len(api.calls(provider)) == 2
    for row in rows:
        source = Image.open(real_edit_dir / "imgs" / row.source)
        assert row.api is not None and row.api.calls == 1 and row.api.cost_usd and row.api.cost_usd > 0
        returned = run_dir / row.api.returned
        with Image.open(returned) as im:  # the file as the API sent it, its format and size recorded
            assert (im.format.lower(), im.size) == (row.api.returned_format, row.api.returned_size)
        judged = Image.open(run_dir / row.output)  # what the judge and the metrics read
        assert judged.size == source.size == tuple(row.size) != row.api.returned_size
    manifest = json.loads((run_dir / "manifest.json").read_text())
    params = manifest["adapter"]["params"]
    assert params["model"] == ADAPTERS.get(name).default_weights
    honoured = "not honoured (the API takes none)" if name == "gpt-image" else "sent per sample"
    assert params["seed"] == honoured
    assert manifest["device"] == "api" and manifest["status"] == "complete"
    # the key never reaches a file
    assert all(SECRET not in p.read_text(errors="ignore") for p in run_dir.rglob("*") if p.is_file())
    lines = res.stderr.splitlines()
    spent = sum(r.api.cost_usd for r in rows)
    assert f"spent ${spent:.4f} on 2 API calls in this run; the run's edits cost ${spent:.4f} in all" in lines


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "failure",
    [Reply.error(429, headers={"retry-after": "1"}), Reply.error(500), Reply(delay=8), Reply(cut=True)],
    ids=["429-retry-after", "500", "slow", "cut"],
)
def test_a_call_that_may_pass_is_retried(name, failure, api, real_edit_dir, tmp_path, monkeypatch):
    provider = point_at(monkeypatch, name, api)
    api.push(failure)
    t0 = time.perf_counter()
    slow = ["-M", "timeout=3"] if failure.delay else []  # the first call gives up after 3 s, the next is fast
    res = _run(name, real_edit_dir, tmp_path, *slow, limit=1)
    assert res.returncode == 0, res.stderr
    (row,) = _rows(res)
    assert row.status == "ok" and row.api.calls == 2 and len(api.calls(provider)) == 2
    if failure.status == 429:
        assert time.perf_counter() - t0 >= 1.0  # the server's Retry-After was honoured


@pytest.mark.parametrize("name", NAMES)
def test_a_moderation_refusal_is_recorded_and_never_retried(name, api, real_edit_dir, tmp_path, monkeypatch):
    provider = point_at(monkeypatch, name, api)
    api.push(Reply(refused=True))
    res = _run(name, real_edit_dir, tmp_path, "-M", "concurrency=1")
    assert res.returncode == 0, res.stderr  # a refusal is the editor's answer, not a failure to retry
    refused, ok = _rows(res)
    assert (refused.status, ok.status) == ("refused", "ok") and refused.output is None
    assert refused.api.calls == 1 and refused.api.cost_usd is None and "refused" in refused.error
    assert len(api.calls(provider)) == 2
    manifest = json.loads((Path(res.stdout.strip()) / "manifest.json").read_text())
    assert manifest["counts"] == {"ok": 1, "error": 0, "not_run": 0, "refused": 1}
    assert "1 ok, 0 failed, 1 refused by the API" in res.stderr
    again = _run(name, real_edit_dir, tmp_path)  # a rerun does not ask again: it is the final answer
    assert again.returncode == 0 and len(api.calls(provider)) == 2


@pytest.mark.parametrize("name", NAMES)
def test_a_refused_key_stops_the_run_with_one_line(name, api, real_edit_dir, tmp_path, monkeypatch):
    provider = point_at(monkeypatch, name, api)
    api.push(Reply.error(401))
    res = _run(name, real_edit_dir, tmp_path, "-M", "concurrency=1", limit=3)
    assert res.returncode == 2
    assert "error: stopped: HTTP 401: the key was refused or lacks access" in res.stderr
    assert "(2 samples not sent); fix that, then rerun the same command to resume" in res.stderr
    assert len(api.calls(provider)) == 1 and SECRET not in res.stderr + res.stdout
    (row,) = _rows(res)
    assert row.status == "error" and row.api.calls == 1  # a fatal error is not retried


@pytest.mark.parametrize("name", NAMES)
def test_the_key_is_checked_before_any_work(name, api, real_edit_dir, tmp_path, monkeypatch):
    point_at(monkeypatch, name, api, key=False)
    res = _run(name, real_edit_dir, tmp_path / "runs")
    assert res.returncode == 2 and not api.seen and not (tmp_path / "runs").exists()
    variable = [v for v in EDITORS[name][1] if v.endswith("_KEY")][0]
    assert res.stderr.strip() == f"error: model {name!r} needs an API key: set {variable}"


@pytest.mark.parametrize("name", NAMES)
def test_a_dry_run_prints_the_calls_and_one_cost_line_and_sends_nothing(name, api, real_edit_dir, tmp_path,
                                                                        monkeypatch):
    point_at(monkeypatch, name, api, key=False)  # pricing a run needs no key
    res = _run(name, real_edit_dir, tmp_path / "runs", "--dry-run", limit=3)
    assert res.returncode == 0, res.stderr
    first, cost = res.stdout.strip().splitlines()
    assert first == ("dry run: 3 of 3 selected samples to edit (0 done before); nothing was loaded, sent "
                     "or written")
    assert cost.startswith(f"cost: {name}: {ADAPTERS.get(name).default_weights}")
    assert " for 3 edits (up to $" in cost
    assert not api.seen and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", NAMES)
def test_max_cost_stops_sending_before_the_budget_would_be_crossed(name, api, real_edit_dir, tmp_path,
                                                                  monkeypatch):
    provider = point_at(monkeypatch, name, api)
    res = _run(name, real_edit_dir, tmp_path, "-M", "price=0.03", "--max-cost", "0.07", limit=3)
    assert res.returncode == 2
    assert len(api.calls(provider)) == 2  # a third edit could have crossed $0.07
    assert ("error: stopped before crossing the budget of $0.0700: spent $0.0600 in this run and the next "
            "edit could cost up to $0.0300; rerun with a higher --max-cost to finish (1 samples not sent)"
            ) in " ".join(res.stderr.split())
    rows = _rows(res)
    assert [r.status for r in rows] == ["ok", "ok"] and [r.api.cost_usd for r in rows] == [0.03, 0.03]
    again = _run(name, real_edit_dir, tmp_path, "-M", "price=0.03", "--max-cost", "0.05", limit=3)
    assert again.returncode == 0 and len(api.calls(provider)) == 3  # the rest fits the new budget


def test_max_cost_is_for_paid_editors_with_a_price(real_edit_dir, tmp_path, monkeypatch, api):
    res = invoke("run", "--model", "identity", "--max-cost", "1", "--limit", "1", "--data-dir",
                 str(real_edit_dir), "--out", str(tmp_path))
    assert res.returncode == 2 and "--max-cost applies to editors behind a paid API" in res.stderr
    point_at(monkeypatch, "gpt-image", api)
    res = _run("gpt-image", real_edit_dir, tmp_path, "--weights", "gpt-image-1.5", "--max-cost", "1")
    assert res.returncode == 2 and "pass -M price=USD (per edit)" in res.stderr and not api.seen


@pytest.mark.parametrize("name", NAMES)
def test_the_readme_shows_each_editors_cost_line_over_the_whole_benchmark(name, real_edit_dir, monkeypatch,
                                                                          tmp_path):
    for var in EDITORS[name][1]:
        monkeypatch.delenv(var, raising=False)
    res = invoke("run", "--model", name, "--dry-run", "--data-dir", str(real_edit_dir),
                 "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    first, cost = res.stdout.strip().splitlines()
    assert first.startswith("dry run: 560 of 560 selected samples to edit")
    assert cost in (REPO / "README.md").read_text().splitlines()
