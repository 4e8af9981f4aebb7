"""The conv_in residual hook on a diffusers UNet."""

from __future__ import annotations

import pytest
import tiny_smartedit as ts
import torch

from adapters.smartedit.residual import add_residual, conv_in_residual


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return ts.tiny_unet().eval()


def _run(unet, batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, 8, 8, 8, generator=g)
    context = torch.randn(batch, 5, ts.TEXT_DIM, generator=g)
    with torch.no_grad():
        return unet(sample, 10, encoder_hidden_states=context).sample


def test_a_zero_residual_leaves_the_unet_output_bit_identical(unet):
    plain = _run(unet, 3)
    with conv_in_residual(unet, torch.zeros(1, 32, 8, 8)):
        hooked = _run(unet, 3)
    assert torch.equal(plain, hooked)


def _first_block_input(unet, residual=None):
    """What the first down block receives (the conv_in output, plus the residual when hooked)."""
    seen = []

    def probe(_module, _args, kwargs):
        seen.append(kwargs["hidden_states"].clone())

    handle = unet.down_blocks[0].register_forward_pre_hook(probe, with_kwargs=True)
    try:
        if residual is None:
            _run(unet, 3)
        else:
            with conv_in_residual(unet, residual):
                _run(unet, 3)
    finally:
        handle.remove()
    return seen[0]


def test_the_residual_reaches_all_three_guidance_branches(unet):
    residual = torch.randn(1, 32, 8, 8)
    added = _first_block_input(unet, residual) - _first_block_input(unet)
    assert added.shape[0] == 3
    for branch in added:
        assert torch.allclose(branch, residual[0], atol=1e-6)


def test_each_sample_residual_goes_to_its_rows_in_every_branch():
    out = torch.zeros(6, 2, 1, 1)
    residual = torch.tensor([1.0, 2.0]).view(2, 1, 1, 1).expand(2, 2, 1, 1)
    got = add_residual(out, residual)[:, 0, 0, 0].tolist()
    assert got == [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]  # branches stacked: [text+image, image, none] x B


def test_the_hook_is_removed_after_the_block(unet):
    plain = _run(unet, 3)
    with conv_in_residual(unet, torch.randn(1, 32, 8, 8)):
        pass
    assert torch.equal(_run(unet, 3), plain)
    assert not unet.conv_in._forward_hooks


def test_a_residual_of_the_wrong_size_is_refused(unet):
    with conv_in_residual(unet, torch.zeros(1, 32, 4, 4)), pytest.raises(ValueError, match="does not fit"):
        _run(unet, 3)
