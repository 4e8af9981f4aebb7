"""Automatic metrics (``realedit metrics``): L1, L2, CLIP-I, DINO, CLIP-T and directional CLIP.

:data:`realedit_bench.registry.METRICS` maps a metric name to a
:class:`realedit_bench.metrics.core.Metric` class; third-party packages add metrics through the
``realedit.metrics`` entry-point group. Nothing heavy is imported here: the CLIP and DINO models load lazily
(``realedit_bench.metrics.encoders``).
"""

from __future__ import annotations

from realedit_bench.registry import METRICS

#: Order in which metrics are computed and shown.
DEFAULT_ORDER = ("l1", "l2", "clip_i", "dino", "clip_t", "clip_dir")

__all__ = ["DEFAULT_ORDER", "METRICS"]
