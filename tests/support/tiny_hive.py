"""Tiny LDM-style HIVE checkpoints for offline tests.

``build_checkpoint`` writes a ``.ckpt`` like PyTorch Lightning does: a ``state_dict`` with UNet weights
(``model.diffusion_model.*``), their EMA twins (``model_ema.*`` with the dots removed), a VAE and text
encoder entry; optionally training state that the restricted unpickler refuses: callbacks keyed by
their class and an object whose unpickling would call :func:`touch_marker` (a visible side effect).
"""

from __future__ import annotations

from pathlib import Path

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
