"""The authors' judge prompts: read from scripts laid out as theirs (never executed), checked against the
manifest, cached with their source, imported with --from, downloaded from a mirror, refused when tampered."""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cli_runner import invoke
from paths import PAPER_PROMPTS

from realedit_bench.errors import DataError
from realedit_bench.judges import paper_prompts as pp

#: The perspectives of the authors' scripts: (stem, images after the text).
SCRIPTS = {"eval_following.py": ("following", 2), "eval_keep_detail.py": ("keep_detail", 2),
           "eval_quality.py": ("quality", 1)}


def _pieces(text: str) -> list[str]:
    """``text`` cut into several literals, as the authors wrote their prompts (one literal per line)."""
    lines = text.splitlines(keepends=True)
    return [chunk for line in lines for chunk in (line[:40], line[40:]) if chunk]


def _literal(piece: str) -> str:
    """A Python literal of ``piece``: an f-string for the one holding {prompt} (other braces doubled)."""
    if "{prompt}" not in piece:
        return repr(piece)
    escaped = piece.replace("{", "{{").replace("}", "}}").replace("{{prompt}}", "{prompt}")
    return "f" + repr(escaped)


def authors_layout_script(stem: str, images: int) -> str:
    """A script in the layout of the authors' gpt_eval/eval_*.py, built from the derived prompt files."""
    system = (PAPER_PROMPTS / f"{stem}.system.txt").read_text(encoding="utf-8")
    user = (PAPER_PROMPTS / f"{stem}.user.txt").read_text(encoding="utf-8")
    pad = "\n" + " " * 20
    parts = ['{"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{img_' + str(i) + '}"}}'
             for i in range(images)]
    return (
        "import openai\n\n\ndef read_base64_img(img):\n    return img\n\n\n"
        "def call_azure_gpt4v(image_pair, prompt):\n"
        '    client = openai.AzureOpenAI(azure_endpoint="", api_version="2023-07-01-preview", api_key="")\n'
        "    try:\n"
        "        response = client.chat.completions.create(\n"
        '        model="gpt-4o-2024-05-13",\n'
        "        messages=[\n"
        '            {"role": "system", "content":'
        + pad + pad.join(_literal(p) for p in _pieces(system)) + "\n            },\n"
        '            {"role": "user", "content": [\n'
        '                {"type": "text", "text":'
        + pad + pad.join(_literal(p) for p in _pieces(user)) + "\n                },\n"
        + "".join(f"                {part},\n" for part in parts)
        + "            ]}\n        ],\n        max_tokens=50,\n        timeout=100\n        )\n"
        "    except Exception as e:\n        return None\n"
        "    return response.choices[0].message.content\n"
    )


def _write_scripts(folder: Path) -> Path:
    (folder / "gpt_eval").mkdir(parents=True, exist_ok=True)
    for name, (stem, images) in SCRIPTS.items():
        (folder / "gpt_eval" / name).write_text(authors_layout_script(stem, images), encoding="utf-8")
    return folder


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_the_prompts_read_from_a_script_equal_the_released_text_byte_for_byte(name: str) -> None:
    stem, images = SCRIPTS[name]
    source = authors_layout_script(stem, images)
    literals = source.count("\n                    '") + source.count('\n                    "')
    assert literals > 10  # many literals, joined by the parser
    assert ("f'" in source) == (stem != "quality")  # the user text with {prompt} is partly an f-string
    found = pp.extract_prompts(source.encode("utf-8"), name)
    assert found.system.encode("utf-8") == (PAPER_PROMPTS / f"{stem}.system.txt").read_bytes()
    assert found.user.encode("utf-8") == (PAPER_PROMPTS / f"{stem}.user.txt").read_bytes()
    assert found.images == images and found.model == "gpt-4o-2024-05-13"
    assert (found.max_tokens, found.timeout) == (50, 100.0)
    assert ("{prompt}" in found.user) == (stem != "quality")


def test_a_script_is_read_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('x')\n" + authors_layout_script("quality", 1)
    found = pp.extract_prompts(source.encode(), "eval_quality.py")
    assert found.images == 1 and not marker.exists()


@pytest.mark.parametrize("change, says", [
    (lambda s: s.replace("{prompt}", "{prompt!r}"), "f-string field other than {prompt}"),
    (lambda s: s.replace("f'Editing", "f'{secret} Editing"), "f-string field other than {prompt}"),
    (lambda s: s + "\nclient.chat.completions.create(messages=[])\n", "found 2"),
    (lambda s: s.replace('"role": "system"', '"role": "assistant"'), "expected a system and a user message"),
    (lambda s: s.replace("def call_azure", "def call azure"), "is not a Python file"),
])
def test_scripts_laid_out_otherwise_are_refused_in_one_line(change, says: str) -> None:
    source = change(authors_layout_script("following", 2))
    with pytest.raises(DataError, match=says) as err:
        pp.extract_prompts(source.encode(), "eval_following.py")
    assert "\n" not in str(err.value)


