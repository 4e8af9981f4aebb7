"""OpenAI chat completions: ``openai/<model>`` (or Azure OpenAI) and ``openai-api/<base-url>/<model>``.

* ``openai/<model>``: key from ``OPENAI_API_KEY``; base URL from ``OPENAI_BASE_URL`` if set. When
  ``AZURE_OPENAI_ENDPOINT`` and ``AZURE_OPENAI_API_KEY`` are both set, Azure OpenAI is used instead
  (``<model>`` is then the deployment name; API version from ``OPENAI_API_VERSION``).
* ``openai-api/<base-url>/<model>``: any OpenAI-compatible server (vLLM, SGLang, Ollama). The base URL
  ends at its first ``/v<N>`` path segment (``http://host:8000/v1``) and the rest is the model, which may
  itself hold slashes (``Qwen/Qwen2-VL-7B-Instruct``); without a ``/v<N>`` segment the model is the
  last segment. Key from ``OPENAI_COMPAT_API_KEY``; servers on this machine (localhost) need none.
  ``OPENAI_API_KEY`` is deliberately never sent to such servers, so an OpenAI key cannot leak to a
  third-party host.

The SDK's own retries are off (``max_retries=0``): the engine's retry loop owns them.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, ClassVar

from realedit_bench.errors import ConfigError
from realedit_bench.judges.backends.base import (
    Backend,
    CallError,
    ChatReply,
    ChatRequest,
    ImagePart,
    env_key,
    is_loopback,
    parse_retry_after,
)

#: Azure API version when OPENAI_API_VERSION is not set (a GA version that accepts images).
DEFAULT_AZURE_API_VERSION = "2024-10-21"
#: Provider error codes that mean the account cannot pay: no retry will help.
QUOTA_CODES = {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"}
#: 400 codes that mean the provider refused the content rather than the request being malformed.
CONTENT_POLICY_CODES = {"content_policy_violation", "content_filter", "ResponsibleAIPolicyViolation"}


def _data_url(part: ImagePart) -> str:
    return f"data:{part.mime};base64,{base64.b64encode(part.data).decode('ascii')}"


def openai_messages(req: ChatRequest) -> list[dict[str, Any]]:
    """Chat-completions messages for ``req``: system, user content parts in order, re-ask turns."""
    content: list[dict[str, Any]] = []
    for part in req.content:
        if isinstance(part, ImagePart):
            content.append({"type": "image_url", "image_url": {"url": _data_url(part)}})
        else:
            content.append({"type": "text", "text": part})
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": req.system})
    messages.append({"role": "user", "content": content})
    for role, text in req.followups:
        messages.append({"role": role, "content": text})
    return messages


def classify_openai_error(exc: Exception) -> CallError:
    """Map an ``openai`` SDK exception to a :class:`CallError`."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return CallError("the call timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return CallError(f"connection error: {exc}", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        code = getattr(exc, "code", None) or getattr(exc, "type", None) or ""
        message = _error_message(exc)
        if status == 429 and code in QUOTA_CODES:
            return CallError(f"quota exhausted ({code}): {message}", status=status, fatal=True)
        if status in (401, 403):
            return CallError(f"HTTP {status}: the key was refused or lacks access: {message}", status=status, fatal=True)
        if status == 404:
            return CallError(f"HTTP 404: unknown model or endpoint: {message}", status=status, fatal=True)
        if status == 400 and code in CONTENT_POLICY_CODES:
            return CallError(f"content refused by the provider ({code})", status=status, refused=True)
        if status in (408, 409, 429) or status >= 500:
            return CallError(
                f"HTTP {status}: {message}", status=status, retryable=True,
                retry_after=parse_retry_after(exc.response.headers),
            )
        return CallError(f"HTTP {status}: {message}", status=status)
    return CallError(f"{type(exc).__name__}: {exc}")


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return str(getattr(exc, "message", exc))[:300]


def reply_from_completion(data: Any) -> ChatReply:
    """Read a chat completion (SDK object or plain dict from a batch file)."""
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    choices = data.get("choices") or []
    choice = choices[0] if choices else {}
    message = choice.get("message") or {}
    finish = choice.get("finish_reason")
    refusal = message.get("refusal")
    usage = data.get("usage") or {}
    text = message.get("content")
    return ChatReply(
        text=text if text is not None else refusal,
        finish_reason=finish,
        refused=finish == "content_filter" or bool(refusal),
        model=data.get("model"),
        system_fingerprint=data.get("system_fingerprint"),
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
    )


class OpenAIChat(Backend):
    """``openai/<model>``: the OpenAI API, or Azure OpenAI when its environment variables are set."""

    provider: ClassVar[str] = "openai"
    supports_seed: ClassVar[bool] = True
    supports_batch: ClassVar[bool] = True
    #: The parameter name of the reply length (newer OpenAI models accept only the new name).
    max_tokens_param: str = "max_completion_tokens"

    def __init__(self, model: str, *, check_key: bool = True) -> None:
        super().__init__(model)
        self.azure = bool(env_key("AZURE_OPENAI_ENDPOINT") and env_key("AZURE_OPENAI_API_KEY"))
        if self.azure:
            # Older Azure API versions (the paper used 2023-07-01-preview) know only max_tokens.
            self.max_tokens_param = "max_tokens"
            self.base_url = env_key("AZURE_OPENAI_ENDPOINT") or ""
        else:
            if check_key and env_key("OPENAI_API_KEY") is None:
                raise ConfigError(
                    f"judge {self.name} needs an API key: set OPENAI_API_KEY (or AZURE_OPENAI_ENDPOINT and "
                    f"AZURE_OPENAI_API_KEY for Azure OpenAI)"
                )
            self.base_url = env_key("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        self._client: Any = None

    def describe(self) -> dict[str, Any]:
        """Endpoint kind and base URL (no key)."""
        return {**super().describe(), "endpoint": "azure" if self.azure else "openai", "base_url": self.base_url}

    def _make_client(self) -> Any:
        import openai

        if self.azure:
            return openai.AsyncAzureOpenAI(
                azure_endpoint=self.base_url,
                api_key=env_key("AZURE_OPENAI_API_KEY"),
                api_version=env_key("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION,
                max_retries=0,
            )
        return openai.AsyncOpenAI(api_key=env_key("OPENAI_API_KEY"), base_url=self.base_url, max_retries=0)

    @property
    def client(self) -> Any:
        """The async SDK client, made on first use (inside the running event loop)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def request_params(self, req: ChatRequest) -> dict[str, Any]:
        """Parameters as sent, under the names this endpoint uses."""
        params: dict[str, Any] = {self.max_tokens_param: req.max_tokens}
        if req.temperature is not None:
            params["temperature"] = req.temperature
        if req.seed is not None:
            params["seed"] = req.seed
        return params

    def body(self, req: ChatRequest) -> dict[str, Any]:
        """The JSON body of a chat-completions request."""
        return {"model": self.model, "messages": openai_messages(req), **self.request_params(req)}

    async def complete(self, req: ChatRequest) -> ChatReply:
        """One chat completion."""
        import httpx2
        import openai

        try:
            # The body is already in wire format, so it goes through the SDK's documented generic
            # ``post`` (same client: auth, headers, Azure deployment routing, timeouts, status errors)
            # rather than ``chat.completions.create``, which walks every field against its TypedDicts
            # and builds a pydantic ChatCompletion we would only dump back to a dict: together most of
            # the client CPU per call.
            resp = await self.client.post(
                "/chat/completions", body=self.body(req), cast_to=httpx2.Response,
                options={"timeout": req.timeout, "security": {"bearer_auth": True}},
            )
            data = json.loads(await resp.aread())
        except openai.OpenAIError as exc:
            raise classify_openai_error(exc) from exc
        except ValueError as exc:  # a 2xx that is not JSON: a broken proxy, worth another try
            raise CallError(f"the reply is not JSON ({exc})", retryable=True) from exc
        return reply_from_completion(data)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    # Batch API ------------------------------------------------------------------------------
    def batch_line(self, custom_id: str, req: ChatRequest) -> dict[str, Any]:
        """A line of the Batch API input file."""
        return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": self.body(req)}

    async def submit_batch(self, lines: list[dict[str, Any]]) -> str:
        """Upload the JSONL input file and create the batch."""
        import openai

        payload = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
        try:
            file = await self.client.files.create(file=("realedit-judge.jsonl", payload), purpose="batch")
            batch = await self.client.batches.create(
                input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        except openai.OpenAIError as exc:
            raise classify_openai_error(exc) from exc
        return batch.id

    async def poll_batch(self, batch_id: str) -> tuple[str, bool]:
        """Batch status; ended for completed, failed, expired or cancelled."""
        import openai

        try:
            batch = await self.client.batches.retrieve(batch_id)
        except openai.OpenAIError as exc:
            raise classify_openai_error(exc) from exc
        return batch.status, batch.status in ("completed", "failed", "expired", "cancelled")

    async def batch_results(self, batch_id: str) -> dict[str, ChatReply | CallError]:
        """Download the output (and error) files of an ended batch."""
        import openai

        out: dict[str, ChatReply | CallError] = {}
        try:
            batch = await self.client.batches.retrieve(batch_id)
            for file_id in (batch.output_file_id, getattr(batch, "error_file_id", None)):
                if not file_id:
                    continue
                content = await self.client.files.content(file_id)
                for line in content.text.splitlines():
                    if not line.strip():
                        continue
                    rec = json.loads(line)
                    resp = rec.get("response") or {}
                    if rec.get("error") or resp.get("status_code") != 200:
                        err = rec.get("error") or (resp.get("body") or {}).get("error") or {}
                        status = resp.get("status_code")
                        out[rec["custom_id"]] = CallError(
                            f"batch request failed: HTTP {status}: {err.get('message', err)}", status=status
                        )
                    else:
                        out[rec["custom_id"]] = reply_from_completion(resp["body"])
        except openai.OpenAIError as exc:
            raise classify_openai_error(exc) from exc
        return out


_VERSION_SEGMENT = re.compile(r"^v\d+[a-z0-9]*$")


def split_compat_name(rest: str) -> tuple[str, str]:
    """Split ``<base-url>/<model>`` (see module docstring). Raises ConfigError when malformed."""
    m = re.match(r"^(https?://[^/]+)(/.*)?$", rest)
    if not m:
        raise ConfigError(
            f"openai-api judge {rest!r} must look like openai-api/http://host:port/v1/<model>"
        )
    host, path = m.group(1), (m.group(2) or "").strip("/")
    segments = [s for s in path.split("/") if s]
    for i, seg in enumerate(segments):
        if _VERSION_SEGMENT.match(seg) and i + 1 < len(segments):
            return host + "/" + "/".join(segments[: i + 1]), "/".join(segments[i + 1 :])
    if len(segments) < 1:
        raise ConfigError(f"openai-api judge {rest!r} names no model after the base URL")
    return host + ("/" + "/".join(segments[:-1]) if len(segments) > 1 else ""), segments[-1]


class OpenAICompatible(OpenAIChat):
    """``openai-api/<base-url>/<model>``: an OpenAI-compatible server (vLLM, SGLang, Ollama)."""

    provider: ClassVar[str] = "openai-api"
    supports_batch: ClassVar[bool] = False
    max_tokens_param = "max_tokens"  # the name every compatible server knows

    def __init__(self, model: str, *, check_key: bool = True) -> None:
        Backend.__init__(self, model)
        self.azure = False
        self.base_url, self.served_model = split_compat_name(model)
        self.api_key = env_key("OPENAI_COMPAT_API_KEY")
        if check_key and self.api_key is None and not is_loopback(self.base_url):
            raise ConfigError(
                f"judge {self.name} needs an API key for {self.base_url}: set OPENAI_COMPAT_API_KEY "
                f"(OPENAI_API_KEY is never sent to non-OpenAI servers)"
            )
        self._client = None

    def describe(self) -> dict[str, Any]:
        """Endpoint kind, base URL and served model name."""
        return {"provider": self.provider, "model": self.served_model, "endpoint": "openai-compatible",
                "base_url": self.base_url}

    def _make_client(self) -> Any:
        import openai

        # A placeholder key keeps the SDK from reading OPENAI_API_KEY (which must not leave for this host).
        return openai.AsyncOpenAI(api_key=self.api_key or "no-key", base_url=self.base_url, max_retries=0)

    def body(self, req: ChatRequest) -> dict[str, Any]:
        """Chat-completions body with the served model name."""
        return {"model": self.served_model, "messages": openai_messages(req), **self.request_params(req)}

