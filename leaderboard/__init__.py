"""The static leaderboard site of realedit. Reads result files only; never imports torch or adapters."""

#: Marker checked by the CLI: a foreign package named ``leaderboard`` lacks it.
REALEDIT_PACKAGE = True
