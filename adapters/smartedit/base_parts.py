"""The parts SmartEdit borrows from other releases, by hub id or local folder.

- Vicuna-1.1 (``lmsys/vicuna-7b-v1.1`` / ``-13b-v1.1``): the LLaMA tokenizer and config only; every LLM
  weight comes from the SmartEdit release.
- CLIP ViT-L/14 (``openai/clip-vit-large-patch14``): the vision tower and its image processor.
- InstructPix2Pix (``timbrooks/instruct-pix2pix``): VAE, CLIP text encoder and tokenizer (for the empty
  prompt of the unconditional branches), scheduler, and the UNet's config (its weights come from the
  release).

Every failure to reach or read a part is one line naming the part and the ``-M`` option that points
at a local copy.

The lmsys Vicuna-1.1 repositories hold the LLaMA SentencePiece model (``tokenizer.model``) and no
``tokenizer.json``. transformers reads such a tokenizer through the ``sentencepiece`` package (and turns it
into its fast form), so that package is needed then: it is the optional extra ``realedit[smartedit]``,
and its absence is one line naming the extra. A folder that holds a ``tokenizer.json`` needs nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from adapters.smartedit.prompt import TokenIds, add_smartedit_tokens
from realedit_bench.errors import ConfigError, WeightsError

LLM_BASE = {"7b": "lmsys/vicuna-7b-v1.1", "13b": "lmsys/vicuna-13b-v1.1"}
#: LLM hidden width -> SmartEdit size.
SIZES = {4096: "7b", 5120: "13b"}
CLIP = "openai/clip-vit-large-patch14"
IP2P = "timbrooks/instruct-pix2pix"
#: How to install what a SentencePiece-only tokenizer needs.
SENTENCEPIECE_EXTRA = "pip install 'realedit[smartedit]'"

T = TypeVar("T")


def fetch(what: str, source: str, option: str, load: Callable[[str], T]) -> T:
    """Run ``load(source)``; a hub or file error becomes one line naming ``-M option=DIR``."""
    path = Path(source).expanduser()
    looks_local = source.startswith((".", "/", "~")) or source.count("/") != 1
    if looks_local and not path.exists():
        raise WeightsError(
            f"{what} {source!r}: no such directory; pass -M {option}=DIR or a hub id like org/name"
        )
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load(str(path) if path.exists() else source)
    except (OSError, ValueError, KeyError) as exc:  # hub and file errors derive from OSError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsError(
            f"cannot load {what} from {source!r}: {first[:200]}; download it and pass -M {option}=DIR"
        ) from exc


class LlmBase(NamedTuple):
    """The Vicuna tokenizer with SmartEdit's tokens, their ids, and the LLaMA config sized to it."""

    tokenizer: Any
    ids: TokenIds
    config: Any


class BaseParts(NamedTuple):
    """Where each base part comes from (hub ids or folders), and the SmartEdit size when known."""

    size: str | None
    llm_base: str
    clip: str
    ip2p: str


def resolve_base_parts(
    width: int,
    *,
    size: str | None = None,
    llm_base: str | None = None,
    clip: str | None = None,
    ip2p: str | None = None,
) -> BaseParts:
    """The base parts for SmartEdit weights whose LLM is ``width`` wide; given sources are kept as they are.

    The size is read from the width (4096: 7b, 5120: 13b) when not given, and names the default Vicuna.

    Raises:
        ConfigError: an unknown size, a size the weights contradict, or no way to name the Vicuna folder.
    """
    found = SIZES.get(width)
    if size is not None:
        if size not in LLM_BASE:
            raise ConfigError(f"-M size must be one of {', '.join(LLM_BASE)}, got {size!r}")
        if found is not None and found != size:
            raise ConfigError(
                f"the weights are SmartEdit-{found.upper()} (LLM width {width}); pass -M size={found} "
                "or leave it out"
            )
    size = size or found
    if llm_base is None:
        if size is None:
            raise ConfigError(
                f"cannot tell the SmartEdit size from the weights (LLM width {width}); "
                "pass -M llm_base=DIR (the Vicuna-1.1 tokenizer and config)"
            )
        llm_base = LLM_BASE[size]
    return BaseParts(size, llm_base, clip or CLIP, ip2p or IP2P)


