"""The reward-conditioned U-Net (both variants) on tiny random-weight models, CPU, offline."""

from __future__ import annotations

import copy
from collections import Counter

import pytest
import torch
from tiny_models import build_tiny_pix2pix_components, build_tiny_unet

from realedit_bench.errors import ConfigError, WeightsError
from reward_model.mrc import (
    NO_FAILURE_TEXT,
    RELEASED_KEY_SHAPES,
    RewardConfig,
    RewardUNet,
    encode_reward_text,
    join_failure_texts,
    score_encoding,
)

TEXT_DIM = 32  # width of the tiny CLIP text encoder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return build_tiny_pix2pix_components(tmp_path_factory.mktemp("tiny_reward"), seed=0)


@pytest.fixture(scope="module")
def texts(tiny: dict):
    with torch.no_grad():
        return encode_reward_text(
            tiny["tokenizer"], tiny["text_encoder"], [NO_FAILURE_TEXT, "blurry; the dog moved; dark"]
        )


def make(tiny: dict, **kw) -> RewardUNet:
    torch.manual_seed(1)
    model = RewardUNet.from_unet(copy.deepcopy(tiny["unet"]), RewardConfig(**kw), TEXT_DIM)
    return model.eval()


def inputs(batch: int = 2, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "sample": torch.randn(batch, 8, 16, 16, generator=g),
        "timestep": torch.tensor([10, 700][:batch]),
        "encoder_hidden_states": torch.randn(batch, 77, TEXT_DIM, generator=g),
    }


def run(model: RewardUNet, texts, scores, **kw) -> torch.Tensor:
    with torch.no_grad():
        return model(
            **inputs(),
            reward_scores=scores,
            reward_text_hidden=texts.hidden,
            reward_text_pooled=texts.pooled,
            **kw,
        ).sample


SCORES = torch.tensor([[5.0, 5.0, 5.0], [1.0, 2.0, 3.0]])


def test_join_failure_texts_matches_released_layout():
    assert join_failure_texts("", " ", "None") == NO_FAILURE_TEXT
    assert (
        join_failure_texts("cat not added", "sky changed", "blurry") == "cat not added; sky changed; blurry"
    )


def test_encode_reward_text_shapes(texts):
    assert texts.hidden.shape == (2, 77, TEXT_DIM)
    assert texts.pooled.shape == (2, TEXT_DIM)
    assert not torch.equal(texts.pooled[0], texts.pooled[1])


def test_score_encoding_is_the_timestep_encoding_per_score():
    from diffusers.models.embeddings import Timesteps

    scores = torch.tensor([[5.0, 0.0, 3.0]])
    enc = score_encoding(scores, 256)
    ref = Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)(scores.flatten()).reshape(1, -1)
    assert enc.shape == (1, 768)
    torch.testing.assert_close(enc, ref)


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_forward_shape_and_scores_change_output(tiny, texts, variant):
    model = make(tiny, variant=variant)
    out = run(model, texts, SCORES)
    assert out.shape == (2, 4, 16, 16)
    assert torch.isfinite(out).all()
    low = run(model, texts, torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]]))
    # sample 0's scores changed, sample 1's did not: only sample 0's prediction moves
    assert (out[0] - low[0]).abs().max() > 1e-4
    torch.testing.assert_close(out[1], low[1])
    # the reward really goes through the U-Net: the plain U-Net gives a different prediction
    with torch.no_grad():
        plain = model.unet(**inputs()).sample
    assert (plain - out).abs().max() > 1e-4
    # hooks are removed after the call: the wrapped U-Net alone is unchanged afterwards
    with torch.no_grad():
        torch.testing.assert_close(model.unet(**inputs()).sample, plain)
        torch.testing.assert_close(tiny["unet"](**inputs()).sample, plain)


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_failure_text_changes_output(tiny, texts, variant):
    model = make(tiny, variant=variant)
    out = run(model, texts, SCORES)
    swapped = type(texts)(hidden=texts.hidden.flip(0), pooled=texts.pooled.flip(0))
    other = run(model, swapped, SCORES)
    assert (out - other).abs().max() > 1e-4


