"""Tiny LDM-style HIVE checkpoints for offline tests.

``build_checkpoint`` writes a ``.ckpt`` like PyTorch Lightning does: a ``state_dict`` with UNet weights
(``model.diffusion_model.*``), their EMA twins (``model_ema.*`` with the dots removed), a VAE and text
encoder entry; optionally training state that the restricted unpickler refuses: callbacks keyed by
their class and an object whose unpickling would call :func:`touch_marker` (a visible side effect).

``build_released`` writes a loadable one: a tiny InstructPix2Pix model under the released LDM key names
(v1: CLIP text encoder; v2: an open_clip text transformer), the UNet's EMA twins holding other weights
than the raw ones, and a diffusers config folder of the same sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch

UNET_KEYS = (
    "model.diffusion_model.input_blocks.0.0.weight",
    "model.diffusion_model.input_blocks.1.1.proj_in.weight",
    "model.diffusion_model.out.2.bias",
)


def touch_marker(path: str) -> str:
    """Create ``path``: proof that unpickling ran code named in the file."""
    Path(path).write_text("unpickled")
    return path


class FakeCheckpointCallback:
    """Stands for a Lightning callback class that a checkpoint uses as a dict key."""


class RunsOnLoad:
    """Pickles as a call to :func:`touch_marker`, so loading it with full pickle runs that call."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (touch_marker, (self.marker,))


def state_dict(with_ema: bool = True) -> dict[str, torch.Tensor]:
    """Raw UNet weights of ones, EMA twins of twos, plus VAE / text-encoder / schedule entries."""
    state = {key: torch.ones(2, 3) for key in UNET_KEYS}
    if with_ema:
        for key in UNET_KEYS:
            state["model_ema." + key.removeprefix("model.").replace(".", "")] = torch.full((2, 3), 2.0)
        state["model_ema.decay"] = torch.tensor(0.9999)
        state["model_ema.num_updates"] = torch.tensor(1000, dtype=torch.int32)
    state["first_stage_model.decoder.conv_in.weight"] = torch.zeros(4, 4)
    state["cond_stage_model.transformer.text_model.final_layer_norm.weight"] = torch.ones(4)
    state["alphas_cumprod"] = torch.linspace(0.99, 0.01, 10)
    return state


def build_checkpoint(
    path: Path, *, training_state: bool = False, marker: Path | None = None, with_ema: bool = True
) -> Path:
    """Write a Lightning-style ``.ckpt``; ``training_state`` adds globals weights_only refuses."""
    checkpoint: dict = {
        "epoch": 3,
        "global_step": 9000,
        "pytorch-lightning_version": "1.4.2",
        "state_dict": state_dict(with_ema),
    }
    if training_state:
        checkpoint["callbacks"] = {FakeCheckpointCallback: {"best_model_score": torch.tensor(0.5)}}
        checkpoint["optimizer_states"] = [{"hook": RunsOnLoad(marker or path.with_suffix(".marker"))}]
    torch.save(checkpoint, path)
    return path


# ------------------------------------------------------------------------- a loadable LDM checkpoint
# The names below are those of the original LDM code (openaimodel UNet, KL autoencoder, FrozenCLIPEmbedder
# and FrozenOpenCLIPEmbedder), written out from a diffusers model so that a test can build a released-style
# checkpoint of any size. The map is ours; diffusers' single-file loader does the reverse.

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
           "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_UNET_FIXED = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
               "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}


def _resnet(rest: str) -> str:
    head, _, tail = rest.partition(".")
    return f"{_RESNET[head]}.{tail}"


