"""Multi-reward conditioning of an InstructPix2Pix U-Net: the MRC module and the reward encoder.

Paper: "Multi-Reward as Condition for Instruction-based Image Editing" (ICLR 2025), sections 4.2-4.3.
Two variants share one wrapper, :class:`RewardUNet`, chosen by ``RewardConfig.variant``:

``paper`` (the text of the paper)
    Each of the three scores (following, preserving, quality; 0-5) gets a sinusoidal position encoding;
    the three are concatenated and go through an MLP to one token ``E_s``. The joined failure texts go
    through the diffusion model's own text encoder to ``E_t`` (77 tokens). ``c_R = concat[E_t, E_s]``
    plus a learned type embedding (text / score). The reward encoder, one post-LN transformer block,
    lets the latent tokens after ``conv_in`` attend to ``Linear1(c_R)``; ``Linear2(c_R)`` (mean over
    the tokens, one projection per block width) is added to the output of every U-Net block but the
    last, as drawn in the paper's Figure 5. The mean runs over all 78 tokens (77 text + 1 score, no
    padding mask), so the score reaches this addition at about 1/78 of the text's weight (the paper
    gives no pooling; kept as read so saved checkpoints keep loading; see TRAINING.md section 3).

``released`` (the authors' checkpoint ``Gstar666/Reward-InsPix2Pix``, folder
``stage2_reward_instruct_pix2pix``)
    Each score gets a 256-d timestep encoding (``flip_sin_to_cos=True``, shift 0); the three are
    concatenated to 768. ``add_embedding`` (MLP 768 -> T -> T) and ``text_linear2`` (pooled text,
    D -> T) are added to the time embedding, so every ResNet block sees the reward. ``add_embedding2``
    (MLP 768 -> C0 -> C0) and ``text_linear`` (pooled text, D -> C0) are the two key/value tokens of the
    reward encoder ``ca`` (post-LN BERT-style cross-attention layer, C0 wide, 8 heads, feed-forward C0,
    dropout 0.1, LayerNorm eps 1e-12), which sits between ``conv_in`` and the first down block over
    ``proj_deal`` (GroupNorm + 1x1 conv in, 1x1 conv out, residual). No type embedding, no per-block
    addition.

Both variants wrap an unchanged diffusers ``UNet2DConditionModel`` by composition: the reward enters
through forward hooks registered for the duration of one call (on ``time_embedding``, ``conv_in`` and
the down/mid/up blocks), so the U-Net's own forward pass is reused as it is.

On SmartEdit (Reward-SmartEdit) the U-Net also receives the interaction module's image residual after
``conv_in`` (``image_residual``). The paper puts both residuals there without saying in which order; here
the image residual is added first and the reward encoder reads the sum, so the reward attends to the
features the image condition has already shaped: ``h = conv_in(x) + r_image; h = h + proj_out(ca(...h))``.

Widths follow the wrapped U-Net: ``C0 = block_out_channels[0]`` (320 for SD-1.5), ``T`` = the time
embedding width (1280), ``D`` = the text encoder width (768), ``G = norm_num_groups`` (32),
``S = RewardConfig.score_embed_dim`` (256). Keys the released checkpoint holds beside the standard U-Net
keys (this module's :data:`RELEASED_KEY_SHAPES` writes the same table as code; shapes at SD-1.5 size)::

    add_embedding.linear_1.weight                 [T, 3S]    [1280, 768]
    add_embedding.linear_1.bias                   [T]        [1280]
    add_embedding.linear_2.weight                 [T, T]     [1280, 1280]
    add_embedding.linear_2.bias                   [T]        [1280]
    add_embedding2.linear_1.weight                [C0, 3S]   [320, 768]
    add_embedding2.linear_1.bias                  [C0]       [320]
    add_embedding2.linear_2.weight                [C0, C0]   [320, 320]
    add_embedding2.linear_2.bias                  [C0]       [320]
    text_linear.weight                            [C0, D]    [320, 768]
    text_linear.bias                              [C0]       [320]
    text_linear2.weight                           [T, D]     [1280, 768]
    text_linear2.bias                             [T]        [1280]
    proj_deal.norm.weight / .bias                 [C0]       [320]        GroupNorm(G, C0, eps 1e-6)
    proj_deal.proj_in.weight                      [C0,C0,1,1] [320,320,1,1]
    proj_deal.proj_in.bias                        [C0]       [320]
    proj_deal.proj_out.weight                     [C0,C0,1,1] [320,320,1,1]
    proj_deal.proj_out.bias                       [C0]       [320]
    ca.attention.self.{query,key,value}.weight    [C0, C0]   [320, 320]
    ca.attention.self.{query,key,value}.bias      [C0]       [320]
    ca.attention.output.dense.weight / .bias      [C0, C0] / [C0]
    ca.attention.output.LayerNorm.weight / .bias  [C0]
    ca.hidden_intermediate.dense.weight / .bias   [C0, C0] / [C0]   (feed-forward width = C0)
    ca.output.dense.weight / .bias                [C0, C0] / [C0]
    ca.output.LayerNorm.weight / .bias            [C0]

On disk (:meth:`RewardUNet.save_pretrained`) a reward U-Net is two folders, so that it drops into a
diffusers pipeline directory: ``<dir>/unet`` (the inner U-Net, plain diffusers ``save_pretrained``) and
``<dir>/reward`` (``config.json`` with the reward config and text width, ``reward.safetensors`` with the
added modules). :meth:`RewardUNet.from_pretrained` also reads the authors' layout (``<dir>/unet`` whose
weights hold the extra keys above, no ``reward`` folder) as the released variant.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from realedit_bench.errors import ConfigError, WeightsError

if TYPE_CHECKING:
    from diffusers import UNet2DConditionModel

#: The reward condition the released inference code uses: no failure in any of the three perspectives.
NO_FAILURE_TEXT = "None; None; None"

#: Perspectives in the order the scores and failure texts are given everywhere (RewardEdit-20K order).
PERSPECTIVES = ("following", "preserving", "quality")

#: Name of the folder of the added modules inside a saved reward U-Net, and its files.
REWARD_SUBFOLDER = "reward"
UNET_SUBFOLDER = "unet"
_CONFIG_NAME = "config.json"
_WEIGHTS_NAME = "reward.safetensors"
_FORMAT = "realedit-reward-unet"
_FORMAT_VERSION = 1

#: Top-level module names the released checkpoint adds beside the standard U-Net keys.
RELEASED_MODULES = ("add_embedding", "add_embedding2", "text_linear", "text_linear2", "ca", "proj_deal")

#: Maximum score of a perspective (the judge's 0-5 scale).
MAX_SCORE = 5.0


@dataclass(frozen=True)
class RewardConfig:
    """How the reward condition enters the U-Net (saved with the model).

    Attributes:
        variant: ``paper`` (the paper's text: type embedding, per-block addition) or ``released``
            (the authors' checkpoint: reward added to the time embedding, two key/value tokens).
        use_scores: Condition on the three scores (ablation of the paper's Table 4).
        use_text: Condition on the joined failure texts (Table 4).
        use_attention: Use the reward encoder after ``conv_in`` (ablation of Table 5).
        use_addition: Add the reward to the U-Net: after each block (paper) or to the time embedding
            (released) (Table 5).
        score_embed_dim: Width of the sinusoidal encoding of one score (256 in the release).
        num_heads: Heads of the reward encoder's cross-attention (8 in the release).
        dropout: Dropout of the reward encoder (0.1 in the release).
    """

    variant: Literal["paper", "released"] = "released"
    use_scores: bool = True
    use_text: bool = True
    use_attention: bool = True
    use_addition: bool = True
    score_embed_dim: int = 256
    num_heads: int = 8
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.variant not in ("paper", "released"):
            raise ConfigError(f"reward variant must be 'paper' or 'released', got {self.variant!r}")
        if not (self.use_scores or self.use_text):
            raise ConfigError("the reward condition needs the scores, the text or both (use_scores/use_text)")
        if not (self.use_attention or self.use_addition):
            raise ConfigError(
                "the reward needs a way in: attention, addition or both (use_attention/use_addition)"
            )
        if self.score_embed_dim <= 0 or self.score_embed_dim % 2:
            raise ConfigError(f"score_embed_dim must be a positive even number, got {self.score_embed_dim}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RewardConfig:
        """Build from :meth:`to_dict` output; unknown keys are an error (a newer format)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WeightsError(f"reward config has unknown fields {unknown}; upgrade realedit to read it")
        return cls(**data)


class RewardText(NamedTuple):
    """Text-encoder output for joined failure texts."""

    hidden: Tensor
    """Last hidden state, ``[B, 77, D]`` (the paper variant's ``E_t``)."""
    pooled: Tensor
    """Pooled output (end-of-text token), ``[B, D]`` (what the released variant uses)."""


def join_failure_texts(following: str, preserving: str, quality: str) -> str:
    """Join the three failure descriptions the way the released data loader does (``"a; b; c"``).

    An empty description becomes ``None``, the word the released code uses for "no failure".
    """
    parts = [(text or "").strip() or "None" for text in (following, preserving, quality)]
    return "; ".join(parts)


def encode_reward_text(tokenizer: Any, text_encoder: Any, texts: list[str]) -> RewardText:
    """Encode joined failure texts with the diffusion model's own (frozen) CLIP text encoder.

    Args:
        tokenizer: The pipeline's CLIP tokenizer (padded/truncated to its ``model_max_length``, 77).
        text_encoder: The pipeline's ``CLIPTextModel``.
        texts: One joined text per sample (see :func:`join_failure_texts`).

    Returns:
        ``RewardText(hidden [B, 77, D], pooled [B, D])`` on the text encoder's device. Gradients flow
        only if the caller enables them; wrap in ``torch.no_grad()`` for a frozen encoder.
    """
    ids = tokenizer(
        list(texts),
        max_length=tokenizer.model_max_length,
        padding="max_length",
        truncation=True,
        return_tensors="pt",
    ).input_ids.to(text_encoder.device)
    out = text_encoder(ids)
    return RewardText(hidden=out[0], pooled=out[1])


def score_encoding(scores: Tensor, dim: int) -> Tensor:
    """Sinusoidal encoding of each score, concatenated: ``[B, 3]`` -> ``[B, 3 * dim]``.

    The release uses the U-Net's timestep encoding (``flip_sin_to_cos=True``, ``downscale_freq_shift=0``).
    """
    from diffusers.models.embeddings import get_timestep_embedding

    flat = get_timestep_embedding(
        scores.reshape(-1).float(), dim, flip_sin_to_cos=True, downscale_freq_shift=0
    )
    return flat.reshape(scores.shape[0], -1)


class _QKV(nn.Module):
    """Query/key/value projections and multi-head attention (BERT ``attention.self`` naming)."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        if width % heads:
            raise ConfigError(f"reward encoder width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.dropout = dropout
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)

    def forward(self, q: Tensor, kv: Tensor) -> Tensor:
        b, lq, w = q.shape
        h = self.heads

        def split(x: Tensor) -> Tensor:
            return x.reshape(b, x.shape[1], h, w // h).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            split(self.query(q)),
            split(self.key(kv)),
            split(self.value(kv)),
            dropout_p=self.dropout if self.training else 0.0,
        )
        return out.transpose(1, 2).reshape(b, lq, w)


class _DenseNorm(nn.Module):
    """Dense, dropout, residual, LayerNorm: the post-LN step of a BERT layer (``dense``/``LayerNorm``)."""

    def __init__(self, d_in: int, width: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)  # noqa: N815 - the released key name
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.drop(self.dense(x)) + residual)


class _CrossAttention(nn.Module):
    """``attention.self`` + ``attention.output`` of a BERT layer, used as cross-attention."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        # "self" is the submodule name in BERT and in the released keys (ca.attention.self.query...).
        self.add_module("self", _QKV(width, heads, dropout))
        self.output = _DenseNorm(width, width, dropout)

    def forward(self, q: Tensor, kv: Tensor) -> Tensor:
        return self.output(self.get_submodule("self")(q, kv), q)


class _Intermediate(nn.Module):
    def __init__(self, width: int, ff: int) -> None:
        super().__init__()
        self.dense = nn.Linear(width, ff)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.dense(x))  # exact (erf) GELU, as BERT


class RewardCrossLayer(nn.Module):
    """One post-LN transformer block whose queries are latent tokens and keys/values reward tokens."""

    def __init__(self, width: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.attention = _CrossAttention(width, heads, dropout)
        self.hidden_intermediate = _Intermediate(width, ff)
        self.output = _DenseNorm(ff, width, dropout)

    def forward(self, q: Tensor, kv: Tensor) -> Tensor:
        """``q [B, N, W]`` attends to ``kv [B, L, W]``; returns ``[B, N, W]``."""
        a = self.attention(q, kv)
        return self.output(self.hidden_intermediate(a), a)


class LatentTokens(nn.Module):
    """GroupNorm + 1x1 conv to tokens and a 1x1 conv back with a residual (the release's ``proj_deal``)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=1e-6, affine=True)
        self.proj_in = nn.Conv2d(channels, channels, kernel_size=1)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)

    def wrap(self, h: Tensor, layer: Callable[[Tensor], Tensor]) -> Tensor:
        """``h + proj_out(layer(tokens(proj_in(norm(h)))))`` for a feature map ``h [B, C, H, W]``."""
        b, c, hh, ww = h.shape
        x = self.proj_in(self.norm(h)).permute(0, 2, 3, 1).reshape(b, hh * ww, c)
        x = layer(x).reshape(b, hh, ww, c).permute(0, 3, 1, 2).contiguous()
        return self.proj_out(x) + h


class RewardInjection(NamedTuple):
    """What one forward call adds to the U-Net, computed from the reward inputs."""

    time_add: Tensor | None
    """Added to the time embedding, ``[B, T]`` (released variant)."""
    kv: Tensor | None
    """Key/value tokens of the reward encoder, ``[B, L, C0]``."""
    block_adds: list[Tensor] | None
    """One ``[B, C_i]`` vector per U-Net block, added to its output (paper variant; None for the last)."""


def _mlp(d_in: int, d_out: int) -> nn.Module:
    from diffusers.models.embeddings import TimestepEmbedding

    # linear_1 -> SiLU -> linear_2: the released add_embedding modules are this class.
    return TimestepEmbedding(d_in, d_out)


def _match_batch(x: Tensor, batch: int, name: str) -> Tensor:
    """Tile a reward input to the U-Net batch (classifier-free guidance repeats the batch in chunks)."""
    if x.shape[0] == batch:
        return x
    if x.shape[0] == 0 or batch % x.shape[0]:
        raise ValueError(f"{name} has batch {x.shape[0]}, which does not divide the U-Net batch {batch}")
    return x.repeat(batch // x.shape[0], *([1] * (x.dim() - 1)))


class _UNetStandIn(nn.Module):
    """A module that a diffusers pipeline can hold as its ``unet``: the pipeline reads ``config`` (e.g.
    ``config.in_channels``), ``dtype`` and ``device``, which are those of the U-Net it wraps."""

    def _wrapped(self) -> Any:
        """The module wrapped (a subclass names it)."""
        raise NotImplementedError

    @property
    def config(self) -> Any:
        """The wrapped U-Net's config."""
        return self._wrapped().config

    @property
    def dtype(self) -> torch.dtype:
        """Parameter dtype of the wrapped U-Net."""
        return self._wrapped().dtype

    @property
    def device(self) -> torch.device:
        """Device of the wrapped U-Net."""
        return self._wrapped().device


class RewardUNet(_UNetStandIn):
    """A diffusers ``UNet2DConditionModel`` conditioned on a multi-perspective reward (see module docs).

    Attributes:
        unet: The wrapped U-Net (its parameters keep their diffusers names under ``unet.``).
        reward_config: Variant and ablation switches.
        text_dim: Width of the text encoder that encodes the failure texts.
    """

    def __init__(self, unet: UNet2DConditionModel, reward: RewardConfig, text_dim: int) -> None:
        """Wrap ``unet``; the added modules are randomly initialised (prefer :meth:`from_unet`)."""
        super().__init__()
        self.unet = unet
        self.reward_config = reward
        self.text_dim = int(text_dim)
        cfg = unet.config
        c0 = int(cfg.block_out_channels[0])
        t_dim = int(unet.time_embedding.linear_2.out_features)
        groups = int(cfg.norm_num_groups or 32)
        d, s3 = self.text_dim, 3 * reward.score_embed_dim
        r = reward
        if r.variant == "released":
            # Only the modules a configuration uses exist: unused parameters would break DDP.
            if r.use_scores and r.use_addition:
                self.add_embedding = _mlp(s3, t_dim)
            if r.use_scores and r.use_attention:
                self.add_embedding2 = _mlp(s3, c0)
            if r.use_text and r.use_attention:
                self.text_linear = nn.Linear(d, c0)
            if r.use_text and r.use_addition:
                self.text_linear2 = nn.Linear(d, t_dim)
        else:
            if r.use_scores:
                self.score_mlp = _mlp(s3, d)
            self.type_embedding = nn.Embedding(2, d)  # 0: text token, 1: score token
            if r.use_attention:
                self.linear1 = nn.Linear(d, c0)
            if r.use_addition:
                widths = self._block_widths()
                self.linear2 = nn.ModuleList(nn.Linear(d, w) for w in widths)
        if r.use_attention:
            self.proj_deal = LatentTokens(c0, groups)
            self.ca = RewardCrossLayer(c0, r.num_heads, c0, r.dropout)
        self.to(device=unet.device, dtype=unet.dtype)

    # ----------------------------------------------------------------- construction and attributes
    @classmethod
    def from_unet(cls, unet: UNet2DConditionModel, reward: RewardConfig, text_dim: int) -> RewardUNet:
        """Wrap a pretrained InstructPix2Pix U-Net; the new modules are randomly initialised.

        Args:
            unet: The U-Net to condition (kept by reference, not copied).
            reward: Variant and ablation switches.
            text_dim: Hidden width of the text encoder of the failure texts (768 for SD-1.5's CLIP).
        """
        return cls(unet, reward, text_dim)

    def _blocks(self) -> list[nn.Module]:
        """The U-Net blocks after which the paper adds ``Linear2(c_R)``: all but the last up block."""
        blocks: list[nn.Module] = list(self.unet.down_blocks)
        if self.unet.mid_block is not None:
            blocks.append(self.unet.mid_block)
        blocks.extend(list(self.unet.up_blocks)[:-1])
        return blocks

    def _block_widths(self) -> list[int]:
        """Output channels of each block of :meth:`_blocks`, read from the U-Net config."""
        out = list(self.unet.config.block_out_channels)
        widths = out[:]  # down block i outputs block_out_channels[i]
        if self.unet.mid_block is not None:
            widths.append(out[-1])
        widths.extend(list(reversed(out))[: len(out) - 1])  # up block i outputs reversed(out)[i]
        return widths

    def _wrapped(self) -> Any:
        return self.unet

    def reward_state_dict(self) -> dict[str, Tensor]:
        """State dict of the added modules only (keys without a prefix, as in the released checkpoint)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(f"{UNET_SUBFOLDER}.")}

    def zero_init_outputs(self) -> RewardUNet:
        """Zero the last layer of every path by which the reward reaches the U-Net (returns ``self``).

        ``proj_deal.proj_out`` (the reward encoder's residual), ``add_embedding.linear_2`` and
        ``text_linear2`` (the time-embedding addition) and ``linear2`` (the paper's per-block addition):
        the wrapped U-Net's output is then bit for bit what it was without the reward, and training moves
        away from it (as zero convolutions do). The other modules keep their random initialisation, so
        gradients reach them once these layers move.
        """
        names = ("proj_deal.proj_out", "add_embedding.linear_2", "text_linear2", "linear2")
        with torch.no_grad():
            for name in names:
                module = getattr(self, name.split(".")[0], None)
                for part in name.split(".")[1:]:
                    module = getattr(module, part, None)
                if module is not None:
                    for param in module.parameters():
                        param.zero_()
        return self

    def enable_gradient_checkpointing(self) -> None:
        """Checkpoint the inner U-Net's blocks (the added modules are small)."""
        self.unet.enable_gradient_checkpointing()

    def disable_gradient_checkpointing(self) -> None:
        """Undo :meth:`enable_gradient_checkpointing`."""
        self.unet.disable_gradient_checkpointing()

    # ------------------------------------------------------------------------------ the condition
    def reward_injection(
        self,
        reward_scores: Tensor,
        reward_text_hidden: Tensor | None,
        reward_text_pooled: Tensor | None,
        batch: int,
    ) -> RewardInjection:
        """Compute what the reward adds to the U-Net for one call (the MRC module)."""
        r = self.reward_config
        dtype = self.dtype
        if reward_scores.dim() != 2 or reward_scores.shape[1] != 3:
            raise ValueError(
                "reward_scores must be [B, 3] (following, preserving, quality), "
                f"got {tuple(reward_scores.shape)}"
            )
        scores = _match_batch(reward_scores, batch, "reward_scores")
        pe = score_encoding(scores, r.score_embed_dim).to(dtype) if r.use_scores else None
        if r.use_text:
            name = "reward_text_pooled" if r.variant == "released" else "reward_text_hidden"
            text = reward_text_pooled if r.variant == "released" else reward_text_hidden
            if text is None:
                raise ValueError(
                    f"the {r.variant} variant with use_text needs {name} (see encode_reward_text)"
                )
            text = _match_batch(text, batch, name).to(dtype)
        if r.variant == "released":
            time_add = None
            if r.use_addition:
                parts = []
                if r.use_scores:
                    parts.append(self.add_embedding(pe))
                if r.use_text:
                    parts.append(self.text_linear2(text))
                time_add = torch.stack(parts).sum(0)
            kv = None
            if r.use_attention:
                tokens = []
                if r.use_scores:
                    tokens.append(self.add_embedding2(pe))
                if r.use_text:
                    tokens.append(self.text_linear(text))
                kv = torch.stack(tokens, dim=1)
            return RewardInjection(time_add=time_add, kv=kv, block_adds=None)
        # paper variant: c_R = concat[E_t, E_s] + type embedding
        tokens = []
        if r.use_text:
            assert text is not None  # checked above
            if text.dim() != 3:
                raise ValueError(f"reward_text_hidden must be [B, L, D], got {tuple(text.shape)}")
            tokens.append(text + self.type_embedding.weight[0])
        if r.use_scores:
            tokens.append((self.score_mlp(pe) + self.type_embedding.weight[1]).unsqueeze(1))
        c_r = torch.cat(tokens, dim=1)
        kv = self.linear1(c_r) if r.use_attention else None
        block_adds = None
        if r.use_addition:
            pooled = c_r.mean(dim=1)
            block_adds = [lin(pooled) for lin in self.linear2]
        return RewardInjection(time_add=None, kv=kv, block_adds=block_adds)

    def _register_hooks(self, inj: RewardInjection, image_residual: Tensor | None = None) -> list[Any]:
        """Forward hooks that put ``inj`` (and an image residual) into the U-Net; the caller removes them.

        After ``conv_in`` the image residual is added first and the reward encoder then reads the sum, so
        the reward attends to the features the image condition already shaped (SmartEdit's residual).
        """
        handles = []
        if inj.time_add is not None:
            time_add = inj.time_add

            def add_time(_m: nn.Module, _args: Any, emb: Tensor) -> Tensor:
                return emb + time_add.to(emb.dtype)

            handles.append(self.unet.time_embedding.register_forward_hook(add_time))
        kv = inj.kv
        if kv is not None or image_residual is not None:

            def after_conv_in(_m: nn.Module, _args: Any, h: Tensor) -> Tensor:
                if image_residual is not None:
                    h = h + _match_batch(image_residual, h.shape[0], "image_residual").to(h.dtype)
                if kv is not None:
                    h = self.proj_deal.wrap(h, lambda x: self.ca(x, kv.to(x.dtype)))
                return h

            handles.append(self.unet.conv_in.register_forward_hook(after_conv_in))
        if inj.block_adds is not None:
            for block, add in zip(self._blocks(), inj.block_adds, strict=True):

                def add_after(_m: nn.Module, _args: Any, out: Any, add: Tensor = add) -> Any:
                    if isinstance(out, tuple):  # down blocks return (hidden_states, skip states)
                        return (out[0] + add[:, :, None, None].to(out[0].dtype), *out[1:])
                    return out + add[:, :, None, None].to(out.dtype)

                handles.append(block.register_forward_hook(add_after))
        return handles

    def forward(
        self,
        sample: Tensor,
        timestep: Tensor | float | int,
        encoder_hidden_states: Tensor,
        *,
        reward_scores: Tensor,
        reward_text_hidden: Tensor | None = None,
        reward_text_pooled: Tensor | None = None,
        image_residual: Tensor | None = None,
        return_dict: bool = True,
        **unet_kwargs: Any,
    ) -> Any:
        """Predict noise like the wrapped U-Net, conditioned on the reward.

        Args:
            sample: Noisy latent concatenated with the source latent, ``[B, 8, h, w]``.
            timestep: Diffusion timestep(s).
            encoder_hidden_states: Instruction embedding ``[B, 77, D]``.
            reward_scores: ``[B, 3]`` floats 0-5 (following, preserving, quality); a batch that divides
                ``B`` is tiled (so one condition serves the three guidance branches).
            reward_text_hidden: Last hidden state of the joined failure texts (paper variant).
            reward_text_pooled: Pooled output of the joined failure texts (released variant).
            image_residual: Added after ``conv_in``, before the reward encoder, ``[b, C0, h, w]`` with a
                batch that divides ``B`` (SmartEdit's interaction-module residual; None: nothing).
            return_dict: Return a ``UNet2DConditionOutput`` (else a tuple), as diffusers does.
            **unet_kwargs: Passed to the U-Net (``cross_attention_kwargs``, ``added_cond_kwargs`` ...).

        Returns:
            The inner U-Net's output.
        """
        inj = self.reward_injection(reward_scores, reward_text_hidden, reward_text_pooled, sample.shape[0])
        handles = self._register_hooks(inj, image_residual)
        try:
            return self.unet(sample, timestep, encoder_hidden_states, return_dict=return_dict, **unet_kwargs)
        finally:
            for handle in handles:
                handle.remove()

    # ------------------------------------------------------------------------------ save and load
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``directory/unet`` (diffusers) and ``directory/reward`` (config + added modules).

        Returns:
            ``directory`` as a Path.
        """
        directory = Path(directory)
        self.unet.save_pretrained(directory / UNET_SUBFOLDER)
        self._save_reward_folder(directory)
        return directory

    def _save_reward_folder(self, directory: Path) -> None:
        """Write ``directory/reward`` (config + added modules) only."""
        from safetensors.torch import save_file

        rdir = directory / REWARD_SUBFOLDER
        rdir.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "text_dim": self.text_dim,
            "reward": self.reward_config.to_dict(),
        }
        (rdir / _CONFIG_NAME).write_text(json.dumps(meta, indent=2) + "\n")
        state = {k: v.detach().contiguous().cpu() for k, v in self.reward_state_dict().items()}
        save_file(state, str(rdir / _WEIGHTS_NAME), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        *,
        torch_dtype: torch.dtype | None = None,
        reward: RewardConfig | None = None,
        text_dim: int | None = None,
    ) -> RewardUNet:
        """Load a directory written by :meth:`save_pretrained`, or the authors' released layout.

        Args:
            directory: Holds ``unet/`` and either ``reward/`` (ours) or released extra keys in ``unet/``.
            torch_dtype: Load in this dtype (default: as saved).
            reward: Only for the released layout: the config to build (default ``RewardConfig()``).
            text_dim: Only for the released layout: text width (default: read from ``text_linear``).

        Raises:
            WeightsError: The directory is not a reward U-Net, or its weights do not fit.
        """
        from diffusers import UNet2DConditionModel

        directory = Path(directory)
        unet_dir = directory / UNET_SUBFOLDER
        if not (unet_dir / "config.json").is_file():
            raise WeightsError(f"{directory} holds no reward U-Net (expected {unet_dir}/config.json)")
        rdir = directory / REWARD_SUBFOLDER
        if (rdir / _CONFIG_NAME).is_file():
            meta = json.loads((rdir / _CONFIG_NAME).read_text())
            if meta.get("format") != _FORMAT or int(meta.get("format_version", 0)) > _FORMAT_VERSION:
                raise WeightsError(f"{rdir} is not a reward U-Net of a version this realedit reads")
            from safetensors.torch import load_file

            unet = UNet2DConditionModel.from_pretrained(unet_dir)
            # Cast after loading (the keyword's name differs across diffusers versions), and only when the
            # dtype changes: diffusers' to() warns about its fp32 modules on every call.
            if torch_dtype is not None and unet.dtype != torch_dtype:
                unet = unet.to(torch_dtype)
            model = cls(unet, RewardConfig.from_dict(meta["reward"]), int(meta["text_dim"]))
            state = load_file(str(rdir / _WEIGHTS_NAME))
            missing, unexpected = model.load_state_dict(state, strict=False)
            missing = [k for k in missing if not k.startswith(f"{UNET_SUBFOLDER}.")]
            if missing or unexpected:
                raise WeightsError(
                    f"{rdir}: weights do not fit the config "
                    f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
                )
            return model.to(unet.dtype)
        return cls.from_released(directory, torch_dtype=torch_dtype, reward=reward, text_dim=text_dim)

    @classmethod
    def from_released(
        cls,
        directory: str | Path,
        *,
        torch_dtype: torch.dtype | None = None,
        reward: RewardConfig | None = None,
        text_dim: int | None = None,
    ) -> RewardUNet:
        """Load the authors' checkpoint layout: ``directory/unet`` with the extra keys in its weights."""
        from diffusers import UNet2DConditionModel

        unet_dir = Path(directory) / UNET_SUBFOLDER
        state = _read_unet_weights(unet_dir)
        if not any(k.split(".", 1)[0] in RELEASED_MODULES for k in state):
            raise WeightsError(
                f"{unet_dir} holds a plain U-Net without reward modules "
                f"(no {', '.join(RELEASED_MODULES)} keys) "
                f"and {Path(directory) / REWARD_SUBFOLDER} is missing"
            )
        reward = reward or RewardConfig(variant="released")
        if reward.variant != "released":
            raise WeightsError("the authors' checkpoint layout holds the 'released' variant only")
        if text_dim is None:
            key = "text_linear.weight" if "text_linear.weight" in state else "text_linear2.weight"
            if key not in state:
                raise WeightsError(
                    f"{unet_dir}: cannot tell the text width (no text_linear weights); pass text_dim"
                )
            text_dim = int(state[key].shape[1])
        from accelerate import init_empty_weights

        config = UNet2DConditionModel.load_config(unet_dir)
        with init_empty_weights():  # every weight comes from the file: skip random initialisation
            model = cls(UNet2DConditionModel.from_config(config), reward, text_dim)
        missing, unexpected = model.load_released_state_dict(state, strict=False, assign=True)
        if missing or unexpected:
            raise WeightsError(
                f"{unet_dir}: released weights do not fit "
                f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        return model.to(torch_dtype) if torch_dtype is not None else model

    def load_released_state_dict(
        self, state_dict: dict[str, Tensor], strict: bool = True, assign: bool = False
    ) -> tuple[list[str], list[str]]:
        """Load a state dict in the released checkpoint's naming (standard U-Net keys + extra modules).

        Args:
            state_dict: Keys as in the release: ``conv_in.weight`` ... and
                ``add_embedding.linear_1.weight`` ...
            strict: Raise on missing or unexpected keys (torch semantics) instead of returning them.
            assign: Take the tensors as they are (for a model built on the meta device).

        Returns:
            ``(missing, unexpected)`` keys, in the released naming.
        """
        ours = {
            (k if k.split(".", 1)[0] in RELEASED_MODULES else f"{UNET_SUBFOLDER}.{k}"): v
            for k, v in state_dict.items()
        }
        result = self.load_state_dict(ours, strict=False, assign=assign)
        prefix = f"{UNET_SUBFOLDER}."

        def strip(keys: list[str]) -> list[str]:
            return [k[len(prefix) :] if k.startswith(prefix) else k for k in keys]

        missing, unexpected = strip(list(result.missing_keys)), strip(list(result.unexpected_keys))
        if strict and (missing or unexpected):
            raise RuntimeError(
                f"released state dict does not fit: missing {missing[:8]}, unexpected {unexpected[:8]}"
            )
        return missing, unexpected


class RewardConditionedUNet(_UNetStandIn):
    """The plain U-Net call signature a diffusers pipeline uses, running a :class:`RewardUNet` with a
    fixed reward condition (set as ``pipe.unet`` for inference).

    The condition has batch 1; :class:`RewardUNet` tiles it to the pipeline's batch, so the three
    classifier-free-guidance branches of InstructPix2Pix all get it, as in the released inference code.
    """

    def __init__(
        self, reward_unet: RewardUNet, scores: Tensor, text_hidden: Tensor | None, text_pooled: Tensor | None
    ) -> None:
        """Wrap ``reward_unet`` with scores ``[1, 3]`` and encoded failure text ``[1, 77, D]`` / ``[1, D]``.
        """
        super().__init__()
        self.reward_unet = reward_unet
        dtype = reward_unet.dtype
        # Not persistent: the condition is a sampling setting (recorded by the adapter), not a weight.
        self.register_buffer("reward_scores", scores.to(dtype), persistent=False)
        self.register_buffer(
            "reward_text_hidden", None if text_hidden is None else text_hidden.to(dtype), persistent=False
        )
        self.register_buffer(
            "reward_text_pooled", None if text_pooled is None else text_pooled.to(dtype), persistent=False
        )
        #: Added after ``conv_in`` during :meth:`residual` (SmartEdit's interaction-module residual).
        self.image_residual: Tensor | None = None

    def _wrapped(self) -> Any:
        return self.reward_unet

    @contextmanager
    def residual(self, image_residual: Tensor) -> Iterator[None]:
        """Within the block, every call adds ``image_residual`` after ``conv_in``, before the reward encoder.

        Args:
            image_residual: ``[B, C0, h, w]`` for the pipeline's B samples (tiled over the guidance branches).
        """
        self.image_residual = image_residual
        try:
            yield
        finally:
            self.image_residual = None

    @property
    def in_channels(self) -> int:
        """Input channels (8 for InstructPix2Pix: noisy latent + source latent)."""
        return int(self.reward_unet.config.in_channels)

    def forward(
        self, sample: Tensor, timestep: Tensor | float | int, encoder_hidden_states: Tensor, **kwargs: Any
    ) -> Any:
        """Call the reward U-Net with the fixed condition; other arguments pass through."""
        return self.reward_unet(
            sample,
            timestep,
            encoder_hidden_states,
            reward_scores=self.reward_scores,
            reward_text_hidden=self.reward_text_hidden,
            reward_text_pooled=self.reward_text_pooled,
            image_residual=self.image_residual,
            **kwargs,
        )


def save_reward_pipeline(directory: str | Path, reward_unet: RewardUNet, pipeline: Any) -> Path:
    """Write a reward checkpoint: ``pipeline``'s components plus ``unet/`` and ``reward/`` of ``reward_unet``.

    The result loads with ``realedit run --model reward-instruct-pix2pix --weights DIR`` and with
    :meth:`RewardUNet.from_pretrained`; its ``unet/`` alone is a plain diffusers U-Net.

    Args:
        directory: Output directory.
        reward_unet: The trained reward U-Net.
        pipeline: A ``StableDiffusionInstructPix2PixPipeline`` (vae, text encoder, tokenizer, scheduler).
    """
    directory = Path(directory)
    unet = pipeline.unet
    pipeline.unet = reward_unet.unet  # the inner U-Net is the pipeline's unet component on disk
    try:
        pipeline.save_pretrained(directory)
    finally:
        pipeline.unet = unet
    reward_unet._save_reward_folder(directory)
    return directory


def released_key_shapes(
    c0: int = 320, t_dim: int = 1280, text_dim: int = 768, score_dim: int = 256
) -> dict[str, tuple[int, ...]]:
    """The extra keys of the released checkpoint and their shapes (module docstring table, as code)."""
    s3 = 3 * score_dim
    shapes: dict[str, tuple[int, ...]] = {
        "add_embedding.linear_1.weight": (t_dim, s3),
        "add_embedding.linear_1.bias": (t_dim,),
        "add_embedding.linear_2.weight": (t_dim, t_dim),
        "add_embedding.linear_2.bias": (t_dim,),
        "add_embedding2.linear_1.weight": (c0, s3),
        "add_embedding2.linear_1.bias": (c0,),
        "add_embedding2.linear_2.weight": (c0, c0),
        "add_embedding2.linear_2.bias": (c0,),
        "text_linear.weight": (c0, text_dim),
        "text_linear.bias": (c0,),
        "text_linear2.weight": (t_dim, text_dim),
        "text_linear2.bias": (t_dim,),
        "proj_deal.norm.weight": (c0,),
        "proj_deal.norm.bias": (c0,),
        "proj_deal.proj_in.weight": (c0, c0, 1, 1),
        "proj_deal.proj_in.bias": (c0,),
        "proj_deal.proj_out.weight": (c0, c0, 1, 1),
        "proj_deal.proj_out.bias": (c0,),
    }
    for name in ("query", "key", "value"):
        shapes[f"ca.attention.self.{name}.weight"] = (c0, c0)
        shapes[f"ca.attention.self.{name}.bias"] = (c0,)
    for stem in ("ca.attention.output", "ca.output"):
        shapes[f"{stem}.dense.weight"] = (c0, c0)
        shapes[f"{stem}.dense.bias"] = (c0,)
        shapes[f"{stem}.LayerNorm.weight"] = (c0,)
        shapes[f"{stem}.LayerNorm.bias"] = (c0,)
    shapes["ca.hidden_intermediate.dense.weight"] = (c0, c0)
    shapes["ca.hidden_intermediate.dense.bias"] = (c0,)
    return shapes


#: The released extra keys at SD-1.5 size (C0=320, T=1280, D=768, S=256).
RELEASED_KEY_SHAPES = released_key_shapes()


def _read_unet_weights(unet_dir: Path) -> dict[str, Tensor]:
    """All tensors of a diffusers U-Net folder (safetensors, sharded safetensors or a .bin)."""
    files = sorted(unet_dir.glob("diffusion_pytorch_model*.safetensors"))
    if files:
        from safetensors.torch import load_file

        state: dict[str, Tensor] = {}
        for f in files:
            state.update(load_file(str(f)))
        return state
    bins = sorted(unet_dir.glob("diffusion_pytorch_model*.bin"))
    if bins:
        state = {}
        for f in bins:
            state.update(torch.load(f, map_location="cpu", weights_only=True))
        return state
    raise WeightsError(f"{unet_dir} has no diffusion_pytorch_model weights")
