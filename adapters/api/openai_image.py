"""GPT Image (OpenAI) through the Images API's edit endpoint, with the official ``openai`` SDK.

Model: ``gpt-image-2`` by default (``--weights`` takes any image model of the API, e.g. ``gpt-image-1.5``,
``gpt-image-2.5-sunburst``). ``gpt-image-1`` was shut down by OpenAI on 2026-10-23 and DALL-E 2 and 3 on
2026-05-12: they are refused. Key: ``OPENAI_API_KEY``; ``OPENAI_BASE_URL`` points the SDK elsewhere.
Proprietary service under OpenAI's terms; outputs are the caller's under those terms.

What is sent (``client.images.edit``): the photo as PNG, the instruction, ``n=1``, ``quality`` (default
``high``: the setting of the published GPT Image scores the leaderboard compares with; ``auto`` would let
the server choose per image, which neither reproduces nor prices), ``output_format`` (``png``) and the
size: ``source`` (default) keeps the photo's aspect at about 1 MP with sides multiples of 16 (GPT Image 2
and later take any such size between 1:3 and 3:1); older models get the nearest of their three fixed sizes.
The API takes no seed: recorded as not honoured. Moderation refusals (``moderation_blocked``) are
``refused`` rows, never retried.

Prices (USD per million tokens, OpenAI's price page as summarised in 2026; only ``gpt-image-2``): text
input 5, image input 8, image output 30. The money of an edit is computed from the usage the API returns;
the estimate for ``--dry-run``/``--max-cost`` assumes the output tokens of OpenAI's published per-image
prices at 1 MP (low 200, medium 1,767, high 7,033; ``auto`` as high) scaled by area, the input photo at
OpenAI's vision-token rule and 100 text tokens. Other models: pass ``-M price=USD`` per edit.
"""

from __future__ import annotations

import base64
import math
from typing import Any, ClassVar

from PIL import Image

from adapters.api.base import APIEditor, png_bytes
from realedit_bench.errors import ConfigError
from realedit_bench.net import CallError, sdk_call_error
from realedit_bench.remote import RemoteEdit

#: The sizes of models that take no other.
FIXED_SIZES = ((1024, 1024), (1536, 1024), (1024, 1536))
#: USD per million tokens: (text input, image input, image output), by model prefix.
PRICES = {"gpt-image-2": (5.0, 8.0, 30.0)}
#: Output tokens of one 1024x1024 image by quality (OpenAI's per-image prices / $30 per million).
OUTPUT_TOKENS = {"low": 200, "medium": 1767, "high": 7033, "auto": 7033}
QUALITIES = ("low", "medium", "high", "auto")
#: Text tokens assumed for an instruction in estimates (Real-Edit instructions are a sentence).
TEXT_TOKENS = 100


def takes_any_size(model: str) -> bool:
    """GPT Image 2 and later take any size with sides multiples of 16."""
    return model.startswith("gpt-image-2")


def gpt_size(model: str, width: int, height: int) -> tuple[int, int]:
    """The output size keeping the photo's aspect: ~1 MP, sides multiples of 16, aspect within 1:3-3:1; the
    nearest fixed size for a model that takes only those."""
    aspect = width / height
    if not takes_any_size(model):
        return min(FIXED_SIZES, key=lambda s: abs(math.log(aspect * s[1] / s[0])))
    aspect = min(3.0, max(1 / 3, aspect))
    w = math.sqrt(1024 * 1024 * aspect)
    return max(16, round(w / 16) * 16), max(16, round(w / aspect / 16) * 16)


