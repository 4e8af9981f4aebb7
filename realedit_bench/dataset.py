"""Benchmarks: the :class:`Sample` every verb works on, the :class:`Benchmark` base, and Real-Edit.

Real-Edit as released is a JSON object ``{"<image file>": ["1. Local: ...", ..., "7. Style: ..."]}``
beside an image folder. Both prefix forms seen in the real file ("1. Local: ..." and
"1. Local Edit: ...") are accepted. Each instruction becomes one sample with the stable id
``<image stem>-<category>`` (e.g. ``10-local``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from realedit_bench.errors import ConfigError, DataError
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
    """A benchmark knows how to find, load and fetch its data. Subclass and register in ``registries``."""

    name: str = ""
    #: What metrics compare an edit with: the source photo or a ground-truth target.
    reference: Reference = "source"

    def load(self, data_dir: Path) -> LoadedBenchmark:
        """Load and validate every sample under ``data_dir``."""
        raise NotImplementedError


# "1. Local: text", "1. Local Edit: text", "7. Style: text"; number and dot optional.
_PREFIX = re.compile(r"^\s*(?:(\d+)\s*[.)]\s*)?([A-Za-z][A-Za-z ]*?)\s*(?:[Ee]dit(?:ing)?)?\s*:\s*(.*)$", re.S)

#: Instruction-file and image-folder names we accept (ours first, then the original scripts' names).
INSTRUCTION_FILES = ("eval_instruct.json", "real_edit_instruct.json")
IMAGE_DIRS = ("imgs", "Real-Edit")


def parse_instruction(text: str) -> tuple[str, str]:
    """Split ``"1. Local Edit: make it red"`` into ``("local", "make it red")``.

    Raises:
        DataError: the prefix names no known category (the string is quoted).
    """
    if not isinstance(text, str):
        raise DataError(f"instruction {text!r} is not a string")
    m = _PREFIX.match(text)
    category = m.group(2).strip().lower() if m else ""
    if not m or category not in CATEGORIES:
        raise DataError(
            f"unknown category prefix in instruction {text!r} (expected one of: "
            + ", ".join(c.capitalize() for c in CATEGORIES)
            + ")"
        )
    instruction = m.group(3).strip()
    if not instruction:
        raise DataError(f"empty instruction after the prefix in {text!r}")
    return category, instruction


def _safe_member(root: Path, name: str) -> Path:
    """``root / name``, refusing names that are absolute or climb out of ``root``."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if not name or pure.is_absolute() or ".." in pure.parts or Path(name).is_absolute():
        raise DataError(f"image name {name!r} escapes the image folder {root}")
    return root / Path(*pure.parts)


def find_layout(data_dir: Path) -> tuple[Path, Path]:
    """Return (instruction file, image folder) under ``data_dir`` or raise a DataError saying how to fetch."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(
            f"Real-Edit data directory {data_dir} does not exist; run 'realedit data fetch' "
            f"(or pass --data-dir DIR holding eval_instruct.json and imgs/)"
        )
    json_path = next((data_dir / n for n in INSTRUCTION_FILES if (data_dir / n).is_file()), None)
    if json_path is None and (data_dir / "test" / "samples.jsonl").is_file():
        # Fetching Real-Edit there (the hint below) would mix two benchmarks in one folder.
        raise DataError(f"{data_dir} holds MagicBrush data (test/samples.jsonl): pass --benchmark magicbrush")
    if json_path is None:
        raise DataError(
            f"{data_dir} holds none of {', '.join(INSTRUCTION_FILES)}; run 'realedit data fetch --dest {data_dir}'"
        )
    img_dir = next((data_dir / n for n in IMAGE_DIRS if (data_dir / n).is_dir()), None)
    if img_dir is None:
        raise DataError(f"{data_dir} holds no image folder ({' or '.join(IMAGE_DIRS)}/); run 'realedit data fetch'")
    return json_path, img_dir


class RealEdit(Benchmark):
    """Real-Edit: 80 real photos x 7 edit types = 560 instructions (Multi-Reward Editing, ICLR 2025)."""

    name = "real-edit"
    reference = "source"

    def load(self, data_dir: Path) -> LoadedBenchmark:
        """Parse the instruction JSON; check every image name; do not decode images (see ``verify``)."""
        json_path, img_dir = find_layout(data_dir)
        raw = json_path.read_bytes()
        try:
            # utf-8-sig: a file saved by an editor that writes a byte-order mark is still valid.
            mapping = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise DataError(f"{json_path} is not UTF-8 text ({exc.reason})") from exc
        except json.JSONDecodeError as exc:
            raise DataError(f"{json_path} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(mapping, dict):
            raise DataError(f"{json_path} must be a JSON object of image name -> list of instructions")
        samples: list[Sample] = []
        seen: set[str] = set()
        for name, items in mapping.items():
            image = _safe_member(img_dir, name)
            if not isinstance(items, list):
                raise DataError(f"{json_path}: entry {name!r} must be a list of instructions")
            image_id = PurePosixPath(name).stem
            for text in items:
                category, instruction = parse_instruction(text)
                sample_id = f"{image_id}-{category}"
                if sample_id in seen:
                    raise DataError(f"{json_path}: image {name!r} has two {category!r} instructions")
                seen.add(sample_id)
                samples.append(Sample(sample_id, image_id, category, instruction, image))
        samples.sort(key=sample_sort_key)
        return LoadedBenchmark(self.name, Path(data_dir), samples, hashlib.sha256(raw).hexdigest())


def sample_sort_key(sample: Sample) -> tuple:
    """Numeric-aware order: photo 2 before photo 10, categories in benchmark order."""
    parts = re.split(r"(\d+)", sample.image_id)
    natural = tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)
    cat = CATEGORIES.index(sample.category) if sample.category in CATEGORIES else len(CATEGORIES)
    return natural, cat, sample.category


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
