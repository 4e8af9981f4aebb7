"""Gemini image models ("Nano Banana", Google) through ``generate_content``, with the ``google-genai`` SDK.

Model: ``gemini-3.1-flash-image`` by default (``--weights gemini-3-pro-image``, ``gemini-2.5-flash-image``,
...). The SDK is an optional extra: ``pip install 'realedit[gemini]'``. Key: ``GOOGLE_API_KEY`` or
``GEMINI_API_KEY`` (the SDK's order); ``GOOGLE_GEMINI_BASE_URL`` points it elsewhere. Proprietary service
under Google's terms; every output carries a SynthID watermark.

What is sent: the instruction, then the photo as PNG; ``response_modalities=["IMAGE"]``; an
``image_config`` with the supported aspect ratio nearest the photo's (1:1, 2:3, 3:2, 3:4, 4:3, 9:16,
16:9, 21:9) and ``image_size`` (default ``1K``, the API's default); the sample's seed (the API takes one;
it does not promise determinism). A blocked prompt or a candidate stopped for safety, prohibited content,
blocklist, personal data or recitation is ``refused``, never retried; a reply without an image is an error.

Prices (USD per output image by ``image_size``, Google's price page as summarised in 2026):
3.1-flash-image 0.045 (512) / 0.067 (1K) / 0.101 (2K) / 0.151 (4K); 3-pro-image 0.134 (1K, 2K) / 0.24 (4K);
2.5-flash-image 0.039 (1K). Input tokens are recorded, not priced (no price in this table).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from PIL import Image

from adapters.api.base import APIEditor, png_bytes
from realedit_bench.errors import ConfigError
from realedit_bench.net import CallError
from realedit_bench.remote import RemoteEdit

#: The aspect ratios ``image_config`` takes.
ASPECTS = ("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9")
#: USD per output image by ``image_size``, by model prefix.
PRICES = {
    "gemini-3.1-flash-image": {"512": 0.045, "1K": 0.067, "2K": 0.101, "4K": 0.151},
    "gemini-3-pro-image": {"1K": 0.134, "2K": 0.134, "4K": 0.24},
    "gemini-2.5-flash-image": {"1K": 0.039},
}
#: Why a candidate stopped, when that means the content was refused.
REFUSALS = frozenset({"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY",
                      "IMAGE_PROHIBITED_CONTENT", "RECITATION", "IMAGE_RECITATION", "MODEL_ARMOR"})


def nearest_aspect(width: int, height: int) -> str:
    """The supported aspect ratio nearest ``width`` x ``height`` (on a log scale)."""
    def gap(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(math.log(width / height) - math.log(int(w) / int(h)))

    return min(ASPECTS, key=gap)


def _name(value: Any) -> str:
    """An SDK enum (or its string) as its name."""
    return str(getattr(value, "name", value) or "")


class GeminiImage(APIEditor):
    """Gemini image models through ``client.aio.models.generate_content``.

    Args:
        image_size: ``512``, ``1K``, ``2K`` or ``4K``.
        **settings: The base's settings.
    """

    name: ClassVar[str] = "gemini-image"
    default_weights: ClassVar[str | None] = "gemini-3.1-flash-image"
    license: ClassVar[str] = "paid API, Google terms"
    key_envs: ClassVar[tuple[str, ...]] = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com"
    base_url_env: ClassVar[str] = "GOOGLE_GEMINI_BASE_URL"
    takes_seed: ClassVar[bool] = True

    def __init__(self, *, image_size: str = "1K", **settings: Any) -> None:
        super().__init__(**settings)
        if image_size not in ("512", "1K", "2K", "4K"):
            raise ConfigError(f"-M image_size must be 512, 1K, 2K or 4K, got {image_size!r}")
        self.image_size = image_size

    def check_key(self) -> None:
        """The key, and the SDK: an optional extra, named in one line when it is missing."""
        import importlib.util

        if importlib.util.find_spec("google.genai") is None:
            raise ConfigError(f"model {self.name!r} needs the google-genai SDK: "
                              f"pip install 'realedit[gemini]'")
        super().check_key()

    def request_params(self) -> dict[str, Any]:
        """The image size and how the aspect ratio is chosen."""
        return {"image_size": self.image_size, "aspect_ratio": "nearest supported to the photo's",
                "response_modalities": ["IMAGE"]}

    def table_estimate(self, size: tuple[int, int]) -> float | None:
        """The table's price of one image of ``image_size``."""
        best = max((k for k in PRICES if self.model.startswith(k)), key=len, default=None)
        return PRICES[best].get(self.image_size) if best is not None else None

    def price_words(self) -> str:
        """The price of one image."""
        price = self.table_estimate((1024, 1024))
        if price is None:
            return f"{self.model}, image_size {self.image_size}: no price known"
        return f"{self.model}, image_size {self.image_size}: ${price:.3f} per output image (input not priced)"

    @property
    def client(self) -> Any:
        """The SDK's client (its own retries off: the run loop retries)."""
        if self._client is None:
            from google import genai

            # HttpOptions.timeout is in milliseconds.
            options = genai.types.HttpOptions(base_url=self.base_url, timeout=int(self.timeout * 1000))
            self._client = genai.Client(api_key=self.api_key, http_options=options).aio
        return self._client

    async def send(self, image: Image.Image, instruction: str, seed: int) -> RemoteEdit:
        """``generate_content`` with the instruction and the photo; the seed is sent."""
        from google.genai import types

        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"], seed=seed,
            image_config=types.ImageConfig(aspect_ratio=nearest_aspect(*image.size),
                                           image_size=self.image_size))
        contents = [instruction, types.Part.from_bytes(data=png_bytes(image), mime_type="image/png")]
        with self._sdk_errors():
            response = await self.client.models.generate_content(model=self.model, contents=contents,
                                                                 config=config)
        return self._read(response)

    def _read(self, response: Any) -> RemoteEdit:
        """The image part of a reply; a block or a safety stop is a refusal."""
        feedback = getattr(response, "prompt_feedback", None)
        if feedback is not None and feedback.block_reason:
            raise CallError(f"the edit was refused: the prompt was blocked ({_name(feedback.block_reason)})",
                            refused=True)
        candidate = (response.candidates or [None])[0]
        reason = _name(getattr(candidate, "finish_reason", None))
        if reason in REFUSALS:
            raise CallError(f"the edit was refused (finish reason {reason})", refused=True)
        parts = candidate.content.parts if candidate is not None and candidate.content else None
        data = next((p.inline_data.data for p in parts or [] if p.inline_data and p.inline_data.data), None)
        if data is None:
            raise CallError(f"the reply holds no image (finish reason {reason or 'none'})")
        usage = response.usage_metadata
        return self.returned(data, input_tokens=int(getattr(usage, "prompt_token_count", 0) or 0),
                             output_tokens=int(getattr(usage, "candidates_token_count", 0) or 0),
                             model=response.model_version)

    def _sdk_errors(self) -> Any:
        """A context that turns the SDK's and its HTTP client's exceptions into :class:`CallError`."""
        import contextlib

        import httpx
        import httpx2
        from google.genai import errors

        @contextlib.contextmanager
        def mapping() -> Any:
            try:
                yield
            except errors.APIError as exc:
                headers = getattr(getattr(exc, "response", None), "headers", None)
                raise self.status_error(int(exc.code or 0), str(exc.message or exc)[:300],
                                        code=str(exc.status or ""), headers=headers) from exc
            except (httpx.TimeoutException, httpx2.TimeoutException) as exc:
                raise CallError("the call timed out", retryable=True) from exc
            except (httpx.TransportError, httpx2.TransportError) as exc:
                raise CallError(f"connection error: {type(exc).__name__}: {exc}", retryable=True) from exc

        return mapping()
