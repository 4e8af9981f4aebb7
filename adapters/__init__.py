"""Editing-model adapters for realedit. Each module wraps one editor thinly; see realedit_bench.editing."""

#: Marker checked by the CLI: a foreign package named ``adapters`` lacks it.
REALEDIT_PACKAGE = True
