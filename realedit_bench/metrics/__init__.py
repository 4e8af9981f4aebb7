"""Automatic metrics (``realedit metrics``): L1, L2, CLIP-I, DINO, CLIP-T and directional CLIP.

The registry maps a metric name to a :class:`realedit_bench.metrics.core.Metric` class; third-party
packages add metrics through the ``realedit.metrics`` entry-point group. Nothing heavy is imported
here: the CLIP and DINO models load lazily (``realedit_bench.metrics.encoders``).
"""

from __future__ import annotations

from realedit_bench.registry import Registry

#: Metrics: name -> "module:Class" subclassing realedit_bench.metrics.core.Metric.
METRICS: Registry = Registry("metric", group="realedit.metrics")
METRICS.register("l1", "realedit_bench.metrics.core:L1")
METRICS.register("l2", "realedit_bench.metrics.core:L2")
METRICS.register("clip_i", "realedit_bench.metrics.core:ClipI")
METRICS.register("dino", "realedit_bench.metrics.core:Dino")
METRICS.register("clip_t", "realedit_bench.metrics.core:ClipT")
METRICS.register("clip_dir", "realedit_bench.metrics.core:ClipDirectional")

#: Order in which metrics are computed and shown.
DEFAULT_ORDER = ("l1", "l2", "clip_i", "dino", "clip_t", "clip_dir")

__all__ = ["DEFAULT_ORDER", "METRICS"]
