"""``realedit weights convert``: released SmartEdit and HIVE weights converted once, then found done."""

from __future__ import annotations

import tiny_hive
from cli_runner import invoke

from adapters.hive.convert import read_metadata
from adapters.smartedit.convert import converted_sha256


def test_smartedit_release_is_converted_then_found_done(tiny_smartedit, tmp_path):
    dst = tmp_path / "smartedit-converted"
    args = ("weights", "convert", "smartedit", str(tiny_smartedit.release.folder), str(dst), "--no-progress")
    res = invoke(*args)
    assert res.returncode == 0, res.stderr
    assert f"converted: {tiny_smartedit.release.folder} -> {dst}" in res.stdout
    assert f"run it: realedit run --model smartedit --weights {dst}" in res.stdout
    assert converted_sha256(dst) == converted_sha256(tiny_smartedit.converted)  # the same bytes
    again = invoke(*args)
    assert again.returncode == 0 and again.stdout.startswith("already converted: ")


def test_hive_checkpoint_is_converted_into_a_folder_or_a_file(tmp_path):
    ckpt = tiny_hive.build_checkpoint(tmp_path / "hive_rw.ckpt", training_state=True)
    res = invoke("weights", "convert", "hive", str(ckpt), str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    assert read_metadata(tmp_path / "out" / "hive_rw.safetensors")["ema"] == "applied"
    named = invoke("weights", "convert", "hive", str(ckpt), str(tmp_path / "mine.safetensors"))
    assert named.returncode == 0 and read_metadata(tmp_path / "mine.safetensors") is not None


def test_what_cannot_be_converted_is_one_line(tmp_path):
    res = invoke("weights", "convert", "magicbrush", str(tmp_path), str(tmp_path / "x"))
    assert res.returncode == 2 and "model 'magicbrush' loads its weights as released" in res.stderr
    res = invoke("weights", "convert", "smartedit", str(tmp_path), str(tmp_path / "x"))
    assert res.returncode == 2 and "is not a SmartEdit release folder" in res.stderr
    assert res.stderr.strip().count("\n") == 0
