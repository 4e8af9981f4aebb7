"""A local fake of four image-editing APIs, for offline tests of the API editors.

The editors run unchanged against it (the official ``openai`` and ``google-genai`` SDKs, plain ``httpx2``
for the REST ones), their base URL pointed here. One loopback server speaks every wire format:

* OpenAI Images: ``POST /v1/images/edits`` (multipart) -> ``{"created", "data": [{"b64_json"}], "usage"}``;
  errors ``{"error": {"message", "type", "code"}}``; a refusal is a 400 ``moderation_blocked``.
* Gemini: ``POST /<version>/models/<model>:generateContent`` -> candidates with an ``inlineData`` image part
  and ``usageMetadata``; a refusal is ``promptFeedback.blockReason`` SAFETY (HTTP 200, as the API does);
  errors ``{"error": {"code", "message", "status"}}``.
* Black Forest Labs: ``POST /v1/<model>`` -> ``{"id", "polling_url", "cost"}``; ``GET /v1/get_result?id=``
  -> ``Pending`` for ``polls_pending`` polls, then ``Ready`` with ``result.sample`` (a refused task reads
  ``Content Moderated``); ``GET /delivery/<id>.png`` -> the image.
* ByteDance Ark: ``POST /api/v3/images/generations`` -> ``{"model", "data": [{"b64_json"}], "usage"}``; a
  refusal is a 400 ``OutputImageSensitiveContentDetected``.

Each model call (the first route of each provider) is answered from a FIFO queue of scripted
:class:`Reply` objects (``push``), or with a plain image once the queue is empty; BFL polls have a queue of
their own (``push_poll``). Every request is recorded (:class:`Seen`) with its parsed body. Only the standard
library and Pillow are used.
"""

from __future__ import annotations

import base64
import collections
import io
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image

_GEMINI = re.compile(r"^/[^/]+/models/([^/:]+):generateContent$")
_BFL_SUBMIT = re.compile(r"^/v1/(flux-[a-z0-9.-]+)$")
#: The route prefix of each provider's model call, as tests name them.
MODEL_ROUTES = {"openai": "/v1/images/edits", "gemini": ":generateContent", "bfl": "/v1/flux-",
                "ark": "/api/v3/images/generations"}


