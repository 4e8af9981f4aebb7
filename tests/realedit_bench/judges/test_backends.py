"""Judge backends: judge names, error classification, the OpenAI / Azure / compatible and Anthropic wire
formats (real SDKs against the local fake server), and a third-party provider added by entry point."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from cli_runner import realedit_cli
from judge_fixtures import (
    CLAUDE,
    GPT,
    SECRET,
    judge,
    judge_env,
    make_bench,
    make_edits,
    rows_of,
)
from judge_server import FakeJudgeServer, Reply
from paths import REPO

from realedit_bench.errors import ConfigError, UnknownNameError
from realedit_bench.judges.backends import judge_help, key_names, make_backend, split_judge_name
from realedit_bench.judges.backends.anthropic_messages import AnthropicMessages
from realedit_bench.judges.backends.base import parse_retry_after
from realedit_bench.judges.backends.openai_chat import OpenAIChat, split_compat_name
from realedit_bench.judges.runner import safe_name


# Names -------------------------------------------------------------------------------------------
def test_judge_names() -> None:
    assert split_judge_name("openai/gpt-4o") == ("openai", "gpt-4o")
    with pytest.raises(ConfigError):
        split_judge_name("gpt-4o")
    with pytest.raises(ConfigError):
        split_compat_name("localhost:8000/v1/m")
    with pytest.raises(UnknownNameError, match="did you mean 'openai'"):
        make_backend("opena/gpt-4o")


@pytest.mark.parametrize(
    "rest, split",
    [
        (
            "http://localhost:8000/v1/Qwen/Qwen2-VL-7B-Instruct",
            ("http://localhost:8000/v1", "Qwen/Qwen2-VL-7B-Instruct"),
        ),
        ("http://127.0.0.1:11434/v1/llava:13b", ("http://127.0.0.1:11434/v1", "llava:13b")),
        ("https://h.example/api/model-x", ("https://h.example/api", "model-x")),
    ],
)
def test_compatible_server_names_split_at_the_version_segment(rest: str, split: tuple[str, str]) -> None:
    assert split_compat_name(rest) == split


@pytest.mark.parametrize("name, safe", [
    ("openai-api/http://127.0.0.1:8000/v1/m", "openai-api_http_127.0.0.1_8000_v1_m"),
    ("openai/gpt-4o", "openai_gpt-4o"),
    ("a:b/c", "a_b_c"),
])
def test_judge_names_become_safe_file_names(name: str, safe: str) -> None:
    assert safe_name(name) == safe and "/" not in safe_name(name) and ":" not in safe_name(name)


def test_the_help_names_every_registered_provider_and_key() -> None:
    text = judge_help()
    for name in ("anthropic/<model>", "openai/<model> (Azure OpenAI when", "openai-api/<base-url>/<model>",
                 "gemini/<model> (pip install 'realedit[gemini]')"):
        assert name in text
    assert set(key_names().split(", ")) == {
        "OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_COMPAT_API_KEY",
        "GOOGLE_API_KEY", "GEMINI_API_KEY"}


# Errors and retries ------------------------------------------------------------------------------
@pytest.mark.parametrize("headers, seconds", [
    ({"retry-after": "2"}, 2.0),
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past: at once
    ({}, None),
])
def test_retry_after_forms(headers: dict, seconds: float | None) -> None:
    assert parse_retry_after(headers) == seconds


@pytest.mark.parametrize("backend, status, code, kind", [
    (OpenAIChat, 429, "insufficient_quota", "fatal"),
    (OpenAIChat, 429, "rate_limit_exceeded", "retryable"),
    (OpenAIChat, 402, "", "plain"),  # OpenAI says quota with a 429 only
    (OpenAIChat, 400, "content_policy_violation", "refused"),
    (OpenAIChat, 400, "invalid_request_error", "plain"),
    (AnthropicMessages, 402, "", "fatal"),
    (AnthropicMessages, 400, "credit_balance_too_low", "fatal"),
    (AnthropicMessages, 400, "content_policy_violation", "plain"),
    (AnthropicMessages, 529, "overloaded_error", "retryable"),
    (AnthropicMessages, 403, "permission_error", "fatal"),
    (AnthropicMessages, 404, "not_found_error", "fatal"),
])
def test_provider_errors_are_classified_for_the_retry_loop(
    backend, status: int, code: str, kind: str
) -> None:
    err = backend("m", check_key=False).status_error(status, "msg", code=code, headers={"retry-after": "3"})
    flags = {"fatal": err.fatal, "retryable": err.retryable, "refused": err.refused}
    assert [k for k, v in flags.items() if v] == ([] if kind == "plain" else [kind])
    assert err.status == status and (err.retry_after == 3.0) is (kind == "retryable")


# Wire formats ------------------------------------------------------------------------------------
def test_anthropic_backend(judge_setup, fake_server: FakeJudgeServer) -> None:
    bench, edits = judge_setup
    fake_server.push(Reply.refusal())
    code, out, _ = judge(judge_setup, "--limit", "2", "--concurrency", "1", judge_name=CLAUDE)
    assert code == 0, out
    calls = fake_server.calls()
    assert len(calls) == 6 and all(c.path.startswith("/v1/messages") for c in calls)
    body = calls[0].body
    # API version 2026-10-21 (SDK 2.x) rejects sampling parameters: none is sent.
    assert body["model"] == "claude-sonnet-4-6" and "temperature" not in body and "seed" not in body
    assert body["max_tokens"] == 200 and body["system"].startswith("You grade image edits")
    assert [p["type"] for p in body["messages"][0]["content"]] == ["image", "image", "text"]
    from judge_fixtures import ANTHROPIC_SECRET

    assert ANTHROPIC_SECRET in (
        calls[0].headers.get("x-api-key", "") + calls[0].headers.get("authorization", "")
    )
    rows = rows_of(edits, "anthropic_claude-sonnet-4-6__realedit-v1")
    assert sorted(r.status for r in rows) == ["ok"] * 5 + ["refused"]


def test_azure_and_openai_compatible_endpoints(
    judge_setup, fake_server: FakeJudgeServer, monkeypatch
) -> None:
    bench, edits = judge_setup
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", fake_server.base_url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out, _ = judge(judge_setup, "--limit", "1", judge_name="openai/my-gpt4o-deployment")
    assert code == 0, out
    c = fake_server.calls()[0]
    assert c.path.startswith("/openai/deployments/my-gpt4o-deployment/chat/completions")
    assert "api-version=2024-10-21" in c.path and c.headers["api-key"] == "azure-test-key"
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    fake_server.reset()
    name = f"openai-api/{fake_server.openai_base_url}/Qwen/Qwen2-VL-7B-Instruct"
    code, out, _ = judge(judge_setup, "--limit", "1", judge_name=name)
    assert code == 0, out
    c = fake_server.calls()[0]
    assert c.body["model"] == "Qwen/Qwen2-VL-7B-Instruct" and c.body["max_tokens"] == 200
    assert SECRET not in c.headers.get("authorization", "")  # the OpenAI key never goes to other servers
    code, _, exc = judge(judge_setup, judge_name="openai-api/https://vllm.example.com/v1/m")
    assert code == 2 and "OPENAI_COMPAT_API_KEY" in str(exc)


def test_backends_describe_their_endpoint_without_the_key(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert make_backend(GPT).describe() == {"provider": "openai", "model": "gpt-4o-2024-08-06",
                                            "endpoint": "openai", "base_url": "https://api.openai.com/v1"}
    compat = make_backend("openai-api/http://127.0.0.1:9/v1/org/m").describe()
    assert compat == {"provider": "openai-api", "model": "org/m", "endpoint": "openai-compatible",
                      "base_url": "http://127.0.0.1:9/v1"}
    assert SECRET not in json.dumps(compat)


# A third-party provider: one file and an entry point ------------------------------------------------
PLUGIN = '''
"""A judge provider outside realedit: everything about it is in this one class."""

import base64

from realedit_bench.judges.backends.base import ChatReply, Price, SDKBackend


def _image(part):
    url = f"data:{part.mime};base64,{base64.b64encode(part.data).decode()}"
    return {"type": "image_url", "image_url": {"url": url}}


class MyProv(SDKBackend):
    provider = "myprov"
    name_help = "myprov/<model> (a provider installed by entry point)"
    key_envs = ("MYPROV_API_KEY",)
    default_base_url = "https://myprov.invalid/v1"
    base_url_env = "MYPROV_BASE_URL"
    prices = {"m": Price(1000.0, 2000.0)}
    sdk = "openai"
    sdk_error = "OpenAIError"

    def make_client(self):
        import openai

        return openai.AsyncOpenAI(api_key=self.api_key, base_url=self.base_url, max_retries=0)

    async def send(self, req):
        messages = [{"role": "system", "content": req.system}, *self.user_turns(req, _image)]
        resp = await self.client.chat.completions.create(
            model=self.model, messages=messages, timeout=req.timeout, **self.request_params(req))
        choice = resp.choices[0]
        return ChatReply(choice.message.content, choice.finish_reason, model=resp.model,
                         input_tokens=resp.usage.prompt_tokens, output_tokens=resp.usage.completion_tokens)
'''


def _install_plugin(root: Path) -> Path:
    """A package installed as pip would lay it out: the module and its dist-info with an entry point."""
    root.mkdir()
    (root / "myprov_judge.py").write_text(textwrap.dedent(PLUGIN))
    info = root / "myprov_judge-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myprov-judge\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[realedit.judges]\nmyprov = myprov_judge:MyProv\n")
    return root


def test_a_third_party_provider_registered_by_entry_point_judges(
    tmp_path: Path, fake_server: FakeJudgeServer
) -> None:
    plugin = _install_plugin(tmp_path / "site")
    bench = make_bench(tmp_path / "bench")
    edits = make_edits(tmp_path / "edits")
    env = {**judge_env(fake_server, tmp_path / "cache"), "MYPROV_BASE_URL": fake_server.openai_base_url,
           "PYTHONPATH": os.pathsep.join([str(plugin), str(REPO), os.environ.get("PYTHONPATH", "")])}
    env = {k: v for k, v in env.items() if v}
    run = ["judge", "--images", str(edits), "--data-dir", str(bench), "--judge", "myprov/m",
           "--perspective", "quality", "--limit", "2"]

    helped = realedit_cli("judge", "--help", env=env)
    text = " ".join(helped.stdout.split())  # click wraps the help at the terminal's width
    assert helped.returncode == 0 and "myprov/<model> (a provider installed by entry point)" in text
    assert "MYPROV_API_KEY" in text
    nokey = realedit_cli(*run, env=env)
    assert nokey.returncode == 2 and "set MYPROV_API_KEY" in nokey.stderr
    dry = realedit_cli(*run, "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "2 calls to send" in dry.stdout and "estimated cost: $" in dry.stdout  # priced by the plug-in
    assert fake_server.requests == []

    done = realedit_cli(*run, env={**env, "MYPROV_API_KEY": "mp-key"})
    assert done.returncode == 0, done.stderr
    calls = fake_server.calls()
    assert len(calls) == 2 and all(c.body["model"] == "m" for c in calls)
    assert calls[0].headers["authorization"] == "Bearer mp-key" and len(calls[0].images()) == 2
    rows = rows_of(edits, "myprov_m__realedit-v1")
    assert [r.status for r in rows] == ["ok", "ok"] and rows[0].judge == "myprov/m"
    assert rows[0].usage.cost_usd == pytest.approx((100 * 1000.0 + 20 * 2000.0) / 1e6)
