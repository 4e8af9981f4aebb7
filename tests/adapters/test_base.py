"""The diffusers editor base: settings and their defaults, ``-M`` typing, loading, preparation, hooks."""

from __future__ import annotations

import importlib.util
import re
import shutil
from typing import Any

import numpy as np
import pytest
from cli_runner import invoke
from paths import REPO
from PIL import Image, ImageOps
from tiny_models import CallRecorder

from adapters.base import RUNTIME_SETTINGS, DiffusersEditor, centre_crop_box, fit, pipeline_type, pix2pix_size
from adapters.instruct_pix2pix import InstructPix2Pix
from realedit_bench.editing import Prepared, coerce_overrides, setting_help, settings
from realedit_bench.errors import ConfigError
from realedit_bench.registry import ADAPTERS

TINY = ["-M", "steps=2", "-M", "resolution=64"]
BASE_SETTINGS = ["weights", "revision", "steps", "guidance_scale", "image_guidance_scale", "resolution",
                 "scheduler", "negative_prompt", "device", "dtype", "offload", "quantize", "compile",
                 "attention"]


def _table(text: str) -> dict[str, str]:
    """The rows of the printed settings table (key, default, meaning): key -> default. A meaning that wraps
    continues on lines whose key cell is empty."""
    cells = [[c.strip() for c in line.strip().strip("│").split("│")] for line in text.splitlines()]
    return {row[0]: row[1] for row in cells if len(row) == 3 and row[0]}


def _photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


class _Plain(DiffusersEditor):
    """An editor of only class attributes: the base's hooks as they are."""

    name = "plain-base-test"
    family = "test"
    license = "test"
    default_steps = 2
    default_guidance = 7.5
    default_image_guidance = 1.5
    default_resolution = 64
    pipeline_class = "diffusers:StableDiffusionInstructPix2PixPipeline"


class _Hooked(InstructPix2Pix):
    """Every hook overridden, and two settings of its own."""

    name = "hooked-test"
    default_steps = 2
    default_resolution = 64

    def __init__(self, *, suffix: str = " at night", boost: float = 0.5, keep_size: bool = True,
                 **settings: Any) -> None:
        super().__init__(**settings)
        self.suffix, self.boost, self.keep_size = suffix, boost, keep_size

    def params(self) -> dict[str, Any]:
        return {**super().params(), "suffix": self.suffix, "boost": self.boost, "keep_size": self.keep_size}

    def adapt(self, pipe: Any) -> Any:
        return CallRecorder(pipe)

    def prompt(self, instruction: str) -> str:
        return instruction + self.suffix

    def call_kwargs(self, group):
        return {**super().call_kwargs(group), "guidance_scale": self.guidance_scale + self.boost,
                "negative_prompt": [f"{len(group)} of {p.size}" for p in group]}

    def finish(self, edited: Image.Image, source: Image.Image) -> Image.Image:
        return edited.resize(source.size) if self.keep_size else edited


# -- settings ------------------------------------------------------------------------------------------
def test_a_subclass_adds_its_settings_to_the_base_ones():
    assert [s.name for s in settings(_Hooked)] == [*BASE_SETTINGS, "suffix", "boost", "keep_size"]
    assert [s.name for s in settings(_Plain)] == BASE_SETTINGS
    assert [s.name for s in settings(ADAPTERS.get("reward-instruct-pix2pix"))] == [
        *BASE_SETTINGS, "reward_scores", "reward_text", "subfolder"]


