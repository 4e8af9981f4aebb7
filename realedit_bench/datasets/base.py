"""What every benchmark shares: the :class:`Sample` every verb works on, the :class:`Benchmark` base,
the benchmark order of samples and the ``--limit/--category/--samples`` filters."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from realedit_bench.errors import ConfigError
from realedit_bench.schema.base import CATEGORIES
from realedit_bench.schema.metrics import Reference


class Sample(NamedTuple):
    """One benchmark item: edit ``image`` as ``instruction`` says."""

    sample_id: str
    image_id: str
    category: str
    instruction: str
    image: Path
    target: Path | None = None
    #: Extra benchmark fields (captions for CLIP-T and directional CLIP, turn index, ...).
    extra: dict[str, Any] = {}


class LoadedBenchmark(NamedTuple):
    """Samples of a benchmark plus what identifies the data they came from."""

    name: str
    data_dir: Path
    samples: list[Sample]
    content_sha256: str


class Benchmark:
    """A benchmark knows how to find, load and fetch its data. Subclass and register in
    ``realedit_bench.registry.BENCHMARKS``."""

    name: str = ""
    #: What metrics compare an edit with: the source photo or a ground-truth target.
    reference: Reference = "source"

    def load(self, data_dir: Path) -> LoadedBenchmark:
        """Load and validate every sample under ``data_dir``."""
        raise NotImplementedError


def check_files(bench: LoadedBenchmark, *, follow_symlinks: bool = False) -> None:
    """Refuse, before any work, a sample image that is not a regular file (a named pipe would hang a reader,
    a folder would fail late) or that a symlink leads out of the data folder (unless ``follow_symlinks``).
    Missing images are left to the verbs, which record or report them per sample.

    Raises:
        DataError: the first such image, named, with what to do.
    """
    from realedit_bench.userfiles import check_inside, check_regular

    seen: set[Path] = set()
    for s in bench.samples:
        for what, path in (("image", s.image), ("target image", s.target)):
            if path is None or path in seen:
                continue
            seen.add(path)
            check_inside(path, bench.data_dir, what=f"{bench.name} {what}", follow_symlinks=follow_symlinks)
            check_regular(path, what=f"{bench.name} {what}")


def sample_sort_key(sample: Sample) -> tuple:
    """Numeric-aware order: photo 2 before photo 10, categories in benchmark order."""
    parts = re.split(r"(\d+)", sample.image_id)
    natural = tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)
    cat = CATEGORIES.index(sample.category) if sample.category in CATEGORIES else len(CATEGORIES)
    return natural, cat, sample.category


def parse_sample_ids(samples: str | Sequence[str] | None) -> list[str]:
    """``--samples``: ``"10-local, 10-add"`` (as typed) or a list of ids, as a list of ids."""
    parts = (samples.split(",") if isinstance(samples, str) else list(samples)) if samples else []
    return [p.strip() for p in parts if p.strip()]


def select(
    samples: Sequence[Sample],
    *,
    limit: int | None = None,
    categories: Iterable[str] | None = None,
    sample_ids: Iterable[str] | None = None,
) -> list[Sample]:
    """Apply ``--category``, ``--samples`` and then ``--limit`` filters; unknown names are errors."""
    out = list(samples)
    if categories:
        cats = [c.strip().lower() for c in categories if c.strip()]
        known = {s.category for s in samples} or set(CATEGORIES)
        bad = [c for c in cats if c not in known]
        if bad:
            raise ConfigError(f"unknown category {bad[0]!r} (known: {', '.join(sorted(known))})")
        out = [s for s in out if s.category in cats]
    if sample_ids:
        ids = [i.strip() for i in sample_ids if i.strip()]
        by_id = {s.sample_id for s in samples}
        missing = [i for i in ids if i not in by_id]
        if missing:
            # The example comes from the benchmark itself: MagicBrush ids look like '139-turn2'.
            example = ", ".join(repr(s.sample_id) for s in samples[:2]) or "'10-local'"
            raise ConfigError(f"unknown sample id {missing[0]!r} (ids look like {example})")
        wanted = set(ids)
        out = [s for s in out if s.sample_id in wanted]
    if limit is not None:
        if limit < 0:
            raise ConfigError("--limit must be >= 0")
        out = out[:limit]
    return out
