"""The base of the diffusers editors: shared settings, loading, input preparation and batching.

An editor is a subclass that says only what is its own: class attributes for ``realedit models`` and its
defaults (each from its model card or original release), the diffusers pipeline, and the hooks that
differ from the base's:

- ``pipeline_class``: the pipeline, a class name in ``diffusers`` or a ``"module:Attr"`` import string;
- ``load_kwargs()``: extra ``from_pretrained`` arguments;
- ``load_weights()``: the loaded pipeline, on the CPU (default: :func:`load_pipeline`, one-line errors);
- ``adapt(pipe)``: the pipeline altered once it is on its device (e.g. a wrapped U-Net);
- ``prepare(image)``: the model's input made from a source photo, as a :class:`Prepared` (with its crop box);
- ``prompt(instruction)``: the text the pipeline is given;
- ``call_kwargs(group)``: guidance and other arguments of one pipeline call;
- ``finish(edited, source)``: the edit returned from the pipeline's output image (:func:`to_source_size` for
  a pipeline that picks its own output size).

Settings every editor shares that change speed and memory, not the edit: ``offload`` (``none``, ``model``:
each component on the GPU only while it runs, ``group``: groups of layers streamed in), ``compile``
(``torch.compile`` of the denoiser) and ``attention`` (a diffusers attention backend, where the denoiser's
attention goes through diffusers' dispatcher). They are not in ``params()``: like the device, they leave
the run id alone, so a run can be resumed with another of them. ``quantize`` (``8bit``/``4bit`` weights
through bitsandbytes) changes the weights, hence the edit: ``params()`` records it when it is set.

Settings a subclass adds are keyword-only arguments of its constructor, which hands the others on
(``**settings``) to this one: ``-M`` types them from the annotations of every constructor up the class
hierarchy (:func:`realedit_bench.editing.settings`), and the subclass's ``params()`` adds them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from realedit_bench.editing import Prepared, class_default
from realedit_bench.errors import ConfigError, WeightsError

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}

#: ``-M offload=...`` values.
OFFLOADS = ("none", "model", "group")
#: Settings that change speed and memory, not the edit: not in ``params()``, so not in the run id.
RUNTIME_SETTINGS = ("offload", "compile", "attention")
#: ``-M quantize=...`` -> diffusers' quantization backend (bitsandbytes; the ``quantize`` extra).
QUANTIZE = {"none": None, "8bit": "bitsandbytes_8bit", "4bit": "bitsandbytes_4bit"}

#: Sampler names accepted by ``-M scheduler=...`` -> diffusers scheduler class.
SCHEDULERS = {
    "euler_ancestral": "EulerAncestralDiscreteScheduler",
    "euler": "EulerDiscreteScheduler",
    "ddim": "DDIMScheduler",
    "dpmpp_2m": "DPMSolverMultistepScheduler",
    "pndm": "PNDMScheduler",
}


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; otherwise the device as given."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device} asked for, but no CUDA GPU is visible")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda[:N], got {device!r}")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` -> fp16 on CUDA, fp32 on CPU (GUIDE: float32 on CPU by default)."""
    if dtype == "auto":
        return "fp16" if device.startswith("cuda") else "fp32"
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype must be auto, fp32, fp16 or bf16, got {dtype!r}")
    return dtype


def torch_dtype(name: str) -> Any:
    """The torch dtype object for ``fp32``/``fp16``/``bf16``."""
    import torch

    return getattr(torch, DTYPES[name])


def resolve_weights(weights: str | None, model: str) -> str:
    """The weights to load: one spelling per local path ('w', './w/', '/abs/w'), a hub id as given.

    The path is part of the run id, so a folder must not make two runs by being typed two ways.
    """
    if not weights:
        raise ConfigError(f"model {model!r} has no default weights; pass --weights")
    path = Path(weights).expanduser()
    return str(path.resolve()) if path.exists() else weights


