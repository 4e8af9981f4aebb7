"""Every registry of the project, and the small generic :class:`Registry` behind them.

Entries are lazy ``"module:Attr"`` import strings, so listing names never imports torch or an SDK.
Third parties register through an entry-point group in their own package metadata:
``realedit.adapters`` (editors), ``realedit.benchmarks``, ``realedit.judges`` (judge providers) and
``realedit.metrics``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar, cast

from realedit_bench.errors import ConfigError, UnknownNameError

T = TypeVar("T")

#: ``--model python:module:Class``: an editor class on the Python path, used without registering it.
PYTHON_PREFIX = "python:"


def import_string(target: str) -> object:
    """Import ``"package.module:Attr"`` and return the attribute."""
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ConfigError(f"registry entry {target!r} must look like 'module:Attr'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ConfigError(f"{module_name!r} has no attribute {attr!r} (registry entry {target!r})") from exc


class Registry(Generic[T]):
    """Name -> lazily imported object, with "did you mean" on unknown names.

    Args:
        kind: What the entries are ("model", "judge", "metric"); used in messages.
        group: Entry-point group scanned for third-party entries, or None.
        import_prefix: Names starting with it are ``module:Attr`` import strings, imported on demand
            without registration (``python:`` for editors), or None.
    """

    def __init__(self, kind: str, group: str | None = None, import_prefix: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self.import_prefix = import_prefix
        self._entries: dict[str, str | T] = {}
        self._scanned = group is None

    def register(self, name: str, target: str | T) -> None:
        """Add ``name``; a second registration of the same name is an error."""
        if name in self._entries:
            raise ConfigError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = target

    def _scan(self) -> None:
        if self._scanned or self.group is None:
            return
        self._scanned = True
        for ep in entry_points(group=self.group):
            if ep.name in self._entries:
                raise ConfigError(
                    f"{self.kind} {ep.name!r} from entry point {ep.value!r} clashes with a built-in name"
                )
            self._entries[ep.name] = ep.value

    def names(self) -> list[str]:
        """All registered names, sorted."""
        self._scan()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._scan()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def target(self, name: str) -> str:
        """The import string (or repr) behind ``name``, without importing it."""
        self._scan()
        self._check(name)
        entry = self._entries[name]
        return entry if isinstance(entry, str) else repr(entry)

    def _check(self, name: str) -> None:
        if name not in self._entries:
            close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}{hint} (known: {known})")

    def _imported(self, name: str) -> T:
        """The object named by an unregistered ``<import_prefix>module:Attr``; a failure is one line."""
        target = name[len(self.import_prefix or ""):]
        module, _, attr = target.partition(":")
        if not module or not attr:
            raise ConfigError(f"{self.kind} {name!r} must look like {self.import_prefix}module:Class")
        try:
            return cast(T, import_string(target))
        except ImportError as exc:
            raise ConfigError(f"{self.kind} {name!r}: cannot import {module!r} ({exc}); is its folder on "
                              f"PYTHONPATH?") from exc

    def get(self, name: str) -> T:
        """Return the object registered as ``name``, importing it on first use (or an import string's)."""
        if self.import_prefix and name.startswith(self.import_prefix):
            return self._imported(name)
        self._scan()
        self._check(name)
        entry = self._entries[name]
        if isinstance(entry, str):
            # The registry's contract: an import string names an object of type T.
            loaded = cast(T, import_string(entry))
            self._entries[name] = loaded
            return loaded
        return entry


#: Editing models: name -> "module:Class" implementing realedit_bench.editing.EditModel.
ADAPTERS: Registry = Registry("model", group="realedit.adapters", import_prefix=PYTHON_PREFIX)
ADAPTERS.register("instruct-pix2pix", "adapters.instruct_pix2pix:InstructPix2Pix")
ADAPTERS.register("magicbrush", "adapters.magicbrush:MagicBrush")
ADAPTERS.register("hq-edit", "adapters.hq_edit:HQEdit")
ADAPTERS.register("identity", "adapters.identity:Identity")
ADAPTERS.register("reward-instruct-pix2pix", "reward_model.adapter:RewardInstructPix2Pix")
ADAPTERS.register("smartedit", "adapters.smartedit.adapter:SmartEdit")
ADAPTERS.register("reward-smartedit", "reward_model.smartedit:RewardSmartEdit")
ADAPTERS.register("hive", "adapters.hive.adapter:Hive")
ADAPTERS.register("flux-kontext", "adapters.flux_kontext:FluxKontext")
ADAPTERS.register("qwen-image-edit", "adapters.qwen_image_edit:QwenImageEdit")
ADAPTERS.register("flux2-klein", "adapters.flux2_klein:Flux2Klein")
ADAPTERS.register("longcat-edit", "adapters.longcat_edit:LongCatEdit")
ADAPTERS.register("gpt-image", "adapters.api.openai_image:GPTImage")
ADAPTERS.register("gemini-image", "adapters.api.gemini_image:GeminiImage")
ADAPTERS.register("flux-kontext-api", "adapters.api.bfl:FluxKontextAPI")
ADAPTERS.register("seededit", "adapters.api.seededit:SeedEdit")

#: Benchmarks: name -> "module:Class" subclassing realedit_bench.datasets.Benchmark.
BENCHMARKS: Registry = Registry("benchmark", group="realedit.benchmarks")
BENCHMARKS.register("real-edit", "realedit_bench.datasets.real_edit:RealEditBenchmark")
BENCHMARKS.register("magicbrush", "realedit_bench.datasets.magicbrush:MagicBrushBenchmark")

#: Judge providers: the ``provider`` of ``provider/model`` -> "module:Class" of a judge Backend.
JUDGES: Registry = Registry("judge provider", group="realedit.judges")
JUDGES.register("openai", "realedit_bench.judges.backends.openai_chat:OpenAIChat")
JUDGES.register("openai-api", "realedit_bench.judges.backends.openai_chat:OpenAICompatible")
JUDGES.register("anthropic", "realedit_bench.judges.backends.anthropic_messages:AnthropicMessages")
JUDGES.register("gemini", "realedit_bench.judges.backends.gemini:GeminiJudge")

#: Metrics: name -> "module:Class" subclassing realedit_bench.metrics.core.Metric.
METRICS: Registry = Registry("metric", group="realedit.metrics")
METRICS.register("l1", "realedit_bench.metrics.core:L1")
METRICS.register("l2", "realedit_bench.metrics.core:L2")
METRICS.register("clip_i", "realedit_bench.metrics.core:ClipI")
METRICS.register("dino", "realedit_bench.metrics.core:Dino")
METRICS.register("clip_t", "realedit_bench.metrics.core:ClipT")
METRICS.register("clip_dir", "realedit_bench.metrics.core:ClipDirectional")
