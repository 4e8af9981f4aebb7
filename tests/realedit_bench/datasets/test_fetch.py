"""``realedit data fetch`` against a local HTTP server: resume with Range, retry, verify, never a torn
file."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cli_runner import invoke

from realedit_bench.datasets.fetch import URL_ENV, fetch_real_edit, import_real_edit, redact_url
from realedit_bench.datasets.real_edit import RealEditBenchmark
from realedit_bench.errors import DataError


class _Server:
    """Serves a Real-Edit copy; can cut one file off half-way once, or serve corrupt bytes for one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cut_once: set[str] = set()
        self.corrupt: set[str] = set()
        #: path (or "*") -> "html" (a 200 login page), "500", or "stall" (100 bytes, then silence until close)
        self.modes: dict[str, str] = {}
        self.release = threading.Event()
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
                mode = outer.modes.get(rel.split("?")[0]) or outer.modes.get("*")
                if mode in ("html", "500"):
                    body = b"<html><body>please log in</body></html>"
                    self.send_response(200 if mode == "html" else 500)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
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
                if mode == "stall":
                    self.wfile.write(body[:100])
                    self.wfile.flush()
                    outer.release.wait(30)
                    return
                if rel in outer.cut_once:
                    outer.cut_once.discard(rel)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # a client that hung up (Ctrl-C tests)
                pass

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{{path}}"

    def close(self) -> None:
        self.release.set()
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
    assert len(RealEditBenchmark().load(dest).samples) == 560
    server.log.clear()
    assert fetch_real_edit(dest) == 0 and server.log == []  # complete: nothing asked again


def test_a_corrupt_file_never_lands_under_its_name(server, tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url)
    monkeypatch.setattr(
        "realedit_bench.datasets.fetch._backoff", lambda attempt: 0.0
    )  # retries without waiting
    server.corrupt.add("imgs/7.jpeg")
    dest = tmp_path / "data"
    with pytest.raises(DataError, match=r"hash mismatch for 7\.jpeg"):
        fetch_real_edit(dest)
    assert not (dest / "imgs" / "7.jpeg").exists()
    assert sum(1 for p, _ in server.log if p == "imgs/7.jpeg") == 5  # bounded retries


def test_cli_fetch_then_verify(server, tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url)
    dest = tmp_path / "d"
    res = invoke("data", "fetch", "--data-dir", str(dest))
    assert res.returncode == 0, res.stderr
    assert "81 verified by sha256" in res.stderr.replace("\n", " ")
    assert invoke("data", "verify", "--data-dir", str(dest)).returncode == 0
    (dest / "eval_instruct.json").write_text("{}")
    res = invoke("data", "verify", "--data-dir", str(dest))
    assert res.returncode == 2 and "eval_instruct.json" in res.stderr


def test_missing_file_upstream_is_one_line(server, tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url.replace("{path}", "nowhere/{path}"))
    res = invoke("data", "fetch", "--data-dir", str(tmp_path / "x"))
    assert res.returncode == 2 and "answered 404" in res.stderr


# --- user data, Ctrl-C, one-line errors, credentials, clearer messages -------------------------------------


@pytest.fixture()
def fetched(real_edit_dir, tmp_path):
    """A complete data directory, made by a local import (no HTTP)."""
    dest = tmp_path / "data"
    import_real_edit(real_edit_dir, dest)
    return dest


def test_modified_files_are_refused_and_repair_keeps_the_old_ones(server, fetched, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url)
    mine = b'{"2.jpeg": ["1. Local: my own instruction"]}'
    (fetched / "eval_instruct.json").write_bytes(mine)
    resaved = fetched / "imgs" / "5.jpeg"
    resaved.write_bytes(resaved.read_bytes()[:-10])
    (fetched / "imgs" / "7.jpeg").unlink()  # missing: fetched as always
    res = invoke("data", "fetch", "--data-dir", str(fetched))
    assert res.returncode == 2, res.stderr
    err = " ".join(res.stderr.split())
    assert "2 file(s)" in err and "eval_instruct.json" in err and "imgs/5.jpeg" in err and "--repair" in err
    assert "imgs/7.jpeg" not in err and ".orig" in err
    assert (
        fetched / "eval_instruct.json"
    ).read_bytes() == mine and server.log == []  # untouched, nothing asked
    with pytest.raises(DataError, match="differ from the released"):  # the --from path refuses the same way
        import_real_edit(server.root, fetched)

    res = invoke("data", "fetch", "--data-dir", str(fetched), "--repair")
    assert res.returncode == 0, res.stderr
    assert sorted(p for p, _ in server.log) == ["eval_instruct.json", "imgs/5.jpeg", "imgs/7.jpeg"]
    assert (fetched / "eval_instruct.json.orig").read_bytes() == mine
    assert (fetched / "imgs" / "5.jpeg.orig").is_file() and "kept the 2 replaced file(s)" in res.stderr
    assert invoke("data", "verify", "--data-dir", str(fetched)).returncode == 0


