"""realedit: evaluate instruction-based image editors on the Real-Edit benchmark.

The core package: result schema, registries, settings, dataset, runner, judges,
metrics, statistics and the command line (``realedit_bench.cli``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("realedit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

#: Checked by the CLI so that a foreign package of the same name is reported, not imported silently.
REALEDIT_PACKAGE = True