def local_weights_fingerprint(weights: str) -> str | None:
    """For weights on disk, a digest of every file's (relative path, size, mtime); None for a hub id.

    It goes into the adapter's params, hence into the run id: weights retrained or replaced at the same
    path make a new run instead of silently resuming the old one. Size and mtime rather than a content
    hash, so a 5 GB pipeline costs a directory walk, not a read; a copy without preserved times only
    costs a fresh run.
    """
    path = Path(weights).expanduser()
    if not path.exists():
        return None
    if path.is_file():
        files = [(path.name, path)]
    else:
        files = sorted(
            (f.relative_to(path).as_posix(), f) for f in path.rglob("*")
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
    digest = hashlib.sha256()
    for rel, f in files:
        st = f.stat()
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return f"size-mtime:{digest.hexdigest()[:16]}"


def pipeline_type(pipeline_class: str) -> Any:
    """The pipeline class named by a class name in ``diffusers`` or a ``"module:Attr"`` import string."""
    if ":" in pipeline_class:
        from realedit_bench.registry import import_string

        return import_string(pipeline_class)
    import diffusers

    return getattr(diffusers, pipeline_class)


def load_pipeline(
    pipeline_class: str, weights: str, *, revision: str | None, dtype: str, **kwargs: Any
) -> Any:
    """``from_pretrained`` of the pipeline class (``from_single_file`` for a .ckpt/.safetensors file).

    Any failure to reach or read the weights becomes one line naming the weights and the way out.
    """
    path = Path(weights).expanduser()
    single_file = path.suffix in {".ckpt", ".safetensors", ".pt", ".bin"}
    # A hub id is exactly "org/name"; anything else that looks like a path is a local path.
    looks_local = single_file or weights.startswith((".", "/", "~")) or weights.count("/") != 1
    if looks_local and not path.exists():
        raise WeightsError(
            f"weights {weights!r}: no such {'file' if single_file else 'directory'}; pass --weights DIR "
            f"(a local pipeline directory saved with save_pretrained) or a hub id like org/name"
        )
    import warnings

    import diffusers

    cls = pipeline_type(pipeline_class)
    level = diffusers.utils.logging.get_verbosity()
    diffusers.utils.logging.set_verbosity_error()  # its "will try the local cache" lines precede our one line
    try:
        warnings.filterwarnings("ignore", message=".*torch_dtype.*deprecated", category=FutureWarning)
        if single_file:
            return cls.from_single_file(str(path), torch_dtype=torch_dtype(dtype), **kwargs)
        source = str(path) if path.is_dir() else weights
        return cls.from_pretrained(source, revision=revision, torch_dtype=torch_dtype(dtype), **kwargs)
    except (OSError, ValueError) as exc:  # hub errors derive from OSError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        rev = f" at revision {revision!r}" if revision else ""
        raise WeightsError(
            f"cannot load weights {weights!r}{rev}: {first[:200]}; "
            f"download them and pass --weights DIR (a local pipeline directory)"
        ) from exc
    finally:
        diffusers.utils.logging.set_verbosity(level)


def pix2pix_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """Output size of the original InstructPix2Pix edit script.

    The longer side becomes about ``resolution``; the shorter side is rounded up to a multiple of 64
    after scaling and both sides are then floored to multiples of 64 (facts of the released script).
    """
    factor = resolution / max(width, height)
    factor = math.ceil(min(width, height) * factor / 64) * 64 / min(width, height)
    w = max(64, int((width * factor) // 64) * 64)
    h = max(64, int((height * factor) // 64) * 64)
    return w, h


def centre_crop_box(width: int, height: int, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The largest centred region of a ``width`` x ``height`` image with the aspect ratio of ``size``.

    The region ``PIL.ImageOps.fit`` resizes (no bleed, centred), so the original script's fit is kept.
    """
    ratio = size[0] / size[1]
    if width / height == ratio:
        crop_w, crop_h = float(width), float(height)
    elif width / height > ratio:
        crop_w, crop_h = ratio * height, float(height)
    else:
        crop_w, crop_h = float(width), width / ratio
    left, top = (width - crop_w) * 0.5, (height - crop_h) * 0.5
    return left, top, left + crop_w, top + crop_h


def fit(image: Image.Image, resolution: int) -> Prepared:
    """The original script's fit: ``image`` centre-cropped and resized to :func:`pix2pix_size` (Lanczos)."""
    rgb = image.convert("RGB")
    size = pix2pix_size(*rgb.size, resolution)
    box = centre_crop_box(*rgb.size, size)
    return Prepared(rgb.resize(size, Image.Resampling.LANCZOS, box=box), box, size)


def whole(image: Image.Image, size: tuple[int, int] | None = None) -> Prepared:
    """The whole photo as the model's input: as it is, or resized (Lanczos, aspect not kept) to ``size``."""
    rgb = image.convert("RGB")
    box = (0.0, 0.0, float(rgb.width), float(rgb.height))
    if size is None or size == rgb.size:
        return Prepared(rgb, box, rgb.size)
    return Prepared(rgb.resize(size, Image.Resampling.LANCZOS), box, size)


def to_source_size(edited: Image.Image, source: Image.Image) -> Image.Image:
    """``edited`` resized (Lanczos) to the size of the source photo, for pipelines that pick their own size.

    The judge and the metrics compare an edit with its source: both must show the same scene at one size.
    """
    if edited.size == source.size:
        return edited
    return edited.resize(source.size, Image.Resampling.LANCZOS)


def check_quantize(quantize: str, device: str) -> str | None:
    """The diffusers backend name of ``-M quantize=...``; no GPU or no bitsandbytes is one line."""
    if quantize not in QUANTIZE:
        raise ConfigError(f"-M quantize must be one of {', '.join(QUANTIZE)}, got {quantize!r}")
    backend = QUANTIZE[quantize]
    if backend is not None:
        import importlib.util

        if not device.startswith("cuda"):  # diffusers' bitsandbytes quantizer refuses to run without one
            raise ConfigError(f"-M quantize={quantize} needs a CUDA GPU (--device cuda)")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError(f"-M quantize={quantize} needs bitsandbytes: pip install 'realedit[quantize]'")
    return backend


def check_attention(attention: str | None, model: str, supported: bool) -> str | None:
    """``-M attention=...`` checked against diffusers' attention backends (None: the model's default)."""
    if attention is None:
        return None
    if not supported:
        raise ConfigError(f"model {model!r}: diffusers offers no attention backends for its denoiser; "
                          f"leave out -M attention")
    from diffusers.models.attention_dispatch import AttentionBackendName

    known = [b.value for b in AttentionBackendName]
    if attention not in known:
        raise ConfigError(f"-M attention={attention}: not a diffusers attention backend "
                          f"(known: {', '.join(known)})")
    return attention


def _quiet_progress_bars() -> None:
    """The runner shows its own progress; the libraries' per-component bars would interleave with it."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


class DiffusersEditor:
    """An editor run through a diffusers pipeline, with the settings every such editor shares.

    Args:
        weights: Hub id or local pipeline directory (or single file); default ``default_weights``.
        revision: Hub revision of the weights.
        steps: Denoising steps; default ``default_steps``.
        guidance_scale: Text guidance; default ``default_guidance``.
        image_guidance_scale: Image guidance, for pipelines that have it; default ``default_image_guidance``.
        resolution: Input size, as :meth:`prepare` reads it; default ``default_resolution``.
        scheduler: A key of ``schedulers``; default ``default_scheduler`` (None: the pipeline's own).
        negative_prompt: Text guided away from ("" for none).
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        dtype: ``auto`` (fp16 on CUDA, fp32 on CPU), ``fp32``, ``fp16`` or ``bf16``.
        offload: ``none``, ``model`` (``enable_model_cpu_offload``) or ``group`` (leaf-level group offload
            with CUDA streams); CUDA only.
        quantize: ``none``, ``8bit`` or ``4bit``: the components in ``quantized`` loaded through
            bitsandbytes (the ``quantize`` extra).
        compile: ``torch.compile`` the denoiser (the first sample of each input size compiles).
        attention: A diffusers attention backend of the denoiser (``flash``, ``sage``, ``_native_cudnn``,
            ...), for models whose attention diffusers dispatches; default the model's own.
    """

    name: ClassVar[str]
    family: ClassVar[str]
    default_weights: ClassVar[str | None] = None
    license: ClassVar[str]
    default_steps: ClassVar[int]
    default_guidance: ClassVar[float]
    #: None: the pipeline has no image guidance, and ``-M image_guidance_scale`` is refused.
    default_image_guidance: ClassVar[float | None] = None
    default_resolution: ClassVar[int]
    default_scheduler: ClassVar[str | None] = None
    #: The diffusers pipeline: a class name in ``diffusers`` or ``"module:Attr"``.
    pipeline_class: ClassVar[str]
    schedulers: ClassVar[Mapping[str, str]] = SCHEDULERS
    #: How :meth:`prepare` makes the model's input (recorded in ``params()``).
    resize: ClassVar[str] = "longer side ~resolution, sides multiples of 64, Lanczos centre fit"
    #: Told (steps done, steps) after each denoising step, for the runner's progress display; None: nobody.
    on_step: Callable[[int, int], None] | None = None
    #: The negative prompt's default; None: the pipeline takes no negative prompt (``-M`` refuses one).
    default_negative_prompt: ClassVar[str | None] = ""
    #: The pipeline attribute holding the denoiser (what ``compile`` and ``attention`` act on).
    denoiser: ClassVar[str] = "unet"
    #: True when the denoiser's attention goes through diffusers' dispatcher (``-M attention`` works).
    attention_backends: ClassVar[bool] = False
    #: The components ``-M quantize`` loads quantized.
    quantized: ClassVar[tuple[str, ...]] = ("unet",)
    #: True when the pipeline edits a list of images as a batch; False when a list means several reference
    #: images of one edit (then each sample is a call of its own).
    batch_images: ClassVar[bool] = True

    def __init__(
        self,
        weights: str | None = None,
        revision: str | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        image_guidance_scale: float | None = None,
        resolution: int | None = None,
        scheduler: str | None = None,
        negative_prompt: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        offload: str = "none",
        quantize: str = "none",
        compile: bool = False,
        attention: str | None = None,
    ) -> None:
        cls = type(self)
        self.weights: str = resolve_weights(weights or cls.default_weights, cls.name)
        self.revision = revision
        # Read once: params() must stay the same for the whole run (the runner compares it on resume).
        self._weights_fingerprint = local_weights_fingerprint(self.weights)
        self.steps = int(self._or_default("steps", steps))
        self.guidance_scale = float(self._or_default("guidance_scale", guidance_scale))
        if image_guidance_scale is not None and cls.default_image_guidance is None:
            raise ConfigError(f"model {cls.name!r} has no image guidance; leave out -M image_guidance_scale")
        image_guidance = self._or_default("image_guidance_scale", image_guidance_scale)
        self.image_guidance_scale = None if image_guidance is None else float(image_guidance)
        self.resolution = int(self._or_default("resolution", resolution))
        self.scheduler = scheduler or cls.default_scheduler
        if self.scheduler is not None and self.scheduler not in cls.schedulers:
            raise ConfigError(f"unknown scheduler {self.scheduler!r} (known: {', '.join(cls.schedulers)})")
        if self.steps < 1 or self.resolution < 64:
            raise ConfigError("steps must be >= 1 and resolution >= 64")
        if negative_prompt is not None and cls.default_negative_prompt is None:
            raise ConfigError(f"model {cls.name!r} takes no negative prompt; leave out -M negative_prompt")
        self.negative_prompt = negative_prompt if negative_prompt is not None else cls.default_negative_prompt
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        if offload not in OFFLOADS:
            raise ConfigError(f"-M offload must be one of {', '.join(OFFLOADS)}, got {offload!r}")
        if offload != "none" and not self.device.startswith("cuda"):
            raise ConfigError(f"-M offload={offload} moves weights between the CPU and a GPU: "
                              f"it needs --device cuda")
        self.offload, self.compile = offload, compile
        self.quantize, self._quant_backend = quantize, check_quantize(quantize, self.device)
        self.attention = check_attention(attention, cls.name, cls.attention_backends)
        self._pipe: Any = None

    def _or_default(self, setting: str, value: Any) -> Any:
        return value if value is not None else class_default(type(self), setting)

    # -- contract -----------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Every resolved setting that influences the output."""
        return {
            "weights": self.weights,
            "weights_fingerprint": self._weights_fingerprint,
            "revision": self.revision,
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "image_guidance_scale": self.image_guidance_scale,
            "resolution": self.resolution,
            "resize": self.resize,
            "scheduler": self.scheduler,
            "negative_prompt": self.negative_prompt,
            "device": self.device,
            "dtype": self.dtype,
            "generator": "torch.Generator('cpu') per sample",
            # Only when set: runs made before this setting existed keep their run id.
            **({"quantize": f"{self._quant_backend} of {', '.join(self.quantized)}"}
               if self._quant_backend else {}),
        }

    def load(self) -> None:
        """Load the pipeline once (the runner times this separately)."""
        if self._pipe is not None:
            return
        _quiet_progress_bars()
        pipe = self.load_weights()
        if self.scheduler is not None:
            import diffusers

            scheduler_cls = getattr(diffusers, self.schedulers[self.scheduler])
            pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config)
        self._check_quantized(pipe)
        self._place(pipe)
        pipe = self.adapt(pipe)
        self._speed_up(pipe)
        pipe.set_progress_bar_config(disable=True)
        self._pipe = pipe

    def _quantization(self) -> dict[str, Any]:
        """``from_pretrained`` arguments of ``-M quantize`` (none when it is off)."""
        if self._quant_backend is None:
            return {}
        from diffusers import PipelineQuantizationConfig

        kwargs: dict[str, Any] = {"load_in_8bit": True} if self.quantize == "8bit" else {
            "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_compute_dtype": torch_dtype(self.dtype)}
        config = PipelineQuantizationConfig(quant_backend=self._quant_backend, quant_kwargs=kwargs,
                                            components_to_quantize=list(self.quantized))
        return {"quantization_config": config}

    def _check_quantized(self, pipe: Any) -> None:
        """An editor that loads its weights itself may bypass ``-M quantize``: say so, not run unquantized."""
        if self._quant_backend is None:
            return
        missed = [c for c in self.quantized if getattr(getattr(pipe, c, None), "hf_quantizer", None) is None]
        if missed:
            raise ConfigError(f"-M quantize={self.quantize}: model {self.name!r} loaded {', '.join(missed)} "
                              f"unquantized (it loads its weights itself); leave out -M quantize")

    def _place(self, pipe: Any) -> None:
        """The pipeline on its device, or offloaded to it (``-M offload``)."""
        if self.offload == "model":
            pipe.enable_model_cpu_offload(device=self.device)
        elif self.offload == "group":
            import torch

            pipe.enable_group_offload(onload_device=torch.device(self.device), offload_type="leaf_level",
                                      use_stream=True)
        else:
            pipe.to(self.device)

    def _speed_up(self, pipe: Any) -> None:
        """The attention backend and ``torch.compile`` of the denoiser, when asked for."""
        denoiser = getattr(pipe, self.denoiser)
        if self.attention is not None:
            try:
                denoiser.set_attention_backend(self.attention)
            except (ImportError, RuntimeError, ValueError) as exc:  # the backend's kernels are not installed
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConfigError(f"-M attention={self.attention}: {first[:200]}") from exc
        if self.compile:
            denoiser.compile()

    def edit(self, image: Image.Image, instruction: str, *, seed: int) -> Image.Image:
        """Edit one image."""
        return self.edit_batch([image], [instruction], seeds=[seed])[0]

    def edit_batch(
        self, images: Sequence[Image.Image], instructions: Sequence[str], *, seeds: Sequence[int]
    ) -> list[Image.Image]:
        """Edit several images; those prepared to the same size share one pipeline call."""
        import torch

        self.load()
        prepared = [self.prepare(im) for im in images]
        groups: dict[tuple[int, int] | int, list[int]] = {}
        for i, p in enumerate(prepared):
            groups.setdefault(p.image.size if self.batch_images else i, []).append(i)
        out: dict[int, Image.Image] = {}
        for idx in groups.values():
            inputs = [prepared[i].image for i in idx]
            args: dict[str, Any] = {
                "prompt": [self.prompt(instructions[i]) for i in idx],
                "image": inputs if self.batch_images else inputs[0],
                "num_inference_steps": self.steps,
                # A CPU generator per sample: the same latents on any device, any batch, any order.
                "generator": [torch.Generator("cpu").manual_seed(int(seeds[i])) for i in idx],
                "output_type": "pil",
            }
            args.update(self._step_callback())
            if self.negative_prompt:  # not every pipeline takes the argument
                args["negative_prompt"] = [self.negative_prompt] * len(idx)
            result = self._pipe(**{**args, **self.call_kwargs([prepared[i] for i in idx])})
            for i, edited in zip(idx, result.images, strict=True):
                out[i] = self.finish(edited, images[i])
        return [out[i] for i in range(len(images))]

    def _step_callback(self) -> dict[str, Any]:
        """The pipeline's step-end callback telling :attr:`on_step`, where both exist."""
        import inspect

        report = self.on_step
        if report is None or "callback_on_step_end" not in inspect.signature(self._pipe.__call__).parameters:
            return {}
        steps = self.steps

        def on_step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            report(step + 1, steps)
            return tensors

        return {"callback_on_step_end": on_step_end}

    # -- hooks --------------------------------------------------------------------------------------
    def load_kwargs(self) -> dict[str, Any]:
        """Extra arguments of the pipeline's ``from_pretrained`` / ``from_single_file``."""
        return {}

    def load_weights(self) -> Any:
        """The pipeline loaded from ``weights`` (on the CPU; :meth:`load` moves it to the device)."""
        return load_pipeline(self.pipeline_class, self.weights, revision=self.revision, dtype=self.dtype,
                             **self.load_kwargs(), **self._quantization())

    def adapt(self, pipe: Any) -> Any:
        """The loaded pipeline altered, once it is on its device (the base leaves it as it is)."""
        return pipe

    def prepare(self, image: Image.Image) -> Prepared:
        """The model's input made from a source photo (the base: InstructPix2Pix's fit to ``resolution``)."""
        return fit(image, self.resolution)

    def prompt(self, instruction: str) -> str:
        """The text the pipeline is given for an instruction (the base: the instruction)."""
        return instruction

    def call_kwargs(self, group: Sequence[Prepared]) -> dict[str, Any]:
        """Guidance and any other arguments of the pipeline call that edits ``group`` (one input size).

        They are added to prompt, image, negative prompt, steps and generators, and win over them.
        """
        kwargs: dict[str, Any] = {"guidance_scale": self.guidance_scale}
        if self.image_guidance_scale is not None:
            kwargs["image_guidance_scale"] = self.image_guidance_scale
        return kwargs

    def finish(self, edited: Image.Image, source: Image.Image) -> Image.Image:
        """The edit from the pipeline's output image (the base: as the pipeline made it)."""
        return edited
