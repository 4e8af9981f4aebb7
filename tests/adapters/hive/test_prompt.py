"""HIVE's instruction per reward variant."""

from __future__ import annotations

import pytest

from adapters.hive.prompt import hive_instruction
from realedit_bench.errors import ConfigError


def test_the_condition_variant_appends_the_best_quality_score():
    assert hive_instruction("make it snow", "condition") == "make it snow, image quality is five out of five"


def test_the_weighted_variant_keeps_the_instruction():
    assert hive_instruction("make it snow", "weighted") == "make it snow"


def test_an_unknown_variant_is_refused():
    with pytest.raises(ConfigError, match="HIVE variant must be one of weighted, condition"):
        hive_instruction("x", "reward")
