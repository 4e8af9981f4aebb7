"""Judge backends: building one from a ``provider/model`` name, and what the providers say of themselves.

Providers are registered in :data:`realedit_bench.registry.JUDGES`; third parties add theirs through
the ``realedit.judges`` entry-point group. A backend class takes the part of the judge name after
``provider/`` and subclasses :class:`realedit_bench.judges.backends.base.Backend`, which declares
everything else (key variable, prices, token estimate, help). Importing a backend module never imports
its SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from realedit_bench.errors import ConfigError, RealEditError
from realedit_bench.registry import JUDGES

if TYPE_CHECKING:
    from realedit_bench.judges.backends.base import Backend


def split_judge_name(judge: str) -> tuple[str, str]:
    """``"openai/gpt-4o"`` -> ``("openai", "gpt-4o")``; a name without a provider is an error."""
    provider, sep, model = judge.partition("/")
    if not sep or not provider or not model:
        raise ConfigError(
            f"judge {judge!r} must be provider/model, e.g. openai/gpt-4o-2024-08-06, "
            f"anthropic/claude-sonnet-4-6 or openai-api/http://localhost:8000/v1/<model>"
        )
    return provider, model


def backend_class(provider: str) -> type[Backend]:
    """The backend class registered for ``provider`` (UnknownNameError with suggestions otherwise)."""
    return JUDGES.get(provider)


def make_backend(judge: str, *, check_key: bool = True) -> Backend:
    """Build the backend for ``provider/model``; checks keys and settings (ConfigError) before any call.

    ``check_key=False`` is for ``--dry-run``, which sends nothing: a user may price a run before having a key.
    """
    provider, model = split_judge_name(judge)
    return backend_class(provider)(model, check_key=check_key)


def _providers() -> list[type[Backend] | str]:
    """Every registered provider's class; the bare name of one whose module cannot be imported, so a
    broken plug-in does not break ``realedit --help`` (using it still says why)."""
    out: list[type[Backend] | str] = []
    for name in JUDGES.names():
        try:
            out.append(backend_class(name))
        except (ImportError, RealEditError):
            out.append(name)
    return out


def judge_help() -> str:
    """``--judge``'s help: the judge names of every registered provider."""
    names = [p if isinstance(p, str) else p.name_help or f"{p.provider}/<model>" for p in _providers()]
    listed = ", ".join(names[:-1]) + (", or " if len(names) > 1 else "") + names[-1] if names else "none"
    return f"provider/model: {listed}."


def key_names() -> str:
    """The environment variables that hold the registered providers' keys, comma-separated."""
    envs = [e for p in _providers() if not isinstance(p, str) for e in p.key_envs]
    return ", ".join(dict.fromkeys(envs))
