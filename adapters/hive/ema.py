"""Put the EMA weights of an LDM checkpoint onto its UNet keys.

LDM's ``LitEma`` stores the average of each ``model.diffusion_model.X`` parameter as a buffer named
``model_ema.`` + ``diffusion_model.X`` without its dots (``model_ema.diffusion_modelinput_blocks00weight``),
beside ``model_ema.decay`` and ``model_ema.num_updates``. HIVE's official sampling runs inside the EMA
scope, so the EMA values are the weights to use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from realedit_bench.errors import WeightsError

UNET_PREFIX = "model.diffusion_model."
EMA_PREFIX = "model_ema."
EMA_COUNTERS = ("model_ema.decay", "model_ema.num_updates")


def ema_name(key: str) -> str:
    """The ``LitEma`` buffer name of a ``model.diffusion_model.*`` key."""
    return EMA_PREFIX + key.removeprefix("model.").replace(".", "")


class EmaResult(NamedTuple):
    """The state dict with EMA values on the UNet keys (no ``model_ema.*`` left); whether EMA was there."""

    state: dict[str, Any]
    applied: bool


def apply_ema(state: Mapping[str, Any]) -> EmaResult:
    """Replace every ``model.diffusion_model.*`` tensor by its EMA twin; drop ``model_ema.*``.

    A checkpoint without EMA buffers is returned unchanged (``applied`` False).

    Raises:
        WeightsError: some UNet weights have an EMA twin and others have none, or an EMA buffer
            matches no UNet weight.
    """
    ema = {k for k in state if k.startswith(EMA_PREFIX) and k not in EMA_COUNTERS}
    out = {k: v for k, v in state.items() if not k.startswith(EMA_PREFIX)}
    if not ema:
        return EmaResult(out, False)
    unet = [k for k in state if k.startswith(UNET_PREFIX)]
    for key in unet:
        twin = ema_name(key)
        if twin not in ema:
            raise WeightsError(f"the checkpoint's EMA weights are incomplete: no {twin!r} for {key!r}")
        out[key] = state[twin]
    unused = sorted(ema - {ema_name(k) for k in unet})
    if unused:
        raise WeightsError(f"the checkpoint has an EMA weight {unused[0]!r} that matches no UNet weight")
    return EmaResult(out, True)
