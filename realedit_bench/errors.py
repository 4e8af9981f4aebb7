"""Errors a user can act on.

Anything derived from :class:`RealEditError` is a configuration or input problem: the CLI prints its
message as one line and exits with code 2. Every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class RealEditError(Exception):
    """A problem the user can fix (bad input, missing data, weights or keys). Exit code 2."""

    exit_code = 2


class DataError(RealEditError):
    """The benchmark data is missing, corrupt or malformed."""


class UnknownNameError(RealEditError):
    """A registry lookup failed (unknown model, judge or metric)."""


class WeightsError(RealEditError):
    """Model weights could not be loaded or reached."""


class ConfigError(RealEditError):
    """A command-line option or setting is invalid."""


class SchemaError(RealEditError):
    """A result file does not match the schema this version understands."""