class GPTImage(APIEditor):
    """OpenAI's GPT Image models through ``images.edit``.

    Args:
        quality: ``low``, ``medium``, ``high`` or ``auto``.
        size: ``source`` (the photo's aspect, ~1 MP), ``auto`` or ``WxH``.
        output_format: ``png``, ``jpeg`` or ``webp``.
        **settings: The base's settings.
    """

    name: ClassVar[str] = "gpt-image"
    default_weights: ClassVar[str | None] = "gpt-image-2"
    license: ClassVar[str] = "paid API, OpenAI terms"
    key_envs: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    base_url_env: ClassVar[str] = "OPENAI_BASE_URL"
    refusal_codes: ClassVar[frozenset[str]] = frozenset({"moderation_blocked", "content_policy_violation"})
    quota_codes: ClassVar[frozenset[str]] = frozenset(
        {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})
    retired: ClassVar[dict[str, str]] = {
        "gpt-image-1": "gpt-image-1 was shut down by OpenAI on 2026-10-23; use gpt-image-2 (the default) or "
                       "gpt-image-2.5-sunburst",
        "dall-e-2": "dall-e-2 was retired by OpenAI on 2026-05-12; use gpt-image-2 (the default)",
        "dall-e-3": "dall-e-3 was retired by OpenAI on 2026-05-12; use gpt-image-2 (the default)",
    }

    def __init__(self, *, quality: str = "high", size: str = "source", output_format: str = "png",
                 **settings: Any) -> None:
        super().__init__(**settings)
        if quality not in QUALITIES:
            raise ConfigError(f"-M quality must be one of {', '.join(QUALITIES)}, got {quality!r}")
        if output_format not in ("png", "jpeg", "webp"):
            raise ConfigError(f"-M output_format must be png, jpeg or webp, got {output_format!r}")
        self.quality, self.size, self.output_format = quality, size, output_format
        self._fixed = self._parse_size(size)

    @staticmethod
    def _parse_size(size: str) -> tuple[int, int] | None:
        if size in ("source", "auto"):
            return None
        w, sep, h = size.partition("x")
        if not sep or not w.isdigit() or not h.isdigit():
            raise ConfigError(f"-M size must be source, auto or WxH (e.g. 1536x1024), got {size!r}")
        return int(w), int(h)

    def request_params(self) -> dict[str, Any]:
        """Quality, output format and the size rule."""
        return {"quality": self.quality, "output_format": self.output_format, "size": self.size}

    def size_for(self, width: int, height: int) -> str:
        """The ``size`` sent for a photo of ``width`` x ``height``."""
        if self.size == "auto":
            return "auto"
        w, h = self._fixed or gpt_size(self.model, width, height)
        return f"{w}x{h}"

    # -- money ----------------------------------------------------------------------------------------
    def _prices(self) -> tuple[float, float, float] | None:
        best = max((k for k in PRICES if self.model.startswith(k)), key=len, default=None)
        return PRICES[best] if best is not None else None

    def table_estimate(self, size: tuple[int, int]) -> float | None:
        """Estimated text and photo input and image output tokens at the table's prices."""
        from realedit_bench.judges.backends.openai_chat import OpenAIChat

        prices = self._prices()
        if prices is None:
            return None
        out_w, out_h = (1536, 1024) if self.size == "auto" else (
            self._fixed or gpt_size(self.model, *size))
        output = OUTPUT_TOKENS[self.quality] * out_w * out_h / (1024 * 1024)
        text, image, out = prices
        return (TEXT_TOKENS * text + OpenAIChat.image_tokens(*size) * image + output * out) / 1e6

    def usage_cost(self, usage: Any) -> float | None:
        """The reported text and image input tokens and output tokens at the table's prices."""
        prices = self._prices()
        if prices is None or usage is None:
            return None
        text, image, out = prices
        details = getattr(usage, "input_tokens_details", None)
        text_in = int(getattr(details, "text_tokens", 0) or 0)
        image_in = int(getattr(details, "image_tokens", 0) or 0)
        return (text_in * text + image_in * image + int(usage.output_tokens or 0) * out) / 1e6

    def price_words(self) -> str:
        """The token prices and the output tokens assumed."""
        prices = self._prices()
        if prices is None:
            return f"{self.model}: no price known"
        text, image, out = prices
        tokens = OUTPUT_TOKENS[self.quality]
        return (f"{self.model}, quality {self.quality}: ${out:g}/M output tokens (~{tokens:,} per 1 MP "
                f"image), ${image:g}/M image and ${text:g}/M text input tokens")

    # -- the call ------------------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The SDK's async client, its own retries off (the run loop retries)."""
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(api_key=self.api_key, base_url=self.base_url, max_retries=0,
                                              timeout=self.timeout)
        return self._client

    async def send(self, image: Image.Image, instruction: str, seed: int) -> RemoteEdit:
        """``images.edit`` with the photo as PNG; the seed is not sent (the API takes none)."""
        import openai

        try:
            response = await self.client.images.edit(
                image=("source.png", png_bytes(image), "image/png"), prompt=instruction, model=self.model,
                n=1, size=self.size_for(*image.size), quality=self.quality, output_format=self.output_format)
        except openai.OpenAIError as exc:
            raise sdk_call_error(exc, openai, self.status_error) from exc
        data = response.data[0].b64_json if response.data else None
        if not data:
            raise CallError("the reply holds no image")
        usage = response.usage
        return self.returned(base64.b64decode(data), input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
                             output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
                             cost_usd=self.usage_cost(usage))
