"""A third-party metric registered through the ``realedit.metrics`` entry-point group works like a built-in
one: listed, measured, summarised. The package is made in the test (a module plus its ``.dist-info`` with
``entry_points.txt``) and put on the path, so ``importlib.metadata`` finds it as it finds an installed one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from paths import REPO
from PIL import Image

from realedit_bench.errors import ConfigError, UnknownNameError
from realedit_bench.registry import Registry

MODULE = '''
"""A pixel metric of a third party: the gap in mean brightness between the edit and its reference."""

from realedit_bench.metrics.core import Metric, pixel_pair


class BrightnessGap(Metric):
    name = "brightness_gap"
    label = "Brightness gap"
    higher_is_better = False

    def images(self, item):
        return []

    def __call__(self, item, store):
        edited, reference = pixel_pair(item.edited, item.reference)
        return float(abs(edited.mean() - reference.mean()))
'''


def _package(root: Path, entries: str) -> Path:
    """``root/third_party_metric.py`` and its distribution metadata declaring ``entries``."""
    root.mkdir(parents=True)
    (root / "third_party_metric.py").write_text(MODULE)
    info = root / "third_party_metric-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: third-party-metric\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[realedit.metrics]\n{entries}\n")
    return root


@pytest.fixture()
def package(tmp_path: Path) -> Path:
    return _package(tmp_path / "site", "brightness_gap = third_party_metric:BrightnessGap")


def test_an_entry_point_metric_is_found_and_loaded(package: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(package))
    metrics = Registry("metric", group="realedit.metrics")
    assert "brightness_gap" in metrics.names()
    assert metrics.target("brightness_gap") == "third_party_metric:BrightnessGap"
    cls = metrics.get("brightness_gap")
    assert cls.__name__ == "BrightnessGap" and cls.name == "brightness_gap"
    with pytest.raises(UnknownNameError, match="did you mean 'brightness_gap'"):
        metrics.get("brightness_gab")


def test_an_entry_point_may_not_take_a_built_in_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(_package(tmp_path / "site", "l1 = third_party_metric:BrightnessGap")))
    metrics = Registry("metric", group="realedit.metrics")
    metrics.register("l1", "realedit_bench.metrics.core:L1")
    with pytest.raises(ConfigError, match="clashes with a built-in name"):
        metrics.names()


def test_realedit_metrics_measures_an_entry_point_metric(package: Path, real_edit_dir: Path, tmp_path: Path):
    edits = tmp_path / "edits"
    edits.mkdir()
    source = Image.open(real_edit_dir / "imgs" / "10.jpeg").convert("RGB")
    source.save(edits / "10-local.png")  # same pixels: no gap
    Image.new("RGB", source.size, (255, 255, 255)).save(edits / "10-remove.png")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package), str(REPO)]), "HF_HUB_OFFLINE": "1"}
    res = subprocess.run(
        [str(Path(sys.executable).with_name("realedit")), "metrics", "--images", str(edits), "--data-dir",
         str(real_edit_dir), "--metric", "brightness_gap,l1", "--resamples", "100"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads((edits / "metrics_summary.json").read_text())
    assert summary["labels"]["brightness_gap"] == "Brightness gap to source (preservation)"
    assert summary["higher_is_better"]["brightness_gap"] is False and summary["counts"]["brightness_gap"] == 2
    assert 0.2 < summary["means"]["brightness_gap"] < 0.5  # (0 + the white edit's gap) / 2
    assert "Brightness gap to source (preservation)" in " ".join(res.stdout.split())
    rows = [json.loads(line) for line in (edits / "metrics.jsonl").read_text().splitlines()]
    assert {r["sample_id"]: r["values"]["brightness_gap"] for r in rows}["10-local"] == 0.0
