"""The explicit HIVE pipeline configs, checked by building the models they describe (without weights)."""

from __future__ import annotations

import open_clip
import pytest
import torch

from adapters.hive.config import write_pipeline_config


@pytest.fixture(scope="module", params=["v1", "v2"])
def config_folder(request, tmp_path_factory):
    return request.param, write_pipeline_config(tmp_path_factory.mktemp(request.param), request.param)


def _unet(folder):
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    with init_empty_weights():
        return UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder, subfolder="unet"))


def test_the_unet_takes_image_latents_and_the_right_text_context(config_folder):
    version, folder = config_folder
    unet = _unet(folder)
    assert tuple(unet.conv_in.weight.shape) == (320, 8, 3, 3)
    attn = unet.down_blocks[0].attentions[0]
    context = 1024 if version == "v2" else 768
    assert tuple(attn.transformer_blocks[0].attn2.to_k.weight.shape) == (320, context)
    # SD-2.x projects with linear layers, SD-1.x with 1x1 convolutions.
    assert isinstance(attn.proj_in, torch.nn.Linear) == (version == "v2")
    assert attn.transformer_blocks[0].attn1.heads == (5 if version == "v2" else 8)


def test_the_scheduler_is_epsilon_euler_ancestral(config_folder):
    from diffusers import EulerAncestralDiscreteScheduler

    _, folder = config_folder
    scheduler = EulerAncestralDiscreteScheduler.from_pretrained(folder, subfolder="scheduler")
    assert scheduler.config.prediction_type == "epsilon"
    assert scheduler.config.timestep_spacing == "linspace"


def test_the_text_encoder_and_tokenizer_match_the_backbone(config_folder):
    from transformers import CLIPTextConfig, CLIPTokenizer

    version, folder = config_folder
    text = CLIPTextConfig.from_pretrained(folder / "text_encoder")
    assert (text.hidden_size, text.num_hidden_layers) == ((1024, 23) if version == "v2" else (768, 12))
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
    ids = tokenizer("A red car, parked.", padding="max_length", max_length=77).input_ids
    reference = open_clip.tokenize(["A red car, parked."])[0].tolist()
    used = reference.index(49407) + 1
    assert ids[:used] == reference[:used]
    assert ids[used] == (0 if version == "v2" else 49407)  # SD-2 pads with "!" like OpenCLIP


def test_the_pipeline_index_names_the_instruct_pix2pix_components(config_folder):
    import json

    _, folder = config_folder
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionInstructPix2PixPipeline"
    assert index["scheduler"] == ["diffusers", "EulerAncestralDiscreteScheduler"]


def test_an_unknown_version_is_refused(tmp_path):
    with pytest.raises(ValueError, match="HIVE version must be one of v1, v2"):
        write_pipeline_config(tmp_path, "v3")
