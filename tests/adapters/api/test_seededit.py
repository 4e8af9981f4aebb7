"""seededit: the Ark images/generations body (OpenAI-shaped JSON) and its refusal codes."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from api_fixtures import SECRET, point_at
from cli_runner import invoke
from PIL import Image

from realedit_bench.jsonio import read_rows
from realedit_bench.runner import derive_seed
from realedit_bench.schema import EditRow


def _run(real_edit_dir, tmp_path, *extra):
    return invoke("run", "--model", "seededit", "--samples", "10-local", "--data-dir", str(real_edit_dir),
                  "--out", str(tmp_path), *extra)


def test_the_body_holds_the_photo_seed_and_seededits_defaults(api, real_edit_dir, tmp_path, monkeypatch):
    point_at(monkeypatch, "seededit", api)
    res = _run(real_edit_dir, tmp_path)
    assert res.returncode == 0, res.stderr
    (call,) = api.calls("ark")
    assert call.headers["authorization"] == f"Bearer {SECRET}"
    body = call.body
    assert (body["model"], body["size"]) == ("seededit-3-0-i2i-250628", "adaptive")
    assert body["guidance_scale"] == 5.5
    assert body["seed"] == derive_seed(0, "10-local") and body["watermark"] is False
    assert body["response_format"] == "b64_json" and body["prompt"].strip()
    header, data = body["image"].split(",", 1)
    assert header == "data:image/png;base64"
    source = Image.open(real_edit_dir / "imgs" / "10.jpeg")
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == source.size
    (row,) = read_rows(Path(res.stdout.strip()) / "edits.jsonl", EditRow)
    assert (row.api.cost_usd, row.api.output_tokens, row.api.model) == (0.03, 4096, "seededit-3-0-i2i-250628")


def test_seedream_models_run_without_guidance(api, real_edit_dir, tmp_path, monkeypatch):
    point_at(monkeypatch, "seededit", api)
    res = _run(real_edit_dir, tmp_path, "--weights", "seedream-4-0-250828", "-M", "guidance_scale=none",
               "-M", "size=2K")
    assert res.returncode == 0, res.stderr
    (call,) = api.calls("ark")
    assert "guidance_scale" not in call.body and call.body["size"] == "2K"