@pytest.mark.parametrize("variant", ["released", "paper"])
@pytest.mark.parametrize(
    "switches",
    [
        {"use_scores": False},
        {"use_text": False},
        {"use_attention": False},
        {"use_addition": False},
    ],
)
def test_ablations_build_only_what_they_use_and_train(tiny, texts, variant, switches):
    model = make(tiny, variant=variant, **switches).train()
    kw = {}
    if switches.get("use_text") is False:  # no text given at all: the model must not need it
        texts = type(texts)(hidden=None, pooled=None)
    out = model(
        **inputs(),
        reward_scores=SCORES,
        reward_text_hidden=texts.hidden,
        reward_text_pooled=texts.pooled,
        **kw,
    ).sample
    out.pow(2).mean().backward()
    # every added parameter takes part (unused ones would break DistributedDataParallel)
    unused = [n for n, p in model.named_parameters() if not n.startswith("unet.") and p.grad is None]
    assert unused == []
    names = set(model.reward_state_dict())
    if switches.get("use_attention") is False:
        assert not any(n.startswith(("ca.", "proj_deal.")) for n in names)
    if switches.get("use_scores") is False:
        assert not any(n.startswith(("add_embedding", "score_mlp")) for n in names)


def test_score_scale_is_read_the_same_for_all_batch_rows(tiny, texts):
    """One condition row serves a tiled batch (classifier-free guidance triples the batch)."""
    model = make(tiny, variant="released")
    x = inputs(batch=2)
    with torch.no_grad():
        one = model(**x, reward_scores=SCORES[:1], reward_text_pooled=texts.pooled[:1]).sample
        two = model(
            **x, reward_scores=SCORES[:1].repeat(2, 1), reward_text_pooled=texts.pooled[:1].repeat(2, 1)
        ).sample
    torch.testing.assert_close(one, two)
    with pytest.raises(ValueError, match="does not divide"):
        model(**inputs(batch=2), reward_scores=torch.ones(3, 3), reward_text_pooled=texts.pooled[:1])


def test_bad_configs_are_user_errors():
    with pytest.raises(ConfigError):
        RewardConfig(use_scores=False, use_text=False)
    with pytest.raises(ConfigError):
        RewardConfig(use_attention=False, use_addition=False)
    with pytest.raises(ConfigError):
        RewardConfig(variant="other")  # type: ignore[arg-type]


def test_missing_text_is_an_error(tiny):
    model = make(tiny, variant="released")
    with pytest.raises(ValueError, match="reward_text_pooled"):
        model(**inputs(), reward_scores=SCORES)


def test_full_size_released_keys_match_the_issue_facts():
    """At SD-1.5 size (built on the meta device) our modules have exactly the released extra keys."""
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    # the issue's facts, written out independently of released_key_shapes()
    facts = {
        "add_embedding.linear_1.weight": (1280, 768),
        "add_embedding.linear_2.weight": (1280, 1280),
        "add_embedding2.linear_1.weight": (320, 768),
        "add_embedding2.linear_2.weight": (320, 320),
        "text_linear.weight": (320, 768),
        "text_linear2.weight": (1280, 768),
        "proj_deal.norm.weight": (320,),
        "proj_deal.proj_in.weight": (320, 320, 1, 1),
        "proj_deal.proj_out.weight": (320, 320, 1, 1),
        "ca.attention.self.query.weight": (320, 320),
        "ca.hidden_intermediate.dense.weight": (320, 320),  # feed-forward 320
        "ca.output.LayerNorm.weight": (320,),
    }
    for key, shape in facts.items():
        assert RELEASED_KEY_SHAPES[key] == shape, key
    with init_empty_weights():
        unet = UNet2DConditionModel(
            block_out_channels=(320, 640, 1280, 1280),
            cross_attention_dim=768,
            in_channels=8,
            attention_head_dim=8,
            layers_per_block=2,
            sample_size=64,
        )
        model = RewardUNet.from_unet(unet, RewardConfig(), text_dim=768)
    ours = {k: tuple(v.shape) for k, v in model.reward_state_dict().items()}
    assert ours == RELEASED_KEY_SHAPES
    assert model.ca.attention._modules["self"].heads == 8