def test_a_resume_reports_the_files_already_done(server, fetched, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url)
    (fetched / "imgs" / "9.jpeg").unlink()
    seen: list[str] = []
    assert fetch_real_edit(fetched, progress=seen.append) == 1
    assert len(seen) == 81 and seen.count("imgs/9.jpeg") == 1  # the bar counts the 80 done files too


def test_ctrl_c_stops_a_stalled_fetch_at_once_and_keeps_the_parts(server, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    server.modes["*"] = "stall"
    dest = tmp_path / "d"
    exe = Path(sys.executable).with_name("realedit")
    proc = subprocess.Popen(
        [str(exe), "data", "fetch", "--data-dir", str(dest)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, URL_ENV: server.url},
    )
    try:
        deadline = time.monotonic() + 60
        while len(server.log) < 4 and time.monotonic() < deadline:  # all four workers are stuck in a read
            time.sleep(0.05)
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        took = time.monotonic() - t0
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert took < 3, took
    assert "stopped by Ctrl-C or SIGTERM; what finished is kept" in err and "Traceback" not in err
    assert "to resume, run the same command again: realedit data fetch --data-dir" in err
    assert list(dest.rglob("*.part"))  # kept for the resume


@pytest.mark.parametrize("how", ["event", "interrupt"])
def test_the_library_stops_within_a_second(server, tmp_path, monkeypatch, how):
    import _thread
    import time

    monkeypatch.setenv(URL_ENV, server.url)
    server.modes["*"] = "stall"
    stop = threading.Event()
    # "event": a caller's stop event; "interrupt": KeyboardInterrupt in the main thread, as SIGINT raises it.
    threading.Timer(0.5, stop.set if how == "event" else _thread.interrupt_main).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        fetch_real_edit(tmp_path / "d", stop=stop)
    assert time.monotonic() - t0 < 3 and stop.is_set()
    assert list((tmp_path / "d").rglob("*.part")) and not (tmp_path / "d" / "eval_instruct.json").exists()


def test_destinations_that_cannot_hold_data_are_one_line(server, real_edit_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url)
    afile = tmp_path / "afile"
    afile.write_text("x")
    for dest in (afile, afile / "sub"):
        res = invoke("data", "fetch", "--data-dir", str(dest))
        assert res.returncode == 2 and "--data-dir" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
    res = invoke("data", "fetch", "--benchmark", "magicbrush", "--from", str(tmp_path),
                 "--data-dir", str(afile / "mb"))
    assert res.returncode == 2 and "--data-dir" in res.stderr, res.stderr
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "imgs").write_text("not a folder")
    res = invoke("data", "fetch", "--data-dir", str(blocked), "--from", str(real_edit_dir))
    assert res.returncode == 2 and "imgs is a file" in res.stderr, res.stderr


@pytest.mark.parametrize("how", ["download", "from"])
def test_a_full_disk_is_one_line_naming_the_file(server, real_edit_dir, tmp_path, monkeypatch, how):
    import errno
    import os

    monkeypatch.setenv(URL_ENV, server.url)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("realedit_bench.datasets.fetch.os.fsync", full)  # the fsync before every rename
    extra = ["--from", str(real_edit_dir)] if how == "from" else []
    res = invoke("data", "fetch", "--data-dir", str(tmp_path / "d"), *extra)
    assert res.returncode == 2, res.stderr
    assert "No space left on device" in res.stderr and ".part" not in res.stderr.split("cannot write")[0]
    assert "cannot write " in res.stderr and str(tmp_path / "d") in res.stderr


