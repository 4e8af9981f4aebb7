"""Real-Edit (Multi-Reward Editing, ICLR 2025): 80 real photos x 7 edit types = 560 instructions.

As released it is a JSON object ``{"<image file>": ["1. Local: ...", ..., "7. Style: ..."]}`` beside an
image folder. Both prefix forms seen in the real file ("1. Local: ..." and "1. Local Edit: ...") are
accepted. Each instruction becomes one sample with the stable id ``<image stem>-<category>`` (e.g.
``10-local``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath

from realedit_bench.datasets.base import Benchmark, LoadedBenchmark, Sample, sample_sort_key
from realedit_bench.errors import DataError
from realedit_bench.schema.base import CATEGORIES
from realedit_bench.userfiles import check_name, check_regular, decode, loads_json, read_bytes

# "1. Local: text", "1. Local Edit: text", "7. Style: text"; number and dot optional.
_PREFIX = re.compile(
    r"^\s*(?:(\d+)\s*[.)]\s*)?([A-Za-z][A-Za-z ]*?)\s*(?:[Ee]dit(?:ing)?)?\s*:\s*(.*)$", re.S
)

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
    check_name(name, "image name")
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
    # A named pipe or a folder under the instruction file's name is refused by name, not passed over.
    json_path = next((data_dir / n for n in INSTRUCTION_FILES
                      if check_regular(data_dir / n, what="instruction file") is not None), None)
    if json_path is None and (data_dir / "test" / "samples.jsonl").is_file():
        # Fetching Real-Edit there (the hint below) would mix two benchmarks in one folder.
        raise DataError(f"{data_dir} holds MagicBrush data (test/samples.jsonl): pass --benchmark magicbrush")
    if json_path is None:
        raise DataError(
            f"{data_dir} holds none of {', '.join(INSTRUCTION_FILES)}; run 'realedit data fetch --data-dir "
            f"{data_dir}'"
        )
    img_dir = next((data_dir / n for n in IMAGE_DIRS if (data_dir / n).is_dir()), None)
    if img_dir is None:
        raise DataError(
            f"{data_dir} holds no image folder ({' or '.join(IMAGE_DIRS)}/); run 'realedit data fetch'"
        )
    return json_path, img_dir


class RealEditBenchmark(Benchmark):
    """Real-Edit: 80 real photos x 7 edit types = 560 instructions (Multi-Reward Editing, ICLR 2025)."""

    name = "real-edit"
    reference = "source"

    def load(self, data_dir: Path) -> LoadedBenchmark:
        """Parse the instruction JSON; check every image name; do not decode images (see ``verify``)."""
        json_path, img_dir = find_layout(data_dir)
        raw = read_bytes(json_path, what="instruction file")
        # utf-8-sig: a file saved by an editor that writes a byte-order mark is still valid.
        mapping = loads_json(decode(raw, str(json_path)), str(json_path))
        if not isinstance(mapping, dict):
            raise DataError(f"{json_path} must be a JSON object of image name -> list of instructions")
        samples: list[Sample] = []
        seen: set[str] = set()
        for name, items in mapping.items():
            try:
                image = _safe_member(img_dir, name)
            except DataError as exc:  # the message names the file that holds the name
                raise DataError(f"{json_path}: {exc}") from None
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
