"""A local fake of the OpenAI and Anthropic HTTP APIs, for offline judge tests.

The real ``openai`` and ``anthropic`` SDKs are pointed at this server (``base_url=``), so tests
exercise the same request building, response parsing, retry and timeout code that users run.
Each model call is answered from a FIFO queue of scripted :class:`Reply` objects (``push``), or by
``responder`` once the queue is empty, and every request the server receives is recorded
(:class:`RecordedRequest`) so tests can assert on what the client really sent: images and their
order, model, temperature, headers.

Endpoints (bodies in each provider's real response shape):

* OpenAI: ``POST /v1/chat/completions`` (also Azure-style
  ``POST /openai/deployments/{deployment}/chat/completions?api-version=...``), ``GET /v1/models``,
  ``POST /v1/files`` (multipart), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``,
  ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``.
  An assistant message with null content is a 400, as in the real API.
* Anthropic: ``POST /v1/messages`` (a non-final message with empty content is a 400, as in the real
  API), ``POST /v1/messages/batches``,
  ``GET /v1/messages/batches/{id}``, ``GET /v1/messages/batches/{id}/results``,
  ``POST /v1/messages/batches/{id}/cancel``.
* Gemini: ``POST /v1[beta]/models/{model}:generateContent`` (what the ``google-genai`` SDK sends with an API
  key): candidates with text parts, ``finishReason`` (``SAFETY`` for a refusal), ``usageMetadata``,
  ``modelVersion``; errors ``{"error": {"code", "message", "status"}}``.

``rate_limit`` (a :class:`RateLimit`) makes the model calls keep to a requests- and tokens-per-minute limit
as a provider does: a token bucket per resource, ``x-ratelimit-*`` headers on every answer, and a 429 with
``retry-after-ms`` when a call does not fit; it counts how often each request was refused in a row.

Batches turn to done after ``batch_polls_before_done`` status polls; their per-line answers come
from the same queue/responder (``Reply.delay`` and ``latency`` are ignored there) and the synthetic
per-line requests are kept in ``batch_calls`` (not in ``requests``, which holds only what came over
the wire).

Only the standard library is used: ``ThreadingHTTPServer`` in a daemon thread, HTTP/1.1 with
keep-alive, bound to 127.0.0.1 on a free port. ``latency`` and ``Reply.delay`` sleep in the
request's own thread, so slow answers do not block other connections; ``stop()`` wakes sleepers.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import itertools
import json
import math
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_REPLY_TEXT = '{"verdict": "yes", "score": 4, "reason": "looks right"}'

# Paths that are model calls (answered from the reply queue); everything else is bookkeeping.
_CHAT_PATH = re.compile(r"^(?:/v1)?/chat/completions$|^/openai/deployments/([^/]+)/chat/completions$")
_MESSAGES_PATH = "/v1/messages"
_GEMINI_PATH = re.compile(r"^/v1(?:beta|alpha)?/models/([^/:]+):generateContent$")

# Default error ``type`` per HTTP status, as each provider spells it.
_OPENAI_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
    500: "server_error",
    502: "server_error",
    503: "server_error",
}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_GEMINI_ERROR_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
#: finish_reason (OpenAI spelling) -> Gemini's finishReason.
_TO_GEMINI_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "refusal": "SAFETY"}
# finish_reason (OpenAI spelling) <-> stop_reason (Anthropic spelling).
_TO_ANTHROPIC_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "content_filter": "refusal",
    "refusal": "refusal",
}
_TO_OPENAI_FINISH = {
    "end_turn": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
    "stop_sequence": "stop",
}
_REFUSAL_TEXT = "I'm sorry, but I can't help with evaluating this image."


@dataclass
class Reply:
    """What the server answers to one model call.

    Attributes:
        text: Assistant text (OpenAI ``choices[0].message.content``; Anthropic
            ``content[0].text``). ``None`` sends null content (OpenAI) or an empty content list
            (Anthropic). For an error status it becomes the error message.
        status: HTTP status; anything but 200 sends an error body in the provider's format.
        headers: Extra response headers, e.g. ``{"retry-after": "1"}``.
        delay: Seconds to sleep before answering; a "hang" is a delay past the client timeout.
        finish_reason: OpenAI ``finish_reason`` (``"content_filter"`` is a refusal). Anthropic
            ``stop_reason`` is mapped: ``stop``->``end_turn``, ``length``->``max_tokens``,
            ``content_filter``/``refusal``->``refusal``; other values pass through.
        input_tokens: Reported prompt/input tokens.
        output_tokens: Reported completion/output tokens.
        error_type: Error type for a non-200 reply, e.g. ``"insufficient_quota"`` for a 429 that
            is exhausted quota (OpenAI ``error.type`` and ``error.code``; Anthropic
            ``error.type``). Defaults to the provider's usual type for the status.
    """

    text: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    finish_reason: str = "stop"
    input_tokens: int = 100
    output_tokens: int = 20
    error_type: str | None = None

    @staticmethod
    def ok(text: str | None, **kw: Any) -> Reply:
        """A 200 answer with ``text`` (code fences, malformed JSON, out-of-range scores: just text)."""
        return Reply(text=text, **kw)

    @staticmethod
    def error(status: int, **kw: Any) -> Reply:
        """An HTTP error, e.g. ``Reply.error(429, headers={"retry-after": "1"})``."""
        kw.setdefault("text", f"fake server error {status}")
        return Reply(status=status, **kw)

    @staticmethod
    def hang(seconds: float) -> Reply:
        """An answer that arrives only after ``seconds`` (use more than the client's timeout)."""
        return Reply(text=DEFAULT_REPLY_TEXT, delay=seconds)

    @staticmethod
    def refusal(provider_style: bool = True) -> Reply:
        """A refusal.

        Args:
            provider_style: True: the provider flags it (OpenAI ``finish_reason="content_filter"``
                with ``message.refusal`` set and null content; Anthropic ``stop_reason="refusal"``
                with empty content). False: a plain-text apology with a normal stop, which only
                the rubric parser can catch.
        """
        if provider_style:
            return Reply(text=None, finish_reason="content_filter", output_tokens=0)
        return Reply(text=_REFUSAL_TEXT, finish_reason="stop")


@dataclass
class RecordedRequest:
    """One request as the server received it.

    Attributes:
        method: HTTP method.
        path: Path with the query string (e.g. ``/openai/deployments/d/chat/completions?api-version=x``).
        headers: Request headers, names lower-cased.
        body: Parsed JSON body, or ``None`` when the body is not JSON (e.g. a multipart upload).
        raw: The raw body bytes.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: dict | None
    raw: bytes

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, list[str]]:
        """The parsed query string."""
        return parse_qs(urlsplit(self.path).query)

    def _content_parts(self) -> list[Any]:
        """Every content part in message order: Anthropic ``system`` first, then each message."""
        body = self.body or {}
        parts: list[Any] = []
        system = body.get("system")
        if isinstance(system, str):
            parts.append({"type": "text", "text": system})
        elif isinstance(system, list):
            parts.extend(system)
        for content in [body.get("systemInstruction"), *(body.get("contents") or [])]:
            parts.extend(_gemini_part(p) for p in (content or {}).get("parts") or [] if isinstance(p, dict))
        for message in body.get("messages") or []:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                parts.append({"type": "text", "text": content})
            elif isinstance(content, list):
                parts.extend(content)
        return parts

    def images(self) -> list[bytes]:
        """Decoded image bytes in message order, for both OpenAI and Anthropic formats.

        OpenAI parts ``{"type": "image_url", "image_url": {"url": "data:image/...;base64,..."}}``
        and Anthropic parts ``{"type": "image", "source": {"type": "base64", "data": ...}}``.

        Raises:
            ValueError: An image is a remote URL or malformed base64 (a judge must inline images).
        """
        out: list[bytes] = []
        for part in self._content_parts():
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image_url":
                image_url = part.get("image_url")
                url = image_url.get("url") if isinstance(image_url, dict) else image_url
                out.append(_decode_data_url(str(url)))
            elif part.get("type") == "image":
                source = part.get("source") or {}
                if source.get("type") != "base64":
                    raise ValueError(f"image source is not inline base64: {source.get('type')!r}")
                out.append(_b64decode(source.get("data", "")))
        return out

    def image_media_types(self) -> list[str]:
        """The declared media type of each image, in the same order as :meth:`images`."""
        out: list[str] = []
        for part in self._content_parts():
            if not isinstance(part, dict):
                continue
            if part.get("type") == "image_url":
                image_url = part.get("image_url")
                url = str(image_url.get("url") if isinstance(image_url, dict) else image_url)
                out.append(url[5:].split(";", 1)[0] if url.startswith("data:") else "")
            elif part.get("type") == "image":
                out.append(str((part.get("source") or {}).get("media_type", "")))
        return out

    def text(self) -> str:
        """All text parts (system, user and any earlier assistant turns) joined with newlines."""
        texts = [
            str(part.get("text", ""))
            for part in self._content_parts()
            if isinstance(part, dict) and part.get("type") in ("text", "input_text")
        ]
        return "\n".join(texts)


def _gemini_part(part: dict[str, Any]) -> dict[str, Any]:
    """A Gemini part in the shape the readers above share (text, or an inline base64 image)."""
    inline = part.get("inlineData") or part.get("inline_data")
    if isinstance(inline, dict):
        # The google-genai SDK sends the bytes base64url-encoded.
        data = str(inline.get("data", "")).replace("-", "+").replace("_", "/")
        return {"type": "image", "source": {"type": "base64", "data": data,
                                            "media_type": inline.get("mimeType") or inline.get("mime_type")}}
    return {"type": "text", "text": part.get("text", "")}


def _b64decode(data: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"malformed base64 image data: {exc}") from exc


def _decode_data_url(url: str) -> bytes:
    if not url.startswith("data:"):
        raise ValueError(f"image is not an inline data: URL: {url[:60]!r}")
    header, sep, data = url.partition(",")
    if not sep or not header.endswith(";base64"):
        raise ValueError(f"data: URL is not base64: {header[:60]!r}")
    return _b64decode(data)


def _default_responder(request: RecordedRequest) -> Reply:
    return Reply.ok(DEFAULT_REPLY_TEXT)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) drops connects when 16+ clients open at once (then a 1 s SYN retry).
    request_queue_size = 128
    owner: FakeJudgeServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits ~40 ms for the client's
    # delayed ACK on every reply, which would swamp the latencies the tests and benchmark script.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence per-request logging (tests would drown in it)."""

    def setup(self) -> None:
        """Track the connection so ``stop()`` can close idle keep-alive sockets."""
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        """Untrack the connection."""
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Skip trailers up to the blank line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        raw = self._read_body()
        body: dict | None = None
        if raw:
            try:
                parsed = json.loads(raw)
                body = parsed if isinstance(parsed, dict) else None
            except (ValueError, UnicodeDecodeError):
                body = None
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = RecordedRequest(self.command, self.path, headers, body, raw)
        owner = self.server.owner
        owner._record(request)
        try:
            status, resp_headers, payload = owner._dispatch(request)
        except Exception as exc:  # a bug in the fake must show up as a 500, not a hung client
            status, resp_headers, payload = (
                500,
                {},
                _json_bytes(
                    {"error": {"message": f"fake server bug: {exc!r}", "type": "server_error", "code": None}}
                ),
            )
        self._send(status, resp_headers, payload)

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        try:
            self.send_response(status)
            lowered = {k.lower() for k in headers}
            if "content-type" not in lowered:
                self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            # The client gave up (e.g. its timeout fired during a hang): drop the connection.
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj).encode("utf-8")


