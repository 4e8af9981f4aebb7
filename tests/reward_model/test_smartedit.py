"""Reward-SmartEdit on tiny SmartEdit parts: a few training steps, the trained model run through
``realedit run``, and the zero-initialised reward modules leaving SmartEdit's edit unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from cli_runner import invoke
from PIL import Image
from reward_fixtures import (
    _one_thread_and_fresh_accelerate,  # noqa: F401  (autouse fixture)
    make_rewardedit_json,
    make_triplet_folder,
)
from tiny_smartedit import build_reward_folder

from adapters.smartedit.convert import converted_sha256
from realedit_bench.errors import ConfigError, WeightsError
from realedit_bench.jsonio import read_rows
from realedit_bench.registry import ADAPTERS
from realedit_bench.schema import EditRow

TINY = {"steps": 2, "resolution": 64, "device": "cpu"}


def _parts(tiny) -> dict[str, str]:
    return {"llm_base": str(tiny.llm_base), "clip": str(tiny.clip), "ip2p": str(tiny.pix2pix)}


@pytest.fixture(scope="module")
def trained(tiny_smartedit, tmp_path_factory) -> Path:
    """``realedit reward train --base smartedit`` for two steps on four tiny triplets."""
    root = tmp_path_factory.mktemp("reward_smartedit")
    make_triplet_folder(root / "triplets", n=4)
    make_rewardedit_json(root / "rewards.json", [f"s{i}" for i in range(4)])
    parts = [arg for key, value in _parts(tiny_smartedit).items() for arg in ("-M", f"{key}={value}")]
    res = invoke(
        "reward", "train", "--base", "smartedit", "--pretrained", str(tiny_smartedit.converted), *parts,
        "--rewards", str(root / "rewards.json"), "--triplets", str(root / "triplets"),
        "--out", str(root / "out"),
        "--resolution", "32", "--batch-size", "2", "--gradient-accumulation-steps", "1", "--max-steps", "2",
        "--learning-rate", "1e-3", "--checkpoint-every", "0", "--num-workers", "0",
        "--no-gradient-checkpointing", "--report-to", "none",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    pipeline = root / "out" / "pipeline"
    assert f"run it: realedit run --model reward-smartedit --weights {pipeline}" in res.stdout
    return root / "out"


def test_training_on_smartedit_trains_its_unet_and_the_reward_modules(trained, tiny_smartedit):
    from adapters.smartedit.base_parts import load_pix2pix_parts
    from adapters.smartedit.loading import load_unet
    from reward_model.mrc import RewardUNet

    settings = json.loads((trained / "training_settings.json").read_text())
    assert settings["config"]["base"] == "smartedit"
    assert settings["config"]["base_settings"]["llm_base"] == str(tiny_smartedit.llm_base)
    record = json.loads((trained / "pipeline" / "smartedit.json").read_text())
    assert record["smartedit_weights"] == str(tiny_smartedit.converted.resolve())
    assert record["weights_sha256"] == converted_sha256(tiny_smartedit.converted)
    model = RewardUNet.from_pretrained(trained / "pipeline")
    config = load_pix2pix_parts(str(tiny_smartedit.pix2pix)).unet_config
    released = load_unet(tiny_smartedit.converted, config, torch.float32).state_dict()
    assert any(not torch.equal(released[k], v) for k, v in model.unet.state_dict().items())
    assert model.proj_deal.proj_out.weight.abs().sum() > 0  # moved away from its zero start
    assert not list((trained / "pipeline").glob("**/llm-*.safetensors"))  # the frozen LLM is not copied


def test_the_trained_model_edits_two_real_edit_samples(trained, real_edit_dir, tmp_path):
    res = invoke("run", "--model", "reward-smartedit", "--weights", str(trained / "pipeline"),
                 "-M", "steps=2", "-M", "resolution=64", "-M", "reward_scores=3,3,3", "--device", "cpu",
                 "--limit", "2", "--batch-size", "2", "--data-dir", str(real_edit_dir),
                 "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    rows = read_rows(run_dir / "edits.jsonl", EditRow)
    assert [r.status for r in rows] == ["ok", "ok"]
    params = json.loads((run_dir / "manifest.json").read_text())["adapter"]["params"]
    assert params["reward_scores"] == [3.0, 3.0, 3.0] and params["reward_text"] == "None; None; None"
    assert params["ip2p"] == str(trained / "pipeline")  # InstructPix2Pix's parts travel with the weights


def test_zero_initialised_reward_modules_give_smartedit_s_edit_exactly(tiny_smartedit, tmp_path):
    source = Image.new("RGB", (72, 56), (30, 120, 200))
    smartedit = ADAPTERS.get("smartedit")(weights=str(tiny_smartedit.converted), **_parts(tiny_smartedit),
                                          **TINY)
    expected = smartedit.edit(source, "make the sky red", seed=7).tobytes()
    folder = build_reward_folder(tiny_smartedit, tmp_path / "zero")
    for scores in ("5,5,5", "0,0,0"):
        reward = ADAPTERS.get("reward-smartedit")(weights=str(folder), reward_scores=scores, **TINY)
        assert reward.edit(source, "make the sky red", seed=7).tobytes() == expected
    moved = build_reward_folder(tiny_smartedit, tmp_path / "moved", perturb=True)
    reward = ADAPTERS.get("reward-smartedit")(weights=str(moved), **TINY)
    assert reward.edit(source, "make the sky red", seed=7).tobytes() != expected  # the module does act


def test_without_weights_run_exits_2_with_one_line_naming_the_training_command(real_edit_dir, tmp_path):
    res = invoke("run", "--model", "reward-smartedit", "--data-dir", str(real_edit_dir), "--limit", "1",
                 "--out", str(tmp_path))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "no Reward-SmartEdit weights were released" in res.stderr
    assert "realedit reward train --base smartedit --pretrained" in res.stderr
    assert not list(tmp_path.iterdir())


def test_smartedit_weights_other_than_the_trained_ones_are_refused(trained, tmp_path):
    folder = tmp_path / "pipeline"
    shutil.copytree(trained / "pipeline", folder)
    record = json.loads((folder / "smartedit.json").read_text())
    record["weights_sha256"]["llm-00001.safetensors"] = "0" * 64
    (folder / "smartedit.json").write_text(json.dumps(record))
    with pytest.raises(WeightsError, match="not those .* was trained on .* pass -M smartedit_weights=DIR"):
        ADAPTERS.get("reward-smartedit")(weights=str(folder), device="cpu")
    (folder / "smartedit.json").unlink()
    with pytest.raises(WeightsError, match="is not a Reward-SmartEdit folder .* --base smartedit"):
        ADAPTERS.get("reward-smartedit")(weights=str(folder), device="cpu")


def test_base_settings_are_checked_before_anything_loads(tiny_smartedit, tmp_path):
    from reward_model.train import TrainConfig, check_config

    rewards = make_rewardedit_json(tmp_path / "r.json", ["s0"])

    def config(**kw):
        base = {"pretrained": str(tiny_smartedit.converted), "output_dir": tmp_path / "o",
                "reward_files": [rewards], "base": "smartedit"}
        return TrainConfig(**{**base, **kw})

    with pytest.raises(ConfigError, match="-M steps: reward train --base smartedit takes -M size, llm_base"):
        check_config(config(base_settings={"steps": "2"}))
    with pytest.raises(ConfigError, match="--pretrained: .* is not a SmartEdit release folder"):
        check_config(config(pretrained=str(tmp_path)))
    with pytest.raises(ConfigError, match="--reward-inputs none .* does not apply to --base smartedit"):
        check_config(config(reward_inputs="none"))
    with pytest.raises(ConfigError, match="-M clip: only --base smartedit takes -M settings"):
        check_config(config(base="instruct-pix2pix", base_settings={"clip": "x"}))
