"""Opening a user's file: regular files only, never a wait on a pipe, bounded size, nesting and numbers,
UTF-8 or one line, and no symlink out of a data folder unless asked for."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from realedit_bench import userfiles
from realedit_bench.errors import ConfigError, DataError


def test_a_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": [1, 2.5, "x"]}')  # a byte-order mark is fine
    assert userfiles.read_json(path) == {"a": [1, 2.5, "x"]}
    assert userfiles.read_bytes(path, max_bytes=100).endswith(b"}")


def test_a_named_pipe_is_refused_at_once(tmp_path: Path) -> None:
    pipe = tmp_path / "p.json"
    os.mkfifo(pipe)
    t0 = time.monotonic()
    with pytest.raises(DataError, match=r"p\.json is a named pipe, not a file"):
        userfiles.read_text(pipe)
    with pytest.raises(ConfigError, match="named pipe"):
        userfiles.check_regular(pipe, what="rubric file", error=ConfigError)
    assert time.monotonic() - t0 < 5  # opened non-blocking: no writer needed to return


@pytest.mark.parametrize(("make", "says"), [
    (lambda p: p.mkdir(), "is a folder, not a file"),
    (lambda p: None, "does not exist"),
])
def test_a_folder_or_nothing_where_a_file_is_expected(tmp_path: Path, make, says: str) -> None:
    path = tmp_path / "x.csv"
    make(path)
    with pytest.raises(DataError, match=says):
        userfiles.read_bytes(path, what="ratings file")


def test_size_is_checked_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big"
    with open(path, "wb") as fh:
        fh.truncate(5 << 30)  # sparse: nothing is written, and nothing may be read
    with pytest.raises(DataError, match=r"5,368,709,120 bytes, over the 1,000 this reader accepts"):
        userfiles.read_bytes(path, max_bytes=1000)


@pytest.mark.parametrize(("text", "says"), [
    ("[" * 100_000 + "]" * 100_000, "nested deeper than 64 levels"),  # Python's RecursionError
    ("[" * 65 + "]" * 65, "nested deeper than 64 levels"),  # under Python's limit, over ours
    ("[" + "9" * 5001 + "]", "a number of 5,001 digits"),  # Python's ValueError at 4,300
    ("-" + "9" * 101, "a number of 101 digits"),
    ('{"a": 1,}', "not valid JSON"),
])
def test_json_is_bounded(text: str, says: str) -> None:
    with pytest.raises(DataError, match=says) as exc:
        userfiles.loads_json(text, "f.json")
    assert str(exc.value).startswith("f.json: ") and "\n" not in str(exc.value)


def test_json_within_bounds_is_read() -> None:
    expected: list = []
    for _ in range(63):
        expected = [expected]
    assert userfiles.loads_json("[" * 64 + "]" * 64, "f") == expected
    assert userfiles.loads_json("9" * 100, "f") == int("9" * 100)


def test_text_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"a,b\ncaf\xe9\n")
    with pytest.raises(ConfigError, match=r"r\.csv: not UTF-8 text \(byte 0xe9 at offset 7\)"):
        userfiles.read_text(path, error=ConfigError)


def test_a_nul_byte_in_a_name_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has a NUL byte in its name"):
        userfiles.read_bytes(tmp_path / "a\x00b")
    with pytest.raises(DataError, match="NUL byte"):
        userfiles.check_regular(Path("a\x00b"), what="image")


def test_lines_are_bounded_and_a_torn_tail_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"b": 2}\n{"torn')
    assert list(userfiles.iter_lines(path)) == [(1, '{"a": 1}\n'), (2, "\n"), (3, '{"b": 2}\n')]
    path.write_bytes(b"x" * 50 + b"\n")
    with pytest.raises(DataError, match=r"rows\.jsonl:1: a line of over 10 bytes"):
        list(userfiles.iter_lines(path, max_line=10))


def test_symlinks_out_of_a_data_folder(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "imgs").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.jpeg").write_bytes(b"x")
    (data / "imgs" / "in.jpeg").write_bytes(b"x")
    (data / "imgs" / "alias.jpeg").symlink_to(data / "imgs" / "in.jpeg")  # a link inside is fine
    (data / "imgs" / "out.jpeg").symlink_to(outside / "secret.jpeg")
    userfiles.check_inside(data / "imgs" / "alias.jpeg", data, what="image")
    with pytest.raises(DataError, match=r"out\.jpeg leads outside .*secret\.jpeg.*--follow-symlinks"):
        userfiles.check_inside(data / "imgs" / "out.jpeg", data, what="image")
    userfiles.check_inside(data / "imgs" / "out.jpeg", data, what="image", follow_symlinks=True)
    # The data folder itself behind a link is the user's choice: its files are inside it.
    (tmp_path / "link").symlink_to(data)
    userfiles.check_inside(tmp_path / "link" / "imgs" / "in.jpeg", tmp_path / "link", what="image")


def test_toml_is_read_within_the_bounds_of_json() -> None:
    assert userfiles.loads_toml('name = "p"\n[[judge]]\nname = "openai/m"\n', "p.toml", ConfigError) == {
        "name": "p", "judge": [{"name": "openai/m"}]}
    depth = userfiles.MAX_JSON_DEPTH + 1  # deep enough for our bound, shallow enough for Python's parser
    with pytest.raises(ConfigError, match=r"^p.toml: nested too deeply to read \(more than 64 levels\)$"):
        userfiles.loads_toml("a = " + "[" * depth + "]" * depth, "p.toml", ConfigError)
    with pytest.raises(ConfigError, match=r"^p.toml: nested too deeply to read$"):
        userfiles.loads_toml("a = " + "[" * 100_000 + "]" * 100_000, "p.toml", ConfigError)
    with pytest.raises(ConfigError, match=r"^p.toml is not valid TOML: "):
        userfiles.loads_toml("[[judge", "p.toml", ConfigError)
    with pytest.raises(ConfigError, match="digits"):
        userfiles.loads_toml("a = " + "5" * 5001, "p.toml", ConfigError)
