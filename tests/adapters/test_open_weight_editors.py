"""Today's open-weight editors (FLUX.1 Kontext, Qwen-Image-Edit, FLUX.2 klein, LongCat) on tiny pipelines.

Each tiny pipeline is built here with locally made tokenizers and processors, saved, and loaded back by the
adapter: through ``realedit run`` on two Real-Edit photos, and in-process to see what reaches the pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import invoke
from PIL import Image
from tiny_editors import BUILDERS
from tiny_models import CallRecorder

from adapters.base import RUNTIME_SETTINGS
from adapters.flux2_klein import klein_size
from adapters.flux_kontext import kontext_size
from realedit_bench.errors import ConfigError
from realedit_bench.jsonio import read_rows
from realedit_bench.registry import ADAPTERS
from realedit_bench.schema import EditRow

NAMES = list(BUILDERS)
#: -M settings of the tiny runs: 2 steps, and a 64 px output where the editor has a size setting.
TINY = {"flux-kontext": {"steps": 2, "resolution": 64}, "qwen-image-edit": {"steps": 2, "resolution": 64},
        "flux2-klein": {"steps": 2, "resolution": 64}, "longcat-edit": {"steps": 2}}
#: (pipeline class, steps, guidance, negative prompt) each editor defaults to.
DEFAULTS = {
    "flux-kontext": ("FluxKontextPipeline", 28, 2.5, None),
    "qwen-image-edit": ("QwenImageEditPlusPipeline", 40, 4.0, " "),
    "flux2-klein": ("Flux2KleinPipeline", 4, 1.0, None),
    "longcat-edit": ("LongCatImageEditPipeline", 50, 4.5, ""),
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every tiny pipeline, saved once for the module."""
    root = tmp_path_factory.mktemp("tiny-editors")
    return {name: build(root / name) for name, build in BUILDERS.items()}


