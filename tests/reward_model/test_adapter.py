"""The ``reward-instruct-pix2pix`` adapter on tiny random-weight checkpoints saved and loaded from disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from cli_runner import realedit_cli
from PIL import Image

from realedit_bench.errors import ConfigError, WeightsError
from realedit_bench.jsonio import read_rows
from realedit_bench.registry import ADAPTERS
from realedit_bench.schema import EditRow

TINY = ["-M", "steps=2", "-M", "resolution=64", "--device", "cpu"]


def _perturb(model) -> None:
    """Move the added modules off their init so that a weight lost on the way would show."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("unet."):
                p.add_(torch.randn(p.shape, generator=g) * 0.05)


@pytest.fixture(scope="module")
def reward_dirs(tiny_pix2pix_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two reward checkpoints built from the tiny pipeline: realedit's layout and the authors' layout."""
    from diffusers import StableDiffusionInstructPix2PixPipeline
    from safetensors.torch import save_file

    from reward_model.mrc import RewardConfig, RewardUNet, save_reward_pipeline

    root = tmp_path_factory.mktemp("reward_ckpt")
    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(tiny_pix2pix_dir, safety_checker=None)
    torch.manual_seed(0)
    model = RewardUNet.from_unet(pipe.unet, RewardConfig(variant="released"), text_dim=32)
    _perturb(model)
    ours = save_reward_pipeline(root / "ours", model, pipe)
    # the authors' layout: the same pipeline, the extra keys inside unet/, no reward/ folder
    released = save_reward_pipeline(root / "released", model, pipe)
    state = {**{k: v.contiguous() for k, v in model.unet.state_dict().items()}, **model.reward_state_dict()}
    save_file(state, str(released / "unet" / "diffusion_pytorch_model.safetensors"))
    for f in (released / "reward").iterdir():
        f.unlink()
    (released / "reward").rmdir()
    paper = RewardUNet.from_unet(pipe.unet, RewardConfig(variant="paper"), text_dim=32)
    _perturb(paper)
    save_reward_pipeline(root / "paper", paper, pipe)
    return {"ours": ours, "released": released, "paper": root / "paper", "plain": tiny_pix2pix_dir}


def _edit(weights: Path, image: Image.Image, **kw) -> Image.Image:
    model = ADAPTERS.get("reward-instruct-pix2pix")(
        weights=str(weights), steps=2, resolution=64, device="cpu", **kw
    )
    return model.edit(image, "make it snowy", seed=3)


@pytest.fixture(scope="module")
def source(real_edit_dir: Path) -> Image.Image:
    return Image.open(next(iter(sorted((real_edit_dir / "imgs").iterdir())))).convert("RGB")


def _pixels(im: Image.Image) -> torch.Tensor:
    import numpy as np

    return torch.from_numpy(np.asarray(im, dtype="float32"))


def test_realedit_run_from_a_local_reward_checkpoint(reward_dirs, real_edit_dir, tmp_path):
    res = realedit_cli(
        "run", "--model", "reward-instruct-pix2pix", "--weights", str(reward_dirs["ours"]), "--limit", "2",
        *TINY, "-M", "reward_scores=3,3,3", "--data-dir", str(real_edit_dir), "--out", str(tmp_path),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rows = read_rows(run_dir / "edits.jsonl", EditRow)
    assert [r.status for r in rows] == ["ok", "ok"]
    for r in rows:
        assert Image.open(run_dir / r.output).size[0] >= 64
    params = json.loads((run_dir / "manifest.json").read_text())["adapter"]["params"]
    assert params["reward_scores"] == [3.0, 3.0, 3.0]
    assert params["reward_text"] == "None; None; None"
    assert params["steps"] == 2 and params["scheduler"] == "euler_ancestral"


@pytest.fixture(scope="module")
def edits(reward_dirs, source) -> dict[str, torch.Tensor]:
    """One adapter per reward condition / layout (each load costs seconds on a busy CPU)."""
    best = ADAPTERS.get("reward-instruct-pix2pix")(
        weights=str(reward_dirs["ours"]), steps=2, resolution=64, device="cpu"
    )
    out = {"best": _pixels(best.edit(source, "make it snowy", seed=3)),
           "again": _pixels(best.edit(source, "make it snowy", seed=3))}
    out["low"] = _pixels(_edit(reward_dirs["ours"], source, reward_scores="0,0,0"))
    out["text"] = _pixels(_edit(reward_dirs["ours"], source, reward_text="blurry; the sky changed; noisy"))
    out["released"] = _pixels(_edit(reward_dirs["released"], source))
    return out


def test_reward_condition_reaches_the_pipeline(edits):
    """Scores and text change the edit; the same condition and seed reproduce it exactly."""
    assert torch.equal(edits["best"], edits["again"])
    assert (edits["best"] - edits["low"]).abs().max() > 0
    assert (edits["best"] - edits["text"]).abs().max() > 0


def test_released_layout_loads_and_matches_our_layout(edits):
    """The authors' folder layout (extra keys in unet/) gives the same edit as the same weights in ours."""
    assert torch.equal(edits["best"], edits["released"])


def test_paper_variant_checkpoint_runs(reward_dirs, source):
    model = ADAPTERS.get("reward-instruct-pix2pix")(
        weights=str(reward_dirs["paper"]), steps=2, resolution=64, device="cpu"
    )
    out = model.edit(source, "make it snowy", seed=3)
    assert out.mode == "RGB" and model.reward_config["variant"] == "paper"


def test_defaults_are_the_released_inference_settings():
    cls = ADAPTERS.get("reward-instruct-pix2pix")
    model = cls(device="cpu")  # no loading: the constructor only checks and records settings
    p = model.params()
    assert (p["weights"], p["subfolder"]) == ("Gstar666/Reward-InsPix2Pix", "stage2_reward_instruct_pix2pix")
    assert (p["steps"], p["guidance_scale"], p["image_guidance_scale"], p["resolution"]) == (
        30, 7.5, 1.5, 512)
    assert p["scheduler"] == "euler_ancestral"
    assert p["reward_scores"] == [5.0, 5.0, 5.0] and p["reward_text"] == "None; None; None"


def test_default_settings_keep_their_run_id(tmp_path, monkeypatch):
    from realedit_bench.runner import run_id_for

    monkeypatch.chdir(tmp_path)  # the hub id is not a local folder here
    params = ADAPTERS.get("reward-instruct-pix2pix")(device="cpu").params()
    run_id = run_id_for("reward-instruct-pix2pix", "real-edit", params, 0)
    assert run_id == "reward-instruct-pix2pix-real-edit-d122331a"


def test_bad_settings_and_weights_are_user_errors(reward_dirs, tmp_path):
    cls = ADAPTERS.get("reward-instruct-pix2pix")
    for bad in ("7,1,1", "5,5", "a,b,c"):
        with pytest.raises(ConfigError, match="reward_scores"):
            cls(device="cpu", reward_scores=bad)
    with pytest.raises(ConfigError, match="reward_text"):
        cls(device="cpu", reward_text="  ")
    with pytest.raises(WeightsError, match="no such directory"):
        cls(device="cpu", weights=str(tmp_path / "missing" / "dir"))
    with pytest.raises(WeightsError, match="plain U-Net"):
        cls(weights=str(reward_dirs["plain"]), device="cpu").load()
    with pytest.raises(WeightsError, match="model_index.json"):
        cls(weights=str(tmp_path), device="cpu").load()
    with pytest.raises(WeightsError, match="cannot download"):  # HF_HUB_OFFLINE=1 in tests
        cls(weights="nobody/no-such-reward-model", device="cpu").load()


def test_cli_bad_scores_is_one_line(real_edit_dir, tmp_path):
    res = realedit_cli(
        "run", "--model", "reward-instruct-pix2pix", "-M", "reward_scores=9,9,9", "--limit", "1",
        "--data-dir", str(real_edit_dir), "--out", str(tmp_path),
    )
    assert res.returncode == 2 and "reward_scores" in res.stderr and "Traceback" not in res.stderr


@pytest.fixture(scope="module")
def score_only_dir(tiny_pix2pix_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Weights trained with --reward-inputs score: they never read the failure text."""
    from diffusers import StableDiffusionInstructPix2PixPipeline

    from reward_model.mrc import RewardConfig, RewardUNet, save_reward_pipeline

    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(tiny_pix2pix_dir, safety_checker=None)
    model = RewardUNet.from_unet(pipe.unet, RewardConfig(variant="released", use_text=False), text_dim=32)
    return save_reward_pipeline(tmp_path_factory.mktemp("score_only") / "w", model, pipe)


def test_an_input_the_weights_do_not_read_is_refused_and_not_recorded(score_only_dir, source):
    cls = ADAPTERS.get("reward-instruct-pix2pix")
    with pytest.raises(ConfigError, match="reward_text: .* trained without the failure text"):
        cls(weights=str(score_only_dir), device="cpu", reward_text="blurry; None; None")
    model = cls(weights=str(score_only_dir), steps=2, resolution=64, device="cpu", reward_scores="3,3,3")
    assert model.params()["reward_text"] is None and model.params()["reward_scores"] == [3.0, 3.0, 3.0]
    assert model.edit(source, "make it snowy", seed=3).mode == "RGB"


def test_negative_zero_scores_are_the_same_setting():
    cls = ADAPTERS.get("reward-instruct-pix2pix")
    a, b = cls(device="cpu", reward_scores="-0,0,0"), cls(device="cpu", reward_scores="0,0,0")
    assert json.dumps(a.params(), sort_keys=True) == json.dumps(b.params(), sort_keys=True)


def test_a_hub_download_folder_is_found_under_the_default_subfolder(reward_dirs, tmp_path):
    """What 'huggingface-cli download Gstar666/Reward-InsPix2Pix --local-dir DIR' (the hint) leaves."""
    cls = ADAPTERS.get("reward-instruct-pix2pix")
    (tmp_path / "stage2_reward_instruct_pix2pix").symlink_to(reward_dirs["ours"], target_is_directory=True)
    model = cls(weights=str(tmp_path), device="cpu")
    assert model._local_dir() == tmp_path / "stage2_reward_instruct_pix2pix"


def test_loading_in_the_saved_dtype_does_not_cast(reward_dirs, monkeypatch):
    """diffusers' ModelMixin.to(dtype) warns about its float32 modules on every call: no call when nothing
    changes."""
    from diffusers import UNet2DConditionModel

    from reward_model.mrc import RewardUNet

    casts = []
    real = UNet2DConditionModel.to

    def to(self, *args, **kwargs):
        casts.append((args, kwargs))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "to", to)
    RewardUNet.from_pretrained(reward_dirs["ours"], torch_dtype=torch.float32)
    assert casts == []
    RewardUNet.from_pretrained(reward_dirs["ours"], torch_dtype=torch.bfloat16)
    assert casts == [((torch.bfloat16,), {})]
