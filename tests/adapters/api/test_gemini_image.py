"""gemini-image: what the google-genai SDK sends to generateContent, the seed, aspect ratios, JPEG replies."""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path

import pytest
from api_fixtures import SECRET, point_at
from cli_runner import invoke
from image_api_server import Reply
from PIL import Image

from adapters.api.gemini_image import GeminiImage, nearest_aspect
from realedit_bench.errors import ConfigError
from realedit_bench.jsonio import read_rows
from realedit_bench.runner import derive_seed
from realedit_bench.schema import EditRow

pytest.importorskip("google.genai", reason="the google-genai SDK (the 'gemini' extra) is not installed")


def test_the_call_sends_instruction_photo_seed_and_image_config(api, real_edit_dir, tmp_path, monkeypatch):
    point_at(monkeypatch, "gemini-image", api)
    api.push(Reply(image_format="JPEG", size=(1264, 848)))
    res = invoke("run", "--model", "gemini-image", "--samples", "10-local", "--data-dir", str(real_edit_dir),
                 "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    (call,) = api.calls("gemini")
    assert call.route.endswith("/models/gemini-3.1-flash-image:generateContent")
    assert call.headers["x-goog-api-key"] == SECRET
    (content,) = call.body["contents"]
    text, image = content["parts"]
    inline = image["inlineData"]  # the SDK spells its fields either way; the API reads both
    assert text["text"].strip() and (inline.get("mimeType") or inline.get("mime_type")) == "image/png"
    source = Image.open(real_edit_dir / "imgs" / "10.jpeg")
    assert Image.open(io.BytesIO(base64.b64decode(inline["data"]))).size == source.size
    config = call.body["generationConfig"]
    assert config["seed"] == derive_seed(0, "10-local") and config["responseModalities"] == ["IMAGE"]
    assert config["imageConfig"] == {"aspectRatio": "3:2", "imageSize": "1K"}
    run_dir = Path(res.stdout.strip())
    (row,) = read_rows(run_dir / "edits.jsonl", EditRow)
    # kept as returned (a JPEG), judged as a PNG at the source's size
    assert (row.api.returned, row.api.returned_format, row.api.returned_size) == (
        "returned/10-local.jpg", "jpeg", (1264, 848))
    assert Image.open(run_dir / row.api.returned).format == "JPEG" and row.size == source.size
    assert (row.api.cost_usd, row.api.model) == (0.067, "gemini-3.1-flash-image-fake-001")
    assert (row.api.input_tokens, row.api.output_tokens) == (300, 1290)


@pytest.mark.parametrize(("size", "aspect"), [
    ((1280, 853), "3:2"), ((853, 1280), "2:3"), ((1000, 1000), "1:1"), ((1280, 720), "16:9"),
    ((2100, 900), "21:9"), ((960, 1280), "3:4")])
def test_the_nearest_supported_aspect_ratio(size, aspect):
    assert nearest_aspect(*size) == aspect


def test_prices_by_image_size_and_the_missing_sdk_in_one_line(monkeypatch):
    assert GeminiImage(image_size="4K").estimate_cost((1, 1)) == 0.151
    assert GeminiImage(weights="gemini-3-pro-image", image_size="2K").estimate_cost((1, 1)) == 0.134
    assert GeminiImage(weights="gemini-9-image").estimate_cost((1, 1)) is None
    with pytest.raises(ConfigError, match="image_size must be"):
        GeminiImage(image_size="8K")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "google.genai" else find_spec(name, *a))
    monkeypatch.setenv("GOOGLE_API_KEY", SECRET)
    with pytest.raises(ConfigError, match=r"needs the google-genai SDK: pip install 'realedit\[gemini\]'"):
        GeminiImage().check_key()