def test_minus_m_types_subclass_and_base_settings_alike():
    got = coerce_overrides(_Hooked, {"boost": "1.25", "keep_size": "no", "suffix": "3", "steps": "4",
                                     "image_guidance_scale": "none", "scheduler": "ddim"})
    assert got == {"boost": 1.25, "keep_size": False, "suffix": "3", "steps": 4, "image_guidance_scale": None,
                   "scheduler": "ddim"}
    assert type(got["steps"]) is int and type(got["boost"]) is float
    with pytest.raises(ConfigError, match=r"-M boost=much: expected a finite float"):
        coerce_overrides(_Hooked, {"boost": "much"})
    with pytest.raises(ConfigError, match=r"-M steps=2.5: expected int"):
        coerce_overrides(_Hooked, {"steps": "2.5"})
    with pytest.raises(ConfigError, match=r"no setting 'bost' \(settings: weights, .*, boost, keep_size\)"):
        coerce_overrides(_Hooked, {"bost": "1"})


def test_defaults_come_from_the_class_and_given_values_win():
    model = _Hooked(device="cpu", weights="org/name")
    p = model.params()
    assert (p["steps"], p["resolution"], p["guidance_scale"], p["image_guidance_scale"]) == (2, 64, 7.5, 1.5)
    assert (p["scheduler"], p["suffix"], p["boost"]) == ("euler_ancestral", " at night", 0.5)
    p = _Hooked(device="cpu", weights="org/name", steps=5, guidance_scale=3, boost=2.0).params()
    assert (p["steps"], p["guidance_scale"], p["boost"]) == (5, 3.0, 2.0)
    assert _Plain(device="cpu", weights="org/name").params()["scheduler"] is None  # the pipeline's own


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "has no default weights; pass --weights"),
        ({"weights": "o/n", "scheduler": "heun"}, r"unknown scheduler 'heun' \(known: euler_ancestral, "),
        ({"weights": "o/n", "steps": 0}, "steps must be >= 1 and resolution >= 64"),
        ({"weights": "o/n", "resolution": 32}, "steps must be >= 1 and resolution >= 64"),
        ({"weights": "o/n", "dtype": "fp8"}, "--dtype must be auto, fp32, fp16 or bf16"),
        ({"weights": "o/n", "device": "tpu"}, "--device must be auto, cpu or cuda"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        _Plain(**{"device": "cpu", **kwargs})


def test_image_guidance_is_refused_where_the_pipeline_has_none():
    class NoImageGuidance(_Plain):
        default_image_guidance = None

    assert NoImageGuidance(weights="o/n", device="cpu").call_kwargs([]) == {"guidance_scale": 7.5}
    with pytest.raises(ConfigError, match="has no image guidance"):
        NoImageGuidance(weights="o/n", device="cpu", image_guidance_scale=1.5)


def _hive_weights(tmp_path, request) -> dict[str, str]:
    import torch
    from safetensors.torch import save_file

    key = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
    save_file({key: torch.zeros(320, 768)}, str(tmp_path / "hive_rw.safetensors"))  # read as v1
    return {"weights": str(tmp_path / "hive_rw.safetensors")}


def _smartedit_weights(tmp_path, request) -> dict[str, str]:
    tiny = request.getfixturevalue("tiny_smartedit")
    return {"weights": str(tiny.converted), "llm_base": str(tiny.llm_base)}


def _reward_smartedit_weights(tmp_path, request) -> dict[str, str]:
    from tiny_smartedit import build_reward_folder

    return {"weights": str(build_reward_folder(request.getfixturevalue("tiny_smartedit"), tmp_path / "r"))}


#: Weights made for the editors that have no downloadable default ones.
REQUIRED_WEIGHTS = {"hive": _hive_weights, "smartedit": _smartedit_weights,
                    "reward-smartedit": _reward_smartedit_weights}


@pytest.mark.parametrize("name", [n for n in ADAPTERS.names() if isinstance(ADAPTERS.get(n), type)
                                  and issubclass(ADAPTERS.get(n), DiffusersEditor)])
def test_every_setting_of_a_registered_editor_is_recorded(name, tmp_path, monkeypatch, request):
    monkeypatch.chdir(tmp_path)  # a hub id is not a local folder here
    cls = ADAPTERS.get(name)
    weights = REQUIRED_WEIGHTS[name](tmp_path, request) if name in REQUIRED_WEIGHTS else {}
    params = cls(device="cpu", **weights).params()
    # a setting missing from params() would be missing from the manifest and the run id; speed and memory
    # settings are left out on purpose, and quantize is recorded once set (see the next test)
    assert {s.name for s in settings(cls)} - {*RUNTIME_SETTINGS, "quantize"} <= set(params)
    assert not set(RUNTIME_SETTINGS) & set(params) and "quantize" not in params


def test_models_params_lists_subclass_and_base_settings_with_class_defaults(monkeypatch):
    ADAPTERS.names()  # entry points scanned first, so the test entry is the only addition
    monkeypatch.setitem(ADAPTERS._entries, "hooked-test", _Hooked)
    res = invoke("models", "--params", "hooked-test")
    assert res.returncode == 0, res.stderr
    rows = _table(res.stdout)
    assert list(rows) == [*BASE_SETTINGS, "suffix", "boost", "keep_size"]
    assert (rows["steps"], rows["resolution"], rows["image_guidance_scale"]) == ("2", "64", "1.5")
    assert (rows["weights"], rows["device"]) == ("'timbrooks/instruct-pix2pix'", "'auto'")
    assert (rows["suffix"], rows["boost"], rows["keep_size"]) == ("' at night'", "0.5", "True")
    rows = _table(invoke("models", "--params", "reward-instruct-pix2pix").stdout)
    assert list(rows) == [*BASE_SETTINGS, "reward_scores", "reward_text", "subfolder"]
    assert (rows["steps"], rows["subfolder"]) == ("30", "'stage2_reward_instruct_pix2pix'")
    # Each setting says what it means, from the Args of the docstrings up the class hierarchy.
    meanings = setting_help(ADAPTERS.get("reward-instruct-pix2pix"))
    assert meanings["steps"] == "Denoising steps."  # the base's words, the default clause left out
    assert meanings["resolution"] == "Input size, as prepare reads it."  # a Sphinx role as its target
    assert meanings["subfolder"].startswith("Where the pipeline is inside weights")  # the subclass's own
    assert "Denoising steps." in invoke("models", "--params", "reward-instruct-pix2pix").stdout


def test_non_finite_settings_are_refused(real_edit_dir, tmp_path):
    for value in ("nan", "inf", "-inf"):
        res = invoke("run", "--model", "instruct-pix2pix", "-M", f"guidance_scale={value}", "--limit", "1",
                     "--data-dir", str(real_edit_dir), "--out", str(tmp_path))
        assert res.returncode == 2 and "finite" in res.stderr, res.stderr


def test_a_subclass_setting_of_the_wrong_type_is_one_line(real_edit_dir, tmp_path, monkeypatch):
    ADAPTERS.names()
    monkeypatch.setitem(ADAPTERS._entries, "hooked-test", _Hooked)
    res = invoke("run", "--model", "hooked-test", "-M", "keep_size=maybe", "--limit", "1",
                 "--data-dir", str(real_edit_dir), "--out", str(tmp_path))
    assert res.returncode == 2 and "-M keep_size=maybe: expected bool" in res.stderr, res.stderr


# -- weights ---------------------------------------------------------------------------------------------
def test_unreachable_weights_are_one_line(real_edit_dir, tmp_path):
    common = ["run", "--model", "instruct-pix2pix", "--limit", "1", "--data-dir", str(real_edit_dir),
              "--out", str(tmp_path)]
    res = invoke(*common, "--weights", str(tmp_path / "nope"))
    assert res.returncode == 2 and "no such directory" in res.stderr and "--weights DIR" in res.stderr
    res = invoke(*common, "--weights", "some-org/not-cached-here")  # a hub id, offline in tests
    assert res.returncode == 2
    assert "cannot load weights 'some-org/not-cached-here'" in res.stderr and "--weights DIR" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) <= 3


