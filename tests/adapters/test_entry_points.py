"""A third-party editor runs in realedit: installed as a package with a ``realedit.adapters`` entry point, or
a class on the Python path named ``--model python:module:Class``."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from cli_runner import invoke, realedit_cli
from paths import REPO

from realedit_bench.jsonio import read_rows
from realedit_bench.schema import EditRow

EDITOR = '''
"""A lab's editor: InstructPix2Pix weights, a text suffix and a guidance boost of its own."""

from typing import Any

from adapters.base import DiffusersEditor


class DuskEditor(DiffusersEditor):
    name = "dusk-editor"
    family = "instruct-pix2pix"
    license = "test only"
    default_steps = 2
    default_guidance = 7.5
    default_image_guidance = 1.5
    default_resolution = 64
    pipeline_class = "StableDiffusionInstructPix2PixPipeline"

    def __init__(self, *, suffix: str = " at dusk", boost: float = 0.0, **settings: Any) -> None:
        super().__init__(**settings)
        self.suffix, self.boost = suffix, boost

    def params(self):
        return {**super().params(), "suffix": self.suffix, "boost": self.boost}

    def prompt(self, instruction):
        return instruction + self.suffix

    def call_kwargs(self, group):
        return {**super().call_kwargs(group), "guidance_scale": self.guidance_scale + self.boost}
'''


def _install(site: Path) -> dict[str, str]:
    """The package on a folder of its own, as pip would leave it: module + dist-info with entry points."""
    (site / "dusk_editor.py").write_text(EDITOR)
    info = site / "dusk_editor-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dusk-editor\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[realedit.adapters]\ndusk-editor = dusk_editor:DuskEditor\n")
    return {"PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}


def test_an_installed_editor_subclassing_the_base_runs(tiny_pix2pix_dir, real_edit_dir, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    env = _install(site)
    res = realedit_cli("models", "--params", "dusk-editor", env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    for key in ("steps", "image_guidance_scale", "suffix", "boost"):
        assert f"│ {key} " in res.stdout
    res = realedit_cli(
        "run", "--model", "dusk-editor", "--weights", str(tiny_pix2pix_dir), "-M", "boost=1.5", "-M",
        "suffix= at night", "--limit", "2", "--device", "cpu", "--data-dir", str(real_edit_dir),
        "--out", str(tmp_path / "runs"), env=env,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    run_dir = Path(res.stdout.strip())
    assert run_dir.name.startswith("dusk-editor-real-edit-")
    rows = read_rows(run_dir / "edits.jsonl", EditRow)
    assert [r.status for r in rows] == ["ok", "ok"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    params = manifest["adapter"]["params"]
    assert (params["boost"], params["suffix"]) == (1.5, " at night")
    assert (params["steps"], params["resolution"]) == (2, 64)
    assert params["weights"] == str(tiny_pix2pix_dir.resolve()) and params["weights_fingerprint"]


def test_the_readme_editor_runs_from_the_python_path_without_registering(tiny_pix2pix_dir, real_edit_dir,
                                                                         tmp_path, monkeypatch):
    section = (REPO / "README.md").read_text().split("#### An editor without registering it", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section.split("\n### ", 1)[0], re.S)
    assert len(code.strip().splitlines()) <= 6  # the five lines the README promises (and a blank one)
    (tmp_path / "my_editor.py").write_text(code)
    shutil.copytree(tiny_pix2pix_dir, tmp_path / "checkpoints" / "my-editor")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    res = invoke("run", "--model", "python:my_editor:MyEditor", "-M", "steps=2", "-M", "resolution=64",
                 "--limit", "1", "--device", "cpu", "--data-dir", str(real_edit_dir), "--out", "runs")
    assert res.returncode == 0, res.stderr[-2000:]
    run_dir = Path(res.stdout.strip())
    assert run_dir.name.startswith("my-editor-real-edit-")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["adapter"]["name"] == "my-editor" and manifest["adapter"]["family"] == "instruct-pix2pix"
    assert manifest["adapter"]["params"]["weights"] == str((tmp_path / "checkpoints" / "my-editor").resolve())
    assert [r.status for r in read_rows(run_dir / "edits.jsonl", EditRow)] == ["ok"]
    res = invoke("models", "--params", "python:my_editor:MyEditor")
    assert res.returncode == 0 and "│ steps " in res.stdout


@pytest.mark.parametrize(
    ("spec", "message"),
    [("python:no_such_module_here:Editor", "cannot import 'no_such_module_here'"),
     ("python:json", "must look like python:module:Class"),
     ("python:json:NoSuchEditor", "'json' has no attribute 'NoSuchEditor'")],
)
def test_a_python_path_editor_that_cannot_be_imported_is_one_line(spec, message, real_edit_dir, tmp_path):
    res = invoke("run", "--model", spec, "--limit", "1", "--data-dir", str(real_edit_dir),
                 "--out", str(tmp_path))
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr
