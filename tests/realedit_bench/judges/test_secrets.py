"""Secrets never leave the process: a server that echoes the key in its errors, and credentials in an
``openai-api/`` judge URL, reach no file, row, summary, console line or page."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import invoke
from judge_fixtures import SECRET, judge_env, make_bench, make_edits, set_env
from judge_server import FakeJudgeServer, RecordedRequest, Reply

from realedit_bench.jsonio import read_rows
from realedit_bench.schema.judge import JudgmentRow


def _everything_written(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _assert_nowhere(secrets: tuple[str, ...], root: Path, *texts: str) -> None:
    for path in _everything_written(root):
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, (secret, path)
            assert secret not in path.name, (secret, path)
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text[-2000:])


@pytest.mark.parametrize("status", [400, 401])
def test_a_server_echoing_the_key_gets_it_masked_everywhere(
    status: int, tmp_path: Path, fake_server: FakeJudgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench, edits = make_bench(tmp_path / "bench", n_photos=1), make_edits(tmp_path / "runs" / "m", n_photos=1)
    set_env(monkeypatch, judge_env(fake_server, tmp_path / "cache"))

    def echo(request: RecordedRequest) -> Reply:  # a proxy quoting the credentials it was sent
        return Reply.error(status, text=f"invalid credentials: {request.headers.get('authorization')}")

    fake_server.responder = echo
    res = invoke("judge", "--images", str(edits), "--data-dir", str(bench), "--concurrency", "1",
                 "--backoff", "0")
    calls = fake_server.calls()
    assert calls and all(c.headers["authorization"] == f"Bearer {SECRET}" for c in calls)
    assert res.returncode == (2 if status == 401 else 1), res.stderr
    rows = read_rows(next((edits / "judgments").glob("*.jsonl")), JudgmentRow)
    assert rows and all(r.status == "error" and "invalid credentials: Bearer ***" in (r.reason or "")
                        for r in rows)
    site = invoke("report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "site"))
    assert site.returncode == 0, site.stderr
    _assert_nowhere((SECRET,), tmp_path, res.stdout, res.stderr, site.stdout, site.stderr)


def test_url_credentials_never_reach_names_rows_or_the_console(
    tmp_path: Path, fake_server: FakeJudgeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench, edits = make_bench(tmp_path / "bench", n_photos=1), make_edits(tmp_path / "runs" / "m", n_photos=1)
    set_env(monkeypatch, judge_env(fake_server, tmp_path / "cache"))
    host = fake_server.base_url.removeprefix("http://")
    judge = f"openai-api/http://alice:PASSWORD-9f2c@{host}/v1/m?api_key=QUERYKEY-77b1"
    res = invoke("judge", "--images", str(edits), "--data-dir", str(bench), "--judge", judge,
                 "--perspective", "following")
    assert res.returncode == 0, res.stderr
    assert len(fake_server.calls()) == 7  # the credentials still reached the server they belong to
    (rows_path,) = (edits / "judgments").glob("*.jsonl")
    assert rows_path.name == f"openai-api_http_{host.replace(':', '_')}_v1_m_api_key__realedit-v1.jsonl"
    shown = f"openai-api/http://{host}/v1/m?api_key=***"
    assert {r.judge for r in read_rows(rows_path, JudgmentRow)} == {shown}
    site = invoke("report", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "site"))
    assert site.returncode == 0, site.stderr
    _assert_nowhere(("PASSWORD-9f2c", "QUERYKEY-77b1"), tmp_path, res.stdout, res.stderr, site.stdout,
                    site.stderr)


@pytest.mark.parametrize(("env", "says"), [
    ({"OPENAI_BASE_URL": "localhost:8000/v1"}, "OPENAI_BASE_URL 'localhost:8000/v1' is not an http(s) URL"),
    ({"OPENAI_BASE_URL": "ftp://host/v1"}, "is not an http(s) URL"),
    ({"OPENAI_API_KEY": "sk-test-abcdef\nsk-test-second"},
     "OPENAI_API_KEY or AZURE_OPENAI_API_KEY holds a newline"),
    ({"OPENAI_API_KEY": "sk-test-abcdéf"}, "holds a non-ASCII character"),
])
def test_configuration_errors_are_refused_before_any_call(
    env: dict[str, str], says: str, tmp_path: Path, fake_server: FakeJudgeServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench, edits = make_bench(tmp_path / "bench", n_photos=1), make_edits(tmp_path / "edits", n_photos=1)
    set_env(monkeypatch, {**judge_env(fake_server, tmp_path / "cache"), **env})
    res = invoke("judge", "--images", str(edits), "--data-dir", str(bench))
    assert res.returncode == 2 and res.stderr.startswith("error: ") and says in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "connection error" not in res.stderr and "sk-test-abc" not in res.stderr
    assert fake_server.requests == [] and not (edits / "judgments").exists()
