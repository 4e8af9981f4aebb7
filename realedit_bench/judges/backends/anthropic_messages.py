"""Anthropic Messages: ``anthropic/<model>``. Key from ``ANTHROPIC_API_KEY``; base URL from
``ANTHROPIC_BASE_URL`` if set. ``stop_reason="refusal"`` is a refusal.

The SDK (2.x) speaks API version 2026-10-21, which has no sampling parameters: it rejects
``temperature``, ``top_p`` and ``top_k`` with a 400 even at their defaults, and there is no seed. So no
temperature is sent (rows record exactly what was sent); repeatability rests on the cache, and
``--repeats K`` measures the spread. Prices are Anthropic's public price page (USD per 1M tokens, 2025);
image tokens follow its published rule (the base estimate).
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from realedit_bench.judges.backends.base import CallError, ChatReply, ChatRequest, ImagePart, SDKBackend
from realedit_bench.judges.prices import Price
from realedit_bench.ratelimit import parse_rate_headers


def _image_block(part: ImagePart) -> dict[str, Any]:
    return {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": part.mime,
            "data": base64.b64encode(part.data).decode("ascii"),
        },
    }


def anthropic_messages(req: ChatRequest) -> list[dict[str, Any]]:
    """Messages-API ``messages`` for ``req``: the user content in order, then re-ask turns."""
    return SDKBackend.user_turns(req, _image_block)


def reply_from_message(data: Any) -> ChatReply:
    """Read a Messages-API response (SDK object or dict)."""
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    texts = [b.get("text", "") for b in data.get("content") or [] if b.get("type") == "text"]
    usage = data.get("usage") or {}
    stop = data.get("stop_reason")
    return ChatReply(
        text="".join(texts) if texts else None,
        finish_reason=stop,
        refused=stop == "refusal",
        model=data.get("model"),
        system_fingerprint=None,
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
    )


class AnthropicMessages(SDKBackend):
    """``anthropic/<model>`` through the Messages API."""

    provider: ClassVar[str] = "anthropic"
    name_help: ClassVar[str] = "anthropic/<model>"
    key_envs: ClassVar[tuple[str, ...]] = ("ANTHROPIC_API_KEY",)
    default_base_url: ClassVar[str] = "https://api.anthropic.com"
    base_url_env: ClassVar[str] = "ANTHROPIC_BASE_URL"
    prices: ClassVar[dict[str, Price]] = {
        "claude-3-5-sonnet": Price(3.0, 15.0),
        "claude-3-7-sonnet": Price(3.0, 15.0),
        "claude-sonnet-4": Price(3.0, 15.0),
        "claude-opus-4": Price(15.0, 75.0),
        "claude-3-5-haiku": Price(0.8, 4.0),
        "claude-haiku-4-5": Price(1.0, 5.0),
        "claude-3-haiku": Price(0.25, 1.25),
    }
    supports_seed: ClassVar[bool] = False
    supports_batch: ClassVar[bool] = True
    quota_codes: ClassVar[frozenset[str]] = frozenset(
        {"billing_error", "insufficient_quota", "credit_balance_too_low"})
    sdk: ClassVar[str] = "anthropic"
    sdk_error: ClassVar[str] = "AnthropicError"

    def describe(self) -> dict[str, Any]:
        """Endpoint and base URL (no key)."""
        return {**super().describe(), "endpoint": "anthropic", "base_url": self.base_url}

    def make_client(self) -> Any:
        """``AsyncAnthropic``."""
        import anthropic

        return anthropic.AsyncAnthropic(api_key=self.api_key, base_url=self.base_url, max_retries=0)

    def request_params(self, req: ChatRequest) -> dict[str, Any]:
        """Only max_tokens: this API version has no temperature and no seed (module docstring)."""
        return {"max_tokens": req.max_tokens}

    def body(self, req: ChatRequest) -> dict[str, Any]:
        """Messages-API request parameters."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": anthropic_messages(req),
            **self.request_params(req),
        }
        if req.system:
            body["system"] = req.system
        return body

    async def send(self, req: ChatRequest) -> ChatReply:
        """One Messages call."""
        body = self.body(req)
        messages = body.pop("messages")
        # Wire-format messages via extra_body (documented to take precedence): skips the SDK's per-field
        # type walk over the base64 images.
        raw = await self.client.messages.with_raw_response.create(
            **body, messages=[], extra_body={"messages": messages}, timeout=req.timeout)
        reply = reply_from_message(await raw.parse())
        reply.rate = parse_rate_headers(raw.headers)
        return reply

    # Message Batches ------------------------------------------------------------------------
    def batch_line(self, custom_id: str, req: ChatRequest) -> dict[str, Any]:
        """One request of a Message Batch."""
        return {"custom_id": custom_id, "params": self.body(req)}

    async def submit_batch(self, lines: list[dict[str, Any]]) -> str:
        """Create the Message Batch."""
        with self.sdk_errors():
            batch = await self.client.messages.batches.create(requests=lines)
        return batch.id

    async def poll_batch(self, batch_id: str) -> tuple[str, bool]:
        """Processing status; ended when ``ended``."""
        with self.sdk_errors():
            batch = await self.client.messages.batches.retrieve(batch_id)
        return batch.processing_status, batch.processing_status == "ended"

    async def batch_results(self, batch_id: str) -> dict[str, ChatReply | CallError]:
        """Stream the results of an ended batch."""
        out: dict[str, ChatReply | CallError] = {}
        with self.sdk_errors():
            async for item in await self.client.messages.batches.results(batch_id):
                result = item.result
                if result.type == "succeeded":
                    out[item.custom_id] = reply_from_message(result.message)
                else:
                    detail = getattr(getattr(result, "error", None), "error", None)
                    out[item.custom_id] = CallError(f"batch request {result.type}: {detail or ''}".strip())
        return out
