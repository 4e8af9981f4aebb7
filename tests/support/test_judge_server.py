"""The fake judge server, driven through the real ``openai`` and ``anthropic`` SDKs.

These tests prove the fake speaks each provider's wire format well enough for the SDKs to parse
it, and that each scripted failure surfaces the way the real API's would, so judge tests built on
it exercise real client code paths.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import io
import json
import threading
import time
from collections.abc import Iterator

import anthropic
import httpx
import openai
import pytest
from judge_server import DEFAULT_REPLY_TEXT, FakeJudgeServer, RecordedRequest, Reply

# Two distinct tiny "images": the server never decodes them as pictures, only as bytes.
IMG_A = b"\x89PNG\r\n\x1a\nimage-A" + bytes(range(40))
IMG_B = b"\x89PNG\r\n\x1a\nimage-B" + bytes(range(40, 0, -1))


def _data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _openai_messages(*images: bytes, prompt: str = "Rate the edit.") -> list[dict]:
    parts: list[dict] = [{"type": "text", "text": prompt}]
    parts += [{"type": "image_url", "image_url": {"url": _data_url(img)}} for img in images]
    return [{"role": "system", "content": "You are a strict judge."}, {"role": "user", "content": parts}]


def _anthropic_content(*images: bytes, prompt: str = "Rate the edit.") -> list[dict]:
    parts: list[dict] = [
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(i).decode()},
        }
        for i in images
    ]
    return parts + [{"type": "text", "text": prompt}]


@pytest.fixture
def server() -> Iterator[FakeJudgeServer]:
    with FakeJudgeServer() as srv:
        yield srv


@pytest.fixture
def oai(server: FakeJudgeServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(api_key="sk-test", base_url=server.openai_base_url, max_retries=0)
    yield client
    client.close()


@pytest.fixture
def ant(server: FakeJudgeServer) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(api_key="sk-test", base_url=server.anthropic_base_url, max_retries=0)
    yield client
    client.close()


# ------------------------------------------------------------------------------ chat completions
def test_openai_chat_returns_pushed_text_and_records_images_in_order(server, oai):
    server.push(Reply.ok('{"score": 2}', input_tokens=321, output_tokens=7))
    resp = oai.chat.completions.create(
        model="gpt-4o-2024-08-06", messages=_openai_messages(IMG_A, IMG_B), temperature=0.0, max_tokens=50
    )
    assert resp.choices[0].message.content == '{"score": 2}'
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "gpt-4o-2024-08-06"
    assert resp.system_fingerprint == "fp_test"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (321, 7, 328)

    (call,) = server.calls()
    assert call.route == "/v1/chat/completions"
    assert call.images() == [IMG_A, IMG_B]
    assert call.image_media_types() == ["image/png", "image/png"]
    assert call.text() == "You are a strict judge.\nRate the edit."
    assert call.body["model"] == "gpt-4o-2024-08-06"
    assert call.body["temperature"] == 0.0
    assert call.headers["authorization"] == "Bearer sk-test"
    assert server.pending == 0


def test_default_responder_then_custom_responder_and_reset(server, oai):
    first = oai.chat.completions.create(model="m", messages=_openai_messages())
    assert first.choices[0].message.content == DEFAULT_REPLY_TEXT

    seen: list[RecordedRequest] = []

    def responder(request: RecordedRequest) -> Reply | str:
        seen.append(request)
        return f"echo {request.body['model']}"

    server.responder = responder
    second = oai.chat.completions.create(model="judge-b", messages=_openai_messages(IMG_A))
    assert second.choices[0].message.content == "echo judge-b"
    assert seen[0].images() == [IMG_A]
    assert len(server.calls()) == 2

    server.push(Reply.ok("queued"))
    server.reset()
    assert server.requests == [] and server.calls() == [] and server.pending == 0


def test_openai_n_choices_take_successive_replies(server, oai):
    server.push(Reply.ok("a", output_tokens=3), Reply.ok("b", output_tokens=4), Reply.ok("left over"))
    resp = oai.chat.completions.create(model="m", messages=_openai_messages(), n=2)
    assert [c.message.content for c in resp.choices] == ["a", "b"]
    assert [c.index for c in resp.choices] == [0, 1]
    assert resp.usage.completion_tokens == 7
    assert server.pending == 1


def test_model_snapshot_is_reported_instead_of_alias():
    with FakeJudgeServer(model_snapshot="gpt-4o-2024-08-06") as srv:
        client = openai.OpenAI(api_key="sk-test", base_url=srv.openai_base_url, max_retries=0)
        resp = client.chat.completions.create(model="gpt-4o", messages=_openai_messages())
        assert resp.model == "gpt-4o-2024-08-06"
        assert srv.calls()[0].body["model"] == "gpt-4o"
        client.close()


def test_azure_deployment_path(server):
    client = openai.AzureOpenAI(
        api_key="az-test", azure_endpoint=server.base_url, api_version="2024-06-01", max_retries=0
    )
    resp = client.chat.completions.create(model="my-deploy", messages=_openai_messages(IMG_B))
    assert resp.choices[0].message.content == DEFAULT_REPLY_TEXT
    (call,) = server.calls()
    assert call.route == "/openai/deployments/my-deploy/chat/completions"
    assert call.query["api-version"] == ["2024-06-01"]
    assert call.headers["api-key"] == "az-test"
    assert call.images() == [IMG_B]
    client.close()


@pytest.mark.parametrize(
    "text",
    [
        "this is not json at all",
        '```json\n{"verdict": "yes", "score": 4}\n```',
        '{"verdict": "yes", "score": 9}',
        "",
    ],
    ids=["malformed", "code-fence", "out-of-range", "empty"],
)
def test_awkward_texts_arrive_verbatim(server, oai, ant, text):
    server.push(Reply.ok(text), Reply.ok(text))
    chat = oai.chat.completions.create(model="m", messages=_openai_messages())
    msg = ant.messages.create(model="c", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert chat.choices[0].message.content == text
    assert msg.content[0].text == text


# ------------------------------------------------------------------------------ errors
def test_429_with_retry_after_surfaces_as_rate_limit_error(server, oai):
    server.push(Reply.error(429, headers={"retry-after": "1"}))
    with pytest.raises(openai.RateLimitError) as info:
        oai.chat.completions.create(model="m", messages=_openai_messages())
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.code == "rate_limit_exceeded"


def test_429_insufficient_quota_is_distinguishable(server, oai):
    server.push(Reply.error(429, error_type="insufficient_quota", text="You exceeded your current quota"))
    with pytest.raises(openai.RateLimitError) as info:
        oai.chat.completions.create(model="m", messages=_openai_messages())
    assert info.value.code == "insufficient_quota"
    assert info.value.type == "insufficient_quota"
    assert "quota" in info.value.message


def test_500_then_success(server, oai):
    server.push(Reply.error(500), Reply.ok("fine"))
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="m", messages=_openai_messages())
    assert (
        oai.chat.completions.create(model="m", messages=_openai_messages()).choices[0].message.content
        == "fine"
    )


def test_sdk_retries_honour_retry_after(server):
    # The SDK's own retry loop must see the headers: a 429 and a 503, each asking for a 0.15 s wait.
    wait = {"retry-after-ms": "150"}
    server.push(Reply.error(429, headers=wait), Reply.error(503, headers=wait), Reply.ok("third time"))
    client = openai.OpenAI(api_key="sk-test", base_url=server.openai_base_url, max_retries=2)
    start = time.monotonic()
    resp = client.chat.completions.create(model="m", messages=_openai_messages())
    assert 0.3 <= time.monotonic() - start < 1.05  # without the header the SDK waits >= 1.1 s in all
    assert resp.choices[0].message.content == "third time"
    assert [r.headers["x-stainless-retry-count"] for r in server.calls()] == ["0", "1", "2"]
    client.close()


def test_anthropic_errors_use_anthropic_shape(server, ant):
    server.push(
        Reply.error(429, headers={"retry-after": "2"}), Reply.error(529), Reply.error(400, text="bad image")
    )
    with pytest.raises(anthropic.RateLimitError) as info:
        ant.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.body["error"]["type"] == "rate_limit_error"
    with pytest.raises(anthropic.OverloadedError):
        ant.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(anthropic.BadRequestError) as bad:
        ant.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert bad.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "bad image"},
    }


def test_hang_past_client_timeout_raises_timeout_and_server_keeps_serving(server, oai, ant):
    server.push(Reply.hang(5.0), Reply.hang(5.0))
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.3).chat.completions.create(model="m", messages=_openai_messages())
    with pytest.raises(anthropic.APITimeoutError):
        ant.with_options(timeout=0.3).messages.create(
            model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert time.monotonic() - start < 2.0
    # The hung handlers are still sleeping; other requests are unaffected.
    assert oai.chat.completions.create(model="m", messages=_openai_messages()).choices[0].message.content
    assert len(server.calls()) == 3


def test_stop_does_not_wait_for_hanging_requests():
    srv = FakeJudgeServer().start()
    srv.push(Reply.hang(30.0))
    client = openai.OpenAI(api_key="sk-test", base_url=srv.openai_base_url, max_retries=0, timeout=0.2)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=_openai_messages())
    start = time.monotonic()
    srv.stop()
    assert time.monotonic() - start < 2.0
    client.close()


# ------------------------------------------------------------------------------ refusals
def test_openai_content_filter_refusal(server, oai):
    server.push(Reply.refusal())
    resp = oai.chat.completions.create(model="m", messages=_openai_messages())
    choice = resp.choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice.message.content is None
    assert choice.message.refusal


def test_anthropic_refusal_stop_reason(server, ant):
    server.push(Reply.refusal())
    msg = ant.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert msg.stop_reason == "refusal"
    assert msg.content == []


def test_plain_text_refusal_looks_like_a_normal_answer(server, oai, ant):
    server.push(Reply.refusal(provider_style=False), Reply.refusal(provider_style=False))
    chat = oai.chat.completions.create(model="m", messages=_openai_messages())
    msg = ant.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert chat.choices[0].finish_reason == "stop" and "sorry" in chat.choices[0].message.content
    assert msg.stop_reason == "end_turn" and "sorry" in msg.content[0].text


# ------------------------------------------------------------------------------ anthropic messages
def test_anthropic_message_records_images_system_and_key_header(server, ant):
    server.push(Reply.ok('{"score": 5}', input_tokens=11, output_tokens=3, finish_reason="length"))
    msg = ant.messages.create(
        model="claude-test",
        max_tokens=64,
        # anthropic 2.14's messages.create() has no temperature argument; it can only go in the body.
        extra_body={"temperature": 0.0},
        system="You are a strict judge.",
        messages=[{"role": "user", "content": _anthropic_content(IMG_B, IMG_A)}],
    )
    assert msg.content[0].text == '{"score": 5}'
    assert msg.stop_reason == "max_tokens"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (11, 3)
    assert msg.model == "claude-test"

    (call,) = server.calls()
    assert call.route == "/v1/messages"
    assert call.images() == [IMG_B, IMG_A]
    assert call.text() == "You are a strict judge.\nRate the edit."
    assert call.body["temperature"] == 0.0 and call.body["max_tokens"] == 64
    # The key travels in a header only, never in the body.
    assert "sk-test" in (call.headers.get("x-api-key", "") + call.headers.get("authorization", ""))
    assert b"sk-test" not in call.raw


def test_images_rejects_remote_urls():
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
        ]
    }
    with pytest.raises(ValueError, match="data: URL"):
        RecordedRequest("POST", "/v1/chat/completions", {}, body, b"").images()


def test_models_list_and_unknown_route(server, oai):
    assert [m.id for m in oai.models.list()] == ["fake-judge"]
    resp = httpx.get(server.base_url + "/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "not_found_error"
    assert server.calls() == []  # bookkeeping requests are not model calls
    assert [r.route for r in server.calls("/models")] == ["/v1/models"]


# ------------------------------------------------------------------------------ batches
def test_openai_batch_flow_end_to_end(server, oai):
    lines = [
        {
            "custom_id": f"sample-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o", "temperature": 0, "messages": _openai_messages(img)},
        }
        for i, img in enumerate([IMG_A, IMG_B, IMG_A])
    ]
    jsonl = ("\n".join(json.dumps(x) for x in lines) + "\n").encode()
    server.push(Reply.ok("first"), Reply.error(500, text="boom"), Reply.ok("third"))

    uploaded = oai.files.create(file=("requests.jsonl", io.BytesIO(jsonl)), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes == len(jsonl)
    assert oai.files.content(uploaded.id).content == jsonl

    batch = oai.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.status == "validating"
    assert oai.batches.retrieve(batch.id).status == "in_progress"
    done = oai.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (3, 2, 1)

    out = [json.loads(x) for x in oai.files.content(done.output_file_id).text.splitlines()]
    assert [o["custom_id"] for o in out] == ["sample-0", "sample-2"]
    assert [o["response"]["body"]["choices"][0]["message"]["content"] for o in out] == ["first", "third"]
    assert all(o["response"]["status_code"] == 200 and o["error"] is None for o in out)
    errs = [json.loads(x) for x in oai.files.content(done.error_file_id).text.splitlines()]
    assert errs[0]["custom_id"] == "sample-1" and errs[0]["response"]["status_code"] == 500

    # Each line was answered as a model call with its own images; none went over the wire.
    assert [c.images() for c in server.batch_calls] == [[IMG_A], [IMG_B], [IMG_A]]
    assert server.calls() == []
    assert oai.files.retrieve(done.output_file_id).purpose == "batch_output"


def test_openai_batch_cancel_and_bad_input(server, oai):
    uploaded = oai.files.create(
        file=("r.jsonl", io.BytesIO(b'{"custom_id":"a","body":{}}\n')), purpose="batch"
    )
    batch = oai.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert oai.batches.cancel(batch.id).status == "cancelling"
    assert oai.batches.retrieve(batch.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError):
        oai.batches.create(
            input_file_id="file-missing", endpoint="/v1/chat/completions", completion_window="24h"
        )
    with pytest.raises(openai.NotFoundError):
        oai.batches.retrieve("batch_missing")


def test_anthropic_batch_flow_end_to_end(server, ant):
    server.batch_polls_before_done = 2
    server.push(Reply.ok("ok-0"), Reply.error(500, text="exploded"), Reply.refusal())
    requests = [
        {
            "custom_id": f"s{i}",
            "params": {
                "model": "claude-test",
                "max_tokens": 32,
                "messages": [{"role": "user", "content": _anthropic_content(img)}],
            },
        }
        for i, img in enumerate([IMG_A, IMG_B, IMG_B])
    ]
    batch = ant.messages.batches.create(requests=requests)
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 3
    assert ant.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    assert ant.messages.batches.retrieve(batch.id).processing_status == "in_progress"
    done = ant.messages.batches.retrieve(batch.id)
    assert done.processing_status == "ended"
    assert done.results_url == f"{server.base_url}/v1/messages/batches/{batch.id}/results"
    assert (done.request_counts.succeeded, done.request_counts.errored) == (2, 1)

    results = {r.custom_id: r.result for r in ant.messages.batches.results(batch.id)}
    assert results["s0"].type == "succeeded" and results["s0"].message.content[0].text == "ok-0"
    assert results["s1"].type == "errored" and results["s1"].error.error.type == "api_error"
    assert results["s2"].type == "succeeded" and results["s2"].message.stop_reason == "refusal"
    assert [c.images() for c in server.batch_calls] == [[IMG_A], [IMG_B], [IMG_B]]


def test_anthropic_batch_cancel(server, ant):
    batch = ant.messages.batches.create(
        requests=[
            {
                "custom_id": "a",
                "params": {"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
            }
        ]
    )
    assert ant.messages.batches.cancel(batch.id).processing_status == "canceling"
    ended = ant.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 1
    assert [r.result.type for r in ant.messages.batches.results(batch.id)] == ["canceled"]
    assert server.batch_calls == []


# ------------------------------------------------------------------------------ concurrency
def test_sixteen_concurrent_calls_overlap():
    with FakeJudgeServer(latency=0.2) as srv:

        async def main() -> float:
            client = openai.AsyncOpenAI(api_key="sk-test", base_url=srv.openai_base_url, max_retries=0)
            try:
                start = time.monotonic()
                replies = await asyncio.gather(
                    *[
                        client.chat.completions.create(model="m", messages=_openai_messages(IMG_A))
                        for _ in range(16)
                    ]
                )
                elapsed = time.monotonic() - start
                assert all(r.choices[0].message.content == DEFAULT_REPLY_TEXT for r in replies)
                return elapsed
            finally:
                await client.close()

        elapsed = asyncio.run(main())
        assert len(srv.calls()) == 16
        # Serial handling would take >= 3.2 s; this proves concurrency, not speed.
        assert elapsed < 1.0, elapsed


def test_keep_alive_reuses_one_connection(server, oai):
    for _ in range(5):
        oai.chat.completions.create(model="m", messages=_openai_messages())
    assert server.connections_opened == 1


def test_push_and_record_are_thread_safe(server, oai):
    server.push(*[Reply.ok(str(i)) for i in range(40)])
    texts: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        client = openai.OpenAI(api_key="sk-test", base_url=server.openai_base_url, max_retries=0)
        for _ in range(10):
            text = (
                client.chat.completions.create(model="m", messages=_openai_messages())
                .choices[0]
                .message.content
            )
            with lock:
                texts.append(text)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(texts, key=int) == [str(i) for i in range(40)]
    assert len(server.calls()) == 40


def test_keep_bodies_false_drops_bodies_but_responder_sees_them(server, oai):
    server.keep_bodies = False
    server.responder = lambda request: f"{len(request.images())} images"
    resp = oai.chat.completions.create(model="m", messages=_openai_messages(IMG_A, IMG_B))
    assert resp.choices[0].message.content == "2 images"
    (call,) = server.calls()
    assert call.body is None and call.raw == b"" and call.headers["authorization"] == "Bearer sk-test"


def test_chunked_request_body_is_read(server):
    payload = json.dumps({"model": "chunky", "messages": _openai_messages(IMG_A)}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]), timeout=5)
    conn.request(
        "POST",
        "/v1/chat/completions",
        body=iter([payload[:100], payload[100:]]),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read())["model"] == "chunky"
    conn.close()
    (call,) = server.calls()
    assert call.headers["transfer-encoding"] == "chunked"
    assert call.images() == [IMG_A]


def test_async_clients_batches_and_messages(server):
    # The judge uses the async clients; their JSONL streaming decoder must parse our results too.
    server.push(Reply.ok("oa"), Reply.ok("an"), Reply.ok("an-batch"))

    async def main() -> tuple[str, str, list[tuple[str, str]]]:
        oai = openai.AsyncOpenAI(api_key="sk-test", base_url=server.openai_base_url, max_retries=0)
        ant = anthropic.AsyncAnthropic(api_key="sk-test", base_url=server.anthropic_base_url, max_retries=0)
        try:
            chat = await oai.chat.completions.create(model="m", messages=_openai_messages(IMG_A))
            msg = await ant.messages.create(
                model="c", max_tokens=5, messages=[{"role": "user", "content": _anthropic_content(IMG_B)}]
            )
            params = {"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
            batch = await ant.messages.batches.create(requests=[{"custom_id": "k", "params": params}])
            while (await ant.messages.batches.retrieve(batch.id)).processing_status != "ended":
                pass
            results = [
                (item.custom_id, item.result.message.content[0].text)
                async for item in await ant.messages.batches.results(batch.id)
            ]
            return chat.choices[0].message.content, msg.content[0].text, results
        finally:
            await oai.close()
            await ant.close()

    assert asyncio.run(main()) == ("oa", "an", [("k", "an-batch")])
    assert [c.images() for c in server.calls()] == [[IMG_A], [IMG_B]]


def test_fake_server_rejects_empty_assistant_turns_like_the_real_apis(server: FakeJudgeServer) -> None:
    ant = anthropic.Anthropic(api_key="k", base_url=server.anthropic_base_url, max_retries=0)
    msgs = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "b"},
    ]
    with pytest.raises(anthropic.BadRequestError, match="non-empty content"):
        ant.messages.create(model="m", max_tokens=5, messages=msgs)
    ant.messages.create(model="m", max_tokens=5, messages=msgs[:1] + [{"role": "assistant", "content": "x"}])
    oai = openai.OpenAI(api_key="k", base_url=server.openai_base_url, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="got null"):
        oai.chat.completions.create(
            model="m",
            messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": None},
                {"role": "user", "content": "b"},
            ],
        )
    assert len(server.calls()) == 3