def _tokenizer_folder(source: str, revision: str | None) -> Path:
    """``source`` as a folder: itself, or its tokenizer and config files from the hub (no weights)."""
    path = Path(source)
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "tokenizer.model"]
    return Path(snapshot_download(source, revision=revision or "main", allow_patterns=patterns))


def check_sentencepiece(folder: Path) -> None:
    """Refuse, in one line, a SentencePiece-only tokenizer when ``sentencepiece`` is not installed.

    Raises:
        ConfigError: ``folder`` has ``tokenizer.model`` but no ``tokenizer.json``, and no sentencepiece.
    """
    import importlib.util

    only_sentencepiece = (folder / "tokenizer.model").is_file() and not (folder / "tokenizer.json").is_file()
    if only_sentencepiece and importlib.util.find_spec("sentencepiece") is None:
        raise ConfigError(
            f"the Vicuna tokenizer in {folder} is a SentencePiece model (tokenizer.model, no "
            "tokenizer.json); "
            f"reading it needs the sentencepiece package: {SENTENCEPIECE_EXTRA}"
        )


def load_llm_base(source: str, revision: str | None = None) -> LlmBase:
    """Vicuna-1.1 tokenizer (+ the 35 SmartEdit tokens) and ``LlamaConfig`` with the grown vocabulary."""
    from transformers import AutoConfig, AutoTokenizer

    def load(src: str) -> LlmBase:
        folder = _tokenizer_folder(src, revision)
        check_sentencepiece(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        config = AutoConfig.from_pretrained(folder)
        ids = add_smartedit_tokens(tokenizer)
        config.vocab_size = len(tokenizer)
        return LlmBase(tokenizer, ids, config)

    return fetch("the Vicuna-1.1 tokenizer/config", source, "llm_base", load)


class Vision(NamedTuple):
    """The CLIP vision tower and its image processor."""

    model: Any
    processor: Any


def load_vision(source: str = CLIP, revision: str | None = None) -> Vision:
    """CLIP ViT-L/14 vision tower (float32, eval) and processor."""
    from transformers import CLIPImageProcessor, CLIPVisionModel

    def load(src: str) -> Vision:
        model = CLIPVisionModel.from_pretrained(src, revision=revision or "main").eval()
        return Vision(model, CLIPImageProcessor.from_pretrained(src, revision=revision or "main"))

    return fetch("the CLIP ViT-L/14 vision tower", source, "clip", load)


class Pix2PixParts(NamedTuple):
    """InstructPix2Pix parts other than the UNet weights."""

    vae: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    unet_config: dict


def load_pix2pix_parts(source: str = IP2P, revision: str | None = None, dtype: Any = None) -> Pix2PixParts:
    """VAE, text encoder, tokenizer, Euler-ancestral scheduler and UNet config of InstructPix2Pix."""
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    def load(src: str) -> Pix2PixParts:
        kw: dict[str, Any] = {"revision": revision or "main"}
        return Pix2PixParts(
            AutoencoderKL.from_pretrained(src, subfolder="vae", torch_dtype=dtype, **kw),
            CLIPTextModel.from_pretrained(src, subfolder="text_encoder", torch_dtype=dtype, **kw),
            CLIPTokenizer.from_pretrained(src, subfolder="tokenizer", **kw),
            EulerAncestralDiscreteScheduler.from_pretrained(src, subfolder="scheduler", **kw),
            dict(UNet2DConditionModel.load_config(src, subfolder="unet", **kw)),
        )

    return fetch("the InstructPix2Pix VAE/text encoder", source, "ip2p", load)