def test_one_weights_folder_is_one_run_however_it_is_spelled(tiny_pix2pix_dir, real_edit_dir, tmp_path):
    weights = tmp_path / "w"
    shutil.copytree(tiny_pix2pix_dir, weights)
    common = [*TINY, "--limit", "1", "--data-dir", str(real_edit_dir), "--out", str(tmp_path / "runs")]
    first = invoke("run", "--model", "instruct-pix2pix", "--weights", str(weights), *common)
    other = invoke("run", "--model", "instruct-pix2pix", "--weights", f"{tmp_path}/./w/", *common)
    assert first.returncode == 0 and other.returncode == 0, other.stderr
    assert first.stdout.strip() == other.stdout.strip()
    assert "1 of the run done before" in " ".join(other.stderr.split())


def test_pipeline_class_is_a_diffusers_name_or_an_import_string():
    import diffusers

    expected = diffusers.StableDiffusionInstructPix2PixPipeline
    assert pipeline_type("StableDiffusionInstructPix2PixPipeline") is expected
    assert pipeline_type(_Plain.pipeline_class) is expected


# -- preparation -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "size", [(640, 480), (480, 640), (512, 512), (1000, 333), (50, 90), (768, 512), (3, 700)]
)
@pytest.mark.parametrize("resolution", [64, 512])
def test_preparation_is_the_original_fit_and_records_its_crop(size, resolution):
    source = _photo(size)
    prepared = fit(source, resolution)
    assert isinstance(prepared, Prepared) and prepared.size == prepared.image.size
    assert prepared.size == pix2pix_size(*size, resolution)
    # the original script's ImageOps.fit, bit for bit
    expected = ImageOps.fit(source, prepared.size, method=Image.Resampling.LANCZOS)
    assert prepared.image.tobytes() == expected.tobytes()
    # what is recorded is enough to make the model's input again from the source
    again = source.resize(prepared.size, Image.Resampling.LANCZOS, box=prepared.crop_box)
    assert again.tobytes() == prepared.image.tobytes()
    left, top, right, bottom = prepared.crop_box
    assert 0 <= left <= right <= size[0] and 0 <= top <= bottom <= size[1]
    assert right - left == pytest.approx(size[0]) or bottom - top == pytest.approx(size[1])  # one side whole


