"""Gemini: ``gemini/<model>`` through Google's ``google-genai`` SDK (``generate_content``).

The SDK is an optional extra (``pip install 'realedit[gemini]'``); without it, a judge name ``gemini/...``
says so in one line before any call. Key from ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY`` (the SDK's order);
``GOOGLE_GEMINI_BASE_URL`` points it elsewhere (a proxy, a local test server).

What is sent: the rubric's system text as ``system_instruction``; the user text and images as parts in the
rubric's order; a re-ask as a ``model`` turn quoting the first reply and a ``user`` turn; ``temperature``,
``seed`` and ``max_output_tokens``; with ``--structured`` the answer's JSON schema as
``response_json_schema`` (``response_mime_type`` JSON). Gemini reports the served model as
``model_version`` (kept as the row's model id); it has no system fingerprint.

A blocked prompt (``prompt_feedback.block_reason``) or a candidate stopped for safety, prohibited
content, blocklist, personal data or recitation is ``refused``. ``finish_reason`` ``MAX_TOKENS`` reads as
cut off at ``max_tokens``: thinking models (2.5 Pro) spend output tokens on thoughts first, so raise
``max_tokens`` in a rubric file when replies come back cut off. Thought parts are not read as the answer.

Prices: Google's public price page (USD per 1M tokens, prompts up to 200k tokens, 2025). Image tokens:
258 per image up to 384 px on both sides, else 258 per 768 x 768 tile (Google's published rule).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Iterator
from typing import Any, ClassVar

from realedit_bench.errors import ConfigError
from realedit_bench.judges.backends.base import Backend, CallError, ChatReply, ChatRequest, ImagePart, env_key
from realedit_bench.judges.prices import Price
from realedit_bench.ratelimit import parse_rate_headers
from realedit_bench.redact import mask_secrets

#: Why a candidate stopped, when that means the content was refused.
REFUSALS = frozenset(
    {
        "SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "MODEL_ARMOR",
    }
)


def _name(value: Any) -> str:
    """An SDK enum (or its string) as its name."""
    return str(getattr(value, "name", value) or "")


def reply_from_response(response: Any) -> ChatReply:
    """Read a ``GenerateContentResponse``: the answer text (thoughts left out), why it stopped, usage."""
    usage = response.usage_metadata
    out = int(getattr(usage, "candidates_token_count", 0) or 0) + int(
        getattr(usage, "thoughts_token_count", 0) or 0
    )  # thoughts are billed as output
    common = {
        "model": response.model_version,
        "input_tokens": int(getattr(usage, "prompt_token_count", 0) or 0),
        "output_tokens": out,
    }
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        return ChatReply(
            text=None, finish_reason=f"blocked: {_name(feedback.block_reason)}", refused=True, **common
        )
    candidate = (response.candidates or [None])[0]
    reason = _name(getattr(candidate, "finish_reason", None))
    parts = candidate.content.parts if candidate is not None and candidate.content else None
    texts = [p.text for p in parts or [] if p.text and not p.thought]
    return ChatReply(
        text="".join(texts) if texts else None,
        finish_reason=reason.lower() or None,
        refused=reason in REFUSALS,
        **common,
    )


class GeminiJudge(Backend):
    """``gemini/<model>`` through ``client.aio.models.generate_content``."""

    provider: ClassVar[str] = "gemini"
    name_help: ClassVar[str] = "gemini/<model> (pip install 'realedit[gemini]')"
    key_envs: ClassVar[tuple[str, ...]] = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
    default_base_url: ClassVar[str] = "https://generativelanguage.googleapis.com"
    base_url_env: ClassVar[str] = "GOOGLE_GEMINI_BASE_URL"
    prices: ClassVar[dict[str, Price]] = {
        "gemini-2.5-pro": Price(1.25, 10.0),
        "gemini-2.5-flash": Price(0.30, 2.50),
        "gemini-2.5-flash-lite": Price(0.10, 0.40),
        "gemini-2.0-flash": Price(0.10, 0.40),
        "gemini-3-pro": Price(2.0, 12.0),
    }
    supports_seed: ClassVar[bool] = True
    supports_structured: ClassVar[bool] = True

    def configure(self) -> None:
        """The base URL; the client is made on first use."""
        super().configure()
        self._client: Any = None

    @property
    def api_key(self) -> str | None:
        """``GOOGLE_API_KEY``, else ``GEMINI_API_KEY``."""
        return env_key(*self.key_envs)

    def check_key(self) -> None:
        """The SDK (an optional extra, named in one line when missing), then the key."""
        if importlib.util.find_spec("google.genai") is None:
            raise ConfigError(f"judge {self.name} needs the google-genai SDK: pip install 'realedit[gemini]'")
        super().check_key()

    def missing_key_message(self) -> str:
        """Names both variables the SDK reads."""
        return f"judge {self.name} needs an API key: set GOOGLE_API_KEY (or GEMINI_API_KEY)"

    def describe(self) -> dict[str, Any]:
        """Endpoint kind and base URL (no key)."""
        return {**super().describe(), "endpoint": "gemini", "base_url": self.base_url}

    @classmethod
    def image_tokens(cls, width: int, height: int) -> int:
        """Google's rule: 258 tokens up to 384 px on both sides, else 258 per 768 x 768 tile."""
        if width <= 384 and height <= 384:
            return 258
        return 258 * math.ceil(width / 768) * math.ceil(height / 768)

    def request_params(self, req: ChatRequest) -> dict[str, Any]:
        """Parameters under the names ``GenerateContentConfig`` gives them."""
        params: dict[str, Any] = {"max_output_tokens": req.max_tokens}
        if req.temperature is not None:
            params["temperature"] = req.temperature
        if req.seed is not None:
            params["seed"] = req.seed
        if req.response_schema is not None:
            params["response_format"] = "json_schema"
        return params

    @property
    def client(self) -> Any:
        """The SDK's async client (its own retries off: the engine retries)."""
        if self._client is None:
            from google import genai

            options = genai.types.HttpOptions(
                base_url=self.base_url, retry_options=genai.types.HttpRetryOptions(attempts=1)
            )
            self._client = genai.Client(api_key=self.api_key, http_options=options).aio
        return self._client

    def contents(self, req: ChatRequest) -> list[Any]:
        """The user turn (text and images in order) and the re-ask turns."""
        from google.genai import types

        parts = [
            types.Part.from_bytes(data=p.data, mime_type=p.mime)
            if isinstance(p, ImagePart)
            else types.Part.from_text(text=p)
            for p in req.content
        ]
        turns = [types.Content(role="user", parts=parts)]
        turns += [
            types.Content(
                role="model" if role == "assistant" else "user", parts=[types.Part.from_text(text=text)]
            )
            for role, text in req.followups
        ]
        return turns

    async def complete(self, req: ChatRequest) -> ChatReply:
        """One ``generate_content`` call."""
        from google.genai import types

        params: dict[str, Any] = self.request_params(req)
        if params.pop("response_format", None) is not None and req.response_schema is not None:
            params.update(
                response_mime_type="application/json", response_json_schema=dict(req.response_schema)
            )
        config = types.GenerateContentConfig(
            system_instruction=req.system or None,
            http_options=types.HttpOptions(timeout=int(req.timeout * 1000)),  # milliseconds
            **params,
        )
        with self._errors():
            response = await self.client.models.generate_content(
                model=self.target, contents=self.contents(req), config=config
            )
        reply = reply_from_response(response)
        http = getattr(response, "sdk_http_response", None)
        reply.rate = parse_rate_headers(getattr(http, "headers", None))
        return reply

    async def aclose(self) -> None:
        """Close the SDK's HTTP client."""
        if self._client is not None:
            with contextlib.suppress(Exception):  # an already closed client
                await self._client.aclose()
            self._client = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """The SDK's and its HTTP clients' exceptions as :class:`CallError` (secrets masked)."""
        import httpx
        import httpx2
        from google.genai import errors

        try:
            yield
        except errors.APIError as exc:
            headers = getattr(getattr(exc, "response", None), "headers", None)
            message = mask_secrets(str(exc.message or exc)[:300], self.secret_values())
            raise self.status_error(
                int(exc.code or 0), message, code=str(exc.status or ""), headers=headers
            ) from exc
        except (httpx.TimeoutException, httpx2.TimeoutException) as exc:
            raise CallError("the call timed out", retryable=True) from exc
        except (httpx.TransportError, httpx2.TransportError) as exc:
            raise CallError(f"connection error: {type(exc).__name__}: {exc}", retryable=True) from exc