def ldm_unet_key(key: str, layers_per_block: int, up_attention: set[int]) -> str:
    """A diffusers UNet2DConditionModel key -> its ``model.diffusion_model.*`` name."""
    import re

    per = layers_per_block + 1
    for ours, theirs in _UNET_FIXED.items():
        if key.startswith(ours + "."):
            return "model.diffusion_model." + theirs + key[len(ours):]
    rules = [
        (r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)",
         lambda b, j, r: f"input_blocks.{1 + int(b) * per + int(j)}.0.{_resnet(r)}"),
        (r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)",
         lambda b, j, r: f"input_blocks.{1 + int(b) * per + int(j)}.1.{r}"),
        (r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)",
         lambda b, r: f"input_blocks.{1 + int(b) * per + layers_per_block}.0.op.{r}"),
        (r"mid_block\.resnets\.(\d+)\.(.+)", lambda k, r: f"middle_block.{2 * int(k)}.{_resnet(r)}"),
        (r"mid_block\.attentions\.0\.(.+)", lambda r: f"middle_block.1.{r}"),
        (r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)",
         lambda b, j, r: f"output_blocks.{int(b) * per + int(j)}.0.{_resnet(r)}"),
        (r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)",
         lambda b, j, r: f"output_blocks.{int(b) * per + int(j)}.1.{r}"),
        (r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)",
         lambda b, r: f"output_blocks.{int(b) * per + layers_per_block}."
                      f"{2 if int(b) in up_attention else 1}.conv.{r}"),
    ]
    for pattern, name in rules:
        m = re.fullmatch(pattern, key)
        if m:
            return "model.diffusion_model." + name(*m.groups())
    raise KeyError(key)


_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
_VAE_FIXED = {"conv_norm_out": "norm_out"}


def ldm_vae_key(key: str, n_up: int) -> str:
    """A diffusers AutoencoderKL key -> its ``first_stage_model.*`` name."""
    import re

    rules = [
        (r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)",
         lambda i, j, r: f"encoder.down.{i}.block.{j}.{r}"),
        (r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)",
         lambda i, r: f"encoder.down.{i}.downsample.conv.{r}"),
        (r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)",
         lambda i, j, r: f"decoder.up.{n_up - 1 - int(i)}.block.{j}.{r}"),
        (r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)",
         lambda i, r: f"decoder.up.{n_up - 1 - int(i)}.upsample.conv.{r}"),
        (r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)",
         lambda p, k, r: f"{p}.mid.block_{int(k) + 1}.{r}"),
        (r"(encoder|decoder)\.mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(.+)",
         lambda p, n, r: f"{p}.mid.attn_1.{_VAE_ATTN[n]}.{r}"),
        (r"(encoder|decoder)\.conv_norm_out\.(.+)", lambda p, r: f"{p}.norm_out.{r}"),
        (r"(.+)", lambda r: r),
    ]
    for pattern, name in rules:
        m = re.fullmatch(pattern, key)
        if m:
            return "first_stage_model." + name(*m.groups()).replace("conv_shortcut", "nin_shortcut")
    raise KeyError(key)


def ldm_unet(unet) -> dict[str, torch.Tensor]:
    """A diffusers UNet's weights under their ``model.diffusion_model.*`` names."""
    cfg = unet.config
    up_attention = {i for i, t in enumerate(cfg.up_block_types) if "CrossAttn" in t}
    return {ldm_unet_key(k, cfg.layers_per_block, up_attention): v for k, v in unet.state_dict().items()}


def ldm_vae(vae) -> dict[str, torch.Tensor]:
    """A diffusers AutoencoderKL's weights under their ``first_stage_model.*`` names."""
    n_up = len(vae.config.up_block_types)
    state = {}
    for key, value in vae.state_dict().items():
        name = ldm_vae_key(key, n_up)
        # The LDM autoencoder's attention projections are 1x1 convolutions.
        state[name] = value[:, :, None, None] if ".mid.attn_1." in name and value.dim() == 2 else value
    return state


def ldm_clip(text_encoder) -> dict[str, torch.Tensor]:
    """A transformers CLIPTextModel's weights as ``cond_stage_model.transformer.text_model.*`` (v1)."""
    return {"cond_stage_model.transformer.text_model." + k.removeprefix("text_model."): v
            for k, v in text_encoder.state_dict().items()}