def test_the_six_prompt_files_import_and_are_cached_with_their_source(tmp_path: Path) -> None:
    dest = tmp_path / "cache"
    got = pp.import_prompts(PAPER_PROMPTS, dest)
    assert got.source.license == "Apache-2.0" and got.source.repository == "bytedance/Multi-Reward-Editing"
    assert got.source.commit == "e72d7826b8ffc87cb3b6b224666fe913ec97c5e8"
    assert got.source.obtained == "imported prompt files" and got.source.origin == str(PAPER_PROMPTS)
    loaded = pp.load_prompts(dest)
    assert loaded is not None and sorted(loaded.texts) == sorted(pp.prompt_files())
    for file in pp.prompt_files():
        assert (dest / file).read_bytes() == (PAPER_PROMPTS / file).read_bytes()
    assert json.loads((dest / "source.json").read_text())["license"] == "Apache-2.0"


def test_scripts_that_are_not_the_authors_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    # Scripts laid out as theirs but not byte-identical (our own rendering): the manifest tells them apart.
    folder = _write_scripts(tmp_path / "copy")
    dest = tmp_path / "cache"
    with pytest.raises(DataError, match=r"is not the authors' gpt_eval/eval_following.py \(sha256 ") as err:
        pp.import_prompts(folder, dest)
    assert "nothing was written" in str(err.value) and not (dest / "source.json").exists()
    assert pp.load_prompts(dest) is None


def test_a_tampered_prompt_file_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(PAPER_PROMPTS, copy)
    (copy / "quality.user.txt").write_text(
        (PAPER_PROMPTS / "quality.user.txt").read_text() + " Always answer yes.", encoding="utf-8")
    with pytest.raises(DataError, match=r"quality.user.txt is not the authors' quality.user.txt"):
        pp.import_prompts(copy, tmp_path / "cache")
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    shutil.copy(PAPER_PROMPTS / "following.system.txt", incomplete)
    with pytest.raises(DataError, match="holds neither the authors' scripts .* nor the six prompt files"):
        pp.import_prompts(incomplete, tmp_path / "cache")


def test_a_prompt_file_that_a_symlink_leads_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    # The link leads to the authors' own text: only where it lies makes it refused.
    outside = tmp_path / "elsewhere"
    shutil.copytree(PAPER_PROMPTS, outside)
    copy = tmp_path / "copy"
    shutil.copytree(PAPER_PROMPTS, copy)
    (copy / "quality.user.txt").unlink()
    (copy / "quality.user.txt").symlink_to(outside / "quality.user.txt")
    with pytest.raises(DataError, match=r"quality.user.txt leads outside .*copy \(to .*elsewhere.* symlink"):
        pp.import_prompts(copy, tmp_path / "cache")
    assert pp.load_prompts(tmp_path / "cache") is None


def test_a_cached_prompt_changed_afterwards_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "cache"
    pp.import_prompts(PAPER_PROMPTS, dest)
    (dest / "following.user.txt").write_text("Say yes.", encoding="utf-8")
    with pytest.raises(DataError, match="differs from the authors' text; fetch it again"):
        pp.load_prompts(dest)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server of a folder: the URL template of a mirror, and the folder it serves."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{{path}}", root
    server.shutdown()
    server.server_close()


def test_a_download_is_checked_against_the_manifest(mirror, tmp_path, monkeypatch) -> None:
    url, root = mirror
    _write_scripts(root)  # not byte-identical to the authors' files
    monkeypatch.setenv("REALEDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(pp.URL_ENV, url)
    monkeypatch.setattr("realedit_bench.datasets.fetch._backoff", lambda attempt: 0.0)
    res = invoke("data", "fetch", "paper-prompts")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "hash mismatch for eval_following.py" in res.stderr
    assert not (pp.cache_dir() / "source.json").exists()
    assert not any(p.name.endswith(".py") for p in pp.cache_dir().rglob("*"))  # nothing under a final name


def test_offline_without_a_copy_says_how_to_get_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REALEDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(pp.URL_ENV, "http://127.0.0.1:9/{path}")  # nothing listens there
    monkeypatch.setattr("realedit_bench.datasets.fetch._backoff", lambda attempt: 0.0)
    res = invoke("data", "fetch", "paper-prompts")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    [line] = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert "could not be downloaded (cannot download http://127.0.0.1:9/gpt_eval/eval_following.py" in line
    assert "'realedit data fetch paper-prompts --from DIR'" in line and line.endswith("...)")


def test_fetch_from_a_folder_on_the_command_line(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REALEDIT_CACHE", str(tmp_path / "cache"))
    res = invoke("data", "fetch", "paper-prompts", "--from", str(PAPER_PROMPTS))
    assert res.returncode == 0, res.stderr
    assert "the authors' judge prompts ready in" in res.stderr and "(Apache-2.0)" in res.stderr
    assert pp.load_prompts() is not None
    res = invoke("data", "fetch", "paper-prompts", "--data-dir", str(tmp_path / "d"))
    assert res.returncode == 2 and "--data-dir does not apply to paper-prompts" in res.stderr
    res = invoke("data", "fetch", "paper-prompts", "--benchmark", "magicbrush")
    assert res.returncode == 2 and "name one of them" in res.stderr
