"""The interaction module and its two-way transformer."""

from __future__ import annotations

import math

import torch

from adapters.smartedit.interaction import TEXT_MIX, InteractionConfig, InteractionModule
from adapters.smartedit.two_way import RandomFourierPositions

TINY = InteractionConfig(dim=64, mlp_dim=32, depth=2, downsample=2, text_dim=96, unet_channels=32)


def test_untrained_heads_keep_the_qformer_output_and_add_no_residual():
    torch.manual_seed(0)
    module = InteractionModule(TINY).eval()
    queries = torch.randn(2, 77, 96)
    with torch.no_grad():
        out = module(torch.randn(2, 256, 64), queries, (8, 8))
    assert torch.equal(out.text, queries)
    assert torch.equal(out.residual, torch.zeros(2, 32, 8, 8))


def test_text_is_queries_plus_half_the_modulated_queries_and_residual_has_latent_size():
    torch.manual_seed(0)
    module = InteractionModule(TINY).eval()
    torch.nn.init.normal_(module.text_out.weight)
    torch.nn.init.normal_(module.image_out.weight)
    patches, queries = torch.randn(1, 256, 64), torch.randn(1, 77, 96)
    with torch.no_grad():
        out = module(patches, queries, (6, 10))
        pe = module.position(16, 16).unsqueeze(0)
        q, _ = module.transformer(patches, pe, module.query_in(queries))
        expected = queries + TEXT_MIX * module.text_out(q)
    assert TEXT_MIX == 0.5
    assert torch.allclose(out.text, expected)
    assert out.residual.shape == (1, 32, 6, 10)  # (H/8, W/8), not assumed square


def test_positions_encode_cell_centres_row_major_with_x_first():
    torch.manual_seed(0)
    pe = RandomFourierPositions(4)
    enc = pe(2, 3)
    row, col = 1, 2
    x, y = (col + 0.5) / 3 * 2 - 1, (row + 0.5) / 2 * 2 - 1
    angles = 2 * math.pi * (torch.tensor([x, y]) @ pe.gaussian)
    assert torch.allclose(enc[row * 3 + col], torch.cat([angles.sin(), angles.cos()]), atol=1e-6)
    assert enc.shape == (6, 8)


def test_the_first_block_replaces_the_queries_by_their_self_attention():
    torch.manual_seed(0)
    module = InteractionModule(TINY).eval()
    block = module.transformer.layers[0]
    assert block.first and not module.transformer.layers[1].first
    queries, keys = torch.randn(1, 5, 64), torch.randn(1, 9, 64)
    with torch.no_grad():
        block.norm2 = torch.nn.Identity()  # isolate the self-attention step
        block.norm3 = torch.nn.Identity()
        block.cross_attn_token_to_image.out_proj.weight.zero_()
        block.cross_attn_token_to_image.out_proj.bias.zero_()
        block.mlp.lin2.weight.zero_()
        block.mlp.lin2.bias.zero_()
        q, _ = block(queries, keys, torch.randn(1, 5, 64), torch.randn(1, 9, 64))
        assert torch.allclose(q, block.norm1(block.self_attn(queries, queries, queries)), atol=1e-6)