@dataclass
class Reply:
    """How the server answers one model call (or one BFL poll).

    Attributes:
        status: HTTP status; anything but 200 sends an error body in the provider's format.
        headers: Extra response headers, e.g. ``{"retry-after": "1"}``.
        delay: Seconds to wait before answering (a slow reply).
        code: Error code of a non-200 reply (the provider's usual one when None).
        refused: Answer as the provider's moderation does.
        cut: Close the connection without answering.
        size: (width, height) of the image sent back.
        image_format: ``PNG`` or ``JPEG``.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    code: str | None = None
    refused: bool = False
    cut: bool = False
    size: tuple[int, int] = (96, 64)
    image_format: str = "PNG"

    @staticmethod
    def error(status: int, **kw: Any) -> Reply:
        """An HTTP error, e.g. ``Reply.error(429, headers={"retry-after": "1"})``."""
        return Reply(status=status, **kw)


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    #: Parsed JSON body, or multipart fields (name -> (filename, bytes)), or None.
    body: Any

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path


def image_bytes(size: tuple[int, int], image_format: str = "PNG") -> bytes:
    """A plain image file of ``size``."""
    buf = io.BytesIO()
    Image.new("RGB", size, (40, 160, 90)).save(buf, format=image_format)
    return buf.getvalue()


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    out = {}
    for part in message.iter_parts():
        out[part.get_param("name", header="content-disposition")] = (part.get_filename(),
                                                                     part.get_payload(decode=True))
    return out


class FakeImageAPI:
    """The server: ``with FakeImageAPI() as api: ... api.base_url ...``.

    Args:
        polls_pending: BFL polls answered ``Pending`` before a task is ``Ready``.
    """

    def __init__(self, polls_pending: int = 1) -> None:
        self.polls_pending = polls_pending
        self.seen: list[Seen] = []
        self._replies: collections.deque[Reply] = collections.deque()
        self._polls: collections.deque[Reply] = collections.deque()
        self._tasks: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> FakeImageAPI:
        owner = self

        class Handler(_Handler):
            api = owner

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripting and inspection ----------------------------------------------------------------------
    def push(self, *replies: Reply) -> None:
        """Queue answers to the next model calls."""
        self._replies.extend(replies)

    def push_poll(self, *replies: Reply) -> None:
        """Queue answers to the next BFL polls (before the usual Pending/Ready)."""
        self._polls.extend(replies)

    def calls(self, provider: str) -> list[Seen]:
        """The model calls of ``provider`` (``openai``, ``gemini``, ``bfl``, ``ark``) received so far."""
        return [s for s in self.seen if s.method == "POST" and MODEL_ROUTES[provider] in s.route]

    def _next(self, queue: collections.deque[Reply]) -> Reply:
        with self._lock:
            return queue.popleft() if queue else Reply()

    def wait(self, seconds: float) -> None:
        """Sleep, but wake when the server stops."""
        self._stopping.wait(seconds)

    # -- answers ---------------------------------------------------------------------------------------
    def answer(self, seen: Seen) -> tuple[int, dict[str, str], bytes] | None:
        """(status, headers, body) for a request; None to cut the connection."""
        route = seen.route
        if seen.method == "GET" and route == "/v1/get_result":
            return self._poll(seen)
        if seen.method == "GET" and route.startswith("/delivery/"):
            task = self._tasks[route.split("/")[-1].split(".")[0]]
            return 200, {"content-type": "image/png"}, task["image"]
        reply = self._next(self._replies)
        if reply.delay:
            self.wait(reply.delay)
        if reply.cut:
            return None
        if route == MODEL_ROUTES["openai"]:
            return self._openai(seen, reply)
        if _GEMINI.match(route):
            return self._gemini(seen, reply)
        if _BFL_SUBMIT.match(route):
            return self._bfl_submit(seen, reply)
        if route == MODEL_ROUTES["ark"]:
            return self._ark(seen, reply)
        return _json(404, {"error": {"message": f"no route {route}"}})

    def _openai(self, seen: Seen, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        if reply.refused:
            reply = Reply(status=400, code="moderation_blocked")
        if reply.status != 200:
            return _json(reply.status, {"error": {"message": f"fake error {reply.status}", "param": None,
                                                  "type": "invalid_request_error", "code": reply.code}},
                         reply.headers)
        fields = seen.body or {}
        size = fields.get("size", (None, b""))[1].decode()
        w, _, h = size.partition("x")
        out = (int(w), int(h)) if w.isdigit() and h.isdigit() else reply.size
        data = base64.b64encode(image_bytes(out, reply.image_format)).decode()
        usage = {"input_tokens": 1100, "output_tokens": 7000, "total_tokens": 8100,
                 "input_tokens_details": {"image_tokens": 1000, "text_tokens": 100}}
        return _json(200, {"created": int(time.time()), "data": [{"b64_json": data}], "usage": usage,
                           "output_format": reply.image_format.lower(), "size": f"{out[0]}x{out[1]}"})

    def _gemini(self, seen: Seen, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        if reply.status != 200:
            names = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 401: "UNAUTHENTICATED"}
            error = {"code": reply.status, "message": f"fake error {reply.status}",
                     "status": reply.code or names.get(reply.status, "UNKNOWN")}
            return _json(reply.status, {"error": error}, reply.headers)
        usage = {"promptTokenCount": 300, "candidatesTokenCount": 1290, "totalTokenCount": 1590}
        if reply.refused:
            return _json(200, {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage})
        model = _GEMINI.match(seen.route).group(1)  # type: ignore[union-attr]
        data = base64.b64encode(image_bytes(reply.size, reply.image_format)).decode()
        mime = "image/png" if reply.image_format == "PNG" else "image/jpeg"
        return _json(200, {"candidates": [{"content": {"role": "model", "parts": [
            {"inlineData": {"mimeType": mime, "data": data}}]}, "finishReason": "STOP"}],
            "usageMetadata": usage, "modelVersion": f"{model}-fake-001"})

    def _bfl_submit(self, seen: Seen, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        if reply.status != 200:
            return _json(reply.status, {"detail": f"fake error {reply.status}"}, reply.headers)
        task = f"task{next(self._ids)}"
        self._tasks[task] = {"polls": 0, "refused": reply.refused,
                             "image": image_bytes(reply.size, reply.image_format)}
        return _json(200, {"id": task, "polling_url": f"{self.base_url}/v1/get_result?id={task}", "cost": 4})

    def _poll(self, seen: Seen) -> tuple[int, dict[str, str], bytes] | None:
        reply = self._next(self._polls)
        if reply.cut:
            return None
        if reply.status != 200:
            return _json(reply.status, {"detail": f"fake error {reply.status}"}, reply.headers)
        task_id = parse_qs(urlsplit(seen.path).query)["id"][0]
        task = self._tasks[task_id]
        task["polls"] += 1
        if task["polls"] <= self.polls_pending:
            return _json(200, {"id": task_id, "status": "Pending"})
        if task["refused"]:
            return _json(200, {"id": task_id, "status": "Content Moderated", "details": {"reason": "x"}})
        return _json(200, {"id": task_id, "status": "Ready",
                           "result": {"sample": f"{self.base_url}/delivery/{task_id}.png", "seed": 1}})

    def _ark(self, seen: Seen, reply: Reply) -> tuple[int, dict[str, str], bytes]:
        if reply.refused:
            reply = Reply(status=400, code="OutputImageSensitiveContentDetected")
        if reply.status != 200:
            return _json(reply.status, {"error": {"code": reply.code or "ServerError", "type": "BadRequest",
                                                  "message": f"fake error {reply.status}"}}, reply.headers)
        body = seen.body or {}
        data = base64.b64encode(image_bytes(reply.size, reply.image_format)).decode()
        usage = {"generated_images": 1, "output_tokens": 4096, "total_tokens": 4096}
        return _json(200, {"model": body.get("model"), "created": int(time.time()),
                           "data": [{"b64_json": data}], "usage": usage})


def _json(status: int, obj: Any, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json", **(headers or {})}, json.dumps(obj).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: FakeImageAPI

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence per-request logging."""

    def _handle(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        content_type = self.headers.get("content-type", "")
        body: Any = None
        if content_type.startswith("multipart/"):
            body = _multipart(content_type, raw)
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.api.seen.append(seen)
        answer = self.api.answer(seen)
        if answer is None:  # a cut connection: no status line at all
            self.close_connection = True
            return
        status, headers, payload = answer
        self.send_response(status)
        for name, value in {**headers, "content-length": str(len(payload))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _handle
