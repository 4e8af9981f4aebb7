"""Anthropic Messages: ``anthropic/<model>``. Key from ``ANTHROPIC_API_KEY``; base URL from
``ANTHROPIC_BASE_URL`` if set. ``stop_reason="refusal"`` is a refusal.

The installed SDK (2.x) speaks API version 2026-10-21, which has no sampling parameters: it rejects
``temperature``, ``top_p`` and ``top_k`` with a 400 even at their defaults, and there is no seed. So no
temperature is sent (rows record exactly what was sent); repeatability rests on the cache, and
``--samples K`` measures the spread.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from realedit_bench.errors import ConfigError
from realedit_bench.judges.backends.base import (
    Backend,
    CallError,
    ChatReply,
    ChatRequest,
    ImagePart,
    env_key,
    parse_retry_after,
)

#: Error types that mean the account cannot pay: no retry will help.
QUOTA_TYPES = {"billing_error", "insufficient_quota", "credit_balance_too_low"}


def anthropic_messages(req: ChatRequest) -> list[dict[str, Any]]:
    """Messages-API ``messages`` for ``req``: the user content in order, then re-ask turns."""
    content: list[dict[str, Any]] = []
    for part in req.content:
        if isinstance(part, ImagePart):
            content.append({
                "type": "image",
                "source": {"type": "base64", "media_type": part.mime,
                           "data": base64.b64encode(part.data).decode("ascii")},
            })
        else:
            content.append({"type": "text", "text": part})
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    for role, text in req.followups:
        messages.append({"role": role, "content": text})
    return messages


def classify_anthropic_error(exc: Exception) -> CallError:
    """Map an ``anthropic`` SDK exception to a :class:`CallError`."""
    import anthropic

    if isinstance(exc, anthropic.APITimeoutError):
        return CallError("the call timed out", retryable=True)
    if isinstance(exc, anthropic.APIConnectionError):
        return CallError(f"connection error: {exc}", retryable=True)
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        inner = body.get("error")
        err: dict[str, Any] = inner if isinstance(inner, dict) else {}
        etype = err.get("type") or ""
        message = str(err.get("message") or exc)[:300]
        if status == 402 or etype in QUOTA_TYPES:
            return CallError(f"quota exhausted ({etype or status}): {message}", status=status, fatal=True)
        if status in (401, 403):
            return CallError(f"HTTP {status}: the key was refused or lacks access: {message}", status=status, fatal=True)
        if status == 404:
            return CallError(f"HTTP 404: unknown model or endpoint: {message}", status=status, fatal=True)
        if status in (408, 409, 429) or status >= 500:
            return CallError(
                f"HTTP {status}: {message}", status=status, retryable=True,
                retry_after=parse_retry_after(exc.response.headers),
            )
        return CallError(f"HTTP {status}: {message}", status=status)
    return CallError(f"{type(exc).__name__}: {exc}")


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


class AnthropicMessages(Backend):
    """``anthropic/<model>`` through the Messages API."""

    provider: ClassVar[str] = "anthropic"
    supports_seed: ClassVar[bool] = False
    supports_batch: ClassVar[bool] = True

    def __init__(self, model: str, *, check_key: bool = True) -> None:
        super().__init__(model)
        if check_key and env_key("ANTHROPIC_API_KEY") is None:
            raise ConfigError(f"judge {self.name} needs an API key: set ANTHROPIC_API_KEY")
        self.base_url = env_key("ANTHROPIC_BASE_URL") or "https://api.anthropic.com"
        self._client: Any = None

    def describe(self) -> dict[str, Any]:
        """Endpoint and base URL (no key)."""
        return {**super().describe(), "endpoint": "anthropic", "base_url": self.base_url}

    @property
    def client(self) -> Any:
        """The async SDK client, made on first use."""
        if self._client is None:
            import anthropic

            self._client = anthropic.AsyncAnthropic(
                api_key=env_key("ANTHROPIC_API_KEY"), base_url=self.base_url, max_retries=0
            )
        return self._client

    def request_params(self, req: ChatRequest) -> dict[str, Any]:
        """Only max_tokens: this API version has no temperature and no seed (module docstring)."""
        return {"max_tokens": req.max_tokens}

    def body(self, req: ChatRequest) -> dict[str, Any]:
        """Messages-API request parameters."""
        body: dict[str, Any] = {"model": self.model, "messages": anthropic_messages(req), **self.request_params(req)}
        if req.system:
            body["system"] = req.system
        return body

    async def complete(self, req: ChatRequest) -> ChatReply:
        """One Messages call."""
        import anthropic

        try:
            body = self.body(req)
            messages = body.pop("messages")
            # Wire-format messages via extra_body (documented to take precedence): skips the SDK's
            # per-field type walk over the base64 images.
            resp = await self.client.messages.create(
                **body, messages=[], extra_body={"messages": messages}, timeout=req.timeout
            )
        except anthropic.AnthropicError as exc:
            raise classify_anthropic_error(exc) from exc
        return reply_from_message(resp)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    # Message Batches ------------------------------------------------------------------------
    def batch_line(self, custom_id: str, req: ChatRequest) -> dict[str, Any]:
        """One request of a Message Batch."""
        return {"custom_id": custom_id, "params": self.body(req)}

    async def submit_batch(self, lines: list[dict[str, Any]]) -> str:
        """Create the Message Batch."""
        import anthropic

        try:
            batch = await self.client.messages.batches.create(requests=lines)
        except anthropic.AnthropicError as exc:
            raise classify_anthropic_error(exc) from exc
        return batch.id

    async def poll_batch(self, batch_id: str) -> tuple[str, bool]:
        """Processing status; ended when ``ended``."""
        import anthropic

        try:
            batch = await self.client.messages.batches.retrieve(batch_id)
        except anthropic.AnthropicError as exc:
            raise classify_anthropic_error(exc) from exc
        return batch.processing_status, batch.processing_status == "ended"

    async def batch_results(self, batch_id: str) -> dict[str, ChatReply | CallError]:
        """Stream the results of an ended batch."""
        import anthropic

        out: dict[str, ChatReply | CallError] = {}
        try:
            async for item in await self.client.messages.batches.results(batch_id):
                result = item.result
                if result.type == "succeeded":
                    out[item.custom_id] = reply_from_message(result.message)
                else:
                    detail = getattr(getattr(result, "error", None), "error", None)
                    out[item.custom_id] = CallError(f"batch request {result.type}: {detail or ''}".strip())
        except anthropic.AnthropicError as exc:
            raise classify_anthropic_error(exc) from exc
        return out
