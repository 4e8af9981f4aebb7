"""Shared fixtures of the reward training and annotation tests: tiny triplets and reward files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

#: Three entries per sample, in the order following, preserving, quality.
GOOD_ENTRY = [
    {"Score": 5, "Negative Prompt": "None"},
    {"Score": 4, "Negative Prompt": "the sky changed colour"},
    {"Score": 3, "Negative Prompt": "blurry edges"},
]


def make_triplet_folder(root: Path, n: int = 4, size: tuple[int, int] = (48, 40), seed: int = 0) -> Path:
    """``root/s<i>/{source.png, edited.png, instruction.txt}``: random sources, their colour inverses as
    edits."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    for i in range(n):
        d = root / f"s{i}"
        d.mkdir(parents=True, exist_ok=True)
        src = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(src).save(d / "source.png")
        Image.fromarray(255 - src).save(d / "edited.png")
        (d / "instruction.txt").write_text("invert the colours\n")
    return root


def make_rewardedit_json(path: Path, ids: list[str]) -> Path:
    """A RewardEdit-20K style file for ``ids`` with scores that differ by sample."""
    data = {}
    for i, sid in enumerate(ids):
        entries = [dict(e) for e in GOOD_ENTRY]
        entries[0]["Score"] = 5 - (i % 6)
        data[sid] = entries
    Path(path).write_text(json.dumps(data))
    return Path(path)


@pytest.fixture(autouse=True)
def _one_thread_and_fresh_accelerate():
    """One torch thread (the CI box is shared: more threads are slower) and a fresh accelerate state."""
    from accelerate.state import AcceleratorState, GradientState

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    torch.set_num_threads(threads)