def open_clip_state_dict(text) -> dict[str, torch.Tensor]:
    """An open_clip ``TextTransformer``'s weights as ``cond_stage_model.model.*`` (FrozenOpenCLIPEmbedder)."""
    return {f"cond_stage_model.model.{k}": v for k, v in text.state_dict().items()}


def write_released_ckpt(path: Path, state: dict[str, torch.Tensor], ema_unet: dict[str, torch.Tensor]):
    """A Lightning ``.ckpt`` of ``state`` whose UNet has EMA twins ``ema_unet`` (same keys, LitEma names)."""
    full = dict(state)
    for key, value in ema_unet.items():
        full["model_ema." + key.removeprefix("model.").replace(".", "")] = value
    full["model_ema.decay"] = torch.tensor(0.9999)
    full["model_ema.num_updates"] = torch.tensor(1000, dtype=torch.int32)
    torch.save({"epoch": 1, "global_step": 1000, "pytorch-lightning_version": "1.4.2", "state_dict": full},
               path)
    return path


def config_folder(pipe, directory: Path) -> Path:
    """The pipeline's configs, tokenizer and scheduler without any weights: a ``config=`` folder."""
    pipe.save_pretrained(directory)
    for f in list(directory.rglob("*.safetensors")) + list(directory.rglob("*.bin")):
        f.unlink()
    return directory


class TinyHive(NamedTuple):
    """A released-style checkpoint, its config folder, and the models its weights came from."""

    ckpt: Path
    config: Path
    pipe: Any
    """The pipeline whose VAE and text encoder (v1) the checkpoint holds; its UNet holds the raw weights."""
    ema_unet: Any
    """The UNet whose weights are the checkpoint's EMA twins."""
    open_clip_text: Any = None
    """v2: the open_clip text transformer the checkpoint holds."""


def build_released(root: Path, name: str, *, v2: bool = False) -> TinyHive:
    """A tiny HIVE ``.ckpt`` named ``name`` under ``root`` (v1 or v2 layout) and its config folder."""
    from diffusers import StableDiffusionInstructPix2PixPipeline
    from tiny_models import build_tiny_pix2pix_components, build_tiny_unet
    from transformers import CLIPTextConfig, CLIPTextModel

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    comps = build_tiny_pix2pix_components(root / f"_{name}", seed=0)
    unet_kw = {"use_linear_projection": True} if v2 else {}
    open_clip_text = None
    if v2:
        import open_clip.transformer as oct

        torch.manual_seed(3)
        comps["unet"] = build_tiny_unet(**unet_kw)
        # OpenCLIP ViT-H read at its penultimate layer: the diffusers text encoder has one layer less.
        open_clip_text = oct.TextTransformer(width=32, heads=4, layers=3, output_dim=32)
        comps["text_encoder"] = CLIPTextModel(CLIPTextConfig(
            vocab_size=49408, max_position_embeddings=77, hidden_size=32, intermediate_size=128,
            num_attention_heads=4, num_hidden_layers=2, hidden_act="gelu", layer_norm_eps=1e-5,
            bos_token_id=0, eos_token_id=2, pad_token_id=1, projection_dim=32,
        ))
    pipe = StableDiffusionInstructPix2PixPipeline(**comps, requires_safety_checker=False)
    config = config_folder(pipe, root / f"{Path(name).stem}-config")
    torch.manual_seed(11)
    ema_unet = build_tiny_unet(**unet_kw)
    text = open_clip_state_dict(open_clip_text) if v2 else ldm_clip(pipe.text_encoder)
    state = {**ldm_unet(pipe.unet), **ldm_vae(pipe.vae), **text}
    ckpt = write_released_ckpt(root / name, state, ldm_unet(ema_unet))
    return TinyHive(ckpt, config, pipe, ema_unet, open_clip_text)