@dataclass
class RateLimit:
    """Requests- and tokens-per-minute limits, kept as token buckets (a provider's rule).

    Each bucket refills continuously at ``per minute / 60`` per second and holds ``burst`` seconds of it
    (providers quantise a per-minute limit into shorter windows; a full minute's burst would make any
    pacing moot). A call costs one request and ``prompt_tokens`` plus its ``max_tokens`` (or
    ``max_completion_tokens``) in tokens, as providers count a call on admission.

    Attributes:
        rpm: Requests per minute (None: no request limit).
        tpm: Tokens per minute (None: no token limit).
        burst: Seconds of each limit a bucket holds.
        prompt_tokens: Tokens charged for a call's prompt.
    """

    rpm: float | None = None
    tpm: float | None = None
    burst: float = 1.0
    prompt_tokens: int = 100
    #: Calls refused (429).
    refused: int = 0
    #: Calls admitted.
    admitted: int = 0
    #: The most times one request (same body) was refused in a row.
    max_refused_in_a_row: int = 0
    _levels: dict[str, float] = field(default_factory=dict)
    _stamp: float = 0.0
    _streaks: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _limits(self) -> dict[str, float]:
        return {k: v for k, v in (("requests", self.rpm), ("tokens", self.tpm)) if v}

    def admit(self, body: dict[str, Any], raw: bytes) -> tuple[bool, dict[str, str]]:
        """Admit one call or refuse it; the rate-limit headers of the answer either way."""
        cost = {"requests": 1.0, "tokens": float(self.prompt_tokens + int(
            body.get("max_tokens") or body.get("max_completion_tokens") or 0))}
        key = hashlib.sha256(raw).hexdigest()
        with self._lock:
            now = time.monotonic()
            limits = self._limits()
            for kind, per_minute in limits.items():
                size = per_minute / 60 * self.burst
                level = self._levels.get(kind, size)
                self._levels[kind] = min(size, level + (now - self._stamp) * per_minute / 60)
            self._stamp = now
            short = {k: cost[k] - self._levels[k] for k in limits if self._levels[k] < cost[k]}
            if not short:
                for kind in limits:
                    self._levels[kind] -= cost[kind]
                self.admitted += 1
                self._streaks.pop(key, None)
            else:
                self.refused += 1
                streak = self._streaks[key] = self._streaks.get(key, 0) + 1
                self.max_refused_in_a_row = max(self.max_refused_in_a_row, streak)
            headers = self._headers(limits)
        if short:
            wait = max(need / (limits[k] / 60) for k, need in short.items())
            headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
        return not short, headers

    def _headers(self, limits: dict[str, float]) -> dict[str, str]:
        headers = {}
        for kind, per_minute in limits.items():
            size = per_minute / 60 * self.burst
            level = max(0.0, self._levels[kind])
            headers[f"x-ratelimit-limit-{kind}"] = str(int(per_minute))
            headers[f"x-ratelimit-remaining-{kind}"] = str(int(level))
            headers[f"x-ratelimit-reset-{kind}"] = f"{(size - level) / (per_minute / 60):.3f}s"
        return headers


