"""Builders for the metrics tests: tiny random-weight CLIP and DINO saved the way users keep weights,
and a MagicBrush-format test folder (the layout of the authors' test zip) made from synthetic images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

#: A small open_clip architecture. Image size and preprocessing stay at the protocol's 224 so that the
#: transform the tests check is the one real ViT-B/32 uses; only widths and depths are tiny.
TINY_CLIP_CFG = {
    "embed_dim": 32,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 224, "layers": 1, "width": 32, "patch_size": 32, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def build_tiny_clip_dir(dest: Path, seed: int = 0) -> Path:
    """A random-weight open_clip model in open_clip's hub layout (config JSON + safetensors)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CLIP_CFG)
    dest.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(dest / "open_clip_model.safetensors"))
    (dest / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP_CFG, "preprocess_cfg": {}})
    )
    return dest


def build_tiny_dino_dir(dest: Path, seed: int = 0) -> Path:
    """A random-weight ViT saved with ``save_pretrained`` (DINO's architecture, tiny widths)."""
    import torch
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(seed)
    cfg = ViTConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=224,
        patch_size=16,
        layer_norm_eps=1e-6,
    )
    ViTModel(cfg, add_pooling_layer=False).save_pretrained(dest)
    return dest


def noise_image(size: tuple[int, int], seed: int) -> Image.Image:
    """A reproducible RGB noise image of ``size`` (width, height)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8), "RGB")


def build_magicbrush_test(root: Path, sessions: dict[str, int] | None = None, size: int = 96) -> Path:
    """The authors' test-zip layout: ``test/edit_sessions.json``, ``test/images/<id>/<id>-input.png``,
    ``<id>-outputK.png``, ``<id>-maskK.png``, ``test/local_descriptions.json`` and
    ``test/global_descriptions.json``. ``sessions`` maps session id -> number of turns."""
    sessions = sessions or {"139": 3, "30": 1}
    test = root / "test"
    edit_sessions: dict[str, list[dict]] = {}
    local: dict[str, dict[str, str]] = {}
    global_: dict[str, dict[str, str]] = {}
    for sid, turns in sessions.items():
        folder = test / "images" / sid
        folder.mkdir(parents=True, exist_ok=True)
        noise_image((size, size), int(sid)).save(folder / f"{sid}-input.png")
        global_[sid] = {f"{sid}-input.png": f"a photo number {sid}"}
        local[sid] = {}
        edit_sessions[sid] = []
        for k in range(1, turns + 1):
            noise_image((size, size), int(sid) * 100 + k).save(folder / f"{sid}-output{k}.png")
            Image.new("L", (size, size), 255).save(folder / f"{sid}-mask{k}.png")
            prev = f"{sid}-input.png" if k == 1 else f"{sid}-output{k - 1}.png"
            edit_sessions[sid].append(
                {
                    "input": prev,
                    "mask": f"{sid}-mask{k}.png",
                    "output": f"{sid}-output{k}.png",
                    "instruction": f"make change {k} to photo {sid}",
                }
            )
            local[sid][f"{sid}-output{k}.png"] = f"a red thing {k}"
            global_[sid][f"{sid}-output{k}.png"] = f"a photo number {sid} after edit {k}"
    (test / "edit_sessions.json").write_text(json.dumps(edit_sessions))
    (test / "local_descriptions.json").write_text(json.dumps(local))
    (test / "global_descriptions.json").write_text(json.dumps(global_))
    return root