def test_a_crop_box_keeps_the_aspect_ratio_of_the_input_size():
    assert centre_crop_box(640, 480, (512, 384)) == (0.0, 0.0, 640.0, 480.0)
    assert centre_crop_box(700, 400, (512, 256)) == (0.0, 25.0, 700.0, 375.0)
    assert centre_crop_box(400, 400, (512, 256)) == (0.0, 100.0, 400.0, 300.0)


# -- hooks -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hooked(tiny_pix2pix_dir) -> _Hooked:
    model = _Hooked(weights=str(tiny_pix2pix_dir), device="cpu")
    model.load()
    return model


def test_hooks_shape_the_pipeline_call(hooked):
    sources = [_photo((200, 50), 1), _photo((64, 64), 2), _photo((210, 52), 3)]  # 256x64, 64x64, 256x64
    recorder = hooked._pipe
    assert isinstance(recorder, CallRecorder)  # adapt() gave the pipeline the editor calls
    recorder.calls.clear()
    out = hooked.edit_batch(sources, ["add snow", "make it red", "add a cat"], seeds=[5, 6, 7])
    # two input sizes, two calls; the samples that prepare to the same size share one
    assert [len(call["prompt"]) for call in recorder.calls] == [2, 1]
    first, second = recorder.calls
    assert first["prompt"] == ["add snow at night", "add a cat at night"]
    expected = [hooked.prepare(s).image.tobytes() for s in sources[::2]]
    assert [im.tobytes() for im in first["image"]] == expected
    assert [g.initial_seed() for g in first["generator"]] == [5, 7]
    assert second["generator"][0].initial_seed() == 6
    assert all(g.device.type == "cpu" for g in first["generator"])
    assert first["guidance_scale"] == 8.0 and first["image_guidance_scale"] == 1.5
    assert first["negative_prompt"] == ["2 of (256, 64)"] * 2  # call_kwargs wins over the base's arguments
    assert first["num_inference_steps"] == 2 and first["output_type"] == "pil"
    assert [im.size for im in out] == [s.size for s in sources]  # finish()


