"""Fixtures of the metric tests: tiny random-weight CLIP and DINO models, saved as users pass them."""

from __future__ import annotations

from pathlib import Path

import pytest
from metrics_fixtures import build_tiny_clip_dir, build_tiny_dino_dir

from realedit_bench.metrics.encoders import load_encoders
from realedit_bench.registry import METRICS


@pytest.fixture(scope="module")
def metric_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``--clip-weights`` and ``--dino-weights`` folders of tiny random-weight models."""
    root = tmp_path_factory.mktemp("metric-weights")
    return build_tiny_clip_dir(root / "clip"), build_tiny_dino_dir(root / "dino")


@pytest.fixture(scope="module")
def metric_encoders(metric_weights: tuple[Path, Path]) -> dict:
    """The CLIP and DINO encoders loaded from ``metric_weights`` through the users' loader."""
    metrics = [METRICS.get(n)() for n in ("clip_i", "dino")]
    return load_encoders(metrics, clip_weights=metric_weights[0], dino_weights=metric_weights[1])
