"""OpenAI chat completions: ``openai/<model>`` (or Azure OpenAI) and ``openai-api/<base-url>/<model>``.

* ``openai/<model>``: key from ``OPENAI_API_KEY``; base URL from ``OPENAI_BASE_URL`` if set. When
  ``AZURE_OPENAI_ENDPOINT`` and ``AZURE_OPENAI_API_KEY`` are both set, Azure OpenAI is used instead
  (``<model>`` is then the deployment name; API version from ``OPENAI_API_VERSION``).
* ``openai-api/<base-url>/<model>``: any OpenAI-compatible server (vLLM, SGLang, Ollama). The base URL
  ends at its first ``/v<N>`` path segment (``http://host:8000/v1``) and the rest is the model, which may
  itself hold slashes (``Qwen/Qwen2-VL-7B-Instruct``); without a ``/v<N>`` segment the model is the
  last segment. A query at the end (``...?api_key=KEY``) is sent with every request, and credentials in
  the URL (``http://user:pass@host``) are the server's; neither is ever shown, recorded or named in a file
  (names show ``***``). Key from ``OPENAI_COMPAT_API_KEY``; servers on this machine (localhost) need none.
  ``OPENAI_API_KEY`` is deliberately never sent to such servers, so an OpenAI key cannot leak to a
  third-party host.

Prices are OpenAI's public price pages (USD per 1M tokens, 2025); compatible servers have none.
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from realedit_bench.errors import ConfigError
from realedit_bench.judges.backends.base import (
    CallError,
    ChatReply,
    ChatRequest,
    ImagePart,
    Price,
    SDKBackend,
    check_base_url,
    env_key,
    is_loopback,
)
from realedit_bench.ratelimit import parse_rate_headers
from realedit_bench.redact import redact_url_secrets

#: Azure API version when OPENAI_API_VERSION is not set (a GA version that accepts images).
DEFAULT_AZURE_API_VERSION = "2024-10-21"


def _image_url(part: ImagePart) -> dict[str, Any]:
    return {"type": "image_url",
            "image_url": {"url": f"data:{part.mime};base64,{base64.b64encode(part.data).decode('ascii')}"}}


def openai_messages(req: ChatRequest) -> list[dict[str, Any]]:
    """Chat-completions messages for ``req``: system, user content parts in order, re-ask turns."""
    system = [{"role": "system", "content": req.system}] if req.system else []
    return [*system, *SDKBackend.user_turns(req, _image_url)]


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


def _batch_result(rec: dict[str, Any]) -> ChatReply | CallError:
    """One line of a Batch API output or error file."""
    resp = rec.get("response") or {}
    if rec.get("error") or resp.get("status_code") != 200:
        err = rec.get("error") or (resp.get("body") or {}).get("error") or {}
        status = resp.get("status_code")
        return CallError(f"batch request failed: HTTP {status}: {err.get('message', err)}", status=status)
    return reply_from_completion(resp["body"])


class OpenAIChat(SDKBackend):
    """``openai/<model>``: the OpenAI API, or Azure OpenAI when its environment variables are set."""

    provider: ClassVar[str] = "openai"
    name_help: ClassVar[str] = (
        "openai/<model> (Azure OpenAI when AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY are set)")
    key_envs: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY")
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"
    base_url_env: ClassVar[str] = "OPENAI_BASE_URL"
    prices: ClassVar[dict[str, Price]] = {
        "gpt-4o-2024-05-13": Price(5.0, 15.0), "gpt-4o-2024-08-06": Price(2.5, 10.0),
        "gpt-4o-2024-11-20": Price(2.5, 10.0), "gpt-4o": Price(2.5, 10.0), "gpt-4o-mini": Price(0.15, 0.6),
        "gpt-4.1": Price(2.0, 8.0), "gpt-4.1-mini": Price(0.4, 1.6), "gpt-4.1-nano": Price(0.1, 0.4),
        "o4-mini": Price(1.1, 4.4), "gpt-5": Price(1.25, 10.0), "gpt-5-mini": Price(0.25, 2.0),
    }
    supports_seed: ClassVar[bool] = True
    supports_batch: ClassVar[bool] = True
    supports_structured: ClassVar[bool] = True
    quota_codes: ClassVar[frozenset[str]] = frozenset(
        {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})
    refusal_codes: ClassVar[frozenset[str]] = frozenset(
        {"content_policy_violation", "content_filter", "ResponsibleAIPolicyViolation"})
    sdk: ClassVar[str] = "openai"
    sdk_error: ClassVar[str] = "OpenAIError"
    #: The parameter name of the reply length (newer OpenAI models accept only the new name).
    max_tokens_param: str = "max_completion_tokens"
    #: What a row and the cache say about the endpoint.
    endpoint: str = "openai"

    def configure(self) -> None:
        """OpenAI, or Azure OpenAI when both of its variables are set."""
        super().configure()
        self.azure = bool(env_key("AZURE_OPENAI_ENDPOINT") and env_key("AZURE_OPENAI_API_KEY"))
        if self.azure:
            # Older Azure API versions (the paper used 2023-07-01-preview) know only max_tokens.
            self.max_tokens_param = "max_tokens"
            self.endpoint = "azure"
            self.base_url = check_base_url(env_key("AZURE_OPENAI_ENDPOINT") or "", "AZURE_OPENAI_ENDPOINT")

    @property
    def api_key(self) -> str | None:
        """``AZURE_OPENAI_API_KEY`` for Azure, else ``OPENAI_API_KEY``."""
        return env_key("AZURE_OPENAI_API_KEY" if self.azure else "OPENAI_API_KEY")

    def missing_key_message(self) -> str:
        """Names both ways to give a key."""
        return (f"judge {self.name} needs an API key: set OPENAI_API_KEY (or AZURE_OPENAI_ENDPOINT and "
                f"AZURE_OPENAI_API_KEY for Azure OpenAI)")

    def describe(self) -> dict[str, Any]:
        """Endpoint kind and base URL (no key, no URL credentials)."""
        return {**super().describe(), "endpoint": self.endpoint,
                "base_url": redact_url_secrets(self.base_url)}

    def is_quota(self, status: int, code: str) -> bool:
        """OpenAI says so with a 429 and one of :attr:`quota_codes`."""
        return status == 429 and code in self.quota_codes

    @classmethod
    def image_tokens(cls, width: int, height: int) -> int:
        """OpenAI's rule (high detail): fit in 2048x2048, shortest side to 768, then 85 + 170 per 512-px
        tile."""
        scale = min(1.0, 2048 / max(width, height))
        w, h = width * scale, height * scale
        scale = min(1.0, 768 / min(w, h))
        w, h = w * scale, h * scale
        return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)

    def make_client(self) -> Any:
        """``AsyncAzureOpenAI`` or ``AsyncOpenAI``."""
        import openai

        if self.azure:
            return openai.AsyncAzureOpenAI(
                azure_endpoint=self.base_url, api_key=self.api_key,
                api_version=env_key("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION, max_retries=0,
            )
        return openai.AsyncOpenAI(api_key=self.api_key, base_url=self.base_url, max_retries=0)

    def request_params(self, req: ChatRequest) -> dict[str, Any]:
        """Parameters as sent, under the names this endpoint uses."""
        params: dict[str, Any] = {self.max_tokens_param: req.max_tokens}
        if req.temperature is not None:
            params["temperature"] = req.temperature
        if req.seed is not None:
            params["seed"] = req.seed
        if req.response_schema is not None:
            params["response_format"] = "json_schema"  # the schema itself follows from the rubric id
        return params

    @property
    def wire_model(self) -> str:
        """The model name sent in the request body."""
        return self.model

    def body(self, req: ChatRequest) -> dict[str, Any]:
        """The JSON body of a chat-completions request (a structured-output schema as ``response_format``:
        OpenAI's structured outputs, vLLM's and SGLang's guided decoding)."""
        body = {"model": self.wire_model, "messages": openai_messages(req), **self.request_params(req)}
        if req.response_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "realedit_answer", "schema": dict(req.response_schema), "strict": True}}
        return body

    async def send(self, req: ChatRequest) -> ChatReply:
        """One chat completion."""
        import httpx2

        # The body is already in wire format, so it goes through the SDK's documented generic ``post``
        # (same client: auth, headers, Azure deployment routing, timeouts, status errors) rather than
        # ``chat.completions.create``, which walks every field against its TypedDicts and builds a
        # pydantic ChatCompletion we would only dump back to a dict: together most of the client CPU per call.
        resp = await self.client.post(
            "/chat/completions", body=self.body(req), cast_to=httpx2.Response,
            options={"timeout": req.timeout, "security": {"bearer_auth": True}},
        )
        try:
            data = json.loads(await resp.aread())
        except ValueError as exc:  # a 2xx that is not JSON: a broken proxy, worth another try
            raise CallError(f"the reply is not JSON ({exc})", retryable=True) from exc
        reply = reply_from_completion(data)
        reply.rate = parse_rate_headers(resp.headers)
        return reply

    # Batch API ------------------------------------------------------------------------------
    def batch_line(self, custom_id: str, req: ChatRequest) -> dict[str, Any]:
        """A line of the Batch API input file."""
        return {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": self.body(req),
        }

    async def submit_batch(self, lines: list[dict[str, Any]]) -> str:
        """Upload the JSONL input file and create the batch."""
        payload = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
        with self.sdk_errors():
            file = await self.client.files.create(file=("realedit-judge.jsonl", payload), purpose="batch")
            batch = await self.client.batches.create(
                input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
        return batch.id

    async def poll_batch(self, batch_id: str) -> tuple[str, bool]:
        """Batch status; ended for completed, failed, expired or cancelled."""
        with self.sdk_errors():
            batch = await self.client.batches.retrieve(batch_id)
        return batch.status, batch.status in ("completed", "failed", "expired", "cancelled")

    async def batch_results(self, batch_id: str) -> dict[str, ChatReply | CallError]:
        """Download the output (and error) files of an ended batch."""
        out: dict[str, ChatReply | CallError] = {}
        with self.sdk_errors():
            batch = await self.client.batches.retrieve(batch_id)
            for file_id in (batch.output_file_id, getattr(batch, "error_file_id", None)):
                if file_id:
                    content = await self.client.files.content(file_id)
                    recs = [json.loads(line) for line in content.text.splitlines() if line.strip()]
                    out.update((rec["custom_id"], _batch_result(rec)) for rec in recs)
        return out


_VERSION_SEGMENT = re.compile(r"^v\d+[a-z0-9]*$")


def split_compat_name(rest: str) -> tuple[str, str]:
    """Split ``<base-url>/<model>`` (see module docstring). Raises ConfigError when malformed."""
    m = re.match(r"^(https?://[^/]+)(/.*)?$", rest)
    shown = redact_url_secrets(rest)
    if not m:
        raise ConfigError(
            f"openai-api judge {shown!r} must look like openai-api/http://host:port/v1/<model>"
        )
    check_base_url(m.group(1), "the URL of openai-api judge")
    host, path = m.group(1), (m.group(2) or "").strip("/")
    segments = [s for s in path.split("/") if s]
    for i, seg in enumerate(segments):
        if _VERSION_SEGMENT.match(seg) and i + 1 < len(segments):
            return host + "/" + "/".join(segments[: i + 1]), "/".join(segments[i + 1 :])
    if len(segments) < 1:
        raise ConfigError(f"openai-api judge {shown!r} names no model after the base URL")
    return host + ("/" + "/".join(segments[:-1]) if len(segments) > 1 else ""), segments[-1]


class OpenAICompatible(OpenAIChat):
    """``openai-api/<base-url>/<model>``: an OpenAI-compatible server (vLLM, SGLang, Ollama)."""

    provider: ClassVar[str] = "openai-api"
    name_help: ClassVar[str] = "openai-api/<base-url>/<model> for vLLM, SGLang, Ollama"
    key_envs: ClassVar[tuple[str, ...]] = ("OPENAI_COMPAT_API_KEY",)
    base_url_env: ClassVar[str] = ""  # the base URL is part of the judge name
    prices: ClassVar[dict[str, Price]] = {}
    supports_batch: ClassVar[bool] = False
    max_tokens_param = "max_tokens"  # the name every compatible server knows
    endpoint = "openai-compatible"

    def configure(self) -> None:
        """The base URL, the served model name and the query (sent with every request), from the judge
        name."""
        SDKBackend.configure(self)
        self.azure = False
        # From the name as given: credentials in the URL are the server's (basic auth, a query key).
        target, _, query = self.target.partition("?")
        self.base_url, self.served_model = split_compat_name(target)
        self.query = dict(parse_qsl(query, keep_blank_values=True))

    @property
    def api_key(self) -> str | None:
        """``OPENAI_COMPAT_API_KEY`` only (``OPENAI_API_KEY`` never leaves for another host)."""
        return env_key("OPENAI_COMPAT_API_KEY")

    def check_key(self) -> None:
        """Servers on this machine need no key."""
        if not is_loopback(self.base_url):
            super().check_key()

    def missing_key_message(self) -> str:
        """Names the server and why the OpenAI key is not used."""
        return (f"judge {self.name} needs an API key for {redact_url_secrets(self.base_url)}: set "
                "OPENAI_COMPAT_API_KEY (OPENAI_API_KEY is never sent to non-OpenAI servers)")

    def describe(self) -> dict[str, Any]:
        """Endpoint kind, base URL and served model name (no credentials)."""
        return {**super().describe(), "model": redact_url_secrets(self.served_model)}

    def make_client(self) -> Any:
        """``AsyncOpenAI`` at the server's base URL."""
        import openai

        # A placeholder key keeps the SDK from reading OPENAI_API_KEY (which must not leave for this host).
        return openai.AsyncOpenAI(api_key=self.api_key or "no-key", base_url=self.base_url, max_retries=0,
                                  default_query=self.query or None)

    @property
    def wire_model(self) -> str:
        """The served model name (the judge name holds the base URL too)."""
        return self.served_model
