"""The one-time conversion of a release folder into safetensors, and its strictness."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import torch

from adapters.smartedit import convert
from adapters.smartedit.convert import convert_smartedit, converted_sha256, merge_lora, read_manifest
from adapters.smartedit.loading import read_part
from realedit_bench.errors import WeightsError


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_converted_files_reload_to_the_released_tensors(tiny_smartedit):
    rel = tiny_smartedit.release
    bridge = read_part(tiny_smartedit.converted, "bridge")[0]
    assert set(bridge) == set(rel.bridge)
    assert all(torch.equal(bridge[k], rel.bridge[k].float()) for k in bridge)
    unet = read_part(tiny_smartedit.converted, "unet")[0]
    assert set(unet) == set(rel.unet) and all(torch.equal(unet[k], rel.unet[k]) for k in unet)
    llm = read_part(tiny_smartedit.converted, "llm")[0]
    assert set(llm) == set(rel.llm)
    plain = [k for k in llm if not k.endswith(("q_proj.weight", "v_proj.weight"))]
    assert all(torch.equal(llm[k], rel.llm[k]) for k in plain)
    assert llm["model.layers.0.mlp.up_proj.weight"].dtype == torch.bfloat16  # compact: source dtype kept


def test_lora_is_merged_into_q_and_v_with_scale_alpha_over_rank(tiny_smartedit):
    rel = tiny_smartedit.release
    llm = read_part(tiny_smartedit.converted, "llm")[0]
    for key in ("model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.v_proj.weight"):
        a, b = rel.lora[(key, "A")], rel.lora[(key, "B")]
        assert llm[key].dtype == torch.float32
        assert torch.allclose(llm[key], rel.llm[key].float() + 2.0 * b @ a, atol=1e-6)
    assert read_manifest(tiny_smartedit.converted)["lora"]["scale"] == 2.0


def test_merge_lora_equals_the_unmerged_forward():
    torch.manual_seed(0)
    w, a, b, x = torch.randn(16, 12), torch.randn(4, 12), torch.randn(16, 4), torch.randn(5, 12)
    merged = merge_lora(w, a, b, 2.0)
    assert torch.allclose(x @ merged.T, x @ w.T + 2.0 * ((x @ a.T) @ b.T), atol=1e-5)


def test_manifest_records_source_and_output_sha256(tiny_smartedit):
    manifest = read_manifest(tiny_smartedit.converted)
    root = tiny_smartedit.release.folder
    for rel, info in manifest["sources"].items():
        assert info["sha256"] == _sha(root / rel)
    digests = converted_sha256(tiny_smartedit.converted)
    assert sorted(digests) == ["bridge-00001.safetensors", "llm-00001.safetensors", "unet-00001.safetensors"]
    assert all(digests[name] == _sha(tiny_smartedit.converted / name) for name in digests)


def test_a_second_conversion_reads_nothing_and_writes_nothing(tiny_smartedit, monkeypatch):
    before = {p.name: p.stat().st_mtime_ns for p in tiny_smartedit.converted.iterdir()}

    def refuse(*_a, **_k):
        raise AssertionError("the release was read again")

    monkeypatch.setattr(torch, "load", refuse)
    again = convert_smartedit(tiny_smartedit.release.folder, tiny_smartedit.converted, progress=False)
    assert again.converted is False
    assert {p.name: p.stat().st_mtime_ns for p in tiny_smartedit.converted.iterdir()} == before


def test_a_folder_holding_another_conversion_is_refused(tiny_smartedit, tmp_path):
    other = tmp_path / "release"
    shutil.copytree(tiny_smartedit.release.folder, other)
    (other / "unet-15000" / "adapter_model.bin").write_bytes(b"changed")
    with pytest.raises(WeightsError, match="already holds a SmartEdit conversion of other files"):
        convert_smartedit(other, tiny_smartedit.converted, progress=False)


def test_a_folder_without_the_release_files_is_refused(tmp_path):
    with pytest.raises(
        WeightsError, match=r"not a SmartEdit release folder: no file matching LLM-\*/adapter_model.bin"
    ):
        convert_smartedit(tmp_path, tmp_path / "out", progress=False)


def _edited_release(tiny_smartedit, tmp_path, sub, name, edit):
    folder = tmp_path / "release"
    shutil.copytree(tiny_smartedit.release.folder, folder)
    path = folder / sub / name
    state = torch.load(path, weights_only=True)
    edit(state)
    torch.save(state, path)
    return folder


@pytest.mark.parametrize(
    ("sub", "name", "edit", "message"),
    [
        (
            "LLM-15000",
            "adapter_model.bin",
            lambda s: s.pop("model.base_model.model.layers.1.mlp.gate_proj.weight"),
            r"^missing key 'model.layers.1.mlp.gate_proj.weight' \(from LLM-15000/adapter_model.bin\)$",
        ),
        (
            "LLM-15000",
            "adapter_model.bin",
            lambda s: s.pop("model.base_model.model.layers.0.self_attn.v_proj.lora_B.default.weight"),
            r"^missing key 'model.base_model.model.layers.0.self_attn.v_proj.lora_B.default.weight' "
            r"in LLM-15000",
        ),
        (
            "LLM-15000",
            "adapter_model.bin",
            lambda s: s.update({"model.base_model.model.layers.0.self_attn.q_proj.bias": torch.zeros(2)}),
            r"^unexpected key 'model.base_model.model.layers.0.self_attn.q_proj.bias' "
            r"in LLM-15000/adapter_model.bin$",
        ),
        (
            "embeddings_qformer",
            "checkpoint-15000_embeddings_qformer.bin",
            lambda s: s.pop("lm_head.weight"),
            r"^missing key 'lm_head.weight' \(from the embeddings_qformer file\)$",
        ),
        (
            "embeddings_qformer",
            "checkpoint-15000_embeddings_qformer.bin",
            lambda s: s.pop("sd_qformer.encoder.layer.0.crossattention.self.value.bias"),
            r"^missing key 'qformer.model.encoder.layer.0.crossattention.attention.value.bias' \(ours\)",
        ),
        (
            "modulate-15000",
            "adapter_model.bin",
            lambda s: s.update({"modulate_head.scale": torch.ones(1)}),
            r"^unexpected key 'interaction.query_in.scale' \(ours\) "
            r"in the embeddings_qformer and modulate files$",
        ),
        (
            "unet-15000",
            "adapter_model.bin",
            lambda s: s.update({"vae.x": torch.ones(1)}),
            r"^unexpected key 'vae.x' in unet-15000/adapter_model.bin$",
        ),
    ],
)
def test_a_missing_or_unexpected_key_is_one_line_naming_it(
    tiny_smartedit, tmp_path, sub, name, edit, message
):
    folder = _edited_release(tiny_smartedit, tmp_path, sub, name, edit)
    with pytest.raises(WeightsError, match=message) as info:
        convert_smartedit(folder, tmp_path / "out", progress=False)
    assert "\n" not in str(info.value)
    assert read_manifest(tmp_path / "out") is None  # nothing half-written passes for a conversion


def test_a_file_that_is_not_a_pickle_is_one_line(tiny_smartedit, tmp_path):
    folder = _edited_release(tiny_smartedit, tmp_path, "modulate-15000", "adapter_model.bin", lambda s: None)
    (folder / "modulate-15000" / "adapter_model.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"^cannot read .*modulate-15000/adapter_model.bin: "):
        convert_smartedit(folder, tmp_path / "out", progress=False)


def test_a_converted_file_that_changed_is_noticed(tiny_smartedit, tmp_path):
    copy = tmp_path / "converted"
    shutil.copytree(tiny_smartedit.converted, copy)
    with (copy / "bridge-00001.safetensors").open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(WeightsError, match="bridge-00001.safetensors is missing or changed since conversion"):
        converted_sha256(copy)


def test_parts_are_sharded_and_shards_reload_to_the_same_tensors(tiny_smartedit, tmp_path, monkeypatch):
    monkeypatch.setattr(convert, "SHARD_BYTES", 40_000)
    out = convert_smartedit(tiny_smartedit.release.folder, tmp_path / "sharded", progress=False)
    llm_shards = [name for name, info in out.manifest["files"].items() if info["part"] == "llm"]
    assert len(llm_shards) > 2
    for part in ("llm", "bridge", "unet"):
        sharded, whole = read_part(out.folder, part)[0], read_part(tiny_smartedit.converted, part)[0]
        assert sharded.keys() == whole.keys()
        assert all(torch.equal(sharded[k], whole[k]) for k in whole)