def test_synthetic_released_state_dict_loads_with_no_missing_or_unexpected_keys(tiny, texts, tmp_path):
    """A checkpoint in the authors' layout (unet/ with extra keys, no reward/) loads as the released
    variant."""
    from safetensors.torch import save_file

    from reward_model.mrc import released_key_shapes

    unet = copy.deepcopy(tiny["unet"])
    c0 = unet.config.block_out_channels[0]
    t_dim = unet.time_embedding.linear_2.out_features
    g = torch.Generator().manual_seed(3)
    extra = {
        k: torch.randn(s, generator=g) * 0.05 for k, s in released_key_shapes(c0, t_dim, TEXT_DIM).items()
    }
    state = {**unet.state_dict(), **extra}
    fresh = make(tiny, variant="released")
    missing, unexpected = fresh.load_released_state_dict(state)
    assert (missing, unexpected) == ([], [])
    torch.testing.assert_close(fresh.text_linear2.weight, extra["text_linear2.weight"])
    with pytest.raises(RuntimeError, match="unexpected"):
        make(tiny, variant="released").load_released_state_dict({**state, "bogus.weight": torch.zeros(1)})

    # the same weights written in the released folder layout
    unet.save_pretrained(tmp_path / "unet")
    save_file(
        {k: v.contiguous() for k, v in state.items()},
        str(tmp_path / "unet" / "diffusion_pytorch_model.safetensors"),
    )
    loaded = RewardUNet.from_pretrained(tmp_path).eval()
    assert loaded.reward_config.variant == "released" and loaded.text_dim == TEXT_DIM
    torch.testing.assert_close(run(loaded, texts, SCORES), run(fresh, texts, SCORES))


def test_plain_unet_directory_is_refused(tiny, tmp_path):
    tiny["unet"].save_pretrained(tmp_path / "unet")
    with pytest.raises(WeightsError, match="plain U-Net"):
        RewardUNet.from_pretrained(tmp_path)
    with pytest.raises(WeightsError, match="no reward U-Net"):
        RewardUNet.from_pretrained(tmp_path / "nothing")


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_save_and_from_pretrained_round_trip_exactly(tiny, texts, tmp_path, variant):
    model = make(tiny, variant=variant)
    with torch.no_grad():  # move the added weights away from their init so a lost tensor shows
        for name, p in model.named_parameters():
            if not name.startswith("unet."):
                p.add_(torch.randn_like(p) * 0.01)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "unet" / "config.json").is_file() and (tmp_path / "reward" / "config.json").is_file()
    loaded = RewardUNet.from_pretrained(tmp_path).eval()
    assert loaded.reward_config == model.reward_config
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2), k1
    assert torch.equal(run(model, texts, SCORES), run(loaded, texts, SCORES))


def test_gradient_checkpointing_gives_the_same_gradients(tiny, texts):
    """The hooks sit outside the checkpointed segments: checkpointing must not change any gradient."""
    grads = []
    for ckpt in (False, True):
        model = make(tiny, variant="released", dropout=0.0).train()
        if ckpt:
            model.enable_gradient_checkpointing()
            assert model.unet.is_gradient_checkpointing
        out = model(**inputs(), reward_scores=SCORES, reward_text_pooled=texts.pooled).sample
        out.pow(2).mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert any(k.startswith("ca.") for k in grads[0])
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-6, msg=k)


