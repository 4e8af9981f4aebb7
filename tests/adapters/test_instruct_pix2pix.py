"""InstructPix2Pix, MagicBrush and HQ-Edit: their released defaults, on a tiny pipeline saved to disk."""

from __future__ import annotations

import pytest
from PIL import Image

from adapters.base import SCHEDULERS
from realedit_bench.errors import WeightsError
from realedit_bench.registry import ADAPTERS
from realedit_bench.runner import run_id_for

#: The settings every run of these editors records (their hash is the default run id).
DEFAULTS = {
    "weights_fingerprint": None, "revision": None, "steps": 100, "guidance_scale": 7.5,
    "image_guidance_scale": 1.5, "resolution": 512,
    "resize": "longer side ~resolution, sides multiples of 64, Lanczos centre fit",
    "scheduler": "euler_ancestral", "negative_prompt": "", "device": "cpu", "dtype": "fp32",
    "generator": "torch.Generator('cpu') per sample",
}


@pytest.mark.parametrize(
    ("name", "weights", "run_id"),
    [
        ("instruct-pix2pix", "timbrooks/instruct-pix2pix", "instruct-pix2pix-real-edit-28184c72"),
        ("magicbrush", "vinesmsuic/magicbrush-jul7", "magicbrush-real-edit-5e91b89f"),
    ],
)
def test_defaults_are_the_edit_scripts_and_keep_their_run_id(name, weights, run_id, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the hub id is not a local folder here
    params = ADAPTERS.get(name)(device="cpu").params()
    assert params == {"weights": weights, **DEFAULTS}
    # runs made before keep resuming: the same settings hash to the same directory
    assert run_id_for(name, "real-edit", params, 0) == run_id


@pytest.fixture(scope="module")
def model(tiny_pix2pix_dir):
    cls = ADAPTERS.get("instruct-pix2pix")
    editor = cls(weights=str(tiny_pix2pix_dir), steps=2, resolution=64, device="cpu")
    editor.load()
    return editor


def test_the_loaded_pipeline_is_the_edit_scripts(model):
    assert type(model._pipe).__name__ == "StableDiffusionInstructPix2PixPipeline"
    assert type(model._pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    assert model._pipe.safety_checker is None  # an evaluation records what the model made


def test_the_edit_has_the_size_of_the_fitted_input(model):
    wide = Image.new("RGB", (200, 50), (200, 30, 30))
    out = model.edit(wide, "make it blue", seed=1)
    assert out.size == (256, 64) and out.mode == "RGB"
    assert out.tobytes() == model.edit(wide, "make it blue", seed=1).tobytes()
    assert out.tobytes() != model.edit(wide, "make it blue", seed=2).tobytes()


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_every_scheduler_name_loads_its_diffusers_class(scheduler, tiny_pix2pix_dir):
    editor = ADAPTERS.get("magicbrush")(weights=str(tiny_pix2pix_dir), scheduler=scheduler, device="cpu")
    editor.load()
    assert type(editor._pipe.scheduler).__name__ == SCHEDULERS[scheduler]


def test_hq_edit_has_its_readmes_settings_and_runs_the_instruct_pix2pix_pipeline(tiny_pix2pix_dir, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = ADAPTERS.get("hq-edit")(device="cpu").params()
    # Its README: 30 Euler-ancestral steps, text guidance 7.0 (not the 1.5 its snippet passes), image 1.5.
    assert params == {**DEFAULTS, "weights": "MudeHui/HQ-Edit", "steps": 30, "guidance_scale": 7.0}
    editor = ADAPTERS.get("hq-edit")(weights=str(tiny_pix2pix_dir), steps=2, resolution=64, device="cpu")
    editor.load()
    assert type(editor._pipe).__name__ == "StableDiffusionInstructPix2PixPipeline"
    assert type(editor._pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    calls = []
    real = editor._pipe.__call__
    monkeypatch.setattr(type(editor._pipe), "__call__",
                        lambda pipe, **kw: calls.append(kw) or real(**kw))
    out = editor.edit(Image.new("RGB", (200, 50), (200, 30, 30)), "make it blue", seed=1)
    assert out.size == (256, 64)  # the aspect is kept (the README squashes to a square)
    [call] = calls
    assert (call["guidance_scale"], call["image_guidance_scale"]) == (7.0, 1.5)
    assert call["num_inference_steps"] == 2


def test_a_missing_single_file_checkpoint_is_one_line(tmp_path):
    editor = ADAPTERS.get("magicbrush")(weights=str(tmp_path / "MagicBrush-epoch-52.ckpt"), device="cpu")
    with pytest.raises(WeightsError, match=r"MagicBrush-epoch-52.ckpt': no such file; pass --weights"):
        editor.load()
