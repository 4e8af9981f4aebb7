"""The project's registries. Built-in entries are import strings; nothing heavy is imported here."""

from __future__ import annotations

from realedit_bench.registry import Registry

#: Editing models: name -> "module:Class" implementing realedit_bench.editing.EditModel.
ADAPTERS: Registry = Registry("model", group="realedit.adapters")
ADAPTERS.register("instruct-pix2pix", "adapters.instruct_pix2pix:InstructPix2Pix")
ADAPTERS.register("magicbrush", "adapters.magicbrush:MagicBrush")
ADAPTERS.register("identity", "adapters.identity:Identity")
ADAPTERS.register("reward-instruct-pix2pix", "reward_model.adapter:RewardInstructPix2Pix")

#: Benchmarks: name -> "module:Class" subclassing realedit_bench.dataset.Benchmark.
BENCHMARKS: Registry = Registry("benchmark", group="realedit.benchmarks")
BENCHMARKS.register("real-edit", "realedit_bench.dataset:RealEdit")
BENCHMARKS.register("magicbrush", "realedit_bench.magicbrush:MagicBrush")