def test_a_bare_subclass_edits_as_instruct_pix2pix_and_a_prompt_hook_changes_the_edit(tiny_pix2pix_dir):
    class Suffixed(_Plain):
        def prompt(self, instruction: str) -> str:
            return instruction + " at night"

    source = _photo((96, 64), 4)
    reference = InstructPix2Pix(weights=str(tiny_pix2pix_dir), device="cpu", steps=2, resolution=64)
    edits = [m.edit(source, "add snow", seed=3) for m in (
        reference, _Plain(weights=str(tiny_pix2pix_dir), device="cpu"),
        Suffixed(weights=str(tiny_pix2pix_dir), device="cpu"),
    )]
    assert edits[1].tobytes() == edits[0].tobytes()
    assert edits[2].tobytes() != edits[0].tobytes()


def test_a_pipelines_own_scheduler_stays_unless_one_is_asked_for(tiny_pix2pix_dir):
    plain = _Plain(weights=str(tiny_pix2pix_dir), device="cpu")
    plain.load()
    assert type(plain._pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"  # as saved
    ddim = _Plain(weights=str(tiny_pix2pix_dir), device="cpu", scheduler="ddim")
    ddim.load()
    assert type(ddim._pipe.scheduler).__name__ == "DDIMScheduler"


# -- the README's example --------------------------------------------------------------------------------
def test_the_readme_example_is_a_working_editor(tmp_path, monkeypatch):
    import inspect

    section = (REPO / "README.md").read_text().split("### Add an editor", 1)[1].split("\n### ", 1)[0]
    code, registry_line = re.findall(r"```python\n(.*?)```", section, re.S)
    module = tmp_path / "readme_editor.py"
    module.write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    import readme_editor

    (cls,) = [c for c in vars(readme_editor).values()
              if isinstance(c, type) and issubclass(c, DiffusersEditor) and c is not DiffusersEditor]
    assert registry_line.startswith(f'ADAPTERS.register("{cls.name}", ')
    assert registry_line.rstrip().endswith(f':{cls.__name__}")')
    model = cls(device="cpu", **coerce_overrides(cls, {"guidance_rescale": "0.7", "steps": "10"}))
    params = model.params()
    assert (params["weights"], params["guidance_rescale"], params["steps"]) == (cls.default_weights, 0.7, 10)
    # what it hands the pipeline, the pipeline takes
    pipeline = pipeline_type(cls.pipeline_class)
    group = [fit(_photo((1024, 768)), model.resolution)]
    call = {"prompt", "image", "negative_prompt", "num_inference_steps", "generator", "output_type",
            *model.call_kwargs(group)}
    assert call <= set(inspect.signature(pipeline.__call__).parameters)
    assert set(model.load_kwargs()) <= set(inspect.signature(pipeline.__init__).parameters)
    kwargs = model.call_kwargs(group)
    assert (kwargs["width"], kwargs["height"]) == group[0].size == (768, 576)


# -- speed and memory settings ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"offload": "model"}, "-M offload=model moves weights between the CPU and a GPU: it needs --device"),
        ({"offload": "disk"}, "-M offload must be one of none, model, group"),
        ({"quantize": "8bit"}, r"-M quantize=8bit needs a CUDA GPU \(--device cuda\)"),
        ({"quantize": "3bit"}, "-M quantize must be one of none, 8bit, 4bit"),
        ({"attention": "flash"}, "diffusers offers no attention backends for its denoiser"),
    ],
)
def test_speed_settings_a_model_or_machine_cannot_take_are_one_line(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        _Plain(weights="o/n", device="cpu", **kwargs)


def test_speed_settings_through_the_command_line_are_one_line(real_edit_dir, tmp_path):
    res = invoke("run", "--model", "instruct-pix2pix", "-M", "offload=group", "--device", "cpu",
                 "--limit", "1", "--data-dir", str(real_edit_dir), "--out", str(tmp_path))
    assert res.returncode == 2 and "-M offload=group moves weights" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and not any(tmp_path.iterdir())


class _FakePipe:
    """Records which placement the editor chose."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def to(self, device):
        self.calls.append(("to", device))

    def enable_model_cpu_offload(self, device):
        self.calls.append(("model", device))

    def enable_group_offload(self, **kwargs):
        self.calls.append(("group", kwargs))


_FIND_SPEC = importlib.util.find_spec


def _on_a_gpu(monkeypatch, bitsandbytes: bool = True) -> None:
    """Pretend a GPU is visible and bitsandbytes installed (or not): settings are checked, nothing runs."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    installed = object() if bitsandbytes else None
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: installed if name == "bitsandbytes" else _FIND_SPEC(name, *a))


