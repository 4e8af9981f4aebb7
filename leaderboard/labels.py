"""How the site names a run: its display label and the settings it changed from its editor's defaults.

A run directory records every resolved setting of its editor (``manifest.adapter.params``) and, when
``realedit run --label`` recorded one, a display label. Without a label the site derives the runner's
default, the model name followed by the settings that differ from the editor's documented defaults
(``instruct-pix2pix (scheduler=ddim, steps=20)``) and the base seed when it is not 0; the settings
column of the leaderboard lists the same changes. The defaults are read from the editor's constructor
through the registry (class attributes and signatures only: no weights, no torch), so an editor not
installed where the report is built shows its model name and no settings column.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from realedit_bench.errors import RealEditError
from realedit_bench.schema import RunManifest

#: A default resolved on the machine that ran the editor (device, dtype): never a change of settings.
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


def changed_settings(model: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The recorded settings of a run of ``model`` that differ from the editor's defaults, by name.

    Args:
        model: registry name of the editor.
        params: the resolved settings the run recorded (``manifest.adapter.params``).

    Returns:
        setting -> recorded value, in name order (empty for a run with the defaults); None when the
        editor's defaults are not known here.
    """
    defaults = editor_defaults(model)
    if defaults is None:
        return None
    return {
        k: params[k] for k in sorted(params) if k in defaults and _plain(params[k]) != _plain(defaults[k])
    }


def run_changes(manifest: RunManifest) -> dict[str, Any] | None:
    """What a run changed from its editor's defaults: its settings that differ, then its base seed when not
    the default 0 (``realedit run --seed``); None when the editor's defaults are not known here."""
    changed = changed_settings(manifest.adapter.name, manifest.adapter.params)
    if changed is not None and manifest.base_seed:
        changed["seed"] = manifest.base_seed
    return changed


def settings_text(settings: Mapping[str, Any]) -> str:
    """``steps=20, scheduler=ddim``: strings as they are, other values as JSON writes them."""
    return ", ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in settings.items())


def run_label(manifest: RunManifest) -> str:
    """The run's display label: the one ``realedit run --label`` recorded, else the model name followed by
    what the run changed from the editor's defaults (:func:`run_changes`)."""
    recorded = getattr(manifest, "label", None)
    if recorded:
        return str(recorded)
    changed = run_changes(manifest)
    return f"{manifest.adapter.name} ({settings_text(changed)})" if changed else manifest.adapter.name
