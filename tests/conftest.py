"""Shared fixtures: paths to ../shared data, a tiny InstructPix2Pix pipeline and tiny SmartEdit parts, each
saved once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Tiny models gain nothing from intra-op threads, and on a 2-core machine that also runs subprocesses,
# oversubscribed threads made steps ten times slower. Subprocesses inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Helper modules (tiny models, fake servers, fixtures builders) live in tests/support/.
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

from paths import REAL_EDIT  # noqa: E402


@pytest.fixture(scope="session")
def real_edit_dir() -> Path:
    """The real Real-Edit benchmark in ../shared (CI has it there)."""
    if not (REAL_EDIT / "eval_instruct.json").is_file():
        pytest.fail(f"Real-Edit seed data not found at {REAL_EDIT}")
    return REAL_EDIT


@pytest.fixture(scope="session")
def tiny_pix2pix_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight InstructPix2Pix pipeline, saved with save_pretrained."""
    from tiny_models import build_tiny_pix2pix

    return build_tiny_pix2pix(tmp_path_factory.mktemp("tiny") / "pipe")


class TinySmartEdit(NamedTuple):
    llm_base: Path
    clip: Path
    pix2pix: Path
    release: object  # tiny_smartedit.TinyRelease
    converted: Path


@pytest.fixture(scope="session")
def tiny_smartedit(tmp_path_factory: pytest.TempPathFactory) -> TinySmartEdit:
    """Tiny SmartEdit parts, a fake release with the released key names, and its conversion."""
    import tiny_smartedit as ts

    from adapters.smartedit.convert import convert_smartedit

    root = tmp_path_factory.mktemp("smartedit")
    llm_base = ts.build_llm_base(root / "vicuna")
    release = ts.build_release(root / "release", llm_base)
    converted = convert_smartedit(release.folder, root / "converted", progress=False).folder
    return TinySmartEdit(
        llm_base, ts.build_clip(root / "clip"), ts.build_pix2pix(root / "ip2p"), release, converted
    )
