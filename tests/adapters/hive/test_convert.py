"""Converting HIVE checkpoints in a child process, through the restricted unpickler only."""

from __future__ import annotations

import json
import pickle

import pytest
import tiny_hive
import torch
from safetensors.torch import load_file

from adapters.hive.ckpt_worker import stand_ins
from adapters.hive.convert import convert_hive_checkpoint, read_metadata
from realedit_bench.errors import WeightsError


def test_a_plain_checkpoint_converts_with_ema_applied(tmp_path):
    src = tiny_hive.build_checkpoint(tmp_path / "hive_rw.ckpt")
    out = convert_hive_checkpoint(src, tmp_path / "hive_rw.safetensors")
    assert out.converted and out.metadata["ema"] == "applied"
    assert json.loads(out.metadata["stand_ins"]) == []
    tensors = load_file(out.path)
    assert torch.equal(tensors[tiny_hive.UNET_KEYS[0]], torch.full((2, 3), 2.0))
    assert not [k for k in tensors if k.startswith("model_ema")]
    assert "first_stage_model.decoder.conv_in.weight" in tensors


def test_training_state_goes_through_inert_stand_ins_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran.txt"
    src = tiny_hive.build_checkpoint(tmp_path / "hive_rw_condition.ckpt", training_state=True, marker=marker)
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(src))
    assert {"tiny_hive.FakeCheckpointCallback", "tiny_hive.touch_marker"} <= set(unsafe)
    with pytest.raises(
        pickle.UnpicklingError, match="Unsupported global"
    ):  # the plain restricted load refuses
        torch.load(src, weights_only=True)
    out = convert_hive_checkpoint(src, tmp_path / "out.safetensors")
    assert set(json.loads(out.metadata["stand_ins"])) == set(unsafe)
    assert not marker.exists()  # touch_marker was named in the file but never called
    assert torch.equal(load_file(out.path)[tiny_hive.UNET_KEYS[2]], torch.full((2, 3), 2.0))
    tiny_hive.touch_marker(str(marker))  # the fixture has teeth: calling it would have left the file
    assert marker.exists()


def test_the_user_process_allow_lists_nothing(tmp_path):
    src = tiny_hive.build_checkpoint(tmp_path / "a.ckpt", training_state=True)
    convert_hive_checkpoint(src, tmp_path / "a.safetensors")
    assert "tiny_hive.touch_marker" in torch.serialization.get_unsafe_globals_in_checkpoint(str(src))


def test_stand_ins_are_distinct_inert_classes():
    (first, name1), (second, name2) = stand_ins(["a.B", "c.D"])
    assert (name1, name2) == ("a.B", "c.D") and first is not second
    obj = first(1, x=2)
    obj.__setstate__({"anything": 1})
    assert vars(obj) == {}


def test_a_second_conversion_is_a_no_op_and_a_changed_source_converts_again(tmp_path):
    src = tiny_hive.build_checkpoint(tmp_path / "h.ckpt")
    dst = tmp_path / "h.safetensors"
    first = convert_hive_checkpoint(src, dst)
    mtime = dst.stat().st_mtime_ns
    second = convert_hive_checkpoint(src, dst)
    assert not second.converted and dst.stat().st_mtime_ns == mtime
    assert second.metadata == first.metadata
    tiny_hive.build_checkpoint(src, with_ema=False)
    third = convert_hive_checkpoint(src, dst)
    assert third.converted and third.metadata["ema"] == "absent"


def test_the_metadata_records_the_source_sha256(tmp_path):
    import hashlib

    src = tiny_hive.build_checkpoint(tmp_path / "h.ckpt")
    out = convert_hive_checkpoint(src, tmp_path / "h.safetensors")
    assert out.metadata["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert read_metadata(tmp_path / "h.ckpt") is None  # not one of ours


def test_a_broken_checkpoint_is_one_line_from_the_child(tmp_path):
    src = tmp_path / "broken.ckpt"
    src.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match=r"^cannot convert HIVE checkpoint .*broken.ckpt: ") as info:
        convert_hive_checkpoint(src, tmp_path / "broken.safetensors")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "broken.safetensors").exists()


def test_a_missing_checkpoint_is_one_line(tmp_path):
    with pytest.raises(WeightsError, match="HIVE checkpoint .*absent.ckpt not found"):
        convert_hive_checkpoint(tmp_path / "absent.ckpt", tmp_path / "x.safetensors")
