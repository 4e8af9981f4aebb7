"""flux-kontext-api: submit, poll the returned URL, download the result at once; a paid task never twice."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from api_fixtures import SECRET, point_at
from cli_runner import invoke
from image_api_server import Reply
from PIL import Image

from adapters.api.bfl import FluxKontextAPI
from realedit_bench.jsonio import read_rows
from realedit_bench.runner import derive_seed
from realedit_bench.schema import EditRow


def _run(real_edit_dir, tmp_path, *extra):
    return invoke("run", "--model", "flux-kontext-api", "--samples", "10-local", "-M", "poll_interval=0.05",
                  "--data-dir", str(real_edit_dir), "--out", str(tmp_path), *extra)


def test_submit_poll_and_download_with_the_key_only_where_it_belongs(api, real_edit_dir, tmp_path,
                                                                     monkeypatch):
    point_at(monkeypatch, "flux-kontext-api", api)
    res = _run(real_edit_dir, tmp_path)
    assert res.returncode == 0, res.stderr
    submit, poll_1, poll_2, download = api.seen
    assert (submit.method, submit.route) == ("POST", "/v1/flux-kontext-pro")
    body = submit.body
    assert body["seed"] == derive_seed(0, "10-local") and body["output_format"] == "png"
    assert body["safety_tolerance"] == 2 and "aspect_ratio" not in body  # the API keeps the photo's
    source = Image.open(real_edit_dir / "imgs" / "10.jpeg")
    assert Image.open(io.BytesIO(base64.b64decode(body["input_image"]))).size == source.size
    assert [p.route for p in (poll_1, poll_2)] == ["/v1/get_result"] * 2  # Pending, then Ready
    assert submit.headers["x-key"] == poll_1.headers["x-key"] == SECRET
    assert download.route == "/delivery/task1.png" and "x-key" not in download.headers  # a signed URL
    (row,) = read_rows(Path(res.stdout.strip()) / "edits.jsonl", EditRow)
    assert row.status == "ok" and row.api.calls == 1 and row.api.cost_usd == 0.04  # 4 credits


def test_a_failed_poll_is_retried_without_paying_for_a_second_task(api, real_edit_dir, tmp_path, monkeypatch):
    point_at(monkeypatch, "flux-kontext-api", api)
    api.push_poll(Reply.error(500), Reply(cut=True))
    res = _run(real_edit_dir, tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(api.calls("bfl")) == 1 and len([s for s in api.seen if s.route == "/v1/get_result"]) == 4


def test_a_task_not_ready_in_time_is_an_error_and_not_submitted_again(api, real_edit_dir, tmp_path,
                                                                      monkeypatch):
    point_at(monkeypatch, "flux-kontext-api", api)
    api.polls_pending = 1000
    res = _run(real_edit_dir, tmp_path, "-M", "timeout=1")
    assert res.returncode == 1
    (row,) = read_rows(Path(res.stdout.strip()) / "edits.jsonl", EditRow)
    assert row.status == "error" and "task1: the task was not ready after 1 s" in row.error
    assert len(api.calls("bfl")) == 1


def test_the_models_price_and_settings():
    assert FluxKontextAPI().estimate_cost((1, 1)) == 0.04
    assert FluxKontextAPI(weights="flux-kontext-max").estimate_cost((1, 1)) == 0.08
    params = FluxKontextAPI(safety_tolerance=5).params()
    assert (params["safety_tolerance"], params["seed"]) == (5, "sent per sample")
