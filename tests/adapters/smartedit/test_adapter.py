"""The ``smartedit`` editor: a release folder converted on first use, run through ``realedit run``."""

from __future__ import annotations

import json

import pytest
from cli_runner import invoke
from PIL import Image

from adapters.smartedit.base_parts import load_llm_base, resolve_base_parts
from adapters.smartedit.convert import converted_sha256, read_manifest, release_cache
from realedit_bench.errors import ConfigError, WeightsError
from realedit_bench.jsonio import read_rows
from realedit_bench.registry import ADAPTERS
from realedit_bench.schema import EditRow

TINY = ["-M", "steps=2", "-M", "resolution=64", "--device", "cpu"]


def _parts(tiny) -> list[str]:
    return ["-M", f"llm_base={tiny.llm_base}", "-M", f"clip={tiny.clip}", "-M", f"ip2p={tiny.pix2pix}"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REALEDIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_realedit_run_converts_the_release_once_and_edits_two_real_edit_samples(
    tiny_smartedit, real_edit_dir, cache, tmp_path
):
    args = ["run", "--model", "smartedit", "--weights", str(tiny_smartedit.release.folder),
            *_parts(tiny_smartedit), *TINY, "--limit", "2", "--batch-size", "2",
            "--data-dir", str(real_edit_dir), "--out", str(tmp_path / "runs")]
    res = invoke(*args)
    assert res.returncode == 0, res.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    rows = read_rows(run_dir / "edits.jsonl", EditRow)
    assert [r.status for r in rows] == ["ok", "ok"]
    assert all(Image.open(run_dir / r.output).size == (64, 64) for r in rows)  # the square input
    converted = release_cache(tiny_smartedit.release.folder)
    assert converted.parent == cache / "weights" / "smartedit" and read_manifest(converted) is not None
    params = json.loads((run_dir / "manifest.json").read_text())["adapter"]["params"]
    assert params["weights_sha256"] == converted_sha256(tiny_smartedit.converted)
    assert params["llm_decoding"] == "sampled" and params["llm_temperature"] == 0.7
    assert params["prompt_template"] == 0 and params["llm_dtype"] == "fp32"
    assert (params["steps"], params["scheduler"], params["resize"]) == (
        2, "euler_ancestral", "resolution x resolution square, bicubic (aspect ratio not kept)"
    )
    mtime = (converted / "manifest.json").stat().st_mtime_ns
    again = invoke(*args)  # resumes the same run: nothing converted, nothing edited again
    assert again.returncode == 0 and "2 of the run done before" in again.stdout + again.stderr
    assert (converted / "manifest.json").stat().st_mtime_ns == mtime


def test_a_converted_folder_loads_as_it_is_and_edits_are_reproducible(tiny_smartedit, cache):
    model = ADAPTERS.get("smartedit")(
        weights=str(tiny_smartedit.converted), llm_base=str(tiny_smartedit.llm_base),
        clip=str(tiny_smartedit.clip), ip2p=str(tiny_smartedit.pix2pix), steps=2, resolution=64,
        device="cpu", llm_decoding="teacher_forced",
    )
    assert model.converted == tiny_smartedit.converted.resolve() and not cache.exists()
    source = Image.new("RGB", (90, 60), (200, 40, 30))
    first, second = (model.edit(source, "make the sky red", seed=4) for _ in range(2))
    assert first.size == (64, 64) and first.tobytes() == second.tobytes()
    assert model.params()["llm_temperature"] is None


def test_without_weights_one_line_names_the_release_and_the_option(real_edit_dir, tmp_path):
    res = invoke("run", "--model", "smartedit", "--data-dir", str(real_edit_dir), "--limit", "1",
                 "--out", str(tmp_path))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "TencentARC/SmartEdit-7B" in res.stderr and "--weights DIR" in res.stderr


def test_a_folder_that_is_neither_a_release_nor_converted_is_one_line(tmp_path, cache):
    with pytest.raises(WeightsError, match="is not a SmartEdit release folder: no file matching LLM-"):
        ADAPTERS.get("smartedit")(weights=str(tmp_path), device="cpu")
    with pytest.raises(WeightsError, match="no such directory"):
        ADAPTERS.get("smartedit")(weights=str(tmp_path / "absent"), device="cpu")


def test_models_params_lists_the_smartedit_settings():
    res = invoke("models", "--params", "smartedit")
    assert res.returncode == 0
    for key in ("size", "llm_base", "clip", "ip2p", "llm_dtype", "llm_decoding", "steps", "resolution"):
        assert f"│ {key} " in res.stdout
    assert "'sampled'" in res.stdout and "'openai/clip-vit-large-patch14'" in res.stdout


def test_models_lists_smartedit_with_the_paper_defaults_and_the_llama_licence():
    from realedit_bench.api import list_models

    (row,) = [r for r in list_models().rows if r["name"] == "smartedit"]
    numbers = [row[k] for k in ("steps", "text guid.", "image guid.", "resolution")]
    assert numbers == ["100", "7.5", "1.5", "256"]
    assert "LLaMA-1" in row["licence"]


def test_settings_are_checked_before_anything_loads(tiny_smartedit):
    build = ADAPTERS.get("smartedit")
    with pytest.raises(ConfigError, match="llm_decoding must be one of sampled, greedy, teacher_forced"):
        build(weights=str(tiny_smartedit.converted), llm_decoding="beam", device="cpu")
    with pytest.raises(ConfigError, match="llm_dtype must be one of"):
        build(weights=str(tiny_smartedit.converted), llm_dtype="int4", device="cpu")
    with pytest.raises(ConfigError, match="--revision does not apply"):
        build(weights=str(tiny_smartedit.converted), revision="main", device="cpu")
    with pytest.raises(ConfigError, match="cannot tell the SmartEdit size .* pass -M llm_base=DIR"):
        build(weights=str(tiny_smartedit.converted), device="cpu")


def test_the_size_is_read_from_the_llm_width_and_names_the_vicuna_base():
    assert resolve_base_parts(4096).llm_base == "lmsys/vicuna-7b-v1.1"
    assert resolve_base_parts(5120).size == "13b"
    assert resolve_base_parts(5120, llm_base="/v").llm_base == "/v"
    with pytest.raises(ConfigError, match=r"the weights are SmartEdit-13B .* pass -M size=13b"):
        resolve_base_parts(5120, size="7b")
    with pytest.raises(ConfigError, match="-M size must be one of 7b, 13b"):
        resolve_base_parts(4096, size="70b")


def test_a_sentencepiece_only_tokenizer_without_the_package_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sentencepiece" else real(name, *a)
    )
    (tmp_path / "tokenizer.model").write_bytes(b"\x00")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"SentencePiece model .* pip install 'realedit\[smartedit\]'$"):
        load_llm_base(str(tmp_path))


