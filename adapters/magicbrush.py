"""MagicBrush (Zhang et al., NeurIPS 2023 Datasets and Benchmarks, arXiv:2306.10012).

InstructPix2Pix fine-tuned on the manually annotated MagicBrush data. Weights: the community diffusers
conversion ``vinesmsuic/magicbrush-jul7`` of the released checkpoint ``osunlp/InstructPix2Pix-MagicBrush``
(CC BY 4.0 data; the checkpoint inherits the CreativeML OpenRAIL-M licence of Stable Diffusion). The
original ``.ckpt`` also loads: ``--weights path/to/MagicBrush-epoch-*.ckpt`` goes through diffusers'
single-file loading. Same pipeline as InstructPix2Pix; MagicBrush evaluated with the InstructPix2Pix
edit script's settings, so the defaults are the same: Euler-ancestral, 100 steps, text guidance 7.5,
image guidance 1.5, about 512 px.
"""

from __future__ import annotations

from typing import ClassVar

from adapters.instruct_pix2pix import InstructPix2Pix


class MagicBrush(InstructPix2Pix):
    """InstructPix2Pix fine-tuned on MagicBrush."""

    name: ClassVar[str] = "magicbrush"
    default_weights: ClassVar[str | None] = "vinesmsuic/magicbrush-jul7"
    license: ClassVar[str] = "CreativeML OpenRAIL-M (weights), CC BY 4.0 (data)"