def _count_calls(model: torch.nn.Module, kw: dict) -> tuple[Counter, Counter]:
    """Forward calls of every module of ``model`` during one forward, and during its backward."""
    counts = {"fwd": Counter(), "bwd": Counter()}
    phase = ["fwd"]
    handles = [
        m.register_forward_pre_hook(lambda _m, _a, name=name: counts[phase[0]].update([name]))
        for name, m in model.named_modules()
        if name
    ]
    try:
        out = model(**inputs(), **kw).sample
        phase[0] = "bwd"
        out.pow(2).mean().backward()
    finally:
        for h in handles:
            h.remove()
    return counts["fwd"], counts["bwd"]


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_gradient_checkpointing_recomputes_the_unet_only(tiny, texts, variant):
    """Under checkpointing each reward module runs once per forward and never in the backward, the
    U-Net recomputes exactly what the plain U-Net recomputes (the hooks disable no checkpoint), and no
    hook or reward tensor outlives the step. A GPU run once read 1.12 / 1.27 overhead with checkpointing
    against 1.02 / 0.96 without; this pins the reward's share of the work to be the same in both modes."""
    import weakref

    plain = copy.deepcopy(tiny["unet"]).train()
    plain.enable_gradient_checkpointing()
    plain_fwd, plain_bwd = _count_calls(plain, {})
    assert sum(plain_bwd.values()) > 0  # the recomputation is visible to the counter

    model = make(tiny, variant=variant).train()
    model.enable_gradient_checkpointing()
    kept: list[weakref.ref] = []
    injection = model.reward_injection

    def spy(*args, **kwargs):
        inj = injection(*args, **kwargs)
        for t in inj:
            kept.extend(weakref.ref(x) for x in (t if isinstance(t, list) else [t]) if x is not None)
        return inj

    model.reward_injection = spy
    kw = {"reward_scores": SCORES, "reward_text_hidden": texts.hidden, "reward_text_pooled": texts.pooled}
    fwd, bwd = _count_calls(model, kw)
    reward = {n for n, _ in model.named_modules() if n and not n.startswith("unet")}
    # every leaf module runs (type_embedding is read through its weight; containers such as proj_deal
    # run through their parts), and none more than once
    leaves = {n for n, m in model.named_modules() if n in reward and not list(m.children())} - {
        "type_embedding"
    }
    assert leaves and {n: fwd[n] for n in leaves} == dict.fromkeys(leaves, 1)
    assert max(fwd[n] for n in reward) == 1
    assert not any(bwd[n] for n in reward), {n: bwd[n] for n in reward if bwd[n]}
    assert {f"unet.{n}": c for n, c in plain_bwd.items()} == {
        n: c for n, c in bwd.items() if n.startswith("unet.")
    }
    assert {f"unet.{n}": c for n, c in plain_fwd.items()} == {
        n: c for n, c in fwd.items() if n.startswith("unet.")
    }
    assert not any(m._forward_hooks for m in model.modules())
    assert kept and all(ref() is None for ref in kept)


