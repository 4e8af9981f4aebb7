"""gpt-image: what the official openai SDK sends to the Images edit endpoint, sizes, retired models, money."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from api_fixtures import SECRET, point_at
from cli_runner import invoke
from PIL import Image

from adapters.api.openai_image import GPTImage, gpt_size
from realedit_bench.errors import ConfigError
from realedit_bench.jsonio import read_rows
from realedit_bench.runner import derive_seed
from realedit_bench.schema import EditRow


def test_the_edit_call_is_multipart_with_the_photo_and_the_aspect_kept(api, real_edit_dir, tmp_path,
                                                                        monkeypatch):
    point_at(monkeypatch, "gpt-image", api)
    res = invoke("run", "--model", "gpt-image", "--samples", "10-local", "--data-dir", str(real_edit_dir),
                 "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    (call,) = api.calls("openai")
    assert call.headers["authorization"] == f"Bearer {SECRET}"
    fields = {k: v[1] for k, v in call.body.items()}
    source = Image.open(real_edit_dir / "imgs" / "10.jpeg")
    sent = Image.open(io.BytesIO(fields["image"]))
    assert (sent.format, sent.size) == ("PNG", source.size)  # the photo as it is, lossless
    assert fields["model"] == b"gpt-image-2" and fields["n"] == b"1" and fields["quality"] == b"high"
    assert fields["size"] == "x".join(map(str, gpt_size("gpt-image-2", *source.size))).encode()
    assert fields["output_format"] == b"png" and "seed" not in fields  # the API takes no seed
    assert fields["prompt"].decode().strip()
    (row,) = read_rows(Path(res.stdout.strip()) / "edits.jsonl", EditRow)
    # the fake's usage: 100 text + 1000 image tokens in, 7000 out, at $5 / $8 / $30 per million
    assert row.api.cost_usd == pytest.approx((100 * 5 + 1000 * 8 + 7000 * 30) / 1e6)
    assert (row.api.input_tokens, row.api.output_tokens) == (1100, 7000)
    assert row.seed == derive_seed(0, "10-local")


@pytest.mark.parametrize(
    ("model", "size", "expected"),
    [("gpt-image-2", (1280, 853), (1248, 832)), ("gpt-image-2", (853, 1280), (832, 1248)),
     ("gpt-image-2", (1000, 1000), (1024, 1024)), ("gpt-image-2", (4000, 500), (1776, 592)),
     ("gpt-image-2.5-sunburst", (612, 408), (1248, 832)), ("gpt-image-1.5", (1280, 853), (1536, 1024)),
     ("gpt-image-1.5", (700, 1000), (1024, 1536)), ("gpt-image-1-mini", (990, 1000), (1024, 1024))],
)
def test_sizes_keep_the_aspect_where_the_model_takes_any(model, size, expected):
    w, h = gpt_size(model, *size)
    assert (w, h) == expected and w % 16 == 0 and h % 16 == 0


@pytest.mark.parametrize(("model", "date"), [("gpt-image-1", "2026-10-23"), ("dall-e-3", "2026-05-12")])
def test_retired_models_are_refused_in_one_line_with_the_date_and_the_replacement(model, date):
    line = rf"^{model} was (shut down|retired) by OpenAI on {date}; use gpt-image-2"
    with pytest.raises(ConfigError, match=line):
        GPTImage(weights=model)


def test_settings_are_checked_and_recorded_but_not_the_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    editor = GPTImage(quality="medium", size="1536x1024", concurrency=2)
    params = editor.params()
    assert (params["quality"], params["size"], params["output_format"]) == ("medium", "1536x1024", "png")
    assert editor.size_for(100, 900) == "1536x1024" and SECRET not in str(params)
    assert "concurrency" not in params and "timeout" not in params  # speed, not the edit
    for bad, message in [({"quality": "best"}, "quality must be one of"), ({"size": "big"}, "size must be"),
                         ({"output_format": "gif"}, "output_format must be"),
                         ({"revision": "x"}, "no --revision")]:
        with pytest.raises(ConfigError, match=message):
            GPTImage(**bad)


def test_estimates_follow_the_price_table_and_a_given_price_wins():
    editor = GPTImage()
    high = editor.estimate_cost((1280, 853))
    low = GPTImage(quality="low").estimate_cost((1280, 853))
    assert 0.2 < high < 0.25 and low < 0.02  # ~7,033 vs ~200 output tokens at $30 per million
    assert GPTImage(weights="gpt-image-1.5").estimate_cost((1280, 853)) is None  # no price known
    assert GPTImage(weights="gpt-image-1.5", price=0.05).estimate_cost((1280, 853)) == 0.05
    assert "quality high: $30/M output tokens (~7,033 per 1 MP image)" in editor.cost_line()


def test_a_notebook_edits_one_photo_at_its_size(api, monkeypatch):
    point_at(monkeypatch, "gpt-image", api)
    photo = Image.new("RGB", (120, 80), (10, 20, 30))
    out = GPTImage().edit(photo, "make it red", seed=3)
    assert out.size == photo.size and out.mode == "RGB" and len(api.calls("openai")) == 1