def test_a_second_fetch_into_the_same_folder_is_refused(server, tmp_path, monkeypatch):
    from realedit_bench.datasets.fetch import fetch_lock

    monkeypatch.setenv(URL_ENV, server.url)
    dest = tmp_path / "d"
    dest.mkdir()
    with fetch_lock(dest):
        res = invoke("data", "fetch", "--data-dir", str(dest))
    assert res.returncode == 2 and "another realedit data fetch is writing" in res.stderr, res.stderr
    assert server.log == []
    assert invoke("data", "fetch", "--data-dir", str(dest)).returncode == 0  # released


def test_mirror_credentials_never_reach_a_message(server, tmp_path, monkeypatch):
    url = server.url.replace("http://", "http://user:s3cr3t@").replace(
        "{path}", "nowhere/{path}?token=abc123&x"
    )
    monkeypatch.setenv(URL_ENV, url)
    res = invoke("data", "fetch", "--data-dir", str(tmp_path / "x"))
    assert res.returncode == 2 and "answered 404" in res.stderr
    assert "s3cr3t" not in res.stderr and "abc123" not in res.stderr and "token=***" in res.stderr
    assert redact_url("https://u:p@h:8/a/b?k=v&t=w#f") == "https://h:8/a/b?k=***&t=***"


def test_a_web_page_instead_of_a_file_fails_at_once_naming_its_type(server, tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url)
    monkeypatch.setattr("realedit_bench.datasets.fetch._backoff", lambda attempt: 0.0)
    server.modes["imgs/5.jpeg"] = "html"
    with pytest.raises(DataError, match="text/html"):
        fetch_real_edit(tmp_path / "d")
    assert sum(1 for p, _ in server.log if p == "imgs/5.jpeg") == 1  # no retries of a page


def test_a_persistent_server_error_names_the_status(server, tmp_path, monkeypatch):
    monkeypatch.setenv(URL_ENV, server.url)
    monkeypatch.setattr("realedit_bench.datasets.fetch._backoff", lambda attempt: 0.0)
    server.modes["imgs/5.jpeg"] = "500"
    with pytest.raises(DataError, match=r"HTTP 500 after 5 tries"):
        fetch_real_edit(tmp_path / "d")


@pytest.mark.parametrize(
    ("template", "says"),
    [
        (
            "http://127.0.0.1:1/{foo}/{path}",
            r"unknown placeholder.*\{foo\}.*allowed: \{path\}, \{repo\}, \{commit\}",
        ),
        ("127.0.0.1:1/{path}", "must start with http:// or https://"),
        ("mirror/data/{path}", "must start with http:// or https://"),
        ("http://127.0.0.1:1/{path", "not a valid template"),
    ],
)
def test_bad_mirror_templates_are_one_line_before_anything_is_written(tmp_path, monkeypatch, template, says):
    import re

    monkeypatch.setenv(URL_ENV, template)
    res = invoke("data", "fetch", "--data-dir", str(tmp_path / "d"))
    assert res.returncode == 2 and re.search(says, res.stderr), res.stderr
    assert not (tmp_path / "d").exists()


def test_source_is_validated_even_with_from(real_edit_dir, tmp_path):
    res = invoke(
        "data", "fetch", "--source", "gitlab", "--from", str(real_edit_dir), "--data-dir", str(tmp_path / "d")
    )
    assert res.returncode == 2 and "--source must be github or hf" in res.stderr


def test_the_ready_line_does_not_wrap(real_edit_dir, tmp_path):
    dest = tmp_path / ("a-long-folder-name-" * 4) / "data"
    res = invoke("data", "fetch", "--from", str(real_edit_dir), "--data-dir", str(dest))
    assert res.returncode == 0, res.stderr
    assert f"Real-Edit ready in {dest}: 81 files written, 81 verified by sha256" in res.stderr.splitlines()
    res = invoke("data", "verify", "--data-dir", str(dest))
    assert res.stdout.splitlines()[-1].startswith(f"ok: {dest}: 81 files")


def test_real_edit_is_not_fetched_into_a_magicbrush_folder(tmp_path):
    (tmp_path / "mb" / "test").mkdir(parents=True)
    (tmp_path / "mb" / "test" / "samples.jsonl").write_text("{}\n")
    res = invoke("data", "fetch", "--data-dir", str(tmp_path / "mb"))
    assert res.returncode == 2 and "holds MagicBrush data" in res.stderr