def _photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_come_from_the_model_card(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a hub id is not a local folder here
    cls = ADAPTERS.get(name)
    params = cls(device="cpu").params()
    pipeline, steps, guidance, negative = DEFAULTS[name]
    assert cls.pipeline_class == pipeline
    assert (params["weights"], params["steps"]) == (cls.default_weights, steps)
    assert params["guidance_scale"] == guidance
    assert params["negative_prompt"] == negative and params["image_guidance_scale"] is None
    assert not set(RUNTIME_SETTINGS) & set(params)  # speed settings stay out of the run id
    with pytest.raises(ConfigError, match="has no image guidance"):
        cls(device="cpu", image_guidance_scale=1.5)


@pytest.mark.parametrize("name", NAMES)
def test_a_run_edits_two_real_photos_at_their_own_size(name, tiny, real_edit_dir, tmp_path):
    settings = [arg for key, value in TINY[name].items() for arg in ("-M", f"{key}={value}")]
    res = invoke("run", "--model", name, "--weights", str(tiny[name]), *settings, "--limit", "2",
                 "--batch-size", "2", "--device", "cpu", "--data-dir", str(real_edit_dir),
                 "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    run_dir = Path(res.stdout.strip())
    assert run_dir.name.startswith(f"{name}-real-edit-")
    rows = read_rows(run_dir / "edits.jsonl", EditRow)
    assert [r.status for r in rows] == ["ok", "ok"]
    for row in rows:
        source = Image.open(real_edit_dir / "imgs" / row.source)
        edited = Image.open(run_dir / row.output)
        # the pipeline chose its own size; the edit comes back at the photo's, as the judge compares them
        assert edited.size == source.size == tuple(row.size)
        assert edited.tobytes() != source.convert("RGB").tobytes()
    params = json.loads((run_dir / "manifest.json").read_text())["adapter"]["params"]
    assert params["weights"] == str(tiny[name].resolve()) and params["steps"] == 2
    assert params["resolution"] == TINY[name].get("resolution", 1024)


@pytest.mark.parametrize("name", NAMES)
def test_the_pipeline_gets_the_model_cards_arguments(name, tiny):
    editor = ADAPTERS.get(name)(weights=str(tiny[name]), device="cpu", **TINY[name])
    editor.load()
    editor._pipe = recorder = CallRecorder(editor._pipe)
    source = _photo((96, 64), 3)
    out = editor.edit(source, "add a hat", seed=7)
    assert out.size == source.size
    (call,) = recorder.calls
    assert call["num_inference_steps"] == 2 and call["prompt"] == ["add a hat"]
    assert [g.initial_seed() for g in call["generator"]] == [7]
    expected = {
        "flux-kontext": {"guidance_scale": 2.5, "width": 80, "height": 48, "max_area": 80 * 48,
                         "_auto_resize": False},
        "qwen-image-edit": {"true_cfg_scale": 4.0, "width": 64, "height": 64, "negative_prompt": [" "]},
        "flux2-klein": {"guidance_scale": 1.0, "width": 96, "height": 64},
        "longcat-edit": {"guidance_scale": 4.5},
    }[name]
    assert {k: call[k] for k in expected} == expected
    assert ("negative_prompt" in call) == (name == "qwen-image-edit")  # "" and None: not sent
    assert "guidance_scale" not in call or name != "qwen-image-edit"  # Qwen's is for distilled models only
    # a list of images is several references of one edit, except for Kontext, which batches them
    assert isinstance(call["image"], list) == (name == "flux-kontext")


def test_kontext_sizes_are_its_preferred_resolutions():
    assert kontext_size(1280, 853, 1024) == (1248, 832)
    assert kontext_size(1000, 1000, 1024) == (1024, 1024)
    assert kontext_size(853, 1280, 1024) == (832, 1248)
    assert kontext_size(4000, 1000, 1024) == (1568, 672)  # the widest it knows
    assert kontext_size(1280, 853, 512) == (624, 416)


def test_klein_keeps_the_photo_size_under_its_cap_and_at_least_64_px():
    assert klein_size(612, 408, 1024) == (608, 400)  # under 1 MP: floored to multiples of 16
    assert klein_size(1280, 853, 1024) == (1248, 832)  # over 1 MP: scaled down to it
    assert klein_size(612, 408, 64) == (96, 64)  # the pipeline refuses sides under 64 px
    assert klein_size(40, 30, 1024) == (80, 64)


def test_qwen_weights_take_short_names_of_the_weights_sharing_its_pipeline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cls = ADAPTERS.get("qwen-image-edit")
    assert cls(device="cpu", weights="2509").params()["weights"] == "Qwen/Qwen-Image-Edit-2509"
    assert cls(device="cpu", weights="firered").params()["weights"] == "FireRedTeam/FireRed-Image-Edit-1.1"
    assert cls(device="cpu", weights="firered-1.0").weights == "FireRedTeam/FireRed-Image-Edit-1.0"
    assert cls(device="cpu", weights="some/other").weights == "some/other"


def test_longcat_edits_at_its_own_size_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="always edits at about 1 MP; leave out -M resolution"):
        ADAPTERS.get("longcat-edit")(device="cpu", resolution=512)


@pytest.mark.parametrize("name", ["flux-kontext", "flux2-klein"])
def test_no_negative_prompt_where_the_pipeline_has_none(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="takes no negative prompt"):
        ADAPTERS.get(name)(device="cpu", negative_prompt="blurry")


def test_an_attention_backend_reaches_every_attention_of_the_denoiser(tiny):
    cls = ADAPTERS.get("flux-kontext")
    weights = str(tiny["flux-kontext"])
    editor = cls(weights=weights, device="cpu", attention="_native_math", **TINY["flux-kontext"])
    editor.load()
    backends = {m.processor._attention_backend for m in editor._pipe.transformer.modules()
                if hasattr(getattr(m, "processor", None), "_attention_backend")}
    assert {str(b.value) for b in backends} == {"_native_math"}
    assert editor.edit(_photo((96, 64)), "add a hat", seed=1).size == (96, 64)
    with pytest.raises(ConfigError, match="not a diffusers attention backend"):
        cls(weights=weights, device="cpu", attention="fastest")
