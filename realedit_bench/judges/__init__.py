"""The multi-perspective VLM judge: a thick rubric layer (prompts, parsing, re-asks, cache, retries,
files) over thin network backends. See :mod:`realedit_bench.judges.engine` for the reusable API
(:func:`~realedit_bench.judges.engine.judge_items`) and :mod:`realedit_bench.judges.runner` for
``realedit judge``. Nothing here imports an SDK at module level.
"""
