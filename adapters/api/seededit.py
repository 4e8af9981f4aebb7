"""SeedEdit 3.0 (ByteDance Seed) through the Ark images API (BytePlus ModelArk; Volcengine in China).

Model: ``seededit-3-0-i2i-250628`` by default (``--weights`` takes other Ark image models, e.g.
``seedream-4-0-250828``: pass ``-M size=2K -M guidance_scale=none`` for those). Key: ``ARK_API_KEY`` (keys are
per region); ``ARK_BASE_URL`` picks the region (default ``https://ark.ap-southeast.bytepluses.com/api/v3``;
``https://ark.cn-beijing.volces.com/api/v3`` in China). Proprietary service under BytePlus' terms.

The endpoint is OpenAI-shaped JSON, called here with plain ``httpx2``: ``POST /images/generations`` with the
model, the instruction, the photo as a base64 data URL, ``size="adaptive"`` (the photo's aspect; SeedEdit's
documented value), the sample's seed, ``guidance_scale`` 5.5 (SeedEdit's documented default),
``watermark`` false (an evaluation judges the edit, not a visible mark) and ``response_format="b64_json"``.
A 400 whose code says sensitive content was detected (input or output) is ``refused``, never retried.

Prices (USD per image, BytePlus' price page as summarised in 2026): SeedEdit 3.0 0.03; Seedream 4.0 0.03,
4.5 0.04, 5.0 0.035.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from PIL import Image

from adapters.api.base import APIEditor, data_url
from realedit_bench.net import CallError
from realedit_bench.remote import RemoteEdit

#: USD per image by model prefix.
PRICES = {"seededit-3-0": 0.03, "seedream-4-0": 0.03, "seedream-4-5": 0.04, "seedream-5-0": 0.035}


class SeedEdit(APIEditor):
    """SeedEdit 3.0 (or another Ark image model) through ``images/generations``.

    Args:
        guidance_scale: Text guidance sent to the API; None sends none (Seedream models take none).
        size: ``adaptive`` (the photo's aspect), or what the model takes (``1K``, ``2K``, ``WxH``).
        watermark: Ask for the provider's visible watermark.
        **settings: The base's settings.
    """

    name: ClassVar[str] = "seededit"
    default_weights: ClassVar[str | None] = "seededit-3-0-i2i-250628"
    license: ClassVar[str] = "paid API, BytePlus terms"
    key_envs: ClassVar[tuple[str, ...]] = ("ARK_API_KEY",)
    default_base_url: ClassVar[str] = "https://ark.ap-southeast.bytepluses.com/api/v3"
    base_url_env: ClassVar[str] = "ARK_BASE_URL"
    takes_seed: ClassVar[bool] = True
    refusal_codes: ClassVar[frozenset[str]] = frozenset({
        "InputTextSensitiveContentDetected", "InputImageSensitiveContentDetected", "SensitiveContentDetected",
        "OutputTextSensitiveContentDetected", "OutputImageSensitiveContentDetected",
    })
    quota_codes: ClassVar[frozenset[str]] = frozenset({"AccountOverdueError", "QuotaExceeded"})

    def __init__(self, *, guidance_scale: float | None = 5.5, size: str = "adaptive", watermark: bool = False,
                 **settings: Any) -> None:
        super().__init__(**settings)
        self.guidance_scale, self.size, self.watermark = guidance_scale, size, watermark

    def request_params(self) -> dict[str, Any]:
        """Guidance, size rule and watermark, as sent."""
        return {"guidance_scale": self.guidance_scale, "size": self.size, "watermark": self.watermark}

    def table_estimate(self, size: tuple[int, int]) -> float | None:
        """The table's price of one image."""
        best = max((k for k in PRICES if self.model.startswith(k)), key=len, default=None)
        return PRICES[best] if best is not None else None

    def price_words(self) -> str:
        """The price of one image."""
        price = self.table_estimate((1024, 1024))
        return f"{self.model}: " + (f"${price:.3f} per image" if price is not None else "no price known")

    async def send(self, image: Image.Image, instruction: str, seed: int) -> RemoteEdit:
        """One ``images/generations`` call with the photo inline."""
        body: dict[str, Any] = {"model": self.model, "prompt": instruction, "image": data_url(image),
                                "size": self.size, "seed": seed, "watermark": self.watermark,
                                "response_format": "b64_json"}
        if self.guidance_scale is not None:
            body["guidance_scale"] = self.guidance_scale
        headers = {"Authorization": f"Bearer {self.api_key or ''}"}
        reply = (await self.request("POST", f"{self.base_url}/images/generations", json=body,
                                    headers=headers)).json()
        items = reply.get("data") or []
        encoded = items[0].get("b64_json") if items and isinstance(items[0], dict) else None
        if not encoded:
            raise CallError(f"the reply holds no image: {str(reply)[:200]}")
        usage = reply.get("usage") or {}
        return self.returned(base64.b64decode(encoded), output_tokens=int(usage.get("output_tokens") or 0),
                             model=reply.get("model"))
