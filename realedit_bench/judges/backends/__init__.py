"""Judge backends: building one from a ``provider/model`` name.

Providers are registered in :data:`realedit_bench.registry.JUDGES`; third parties add theirs through
the ``realedit.judges`` entry-point group. A backend class takes the part of the judge name after
``provider/`` and subclasses :class:`realedit_bench.judges.backends.base.Backend`.
"""

from __future__ import annotations

from realedit_bench.errors import ConfigError
from realedit_bench.registry import JUDGES


def split_judge_name(judge: str) -> tuple[str, str]:
    """``"openai/gpt-4o"`` -> ``("openai", "gpt-4o")``; a name without a provider is an error."""
    provider, sep, model = judge.partition("/")
    if not sep or not provider or not model:
        raise ConfigError(
            f"judge {judge!r} must be provider/model, e.g. openai/gpt-4o-2024-08-06, "
            f"anthropic/claude-sonnet-4-6 or openai-api/http://localhost:8000/v1/<model>"
        )
    return provider, model


def make_backend(judge: str, *, check_key: bool = True):  # -> Backend (unannotated: keeps this import light)
    """Build the backend for ``provider/model``; checks keys and settings (ConfigError) before any call.

    ``check_key=False`` is for ``--dry-run``, which sends nothing: a user may price a run before having a key.
    """
    provider, model = split_judge_name(judge)
    cls = JUDGES.get(provider)
    return cls(model, check_key=check_key)
