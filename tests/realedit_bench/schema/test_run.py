"""Edit rows: version 3 adds the model's input (``model_input``), version 2 ``refused`` and the ``api`` record
of paid editors; older versions are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import invoke

from realedit_bench.errors import SchemaError
from realedit_bench.jsonio import read_rows
from realedit_bench.schema import ApiCall, EditRow, ModelInput

ROW = {"sample_id": "10-local", "image_id": "10", "category": "local", "instruction": "add a hat",
       "source": "10.jpeg", "seed": 1, "finished_at": "2026-12-01T00:00:00Z"}


def test_a_refused_row_and_an_api_record_round_trip(tmp_path: Path) -> None:
    api = ApiCall(calls=2, input_tokens=10, output_tokens=20, cost_usd=0.05, model="m",
                  returned="returned/10-local.webp", returned_format="webp", returned_size=(1024, 688))
    crop = ModelInput(crop_box=(0.0, 12.5, 640.0, 467.5), size=(512, 384))
    rows = [EditRow(**ROW, status="refused", error="the edit was refused (Content Moderated)", api=api),
            EditRow(**ROW, status="ok", output="images/10-local.png", model_input=crop)]
    path = tmp_path / "edits.jsonl"
    path.write_text("".join(r.model_dump_json() + "\n" for r in rows))
    back = read_rows(path, EditRow)
    assert back == rows and back[0].schema_version == 3 and back[0].api.returned_size == (1024, 688)
    assert back[0].model_input is None and back[1].model_input == crop
    assert back[1].model_input.crop_box == (0.0, 12.5, 640.0, 467.5)
    assert back[1].model_input.size == (512, 384)
    with pytest.raises(ValueError, match="status"):
        EditRow(**ROW, status="moderated")


@pytest.mark.parametrize("version", [1, 2])
def test_edits_of_older_versions_are_refused_in_one_line(tmp_path: Path, real_edit_dir: Path,
                                                        version: int) -> None:
    run = tmp_path / "runs" / "old"
    res = invoke("run", "--model", "identity", "--limit", "1", "--data-dir", str(real_edit_dir),
                 "--out", str(tmp_path / "runs"), "--run-id", "old")
    assert res.returncode == 0, res.stderr
    lines = (run / "edits.jsonl").read_text().splitlines()
    (run / "edits.jsonl").write_text("".join(json.dumps({**json.loads(x), "schema_version": version}) + "\n"
                                             for x in lines))
    says = rf"edits.jsonl: schema_version {version} is not the version this realedit reads \(3"
    with pytest.raises(SchemaError, match=says):
        read_rows(run / "edits.jsonl", EditRow)
    res = invoke("run", "--model", "identity", "--limit", "1", "--data-dir", str(real_edit_dir),
                 "--out", str(tmp_path / "runs"), "--run-id", "old")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    last = res.stderr.strip().splitlines()[-1]  # one line, after the progress bar that had started
    assert last.startswith("error: ") and last.endswith("remove the file and rerun realedit run")