def test_offload_places_the_pipeline_through_diffusers(monkeypatch):
    import torch

    _on_a_gpu(monkeypatch)
    for offload, expected in [("none", ("to", "cuda")), ("model", ("model", "cuda"))]:
        pipe = _FakePipe()
        _Plain(weights="o/n", device="cuda", offload=offload)._place(pipe)
        assert pipe.calls == [expected]
    pipe = _FakePipe()
    _Plain(weights="o/n", device="cuda", offload="group")._place(pipe)
    ((kind, kwargs),) = pipe.calls
    assert kind == "group" and kwargs["onload_device"] == torch.device("cuda")
    assert (kwargs["offload_type"], kwargs["use_stream"]) == ("leaf_level", True)


def test_quantize_is_recorded_once_set_and_asks_diffusers_for_bitsandbytes(monkeypatch):
    _on_a_gpu(monkeypatch)
    plain = _Plain(weights="o/n", device="cuda")
    assert "quantize" not in plain.params() and plain._quantization() == {}
    for setting, backend in [("8bit", "bitsandbytes_8bit"), ("4bit", "bitsandbytes_4bit")]:
        model = _Plain(weights="o/n", device="cuda", quantize=setting, dtype="bf16")
        assert model.params()["quantize"] == f"{backend} of unet"  # other weights: another run id
        config = model._quantization()["quantization_config"]
        assert (config.quant_backend, config.components_to_quantize) == (backend, ["unet"])
    assert config.quant_kwargs["bnb_4bit_quant_type"] == "nf4"
    _on_a_gpu(monkeypatch, bitsandbytes=False)
    with pytest.raises(ConfigError, match=r"needs bitsandbytes: pip install 'realedit\[quantize\]'"):
        _Plain(weights="o/n", device="cuda", quantize="4bit")


def test_an_editor_that_loads_its_own_weights_cannot_skip_quantize(monkeypatch, tiny_pix2pix_dir):
    from diffusers import StableDiffusionInstructPix2PixPipeline

    _on_a_gpu(monkeypatch)
    model = _Plain(weights=str(tiny_pix2pix_dir), device="cuda", quantize="8bit")
    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(tiny_pix2pix_dir)  # loaded unquantized
    with pytest.raises(ConfigError, match="loaded unet unquantized"):
        model._check_quantized(pipe)


def test_compile_compiles_the_denoiser(tiny_pix2pix_dir):
    model = _Plain(weights=str(tiny_pix2pix_dir), device="cpu", compile=True)
    model.load()
    assert model._pipe.unet._compiled_call_impl is not None
    plain = _Plain(weights=str(tiny_pix2pix_dir), device="cpu")
    plain.load()
    assert plain._pipe.unet._compiled_call_impl is None
