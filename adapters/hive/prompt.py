"""HIVE's instruction for each reward variant.

The "weighted" checkpoints (``hive_rw``, ``hive_v2_rw``) take the instruction as it is; the "condition"
checkpoints (``hive_rw_condition``, ``hive_v2_rw_condition``) were trained with the reward as text and
are sampled with the best score appended to the instruction.
"""

from __future__ import annotations

from realedit_bench.errors import ConfigError

VARIANTS = ("weighted", "condition")
CONDITION_SUFFIX = ", image quality is five out of five"


def hive_instruction(instruction: str, variant: str) -> str:
    """The text HIVE's ``variant`` is prompted with for ``instruction``."""
    if variant not in VARIANTS:
        raise ConfigError(f"HIVE variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    return instruction + CONDITION_SUFFIX if variant == "condition" else instruction
