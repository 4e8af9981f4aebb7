"""How a run is named: the settings it changed from its editor's defaults, and its default display label.

A run records every resolved setting of its editor (``manifest.adapter.params``). What differs from the
editor's documented defaults is what tells two runs of one model apart: the runner names a run by it
(``instruct-pix2pix (scheduler=ddim, steps=20)``) when ``realedit run --label`` gives no name, and the
leaderboard's settings column lists it. The defaults are read from the editor class through the registry
(class attributes and constructor signatures only: no weights, no torch), so this module is light.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import PurePath
from typing import Any

from realedit_bench.errors import RealEditError

#: A default resolved on the machine that runs the editor (device, dtype): never a change of settings.
MACHINE_DEFAULT = "auto"


@lru_cache(maxsize=64)
def _defaults(model: str) -> tuple[tuple[str, Any], ...] | None:
    from realedit_bench.editing import class_default, settings
    from realedit_bench.registry import ADAPTERS

    try:
        cls = ADAPTERS.get(model)
        found = settings(cls)
    except (RealEditError, ImportError, TypeError, ValueError):  # not installed here, or not a class
        return None
    out = []
    for s in found:
        default = s.default if s.default is not None else class_default(cls, s.name)
        if s.default is not inspect.Parameter.empty and default != MACHINE_DEFAULT:
            out.append((s.name, default))
    return tuple(out)


def editor_defaults(model: str) -> dict[str, Any] | None:
    """The documented default of each setting of editor ``model``; None when it is not installed here.

    Settings resolved per machine (``"auto"``) and required settings are left out: they have no default
    a run could differ from.
    """
    found = _defaults(model)
    return None if found is None else dict(found)


def _plain(value: Any) -> Any:
    """``value`` as JSON reads it back, so a default ``(1, 2)`` equals a recorded ``[1, 2]``."""
    return json.loads(json.dumps(value, default=str))


def run_changes(model: str, params: Mapping[str, Any], base_seed: int = 0) -> dict[str, Any] | None:
    """What a run of ``model`` changed from the editor's defaults: its recorded settings that differ (in
    name order), then the base seed when it is not the default 0.

    Args:
        model: registry name of the editor.
        params: the resolved settings the run records (``manifest.adapter.params``).
        base_seed: the run's ``--seed``.

    Returns:
        setting -> recorded value (empty for a run with the defaults); None when the editor's defaults are
        not known here (an editor not installed where the report is built).
    """
    defaults = editor_defaults(model)
    if defaults is None:
        return None
    changed = {
        k: params[k] for k in sorted(params) if k in defaults and _plain(params[k]) != _plain(defaults[k])
    }
    if base_seed:
        changed["seed"] = base_seed
    return changed


def _shown(key: str, value: Any) -> str:
    """A setting as a label shows it: strings as they are, local weights by their last two path parts
    (never a home directory), other values as JSON writes them."""
    if not isinstance(value, str):
        return json.dumps(value)
    if key == "weights" and len(PurePath(value).parts) > 2:
        return "/".join(PurePath(value).parts[-2:])
    return value


def settings_text(settings: Mapping[str, Any]) -> str:
    """``scheduler=ddim, steps=20``: what :func:`run_changes` found, as labels and tables show it."""
    return ", ".join(f"{k}={_shown(k, v)}" for k, v in settings.items())


def default_label(model: str, params: Mapping[str, Any], base_seed: int = 0) -> str:
    """The display name of a run given no ``--label``: the model, and what it changed from the defaults."""
    changed = run_changes(model, params, base_seed)
    return f"{model} ({settings_text(changed)})" if changed else model