def test_a_sample_whose_answer_stops_early_is_recorded_as_failed(
    tiny_smartedit, real_edit_dir, cache, tmp_path, monkeypatch
):
    from adapters.smartedit.decode import IncompleteImageTokens
    from adapters.smartedit.model import SmartEditModel
    from realedit_bench.api import run_model

    conditions = SmartEditModel.conditions
    failing = {}

    def stop_on_the_second(self, images, instructions, seeds, latent_size):
        failing.setdefault("instruction", instructions[-1])
        if failing["instruction"] in instructions:
            raise IncompleteImageTokens("the LLM ended its answer after 3 of 32 image tokens")
        return conditions(self, images, instructions, seeds, latent_size)

    monkeypatch.setattr(SmartEditModel, "conditions", stop_on_the_second)
    out = run_model("smartedit", weights=str(tiny_smartedit.converted), limit=2, batch_size=2, device="cpu",
                    settings={"steps": 2, "resolution": 64, "llm_base": str(tiny_smartedit.llm_base),
                              "clip": str(tiny_smartedit.clip), "ip2p": str(tiny_smartedit.pix2pix)},
                    data_dir=real_edit_dir, out=tmp_path)
    rows = read_rows(out.run_dir / "edits.jsonl", EditRow)
    assert [r.status for r in rows] == ["ok", "error"] and out.exit_code == 1
    assert rows[1].error == "IncompleteImageTokens: the LLM ended its answer after 3 of 32 image tokens"
