"""The ``hive`` editor: released-style LDM checkpoints through diffusers' single-file loader."""

from __future__ import annotations

import hashlib
import json

import pytest
import tiny_hive
import torch
from cli_runner import invoke
from PIL import Image
from safetensors.torch import save_file

from adapters.hive.prompt import CONDITION_SUFFIX
from realedit_bench.errors import ConfigError, WeightsError
from realedit_bench.jsonio import read_rows
from realedit_bench.registry import ADAPTERS
from realedit_bench.schema import EditRow

TINY = ["-M", "steps=2", "-M", "resolution=64", "--device", "cpu"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One realedit cache for the module: each checkpoint is converted (in a child process) once."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setenv("REALEDIT_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def v1(tmp_path_factory, cache) -> tiny_hive.TinyHive:
    return tiny_hive.build_released(tmp_path_factory.mktemp("hive"), "hive_rw_condition.ckpt")


def _hive(release, **kw):
    return ADAPTERS.get("hive")(weights=str(release.ckpt), config=str(release.config), steps=2,
                                resolution=64, device="cpu", **kw)


def _same(module, reference) -> bool:
    got, expected = module.state_dict(), reference.state_dict()
    return set(got) == set(expected) and all(torch.equal(got[k], expected[k]) for k in expected)


def test_realedit_run_edits_two_real_edit_samples(v1, real_edit_dir, tmp_path):
    res = invoke("run", "--model", "hive", "--weights", str(v1.ckpt), "-M", f"config={v1.config}", *TINY,
                 "--limit", "2", "--data-dir", str(real_edit_dir), "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    rows = read_rows(run_dir / "edits.jsonl", EditRow)
    assert [r.status for r in rows] == ["ok", "ok"]
    assert all(s % 64 == 0 for r in rows for s in Image.open(run_dir / r.output).size)
    params = json.loads((run_dir / "manifest.json").read_text())["adapter"]["params"]
    assert params["variant"] == "condition" and params["ema"] == "applied"
    assert params["source_sha256"] == hashlib.sha256(v1.ckpt.read_bytes()).hexdigest()
    assert (params["steps"], params["guidance_scale"], params["image_guidance_scale"]) == (2, 7.5, 1.5)


def test_the_single_file_loader_takes_the_ema_unet_and_the_released_vae_and_text_encoder(v1):
    model = _hive(v1)
    model.load()
    pipe = model._pipe
    assert _same(pipe.unet, v1.ema_unet) and not _same(pipe.unet, v1.pipe.unet)  # EMA, not the raw weights
    assert _same(pipe.vae, v1.pipe.vae) and _same(pipe.text_encoder, v1.pipe.text_encoder)
    assert type(pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"


def test_a_v2_checkpoint_reads_open_clip_at_its_penultimate_layer(tmp_path, cache):
    v2 = tiny_hive.build_released(tmp_path, "hive_v2_rw.ckpt", v2=True)
    model = _hive(v2)
    model.load()
    text = v2.open_clip_text.eval()
    ids = torch.tensor([[49406, 320, 1929, 49407] + [0] * 73])
    with torch.no_grad():
        x, mask = text._embeds(ids)
        for block in text.transformer.resblocks[:-1]:  # HIVE v2 conditions on the penultimate layer
            x = block(x, attn_mask=mask)
        expected = text.ln_final(x)
        got = model._pipe.text_encoder(ids)[0]
    assert torch.allclose(got, expected, atol=1e-5)
    assert _same(model._pipe.unet, v2.ema_unet) and model.variant == "weighted"


def test_the_condition_variant_appends_the_best_score_to_the_instruction(v1):
    assert _hive(v1).prompt("add a hat") == "add a hat" + CONDITION_SUFFIX
    assert _hive(v1, variant="weighted").prompt("add a hat") == "add a hat"


def test_without_weights_the_line_names_the_url_of_the_checkpoint_asked_for():
    url = "https://storage.googleapis.com/sfr-hive-data-research/checkpoints/"
    first = rf"^hive needs a released checkpoint: download {url}hive_rw\.ckpt "
    with pytest.raises(WeightsError, match=first):
        ADAPTERS.get("hive")()
    with pytest.raises(WeightsError, match=rf"download {url}hive_v2_rw_condition.ckpt .* --weights FILE$"):
        ADAPTERS.get("hive")(version="v2", variant="condition")
    with pytest.raises(WeightsError, match=r"no such \.ckpt or \.safetensors file; download"):
        ADAPTERS.get("hive")(weights="/no/such/hive_rw.ckpt")


def test_the_version_is_read_from_the_text_context_width(tmp_path, cache):
    path = tmp_path / "hive_v2.safetensors"
    key = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    save_file({key: torch.zeros(320, 1024)}, str(path))
    assert ADAPTERS.get("hive")(weights=str(path), device="cpu").params()["version"] == "v2"
    with pytest.raises(ConfigError, match="hive_v2.safetensors is HIVE v2; pass -M version=v2"):
        ADAPTERS.get("hive")(weights=str(path), version="v1", device="cpu")
    save_file({key: torch.zeros(320, 40)}, str(path))
    with pytest.raises(ConfigError, match="cannot tell the HIVE version .* pass -M version=v1 or v2"):
        ADAPTERS.get("hive")(weights=str(path), device="cpu")


def test_a_safetensors_with_raw_and_ema_weights_is_refused(tmp_path):
    path = tmp_path / "raw.safetensors"
    save_file({"model_ema.diffusion_modelout2bias": torch.zeros(4)}, str(path))
    with pytest.raises(WeightsError, match="holds EMA weights beside the raw ones; convert the original"):
        ADAPTERS.get("hive")(weights=str(path), device="cpu")


def test_bad_settings_are_one_line(v1):
    with pytest.raises(ConfigError, match="-M version must be one of v1, v2"):
        ADAPTERS.get("hive")(weights=str(v1.ckpt), version="v3")
    with pytest.raises(ConfigError, match="-M variant must be one of weighted, condition"):
        ADAPTERS.get("hive")(weights=str(v1.ckpt), variant="reward")
    with pytest.raises(ConfigError, match="not a diffusers pipeline folder"):
        ADAPTERS.get("hive")(weights=str(v1.ckpt), config=str(v1.ckpt.parent / "absent"))


def test_models_lists_hive_with_its_defaults():
    from realedit_bench.api import list_models

    (row,) = [r for r in list_models().rows if r["name"] == "hive"]
    numbers = [row[k] for k in ("steps", "text guid.", "image guid.", "resolution")]
    assert numbers == ["100", "7.5", "1.5", "512"]
