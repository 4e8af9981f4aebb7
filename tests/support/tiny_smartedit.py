"""Tiny SmartEdit parts for offline tests: a Vicuna-like tokenizer/config, CLIP, InstructPix2Pix, and a
release folder whose pickles carry the released key names.

Sizes: LLM hidden 64 (2 layers), CLIP 32 px with 2 px patches (256 patches, width 64), Q-Former width 96
(12 heads of 8, 2 layers), interaction width 64 (8 heads), UNet widths (32, 64) with 96-wide context.
The tiny LLM is steered so that it answers with image tokens: after the prompt it picks ``<img_0>``
or a filler word about equally often (so sampling matters), after the filler ``<img_0>``, after
``<img_k>`` the next one, after ``<img_31>`` the end of text.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import NamedTuple

import torch
from tiny_models import TINY_UNET

from adapters.smartedit.bridge import Bridge, BridgeConfig
from adapters.smartedit.interaction import InteractionConfig
from adapters.smartedit.prompt import ANSWER, SYSTEM, USER_TURN, add_smartedit_tokens, prompt_ids

HIDDEN = 64
TEXT_DIM = 96
LORA_RANK = 8
INSTRUCTIONS = ["make the sky red", "add a small boat on the lake near the trees", "remove the dog"]
BRIDGE = BridgeConfig(
    vision_dim=64,
    llm_dim=HIDDEN,
    queries=77,
    qformer_layers=2,
    qformer_ffn=48,
    interaction=InteractionConfig(
        dim=64, mlp_dim=32, depth=2, downsample=2, text_dim=TEXT_DIM, unet_channels=32
    ),
)


def build_tokenizer(directory: Path, vocab_size: int = 120):
    """A byte-pair tokenizer with SentencePiece-style spaces ("▁"), trained on the prompt text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False
    )
    corpus = [SYSTEM, USER_TURN, ANSWER, *INSTRUCTIONS, 'description "x" ASSISTANT: USER: 0123456789']
    tok.train_from_iterator(corpus * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(directory)
    return fast


def build_llm_base(directory: Path) -> Path:
    """Tokenizer + ``LlamaConfig`` saved like a Vicuna folder (vocabulary without SmartEdit's tokens)."""
    from transformers import LlamaConfig

    directory = Path(directory)
    tok = build_tokenizer(directory)
    LlamaConfig(
        hidden_size=HIDDEN,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=len(tok),
        max_position_embeddings=1024,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    ).save_pretrained(directory)
    return directory


def build_clip(directory: Path) -> Path:
    """A CLIP vision tower at 32 px with 2 px patches (16 x 16 = 256 patches) and its processor."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(1)
    config = CLIPVisionConfig(
        image_size=32,
        patch_size=2,
        hidden_size=BRIDGE.vision_dim,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        projection_dim=32,
    )
    CLIPVisionModel(config).save_pretrained(directory)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        directory
    )
    return Path(directory)


def tiny_unet():
    """An InstructPix2Pix-layout UNet (8 input channels) with a 96-wide text context."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**{**TINY_UNET, "cross_attention_dim": TEXT_DIM})


def build_pix2pix(directory: Path) -> Path:
    """A tiny InstructPix2Pix pipeline (text width 96) saved with ``save_pretrained``."""
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionInstructPix2PixPipeline,
    )
    from tiny_models import build_clip_tokenizer
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(2)
    vae = AutoencoderKL(
        block_out_channels=(16, 32),
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        norm_num_groups=16,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        sample_size=64,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
            hidden_size=TEXT_DIM,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=49408,
            max_position_embeddings=77,
            projection_dim=32,
        )
    )
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
    )
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=build_clip_tokenizer(Path(directory).parent / "_clip_tok"),
        unet=tiny_unet(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(directory)
    return Path(directory)


def steer(llm_state: dict, tokenizer, alpha: float = 3.0, scale: float | None = None) -> dict[str, int]:
    """Make the LLM answer with image tokens (see the module docstring); returns the roles' ids.

    The steered tokens' embeddings get norm ``scale`` (default: the square root of the width); a deep
    random LLM needs a large one, so that the embedding outweighs what its layers add.
    """
    ids = add_smartedit_tokens(tokenizer)
    last = prompt_ids(tokenizer, ids, "x")[-1]
    filler = tokenizer.encode("image", add_special_tokens=False)[0]
    images = [ids.added[f"<img_{k}>"] for k in range(32)]
    sources = [last, filler, *images]
    emb, head = llm_state["model.embed_tokens.weight"], llm_state["lm_head.weight"]
    hidden = emb.shape[1]
    basis = torch.linalg.qr(torch.randn(hidden, len(sources)))[0].T  # orthonormal rows
    head.zero_()
    u = {}
    for token, row in zip(sources, basis.to(emb.device), strict=True):
        emb[token] = (row * (scale or math.sqrt(hidden))).to(emb.dtype)
        u[token] = row.to(head.dtype)
    head[images[0]] += alpha * (u[last] + u[filler])
    head[filler] += alpha * u[last]
    for k in range(31):
        head[images[k + 1]] += alpha * u[images[k]]
    head[ids.eos] += alpha * u[images[31]]
    return {"last": last, "filler": filler, "first_image": images[0]}


class TinyRelease(NamedTuple):
    """A fake release folder and the tensors it was written from (our key names)."""

    folder: Path
    llm: dict
    lora: dict
    bridge: dict
    unet: dict


def _zero_buffer(tensors: dict) -> dict:
    """Views into one flat buffer, as DeepSpeed ZeRO-2 checkpoints hold them."""
    flat = torch.cat([t.float().flatten() for t in tensors.values()])
    out, at = {}, 0
    for key, t in tensors.items():
        out[key] = flat[at : at + t.numel()].view(t.shape)
        at += t.numel()
    return out


def released_bridge_key(key: str) -> str:
    """Our bridge key -> the released name (the inverse of the converter's map, written apart)."""
    renames = [
        (r"^projector\.", "mm_projector."),
        (r"^qformer\.query_tokens$", "sd_query_tokens"),
        (r"^qformer\.model\.layernorm\.", "sd_qformer.embeddings.LayerNorm."),
        (
            r"^qformer\.model\.(encoder\.layer\.\d+\.(?:attention|crossattention))\.attention\.",
            r"sd_qformer.\1.self.",
        ),
        (r"^qformer\.model\.", "sd_qformer."),
        (r"^interaction\.query_in\.", "modulate_head."),
        (r"^interaction\.position\.gaussian$", "pe_layer.positional_encoding_gaussian_matrix"),
        (r"^interaction\.transformer\.", "modulate_transformer."),
        (r"^interaction\.text_out\.", "dimension_reduction_head_qformer_out."),
        (r"^interaction\.image_out\.", "dimension_reduction_head_zeroconv."),
    ]
    for pattern, new in renames:
        if re.search(pattern, key):
            return re.sub(pattern, new, key)
    raise KeyError(key)


def _llm_files(folder: Path, llm_base: Path) -> tuple[dict, dict, torch.Tensor]:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(llm_base)
    config = LlamaConfig.from_pretrained(llm_base)
    config.vocab_size = len(tokenizer) + 35
    state = {k: v.clone() for k, v in LlamaForCausalLM(config).state_dict().items()}
    steer(state, tokenizer)
    lora, released = {}, {}
    for key, value in state.items():
        if key == "lm_head.weight":
            continue
        stored = value if "embed_tokens" in key else value.to(torch.bfloat16)
        state[key] = stored
        released["model.base_model.model." + key[len("model.") :]] = stored
        proj = re.fullmatch(r"model\.layers\.(\d+)\.self_attn\.(q_proj|v_proj)\.weight", key)
        if proj:
            a, b = torch.randn(LORA_RANK, HIDDEN) * 0.05, torch.randn(HIDDEN, LORA_RANK) * 0.05
            lora[(key, "A")], lora[(key, "B")] = a, b
            base = f"model.base_model.model.layers.{proj.group(1)}.self_attn.{proj.group(2)}"
            released[f"{base}.lora_A.default.weight"], released[f"{base}.lora_B.default.weight"] = a, b
    for i in range(config.num_hidden_layers):
        released[f"model.base_model.model.layers.{i}.self_attn.rotary_emb.inv_freq"] = torch.rand(HIDDEN // 8)
    (folder / "LLM-15000").mkdir(parents=True)
    torch.save(released, folder / "LLM-15000" / "adapter_model.bin")
    (folder / "LLM-15000" / "adapter_config.json").write_text(
        json.dumps(
            {"r": LORA_RANK, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"]}
        )
    )
    return state, lora, state["lm_head.weight"]


def build_release(folder: Path, llm_base: Path, seed: int = 0) -> TinyRelease:
    """Write ``LLM-15000``, ``embeddings_qformer``, ``modulate-15000`` and ``unet-15000`` like the release."""
    folder = Path(folder)
    torch.manual_seed(seed)
    llm, lora, lm_head = _llm_files(folder, llm_base)
    bridge = {k: v.clone() for k, v in Bridge(BRIDGE).state_dict().items()}
    for key in ("interaction.text_out.weight", "interaction.image_out.weight"):
        bridge[key] = torch.randn_like(bridge[key]) * 0.05  # trained heads are not zero
    released = _zero_buffer({released_bridge_key(k): v for k, v in bridge.items()})
    embeddings = {k: v for k, v in released.items() if k.startswith(("sd_", "mm_"))}
    embeddings["sd_qformer.embeddings.position_ids"] = torch.arange(512)[None]
    embeddings["lm_head.weight"] = lm_head
    modulate = {k: v for k, v in released.items() if k not in embeddings}
    unet = {k: v.clone() for k, v in tiny_unet().state_dict().items()}
    for sub, name, state in [
        ("embeddings_qformer", "checkpoint-15000_embeddings_qformer.bin", embeddings),
        ("modulate-15000", "adapter_model.bin", modulate),
        ("unet-15000", "adapter_model.bin", {f"unet.{k}": v for k, v in unet.items()}),
    ]:
        (folder / sub).mkdir(parents=True, exist_ok=True)
        torch.save(state, folder / sub / name)
    return TinyRelease(folder, llm, lora, bridge, unet)


def build_reward_folder(tiny, folder: Path, perturb: bool = False) -> Path:
    """A Reward-SmartEdit folder on the tiny SmartEdit weights (``tiny``: the ``tiny_smartedit`` fixture)
    whose reward modules' output layers are zero (``perturb``: moved off zero)."""
    from diffusers import StableDiffusionInstructPix2PixPipeline

    from adapters.smartedit.base_parts import load_pix2pix_parts
    from adapters.smartedit.convert import converted_sha256
    from adapters.smartedit.loading import load_unet
    from reward_model.mrc import RewardConfig, RewardUNet, save_reward_pipeline
    from reward_model.smartedit import write_record

    parts = load_pix2pix_parts(str(tiny.pix2pix))
    unet = load_unet(tiny.converted, parts.unet_config, torch.float32)
    torch.manual_seed(0)
    reward = RewardUNet.from_unet(unet, RewardConfig(), text_dim=TEXT_DIM).zero_init_outputs()
    if perturb:
        with torch.no_grad():
            reward.proj_deal.proj_out.bias.add_(0.5)
    pipe = StableDiffusionInstructPix2PixPipeline(
        vae=parts.vae, text_encoder=parts.text_encoder, tokenizer=parts.tokenizer, unet=unet,
        scheduler=parts.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    save_reward_pipeline(folder, reward, pipe)
    write_record(folder, tiny.converted, converted_sha256(tiny.converted),
                 {"size": None, "llm_base": str(tiny.llm_base), "clip": str(tiny.clip)})
    return Path(folder)
