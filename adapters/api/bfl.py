"""FLUX.1 Kontext [pro] and [max] (Black Forest Labs) through BFL's REST API.

Model: ``flux-kontext-pro`` by default (``--weights flux-kontext-max``). Key: ``BFL_API_KEY``, sent as the
``x-key`` header to the API host only; ``BFL_BASE_URL`` points elsewhere (default ``https://api.bfl.ai``;
regional hosts ``api.eu.bfl.ai``, ``api.us.bfl.ai``). Proprietary service under BFL's terms.

The API is asynchronous: ``POST /v1/<model>`` with the instruction, the photo (base64), the sample's seed,
``output_format`` (png), ``safety_tolerance`` (default 2, the API's) and no ``aspect_ratio`` (the API then
keeps the photo's); the reply names a task and its ``polling_url``, which is polled (with the key) every
``poll_interval`` seconds until ``Ready``; the result is a signed URL valid for 10 minutes, downloaded at
once (without the key: it is another host). A ``Request Moderated`` or ``Content Moderated`` task is
``refused``. Only the submission is retried as a whole: once a task exists, a failed poll or download is
retried by itself (never a second paid task), and a task not ready after ``timeout`` seconds is an error.

Prices (USD per image, BFL's credits at $0.01, as summarised in 2026): Kontext pro 0.04, max 0.08; a
``cost`` in the submission's reply (credits) wins over the table.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any, ClassVar

from PIL import Image

from adapters.api.base import APIEditor, png_bytes
from realedit_bench.errors import ConfigError
from realedit_bench.net import CallError, RetryPolicy
from realedit_bench.remote import RemoteEdit

#: USD per image by model.
PRICES = {"flux-kontext-pro": 0.04, "flux-kontext-max": 0.08}
#: Task states that mean moderation refused the edit.
MODERATED = frozenset({"Request Moderated", "Content Moderated"})
#: Task states that mean the task failed for good.
FAILED = frozenset({"Error", "Failed", "Task not found"})


class FluxKontextAPI(APIEditor):
    """FLUX.1 Kontext [pro]/[max] through the BFL API (submit, poll, download).

    Args:
        safety_tolerance: 0 (strictest) to 6; the API's default 2.
        output_format: ``png`` or ``jpeg``.
        poll_interval: Seconds between polls of a task.
        **settings: The base's settings (``timeout`` bounds each phase: submission, the task, the download).
    """

    name: ClassVar[str] = "flux-kontext-api"
    default_weights: ClassVar[str | None] = "flux-kontext-pro"
    license: ClassVar[str] = "paid API, BFL terms"
    key_envs: ClassVar[tuple[str, ...]] = ("BFL_API_KEY",)
    default_base_url: ClassVar[str] = "https://api.bfl.ai"
    base_url_env: ClassVar[str] = "BFL_BASE_URL"
    takes_seed: ClassVar[bool] = True
    quota_codes: ClassVar[frozenset[str]] = frozenset({"insufficient_credits"})

    def __init__(self, *, safety_tolerance: int = 2, output_format: str = "png", poll_interval: float = 0.5,
                 **settings: Any) -> None:
        super().__init__(**settings)
        if not 0 <= safety_tolerance <= 6 or output_format not in ("png", "jpeg") or poll_interval <= 0:
            raise ConfigError("-M safety_tolerance must be 0-6, output_format png or jpeg, poll_interval > 0")
        self.safety_tolerance, self.output_format = safety_tolerance, output_format
        self.poll_interval = poll_interval
        # The whole call is not bounded from outside: a timeout after submission must not submit again.
        self.retry = RetryPolicy(max_retries=self.retry.max_retries, timeout=None)

    def request_params(self) -> dict[str, Any]:
        """Safety tolerance, output format, and the aspect ratio left to the API (the photo's)."""
        return {"safety_tolerance": self.safety_tolerance, "output_format": self.output_format,
                "aspect_ratio": "the photo's (not sent)"}

    def table_estimate(self, size: tuple[int, int]) -> float | None:
        """The table's price of one image."""
        return PRICES.get(self.model)

    def price_words(self) -> str:
        """The price of one image."""
        price = PRICES.get(self.model)
        return f"{self.model}: " + (f"${price:.3f} per image" if price is not None else "no price known")

    async def send(self, image: Image.Image, instruction: str, seed: int) -> RemoteEdit:
        """Submit, poll the task's URL, download the result at once."""
        key = {"x-key": self.api_key or ""}
        body = {"prompt": instruction, "input_image": base64.b64encode(png_bytes(image)).decode("ascii"),
                "seed": seed, "output_format": self.output_format, "safety_tolerance": self.safety_tolerance}
        task = (await self.request("POST", f"{self.base_url}/v1/{self.model}", json=body, headers=key)).json()
        polling_url = task.get("polling_url")
        if not polling_url:
            raise CallError(f"the submission's reply names no polling_url: {str(task)[:200]}")
        try:
            sample = await self._poll(polling_url, key)
            data = (await self._again(lambda: self.request("GET", sample))).content
        except CallError as exc:
            if exc.refused or exc.fatal:
                raise
            # A task was paid for: never submit it again; a rerun of the command retries the sample.
            raise CallError(f"task {task.get('id')}: {exc}") from exc
        credits = task.get("cost")
        cost = float(credits) / 100 if isinstance(credits, (int, float)) and self.price is None else None
        return self.returned(data, cost_usd=cost, model=self.model)

    async def _poll(self, url: str, key: dict[str, str]) -> str:
        """The result URL once the task is ``Ready``."""
        deadline = time.monotonic() + self.timeout
        while True:
            state = (await self._again(lambda: self.request("GET", url, headers=key))).json()
            status = str(state.get("status", ""))
            if status == "Ready":
                sample = (state.get("result") or {}).get("sample")
                if not sample:
                    raise CallError("the task is ready but names no result")
                return str(sample)
            if status in MODERATED:
                raise CallError(f"the edit was refused ({status})", refused=True)
            if status in FAILED:
                raise CallError(f"the task failed ({status}: {str(state.get('details') or '')[:200]})")
            if time.monotonic() > deadline:
                raise CallError(f"the task was not ready after {self.timeout:g} s "
                                f"(last status {status!r})")
            await asyncio.sleep(self.poll_interval)

    async def _again(self, call: Any) -> Any:
        """One GET of a task already submitted, retried by itself when it may pass."""
        from realedit_bench.net import call_with_retries

        return await call_with_retries(call, RetryPolicy(max_retries=self.retry.max_retries,
                                                         timeout=self.timeout))
