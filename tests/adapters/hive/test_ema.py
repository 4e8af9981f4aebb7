"""EMA weights moved onto the UNet keys."""

from __future__ import annotations

import pytest
import tiny_hive
import torch

from adapters.hive.ema import apply_ema, ema_name
from realedit_bench.errors import WeightsError


def test_ema_names_drop_the_dots_after_model_ema():
    assert (
        ema_name("model.diffusion_model.input_blocks.0.0.weight")
        == "model_ema.diffusion_modelinput_blocks00weight"
    )


def test_ema_values_replace_the_unet_weights_and_the_ema_entries_go():
    result = apply_ema(tiny_hive.state_dict())
    assert result.applied
    for key in tiny_hive.UNET_KEYS:
        assert torch.equal(result.state[key], torch.full((2, 3), 2.0))
    assert not [k for k in result.state if k.startswith("model_ema")]
    assert torch.equal(result.state["first_stage_model.decoder.conv_in.weight"], torch.zeros(4, 4))


def test_a_checkpoint_without_ema_is_kept_as_it_is():
    state = tiny_hive.state_dict(with_ema=False)
    result = apply_ema(state)
    assert not result.applied
    assert result.state.keys() == state.keys()


def test_incomplete_or_stray_ema_weights_are_refused():
    state = tiny_hive.state_dict()
    del state[ema_name(tiny_hive.UNET_KEYS[1])]
    with pytest.raises(
        WeightsError, match="EMA weights are incomplete: no 'model_ema.diffusion_modelinput_blocks11"
    ):
        apply_ema(state)
    state = tiny_hive.state_dict()
    state["model_ema.diffusion_modelextra"] = torch.ones(1)
    with pytest.raises(WeightsError, match="'model_ema.diffusion_modelextra' that matches no UNet weight"):
        apply_ema(state)
