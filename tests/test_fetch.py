"""``realedit data fetch`` against a local HTTP server: resume with Range, retry, verify, never a torn file."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import invoke

from realedit_bench.dataset import RealEdit
from realedit_bench.errors import DataError
from realedit_bench.fetch import URL_ENV, fetch_real_edit


class _Server:
    """Serves a Real-Edit copy; can cut one file off half-way once, or serve corrupt bytes for one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cut_once: set[str] = set()
        self.corrupt: set[str] = set()
        self.log: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                rel = self.path.lstrip("/")
                rng = self.headers.get("Range")
                outer.log.append((rel, rng))
                path = outer.root / rel
                if not path.is_file():
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = path.read_bytes()
                if rel in outer.corrupt:
                    data = b"x" + data[1:]
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = data[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if rel in outer.cut_once:
                    outer.cut_once.discard(rel)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{{path}}"

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture()
def server(real_edit_dir):
    s = _Server(real_edit_dir)
    yield s
    s.close()


def test_fetch_resumes_a_cut_download_with_range_and_verifies(server, tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url)
    victim = "imgs/5.jpeg"
    server.cut_once.add(victim)
    dest = tmp_path / "data"
    n = fetch_real_edit(dest)
    assert n == 81
    ranges = [r for p, r in server.log if p == victim]
    assert ranges[0] is None and ranges[1] and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert not list(dest.rglob("*.part"))
    assert len(RealEdit().load(dest).samples) == 560
    server.log.clear()
    assert fetch_real_edit(dest) == 0 and server.log == []  # complete: nothing asked again


def test_a_corrupt_file_never_lands_under_its_name(server, tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url)
    monkeypatch.setattr("realedit_bench.fetch.time.sleep", lambda s: None)  # retries without waiting
    server.corrupt.add("imgs/7.jpeg")
    dest = tmp_path / "data"
    with pytest.raises(DataError, match=r"hash mismatch for 7\.jpeg"):
        fetch_real_edit(dest)
    assert not (dest / "imgs" / "7.jpeg").exists()
    assert sum(1 for p, _ in server.log if p == "imgs/7.jpeg") == 5  # bounded retries


def test_cli_fetch_then_verify(server, tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url)
    dest = tmp_path / "d"
    res = invoke("data", "fetch", "--dest", str(dest))
    assert res.returncode == 0, res.stderr
    assert "81 verified by sha256" in res.stderr.replace("\n", " ")
    assert invoke("data", "verify", "--data-dir", str(dest)).returncode == 0
    (dest / "eval_instruct.json").write_text("{}")
    res = invoke("data", "verify", "--data-dir", str(dest))
    assert res.returncode == 2 and "eval_instruct.json" in res.stderr


def test_missing_file_upstream_is_one_line(server, tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url.replace("{path}", "nowhere/{path}"))
    res = invoke("data", "fetch", "--dest", str(tmp_path / "x"))
    assert res.returncode == 2 and "answered 404" in res.stderr
