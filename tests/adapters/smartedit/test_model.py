"""SmartEdit before diffusion, loaded from a converted folder and tiny base parts."""

from __future__ import annotations

import shutil

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from adapters.smartedit.base_parts import load_llm_base, load_pix2pix_parts, load_vision
from adapters.smartedit.convert import converted_sha256
from adapters.smartedit.loading import load_bridge, load_llm, load_unet
from adapters.smartedit.model import load_smartedit
from realedit_bench.errors import ConfigError, WeightsError


def test_conditions_have_the_unet_text_width_and_the_latent_size(smartedit_model):
    images = [Image.new("RGB", (48, 32), "red"), Image.new("RGB", (20, 20), "blue")]
    out = smartedit_model.conditions(images, ["make it green", "add a hat"], [1, 2], (4, 6))
    assert out.text.shape == (2, 77, 96) and out.text.dtype == torch.float32
    assert out.residual.shape == (2, 32, 4, 6)
    assert out.residual.abs().sum() > 0


def test_params_record_the_decoding_and_the_sha256_of_the_loaded_files(smartedit_model, tiny_smartedit):
    params = smartedit_model.params()
    assert params["llm_decoding"] == "sampled" and params["llm_temperature"] == 0.7
    assert params["llm_dtype"] == "float32"  # the CPU default
    assert params["weights_sha256"] == converted_sha256(tiny_smartedit.converted)


def test_the_loaded_llm_runs_the_lora_merged_projection(tiny_smartedit):
    base = load_llm_base(str(tiny_smartedit.llm_base))
    llm = load_llm(tiny_smartedit.converted, base.config, torch.float32, "cpu")
    rel = tiny_smartedit.release
    key = "model.layers.1.self_attn.q_proj.weight"
    w, a, b = rel.llm[key].float(), rel.lora[(key, "A")], rel.lora[(key, "B")]
    x = torch.randn(3, w.shape[1])
    with torch.no_grad():
        got = llm.model.layers[1].self_attn.q_proj(x)
    assert torch.allclose(got, x @ w.T + 2.0 * ((x @ a.T) @ b.T), atol=1e-5)


def test_the_released_unet_loads_strictly_on_the_pix2pix_config(tiny_smartedit):
    parts = load_pix2pix_parts(str(tiny_smartedit.pix2pix))
    unet = load_unet(tiny_smartedit.converted, parts.unet_config, torch.float32)
    assert unet.config.in_channels == 8
    assert torch.equal(unet.conv_in.weight, tiny_smartedit.release.unet["conv_in.weight"])


def test_a_converted_file_with_a_missing_key_is_one_line_naming_it(tiny_smartedit, tmp_path):
    copy = tmp_path / "converted"
    shutil.copytree(tiny_smartedit.converted, copy)
    tensors = load_file(copy / "bridge-00001.safetensors")
    del tensors["interaction.text_out.bias"]
    save_file(tensors, copy / "bridge-00001.safetensors")
    with pytest.raises(
        WeightsError, match=r"^missing key 'interaction.text_out.bias' in .*bridge-\*\.safetensors$"
    ):
        load_bridge(copy, "cpu")


def test_a_llm_vocabulary_that_does_not_fit_the_tokenizer_is_one_line(tiny_smartedit):
    base = load_llm_base(str(tiny_smartedit.llm_base))
    base.config.vocab_size += 1
    with pytest.raises(
        WeightsError, match=r"key 'model.embed_tokens.weight' in .*llm-\*\.safetensors has shape"
    ):
        load_llm(tiny_smartedit.converted, base.config, torch.float32, "cpu")


@pytest.mark.parametrize(
    ("loader", "source", "option"),
    [
        (load_llm_base, "/no/such/vicuna", "llm_base"),
        (load_vision, "/no/such/clip", "clip"),
        (load_pix2pix_parts, "/no/such/ip2p", "ip2p"),
    ],
)
def test_a_missing_base_part_folder_is_one_line_naming_its_option(loader, source, option):
    with pytest.raises(WeightsError, match=rf"no such directory; pass -M {option}=DIR") as info:
        loader(source)
    assert "\n" not in str(info.value)


def test_an_unreachable_hub_id_offline_is_one_line_naming_the_option():
    with pytest.raises(
        WeightsError,
        match=r"^cannot load the Vicuna-1.1 tokenizer/config from 'org/absent-model'.*"
        r"pass -M llm_base=DIR$",
    ):
        load_llm_base("org/absent-model")


def test_an_unknown_decoding_or_dtype_is_refused_before_loading(tiny_smartedit):
    with pytest.raises(ConfigError, match="llm_decoding must be one of sampled, greedy, teacher_forced"):
        load_smartedit(tiny_smartedit.converted, llm_base="unused", decoding="beam")
    with pytest.raises(ConfigError, match="llm_dtype must be one of"):
        load_smartedit(tiny_smartedit.converted, llm_base="unused", llm_dtype="int8")


def test_a_folder_that_is_not_converted_is_one_line_naming_the_command(tmp_path):
    with pytest.raises(WeightsError, match="run: realedit weights convert smartedit SRC"):
        load_smartedit(tmp_path, llm_base="unused")
