"""Tiny SmartEdit parts, a fake release with the released key names, and its conversion (once per session)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest


class TinySmartEdit(NamedTuple):
    llm_base: Path
    clip: Path
    pix2pix: Path
    release: object  # tiny_smartedit.TinyRelease
    converted: Path


@pytest.fixture(scope="session")
def tiny_smartedit(tmp_path_factory: pytest.TempPathFactory) -> TinySmartEdit:
    import tiny_smartedit as ts

    from adapters.smartedit.convert import convert_smartedit

    root = tmp_path_factory.mktemp("smartedit")
    llm_base = ts.build_llm_base(root / "vicuna")
    release = ts.build_release(root / "release", llm_base)
    converted = convert_smartedit(release.folder, root / "converted", progress=False).folder
    return TinySmartEdit(
        llm_base, ts.build_clip(root / "clip"), ts.build_pix2pix(root / "ip2p"), release, converted
    )


@pytest.fixture(scope="session")
def smartedit_model(tiny_smartedit: TinySmartEdit):
    from adapters.smartedit.model import load_smartedit

    return load_smartedit(
        tiny_smartedit.converted, llm_base=str(tiny_smartedit.llm_base), clip=str(tiny_smartedit.clip)
    )
