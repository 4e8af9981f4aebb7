"""The multi-perspective VLM judge: a thick rubric layer (prompts, parsing, re-asks, cache, retries,
files) over thin network backends. :func:`realedit_bench.judges.session.judge_edits` is ``realedit judge``
as a library call; :func:`realedit_bench.judges.engine.judge_items` judges any (source, edited,
instruction) triplets. Nothing here imports an SDK at module level.
"""