def test_reward_encoder_layer_equals_transformers_bert_cross_attention_layer():
    """Our ``ca`` is a post-LN BERT layer used as cross-attention: transformers' BERT modules, given our
    state dict under the released key names, compute the same output."""
    from torch import nn
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertAttention, BertIntermediate, BertOutput

    from reward_model.mrc import RewardCrossLayer

    cfg = BertConfig(
        hidden_size=32,
        num_attention_heads=8,
        intermediate_size=32,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        attention_probs_dropout_prob=0.0,
        hidden_dropout_prob=0.0,
    )
    cfg._attn_implementation = "eager"

    class Reference(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention = BertAttention(cfg, is_cross_attention=True)
            self.hidden_intermediate = BertIntermediate(cfg)
            self.output = BertOutput(cfg)

        def forward(self, q, kv):
            a, _ = self.attention(q, encoder_hidden_states=kv)
            return self.output(self.hidden_intermediate(a), a)

    torch.manual_seed(0)
    ours = RewardCrossLayer(32, 8, 32, dropout=0.1).eval()
    ref = Reference().eval()
    ref.load_state_dict(ours.state_dict(), strict=True)  # same key names, nothing missing or extra
    q, kv = torch.randn(2, 64, 32), torch.randn(2, 2, 32)
    torch.testing.assert_close(ours(q, kv), ref(q, kv), rtol=1e-5, atol=1e-5)


def test_released_time_embedding_addition_equals_an_identity_class_embedding(texts):
    """Independent check of the time-embedding hook: with attention off, the released variant equals a
    plain U-Net whose identity class embedding receives add_embedding(PE(scores)) + text_linear2(pooled)."""
    torch.manual_seed(0)
    unet = build_tiny_unet(class_embed_type="identity").eval()
    model = RewardUNet.from_unet(unet, RewardConfig(use_attention=False), TEXT_DIM).eval()
    with torch.no_grad():
        expected_add = model.add_embedding(score_encoding(SCORES, 256)) + model.text_linear2(texts.pooled)
        zero = torch.zeros(2, unet.time_embedding.linear_2.out_features)
        ours = model(
            **inputs(), reward_scores=SCORES, reward_text_pooled=texts.pooled, class_labels=zero
        ).sample
        ref = unet(**inputs(), class_labels=expected_add).sample
        plain = unet(**inputs(), class_labels=zero).sample
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert (ours - plain).abs().max() > 1e-4


@pytest.mark.parametrize("variant", ["released", "paper"])
def test_zero_initialised_outputs_leave_the_unet_output_bit_identical(tiny, texts, variant):
    model = make(tiny, variant=variant).zero_init_outputs()
    with torch.no_grad():
        plain = model.unet(**inputs()).sample
    assert torch.equal(run(model, texts, SCORES), plain)
    assert torch.equal(run(model, texts, torch.zeros(2, 3)), plain)  # no score reaches the output
    with torch.no_grad():  # the other modules stayed random: moving one output layer changes the output
        model.proj_deal.proj_out.bias.add_(0.1)
    assert not torch.equal(run(model, texts, SCORES), plain)


def test_the_image_residual_is_added_before_the_reward_encoder_reads_the_features(tiny, texts):
    model = make(tiny)
    residual = torch.randn(2, 32, 16, 16, generator=torch.Generator().manual_seed(3))
    seen = {}
    model.unet.conv_in.register_forward_hook(lambda _m, _a, out: seen.__setitem__("conv_in", out))
    model.proj_deal.norm.register_forward_hook(lambda _m, args, _o: seen.__setitem__("encoder_in", args[0]))
    with_residual = run(model, texts, SCORES, image_residual=residual)
    assert torch.equal(seen["encoder_in"], seen["conv_in"] + residual)
    assert not torch.equal(with_residual, run(model, texts, SCORES))


def test_a_residual_for_the_samples_reaches_every_guidance_branch(tiny, texts):
    model = make(tiny)
    residual = torch.randn(2, 32, 16, 16, generator=torch.Generator().manual_seed(4))
    seen = {}
    model.unet.conv_in.register_forward_hook(lambda _m, _a, out: seen.__setitem__("conv_in", out))
    model.proj_deal.norm.register_forward_hook(lambda _m, args, _o: seen.__setitem__("encoder_in", args[0]))
    three = {k: torch.cat([v] * 3) for k, v in inputs().items()}  # the pipeline's [cond, uncond, uncond]
    with torch.no_grad():
        model(**three, reward_scores=SCORES[:1], reward_text_pooled=texts.pooled[:1], image_residual=residual)
    assert torch.equal(seen["encoder_in"], seen["conv_in"] + residual.repeat(3, 1, 1, 1))