class FakeJudgeServer:
    """A scripted OpenAI + Anthropic + Gemini API on 127.0.0.1 (see the module docstring).

    Example:
        >>> with FakeJudgeServer() as server:
        ...     server.push(Reply.ok('{"score": 3}'), Reply.error(429, headers={"retry-after": "1"}))
        ...     client = openai.OpenAI(api_key="sk-test", base_url=server.openai_base_url)

    Attributes:
        latency: Seconds added to every model call (chat/messages), slept in the request's thread.
        model_snapshot: If set, the ``model`` every response reports (like a provider resolving an
            alias to a dated snapshot); otherwise the request's model is echoed.
        responder: Answers model calls while the queue is empty; may return a ``Reply`` or a str.
        batch_polls_before_done: Status polls a batch answers "in progress" before it is done.
        keep_bodies: If False, ``requests`` keeps method, path and headers but drops bodies (for
            long benchmarks); ``responder`` still sees the full request.
        requests: Every request received over HTTP, in arrival order.
        batch_calls: The per-line model requests that batches answered (synthetic, not over HTTP).
        files: Uploaded/generated OpenAI files: id -> file object dict plus ``"_content"`` bytes.
        connections_opened: TCP connections accepted so far (proves clients keep connections alive).
    """

    def __init__(self, latency: float = 0.0, model_snapshot: str | None = None) -> None:
        """Create a stopped server; call :meth:`start` or use it as a context manager."""
        self.latency = latency
        self.model_snapshot = model_snapshot
        self.rate_limit: RateLimit | None = None
        self.responder: Callable[[RecordedRequest], Reply | str] = _default_responder
        self.batch_polls_before_done = 1
        self.keep_bodies = True
        self.requests: list[RecordedRequest] = []
        self.batch_calls: list[RecordedRequest] = []
        self.files: dict[str, dict[str, Any]] = {}
        self._queue: collections.deque[Reply] = collections.deque()
        self._openai_batches: dict[str, dict[str, Any]] = {}
        self._anthropic_batches: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self.connections_opened = 0
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""
        self.openai_base_url = ""
        self.anthropic_base_url = ""

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> FakeJudgeServer:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        port = httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.openai_base_url = self.base_url + "/v1"
        self.anthropic_base_url = self.base_url
        # A short poll interval keeps stop() fast (shutdown waits for one poll).
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-judge-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping (hanging) handlers and close open connections."""
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeJudgeServer:
        """Start the server."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop the server."""
        self.stop()

    # ------------------------------------------------------------------ scripting
    def push(self, *replies: Reply) -> None:
        """Queue replies (FIFO) for the next model calls, before ``responder`` takes over."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Clear recorded requests, batch calls, the reply queue and the connection count."""
        with self._lock:
            self.connections_opened = 0
            self.requests.clear()
            self.batch_calls.clear()
            self._queue.clear()

    def calls(self, path_suffix: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, by default only model calls (chat completions and messages).

        Args:
            path_suffix: If given, every request whose path (without query) ends with it instead.
        """
        with self._lock:
            snapshot = list(self.requests)
        if path_suffix is not None:
            return [r for r in snapshot if r.route.endswith(path_suffix)]
        return [r for r in snapshot if r.method == "POST" and _is_model_route(r.route)]

    @property
    def pending(self) -> int:
        """How many pushed replies are still queued."""
        with self._lock:
            return len(self._queue)

    # ------------------------------------------------------------------ internals
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
                self.connections_opened += 1
            else:
                self._connections.discard(conn)

    def _record(self, request: RecordedRequest) -> None:
        if not self.keep_bodies:
            # Long benchmarks with inline images would otherwise hold every body in memory.
            request = RecordedRequest(request.method, request.path, request.headers, None, b"")
        with self._lock:
            self.requests.append(request)

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            reply = self._queue.popleft() if self._queue else None
        if reply is None:
            produced = self.responder(request)
            reply = Reply.ok(produced) if isinstance(produced, str) else produced
        return reply

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}{uuid.uuid4().hex[:12]}"

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _dispatch(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        route = request.route.rstrip("/") or "/"
        method = request.method
        chat = _CHAT_PATH.match(route)
        if method == "POST" and chat:
            return self._model_call(request, provider="openai", deployment=chat.group(1))
        if method == "POST" and route == _MESSAGES_PATH:
            return self._model_call(request, provider="anthropic")
        gemini = _GEMINI_PATH.match(route)
        if method == "POST" and gemini:
            return self._model_call(request, provider="gemini", deployment=gemini.group(1))
        if method == "GET" and route == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in ("fake-judge",)]
            return 200, {}, _json_bytes({"object": "list", "data": data})
        if route.startswith("/v1/messages/batches"):
            return self._anthropic_batch_route(method, route, request)
        if route.startswith("/v1/files"):
            return self._files_route(method, route, request)
        if route.startswith("/v1/batches"):
            return self._openai_batch_route(method, route, request)
        provider = "anthropic" if route.startswith("/v1/messages") else "openai"
        return _error_response(provider, 404, f"no route {method} {route}", None)

    # --------------------------------------------------------------- model calls
    def _model_call(
        self, request: RecordedRequest, provider: str, deployment: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if request.body is None:
            return _error_response(provider, 400, "request body is not a JSON object", None)
        invalid = _invalid_messages(request.body, provider)
        if invalid:  # rejected before any generation, like the real APIs: no scripted reply is used
            return _error_response(provider, 400, invalid, None)
        limited: dict[str, str] = {}
        if self.rate_limit is not None:
            admitted, limited = self.rate_limit.admit(request.body, request.raw)
            if not admitted:  # refused on admission, as a provider does: no reply is used, no latency
                status, extra, payload = _error_response(provider, 429, "rate limit reached", None)
                return status, {**limited, **extra}, payload
        reply = self._next_reply(request)
        self._sleep(self.latency + reply.delay)
        request_id = self._new_id("req_")
        headers = {"x-request-id": request_id, "request-id": request_id, **limited, **reply.headers}
        if reply.status != 200:
            status, extra, payload = _error_response(provider, reply.status, reply.text, reply.error_type)
            return status, {**headers, **extra}, payload
        model = self.model_snapshot or request.body.get("model") or deployment or "fake-judge"
        if provider == "anthropic":
            return 200, headers, _json_bytes(self._anthropic_message(reply, model))
        if provider == "gemini":
            return 200, headers, _json_bytes(self._gemini_response(reply, model))
        n = int(request.body.get("n") or 1)
        # Extra choices (n > 1) take further replies; only the first one's status/delay count.
        replies = [reply] + [self._next_reply(request) for _ in range(n - 1)]
        return 200, headers, _json_bytes(self._chat_completion(replies, model))

    def _chat_completion(self, replies: list[Reply], model: str) -> dict[str, Any]:
        choices = []
        for index, reply in enumerate(replies):
            finish = _TO_OPENAI_FINISH.get(reply.finish_reason, reply.finish_reason)
            refused = finish == "content_filter"
            choices.append(
                {
                    "index": index,
                    "message": {
                        "role": "assistant",
                        "content": reply.text,
                        "refusal": (_REFUSAL_TEXT if refused and reply.text is None else None),
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": finish,
                }
            )
        prompt = replies[0].input_tokens
        completion = sum(r.output_tokens for r in replies)
        return {
            "id": self._new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_test",
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    def _gemini_response(self, reply: Reply, model: str) -> dict[str, Any]:
        finish = _TO_GEMINI_FINISH.get(reply.finish_reason, reply.finish_reason.upper())
        parts = [] if reply.text is None else [{"text": reply.text}]
        return {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": reply.input_tokens,
                "candidatesTokenCount": reply.output_tokens,
                "totalTokenCount": reply.input_tokens + reply.output_tokens,
            },
            "modelVersion": model,
            "responseId": self._new_id("resp-"),
        }

    def _anthropic_message(self, reply: Reply, model: str) -> dict[str, Any]:
        content = [] if reply.text is None else [{"type": "text", "text": reply.text}]
        return {
            "id": self._new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": _TO_ANTHROPIC_STOP.get(reply.finish_reason, reply.finish_reason),
            "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
        }

    # ----------------------------------------------------------------- OpenAI files
    def _files_route(
        self, method: str, route: str, request: RecordedRequest
    ) -> tuple[int, dict[str, str], bytes]:
        parts = route.split("/")  # ["", "v1", "files", id?, "content"?]
        if method == "POST" and len(parts) == 3:
            fields = _parse_multipart(request.headers.get("content-type", ""), request.raw)
            if "file" not in fields or "purpose" not in fields:
                return _error_response("openai", 400, "multipart form needs 'file' and 'purpose'", None)
            filename, content = fields["file"]
            purpose = fields["purpose"][1].decode("utf-8")
            obj = self._add_file(content, filename or "upload.jsonl", purpose)
            return 200, {}, _json_bytes(_public(obj))
        if method == "GET" and len(parts) >= 4:
            with self._lock:
                obj = self.files.get(parts[3])
            if obj is None:
                return _error_response("openai", 404, f"no file {parts[3]}", None)
            if len(parts) == 5 and parts[4] == "content":
                return 200, {"Content-Type": "application/octet-stream"}, obj["_content"]
            if len(parts) == 4:
                return 200, {}, _json_bytes(_public(obj))
        return _error_response("openai", 404, f"no route {method} {route}", None)

    def _add_file(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        obj = {
            "id": self._new_id("file-"),
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "_content": content,
        }
        with self._lock:
            self.files[obj["id"]] = obj
        return obj

    # --------------------------------------------------------------- OpenAI batches
    def _openai_batch_route(
        self, method: str, route: str, request: RecordedRequest
    ) -> tuple[int, dict[str, str], bytes]:
        parts = route.split("/")  # ["", "v1", "batches", id?, "cancel"?]
        if method == "POST" and len(parts) == 3:
            body = request.body or {}
            with self._lock:
                source = self.files.get(str(body.get("input_file_id")))
            if source is None:
                return _error_response(
                    "openai", 400, f"unknown input_file_id {body.get('input_file_id')!r}", None
                )
            endpoint = body.get("endpoint")
            if endpoint != "/v1/chat/completions":
                return _error_response("openai", 400, f"unsupported batch endpoint {endpoint!r}", None)
            try:
                lines = [json.loads(x) for x in source["_content"].decode("utf-8").splitlines() if x.strip()]
            except ValueError as exc:
                return _error_response("openai", 400, f"input file is not JSONL: {exc}", None)
            now = int(time.time())
            batch = {
                "id": self._new_id("batch_"),
                "object": "batch",
                "endpoint": endpoint,
                "errors": None,
                "input_file_id": source["id"],
                "completion_window": body.get("completion_window", "24h"),
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": now,
                "in_progress_at": None,
                "expires_at": now + 86400,
                "completed_at": None,
                "cancelling_at": None,
                "cancelled_at": None,
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "metadata": body.get("metadata"),
                "_lines": lines,
                "_polls": 0,
            }
            with self._lock:
                self._openai_batches[batch["id"]] = batch
            return 200, {}, _json_bytes(_public(batch))
        if len(parts) < 4:
            return _error_response("openai", 404, f"no route {method} {route}", None)
        with self._lock:
            batch = self._openai_batches.get(parts[3])
        if batch is None:
            return _error_response("openai", 404, f"no batch {parts[3]}", None)
        if method == "POST" and len(parts) == 5 and parts[4] == "cancel":
            if batch["status"] not in ("completed", "cancelled"):
                batch["status"] = "cancelling"
                batch["cancelling_at"] = int(time.time())
            return 200, {}, _json_bytes(_public(batch))
        if method == "GET" and len(parts) == 4:
            self._advance_openai_batch(batch)
            return 200, {}, _json_bytes(_public(batch))
        return _error_response("openai", 404, f"no route {method} {route}", None)

    def _advance_openai_batch(self, batch: dict[str, Any]) -> None:
        now = int(time.time())
        if batch["status"] == "cancelling":
            batch["status"], batch["cancelled_at"] = "cancelled", now
            return
        if batch["status"] in ("completed", "cancelled"):
            return
        batch["_polls"] += 1
        if batch["_polls"] <= self.batch_polls_before_done:
            batch["status"] = "in_progress"
            batch["in_progress_at"] = batch["in_progress_at"] or now
            return
        outputs: list[str] = []
        errors: list[str] = []
        for line in batch["_lines"]:
            url = str(line.get("url", "/v1/chat/completions"))
            call = RecordedRequest("POST", url, {}, line.get("body"), _json_bytes(line.get("body")))
            with self._lock:
                self.batch_calls.append(call)
            reply = self._next_reply(call)
            request_id = self._new_id("req_")
            if reply.status == 200:
                model = self.model_snapshot or (line.get("body") or {}).get("model") or "fake-judge"
                response_body = self._chat_completion([reply], model)
            else:
                response_body = json.loads(
                    _error_response("openai", reply.status, reply.text, reply.error_type)[2]
                )
            row = {
                "id": self._new_id("batch_req_"),
                "custom_id": line.get("custom_id"),
                "response": {"status_code": reply.status, "request_id": request_id, "body": response_body},
                "error": None,
            }
            (outputs if reply.status == 200 else errors).append(json.dumps(row))
        if outputs:
            out = self._add_file(("\n".join(outputs) + "\n").encode(), "batch_output.jsonl", "batch_output")
            batch["output_file_id"] = out["id"]
        if errors:
            err = self._add_file(("\n".join(errors) + "\n").encode(), "batch_errors.jsonl", "batch_output")
            batch["error_file_id"] = err["id"]
        batch["request_counts"] = {
            "total": len(batch["_lines"]),
            "completed": len(outputs),
            "failed": len(errors),
        }
        batch["status"], batch["completed_at"] = "completed", now

    # ------------------------------------------------------------ Anthropic batches
    def _anthropic_batch_route(
        self, method: str, route: str, request: RecordedRequest
    ) -> tuple[int, dict[str, str], bytes]:
        parts = route.split("/")  # ["", "v1", "messages", "batches", id?, "results"|"cancel"?]
        if method == "POST" and len(parts) == 4:
            items = (request.body or {}).get("requests")
            if not isinstance(items, list) or not items:
                return _error_response("anthropic", 400, "'requests' must be a non-empty list", None)
            now = time.time()
            batch = {
                "id": self._new_id("msgbatch_"),
                "type": "message_batch",
                "processing_status": "in_progress",
                "request_counts": {
                    "processing": len(items),
                    "succeeded": 0,
                    "errored": 0,
                    "canceled": 0,
                    "expired": 0,
                },
                "created_at": _iso(now),
                "expires_at": _iso(now + 86400),
                "ended_at": None,
                "archived_at": None,
                "cancel_initiated_at": None,
                "results_url": None,
                "_items": items,
                "_polls": 0,
                "_results": b"",
            }
            with self._lock:
                self._anthropic_batches[batch["id"]] = batch
            return 200, {}, _json_bytes(_public(batch))
        if len(parts) < 5:
            return _error_response("anthropic", 404, f"no route {method} {route}", None)
        with self._lock:
            batch = self._anthropic_batches.get(parts[4])
        if batch is None:
            return _error_response("anthropic", 404, f"no message batch {parts[4]}", None)
        tail = parts[5] if len(parts) == 6 else None
        if method == "POST" and tail == "cancel":
            if batch["processing_status"] == "in_progress":
                batch["processing_status"] = "canceling"
                batch["cancel_initiated_at"] = _iso(time.time())
            return 200, {}, _json_bytes(_public(batch))
        if method == "GET" and tail is None:
            self._advance_anthropic_batch(batch)
            return 200, {}, _json_bytes(_public(batch))
        if method == "GET" and tail == "results":
            if batch["processing_status"] != "ended":
                return _error_response("anthropic", 400, "batch has not ended", None)
            return 200, {"Content-Type": "application/binary"}, batch["_results"]
        return _error_response("anthropic", 404, f"no route {method} {route}", None)

    def _advance_anthropic_batch(self, batch: dict[str, Any]) -> None:
        status = batch["processing_status"]
        if status == "ended":
            return
        n = len(batch["_items"])
        if status == "canceling":
            batch["request_counts"] = {
                "processing": 0,
                "succeeded": 0,
                "errored": 0,
                "canceled": n,
                "expired": 0,
            }
            lines = [
                json.dumps({"custom_id": item.get("custom_id"), "result": {"type": "canceled"}})
                for item in batch["_items"]
            ]
            self._end_anthropic_batch(batch, lines)
            return
        batch["_polls"] += 1
        if batch["_polls"] <= self.batch_polls_before_done:
            return
        lines = []
        succeeded = errored = 0
        for item in batch["_items"]:
            params = item.get("params") or {}
            call = RecordedRequest("POST", _MESSAGES_PATH, {}, params, _json_bytes(params))
            with self._lock:
                self.batch_calls.append(call)
            reply = self._next_reply(call)
            if reply.status == 200:
                model = self.model_snapshot or params.get("model") or "fake-judge"
                result: dict[str, Any] = {
                    "type": "succeeded",
                    "message": self._anthropic_message(reply, model),
                }
                succeeded += 1
            else:
                error = json.loads(
                    _error_response("anthropic", reply.status, reply.text, reply.error_type)[2]
                )
                result = {"type": "errored", "error": error}
                errored += 1
            lines.append(json.dumps({"custom_id": item.get("custom_id"), "result": result}))
        batch["request_counts"] = {
            "processing": 0,
            "succeeded": succeeded,
            "errored": errored,
            "canceled": 0,
            "expired": 0,
        }
        self._end_anthropic_batch(batch, lines)

    def _end_anthropic_batch(self, batch: dict[str, Any], lines: list[str]) -> None:
        batch["_results"] = ("\n".join(lines) + "\n").encode()
        batch["processing_status"] = "ended"
        batch["ended_at"] = _iso(time.time())
        batch["results_url"] = f"{self.base_url}/v1/messages/batches/{batch['id']}/results"


def _invalid_messages(body: dict[str, Any], provider: str) -> str | None:
    """The 400 message the real API gives for an empty turn, or None.

    Anthropic rejects a non-final message with empty content (an empty string, only whitespace, or no
    blocks); OpenAI rejects an assistant message whose content is null without tool calls.
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        content = m.get("content")
        if provider == "anthropic":
            if i == len(messages) - 1 and m.get("role") == "assistant":
                continue  # a final assistant turn may be empty (a prefill)
            if isinstance(content, str):
                empty = not content.strip()
            elif isinstance(content, list):
                empty = not content or all(
                    isinstance(b, dict) and b.get("type") == "text" and not str(b.get("text", "")).strip()
                    for b in content
                )
            else:
                empty = True
            if empty:
                return (f"messages.{i}: all messages must have non-empty content except for the optional "
                        f"final assistant message")
        elif m.get("role") == "assistant" and content is None and not m.get("tool_calls"):
            return f"Invalid value for 'messages[{i}].content': expected a string, got null."
    return None


def _is_model_route(route: str) -> bool:
    route = route.rstrip("/")
    return bool(_CHAT_PATH.match(route) or _GEMINI_PATH.match(route)) or route == _MESSAGES_PATH


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop the server's private bookkeeping keys (those starting with ``_``)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _error_response(
    provider: str, status: int, message: str | None, error_type: str | None
) -> tuple[int, dict[str, str], bytes]:
    message = message or f"fake server error {status}"
    if provider == "gemini":
        kind = error_type or _GEMINI_ERROR_STATUS.get(status, "UNKNOWN")
        return status, {}, _json_bytes({"error": {"code": status, "message": message, "status": kind}})
    if provider == "anthropic":
        kind = error_type or _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return status, {}, _json_bytes({"type": "error", "error": {"type": kind, "message": message}})
    kind = error_type or _OPENAI_ERROR_TYPES.get(status, "server_error")
    return status, {}, _json_bytes({"error": {"message": message, "type": kind, "param": None, "code": kind}})


def _parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Parse a multipart/form-data body into ``{name: (filename, bytes)}`` (stdlib ``cgi`` is gone)."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or header.get_content_type() != "multipart/form-data":
        return {}
    fields: dict[str, tuple[str | None, bytes]] = {}
    for chunk in raw.split(b"--" + boundary.encode("latin-1"))[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, _, data = chunk.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        part = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                part[name.strip()] = value.strip()
        field_name = part.get_param("name", header="content-disposition")
        if isinstance(field_name, str):
            filename = part.get_param("filename", header="content-disposition")
            fields[field_name] = (filename if isinstance(filename, str) else None, data)
    return fields
