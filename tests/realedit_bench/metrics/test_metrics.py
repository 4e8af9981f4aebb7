"""Metrics: values on synthetic images, the protocol's preprocessing, batching, resume, the CLI path.

Every model is a tiny random-weight CLIP / DINO saved to a tmp dir and loaded back through
``--clip-weights`` / ``--dino-weights``, the path users take."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from metrics_fixtures import noise_image
from PIL import Image
from typer.testing import CliRunner

from realedit_bench.errors import ConfigError, WeightsError
from realedit_bench.inputs import resolve_edits
from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.metrics.core import FeatureStore, Item, pixel_pair
from realedit_bench.metrics.encoders import ClipEncoder, DinoEncoder
from realedit_bench.metrics.runner import choose_metrics, compute_metrics
from realedit_bench.registry import METRICS
from realedit_bench.schema.metrics import MetricRow, MetricSummary

OPENAI_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
OPENAI_STD = np.array([0.26862954, 0.26130258, 0.27577711])
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def _cli(args: list[str]):
    from realedit_bench.cli.metrics import register

    app = typer.Typer()
    register(app)
    app.command("noop", hidden=True)(lambda: None)  # keep "metrics" a named sub-command
    return CliRunner().invoke(app, ["metrics", *args])


def _item(edited: Image.Image, reference: Image.Image, ekey: str = "e", rkey: str = "r", extra=None) -> Item:
    return Item("s", edited, ekey, reference, rkey, reference, rkey, extra or {})


# ---------------------------------------------------------------- pixel metrics


def _half_white() -> Image.Image:
    half = np.zeros((48, 64, 3), np.uint8)
    half[:, :32] = 255
    return Image.fromarray(half)


@pytest.mark.parametrize(
    ("edited", "l1", "l2"),
    [
        (Image.new("RGB", (64, 48), (51, 51, 51)), 0.2, 0.04),  # 51/255 = 0.2 everywhere
        (_half_white(), 0.5, 0.5),
        (Image.new("RGB", (64, 48), (153, 0, 0)), 0.2, 0.12),  # one channel off by 0.6: 0.6/3 and 0.36/3
    ],
    ids=["grey", "half-white", "one-channel"],
)
def test_l1_l2_known_values_on_synthetic_images(edited: Image.Image, l1: float, l2: float) -> None:
    black = Image.new("RGB", (64, 48), (0, 0, 0))
    assert METRICS.get("l1")()(_item(edited, black), FeatureStore({})) == pytest.approx(l1, abs=1e-7)
    assert METRICS.get("l2")()(_item(edited, black), FeatureStore({})) == pytest.approx(l2, abs=1e-7)


def test_edited_image_is_resized_to_the_reference_size() -> None:
    # A constant image stays constant under bicubic resizing, so the distance is known exactly.
    small = Image.new("RGB", (20, 30), (51, 51, 51))
    big_black = Image.new("RGB", (64, 48), (0, 0, 0))
    a, b = pixel_pair(small, big_black)
    assert a.shape == b.shape == (48, 64, 3)
    assert METRICS.get("l1")()(_item(small, big_black), FeatureStore({})) == pytest.approx(0.2, abs=1e-7)
    # A non-constant image is resized with PIL bicubic, as the protocol's Image.resize does.
    noisy = noise_image((40, 30), 3)
    expected = np.asarray(noisy.resize((64, 48), Image.Resampling.BICUBIC), np.float64) / 255
    got = METRICS.get("l1")()(_item(noisy, big_black), FeatureStore({}))
    assert got == pytest.approx(expected.mean(), abs=1e-6)


# ---------------------------------------------------------------- preprocessing


def _resize_shorter_crop(image: Image.Image, short: int, crop: int) -> np.ndarray:
    """Hand-made reference of torchvision Resize(short, bicubic) + CenterCrop(crop) on a PIL image."""
    w, h = image.size
    if w <= h:
        nw, nh = short, int(short * h / w)
    else:
        nw, nh = int(short * w / h), short
    im = image.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = int(round((nw - crop) / 2.0)), int(round((nh - crop) / 2.0))
    return np.asarray(im.crop((left, top, left + crop, top + crop)), np.float64) / 255.0


def test_dino_preprocessing_is_resize_256_bicubic_crop_224_imagenet(metric_weights) -> None:
    dino = DinoEncoder(metric_weights[1])
    for size in ((300, 200), (200, 410)):
        image = noise_image(size, 7)
        got = dino.transform([image])[0].numpy()
        expected = (_resize_shorter_crop(image, 256, 224) - IMAGENET_MEAN) / IMAGENET_STD
        assert got.shape == (3, 224, 224)
        np.testing.assert_allclose(got, expected.transpose(2, 0, 1), atol=1e-5)


def test_clip_preprocessing_is_open_clips_openai_transform(metric_weights) -> None:
    clip = ClipEncoder(metric_weights[0])
    image = noise_image((300, 200), 8)
    got = clip.transform([image])[0].numpy()
    expected = (_resize_shorter_crop(image, 224, 224) - OPENAI_MEAN) / OPENAI_STD
    assert got.shape == (3, 224, 224)
    np.testing.assert_allclose(got, expected.transpose(2, 0, 1), atol=1e-5)


# ---------------------------------------------------------------- embedding metrics


def test_identical_pixels_give_clip_i_and_dino_one_and_match_direct_models(
    metric_encoders, metric_weights, tmp_path
) -> None:
    import open_clip
    import torch
    from transformers import ViTModel

    a, b = noise_image((120, 90), 1), noise_image((120, 90), 2)
    store = FeatureStore(metric_encoders)
    clip_i, dino = METRICS.get("clip_i")(), METRICS.get("dino")()
    # Distinct keys force two forwards of the same pixels: the value must still be 1.
    same = _item(a, a.copy(), "k1", "k2")
    diff = _item(b, a, "k3", "k1")
    for m in (clip_i, dino):
        store.fill_images(m.encoder, m.images(same) + m.images(diff))
    assert clip_i(same, store) == pytest.approx(1.0, abs=1e-6)
    assert dino(same, store) == pytest.approx(1.0, abs=1e-6)
    assert clip_i(diff, store) < 0.9999
    assert dino(diff, store) < 0.9999

    # Independent computation with the libraries themselves.
    model, _, pre = open_clip.create_model_and_transforms(f"local-dir:{metric_weights[0]}")
    model.eval()
    with torch.no_grad():
        fa, fb = model.encode_image(torch.stack([pre(a), pre(b)]))
    assert clip_i(diff, store) == pytest.approx(torch.cosine_similarity(fa, fb, dim=0).item(), abs=1e-5)
    vit = ViTModel.from_pretrained(metric_weights[1], add_pooling_layer=False).eval()
    tf = metric_encoders["dino"].preprocess
    with torch.no_grad():
        h = vit(pixel_values=torch.stack([tf(a), tf(b)])).last_hidden_state[:, 0]
    assert dino(diff, store) == pytest.approx(torch.cosine_similarity(h[0], h[1], dim=0).item(), abs=1e-5)


def test_clip_t_and_directional_clip_by_hand(metric_encoders) -> None:
    import torch

    clip = metric_encoders["clip"]
    src, out = noise_image((100, 100), 11), noise_image((100, 100), 12)
    extra = {"caption": "a red ball", "input_caption": "a field", "output_caption": "a field with a red ball"}
    item = Item("s", out, "out", src, "src", src, "src", extra)
    store = FeatureStore(metric_encoders)
    ct, cd = METRICS.get("clip_t")(), METRICS.get("clip_dir")()
    store.fill_images("clip", ct.images(item) + cd.images(item))
    store.fill_texts(ct.texts(item) + cd.texts(item))
    img = clip.encode_images([src, out])
    txt = clip.encode_texts(["a red ball", "a field", "a field with a red ball"])
    assert ct(item, store) == pytest.approx(torch.cosine_similarity(img[1], txt[0], dim=0).item(), abs=1e-5)
    # InstructPix2Pix's definition: normalise every embedding, then subtract.
    img, txt = torch.nn.functional.normalize(img, dim=-1), torch.nn.functional.normalize(txt, dim=-1)
    expected_dir = torch.cosine_similarity(img[1] - img[0], txt[2] - txt[1], dim=0).item()
    raw_dir = torch.cosine_similarity(
        clip.encode_images([out])[0] - clip.encode_images([src])[0], txt[2] - txt[1], dim=0).item()
    assert cd(item, store) == pytest.approx(expected_dir, abs=1e-5)
    assert abs(expected_dir - raw_dir) > 1e-4  # the tiny model's norms differ: the order matters here
    # An unchanged image has no direction: 0, as torch's cosine_similarity gives for a zero vector.
    same = Item("t", src, "src", src, "src", src, "src", extra)
    assert cd(same, store) == 0.0
    assert not ct.applies(item._replace(extra={}))


# ---------------------------------------------------------------- runner on Real-Edit


def _real_edit_folder(real_edit_dir: Path, dest: Path) -> Path:
    """Edits named by sample id: pixel copies (re-encoded PNG), a byte copy, and two altered images."""
    dest.mkdir()
    src10 = Image.open(real_edit_dir / "imgs" / "10.jpeg").convert("RGB")
    src10.save(dest / "10-local.png")  # same pixels, different bytes
    shutil.copy(real_edit_dir / "imgs" / "3.jpeg", dest / "3-style.jpeg")  # the very file
    src10.resize((256, 170)).save(dest / "10-remove.png")
    Image.new("RGB", (300, 300), (200, 10, 10)).save(dest / "3-add.png")
    return dest


def test_real_edit_folder_rows_summary_and_resume(real_edit_dir, metric_encoders, tmp_path) -> None:
    folder = _real_edit_folder(real_edit_dir, tmp_path / "mymodel")
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    metrics = choose_metrics(None, edits.benchmark)
    assert [m.name for m in metrics] == ["l1", "l2", "clip_i", "dino"]  # no captions on Real-Edit
    seen: list[int] = []
    res = compute_metrics(
        edits, metrics, metric_encoders, batch_size=3, n_resamples=200, on_progress=seen.append
    )
    assert (res.measured, res.skipped, sum(seen)) == (4, 0, 4)
    rows = {r.sample_id: r for r in read_rows(folder / "metrics.jsonl", MetricRow)}
    assert set(rows) == {"10-local", "10-remove", "3-add", "3-style"}
    for sid in ("10-local", "3-style"):
        v = rows[sid].values
        assert v["l1"] == 0.0 and v["l2"] == 0.0
        assert v["clip_i"] == pytest.approx(1.0, abs=1e-6) and v["dino"] == pytest.approx(1.0, abs=1e-6)
    assert rows["3-add"].values["l1"] > 0.2 and rows["3-add"].values["clip_i"] < 0.999
    assert 0 < rows["10-remove"].values["l1"] < 0.1
    r = rows["10-local"]
    assert r.reference == "source" and r.status == "ok" and r.image_id == "10" and r.category == "local"
    # Provenance per metric (pixel metrics have no model).
    assert set(r.metric_models) == {"clip_i", "dino"} and len(r.metric_models["clip_i"]["sha256"]) == 64

    summary = read_model(folder / "metrics_summary.json", MetricSummary)
    assert summary.model == "mymodel" and summary.reference == "source" and summary.n == 4
    assert summary.n_missing == 556
    assert summary.labels["clip_i"] == "CLIP-I to source (preservation)"
    assert summary.higher_is_better == {"l1": False, "l2": False, "clip_i": True, "dino": True}
    for name in ("l1", "clip_i"):
        vals = [x.values[name] for x in rows.values()]
        assert summary.means[name] == pytest.approx(np.mean(vals))
        lo, hi = summary.cis[name]
        assert min(vals) - 1e-12 <= lo <= summary.means[name] <= hi <= max(vals) + 1e-12
    assert summary.per_category["local"]["l1"] == 0.0

    # Resume: nothing changes -> nothing measured; one edit replaced -> only it is measured again.
    again = compute_metrics(edits, metrics, metric_encoders, batch_size=3, n_resamples=200)
    assert (again.measured, again.skipped) == (0, 4)
    Image.new("RGB", (64, 64), (0, 0, 255)).save(folder / "10-local.png")
    third = compute_metrics(edits, metrics, metric_encoders, batch_size=3, n_resamples=200)
    assert (third.measured, third.skipped) == (1, 3)
    latest = {r.sample_id: r for r in read_rows(folder / "metrics.jsonl", MetricRow)}
    assert latest["10-local"].values["l1"] > 0.1
    assert read_model(folder / "metrics_summary.json", MetricSummary).means["l1"] > summary.means["l1"]


def test_batched_equals_one_at_a_time(real_edit_dir, metric_encoders, tmp_path) -> None:
    folder = _real_edit_folder(real_edit_dir, tmp_path / "m")
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    metrics = choose_metrics(None, edits.benchmark)
    one = compute_metrics(
        edits, metrics, metric_encoders, batch_size=1, out_dir=tmp_path / "one", n_resamples=100
    )
    many = compute_metrics(
        edits, metrics, metric_encoders, batch_size=4, out_dir=tmp_path / "many", n_resamples=100
    )
    a = {r.sample_id: r.values for r in read_rows(one.rows_path, MetricRow)}
    b = {r.sample_id: r.values for r in read_rows(many.rows_path, MetricRow)}
    assert a.keys() == b.keys()
    for sid in a:
        for name in a[sid]:
            assert a[sid][name] == pytest.approx(b[sid][name], abs=1e-5), (sid, name)


def test_unreadable_edit_is_an_error_row_not_a_crash(real_edit_dir, metric_encoders, tmp_path) -> None:
    folder = _real_edit_folder(real_edit_dir, tmp_path / "m")
    (folder / "3-add.png").write_bytes(b"not an image")
    edits = resolve_edits(folder, data_dir=real_edit_dir)
    res = compute_metrics(edits, choose_metrics(None, edits.benchmark), metric_encoders, n_resamples=100)
    rows = {r.sample_id: r for r in read_rows(res.rows_path, MetricRow)}
    assert rows["3-add"].status == "error" and "3-add.png" in rows["3-add"].error
    assert res.summary.n_error == 1 and res.summary.counts["l1"] == 3


# ---------------------------------------------------------------- CLI and errors


def test_cli_on_a_folder_then_bad_inputs_exit_2(real_edit_dir, metric_weights, tmp_path) -> None:
    folder = _real_edit_folder(real_edit_dir, tmp_path / "cli-model")
    common = ["--images", str(folder), "--data-dir", str(real_edit_dir), "--resamples", "100"]
    ok = _cli([*common, "--clip-weights", str(metric_weights[0]), "--dino-weights", str(metric_weights[1]),
               "--metric", "l1,clip_i"])
    assert ok.exit_code == 0, ok.output
    assert "CLIP-I to source (preservation)" in ok.output
    rows = read_rows(folder / "metrics.jsonl", MetricRow)
    assert len(rows) == 4 and all(set(r.values) == {"l1", "clip_i"} for r in rows)
    assert set(json.loads((folder / "metrics_summary.json").read_text())["metric_models"]) == {"clip_i"}

    bad = _cli([*common, "--clip-weights", str(tmp_path / "nowhere")])
    assert bad.exit_code != 0 and isinstance(bad.exception, WeightsError)
    assert "--clip-weights" in str(bad.exception)
    empty = tmp_path / "empty-dino"
    empty.mkdir()
    bad = _cli([*common, "--clip-weights", str(metric_weights[0]), "--dino-weights", str(empty)])
    assert isinstance(bad.exception, WeightsError) and "config.json" in str(bad.exception)
    bad = _cli([*common, "--metric", "clip_t"])
    assert isinstance(bad.exception, ConfigError) and "caption" in str(bad.exception)


def test_unreachable_hub_weights_raise_weights_error(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="DINO weights"):
        DinoEncoder(model_id="realedit-tests/no-such-model")
    with pytest.raises(WeightsError, match="CLIP weights"):
        ClipEncoder(pretrained="no-such-tag")


def test_console_script_reports_unreachable_weights_in_one_line(real_edit_dir, tmp_path) -> None:
    from cli_runner import realedit_cli

    folder = _real_edit_folder(real_edit_dir, tmp_path / "m")
    res = realedit_cli(
        "metrics", "--images", str(folder), "--data-dir", str(real_edit_dir), "--metric", "clip_i",
        "--clip-pretrained", "no-such-tag",
    )
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith("error: CLIP weights"), res.stderr
    # Nothing asked could be measured: an error (exit code 2) that names the metrics needing no weights.
    assert len(lines) == 1 and lines[0].endswith("the metrics that need no weights: --metric l1,l2")


def test_without_weights_l1_l2_are_measured_and_each_missing_model_says_how_to_get_it(
    real_edit_dir, tmp_path
) -> None:
    from cli_runner import realedit_cli

    folder = _real_edit_folder(real_edit_dir, tmp_path / "m")
    hub = tmp_path / "empty-hub-cache"  # no weights cached, and HF_HUB_OFFLINE: nothing can be fetched
    res = realedit_cli("metrics", "--images", str(folder), "--data-dir", str(real_edit_dir), "--resamples",
                       "100", env={"HF_HOME": str(hub), "HF_HUB_CACHE": str(hub / "hub"), "COLUMNS": "80"})
    assert res.returncode == 1, res.stderr  # partly measured
    dino = [line for line in res.stderr.splitlines() if line.startswith("dino not measured: ")]
    clip = [line for line in res.stderr.splitlines() if line.startswith("clip_i not measured: ")]
    assert len(dino) == len(clip) == 1, res.stderr  # one whole line each, never wrapped
    assert "'hf download facebook/dino-vits16 --local-dir DIR' and pass --dino-weights DIR" in dino[0]
    assert ("'hf download timm/vit_base_patch32_clip_224.openai --local-dir DIR' and pass --clip-weights DIR"
            in clip[0])
    for line in (dino[0], clip[0]):
        # The library's own message whole (it was once cut mid-word: '...check your connecti)').
        assert re.search(r"hub \((OSError|RuntimeError): .+[.\w]\); save them once", line), line
        assert line.endswith("or leave it out: --metric l1,l2")
    assert "partly measured: dino, clip_i not measured" in " ".join(res.stderr.split())
    summary = read_model(folder / "metrics_summary.json", MetricSummary)
    assert set(summary.means) == {"l1", "l2"} and summary.counts["l1"] == 4
    assert "L1 to source (preservation)" in res.stdout and "CLIP" not in res.stdout
