"""Benchmarks (datasets): the shared sample model and filters, and one module per benchmark.

Each benchmark is a :class:`~realedit_bench.datasets.base.Benchmark` registered in
:data:`realedit_bench.registry.BENCHMARKS`; ``fetch`` downloads and verifies the Real-Edit release.
"""

from realedit_bench.datasets.base import (
    Benchmark,
    LoadedBenchmark,
    Sample,
    parse_sample_ids,
    sample_sort_key,
    select,
)

__all__ = ["Benchmark", "LoadedBenchmark", "Sample", "parse_sample_ids", "sample_sort_key", "select"]
