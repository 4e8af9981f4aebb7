"""The ``realedit`` command line: one module per verb, wired in :mod:`realedit_bench.cli.main`."""
