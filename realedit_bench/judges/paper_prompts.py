"""The authors' judge prompts: fetched from their repository, checked, read from the syntax tree, cached.

Source: ``bytedance/Multi-Reward-Editing`` at the pinned commit :data:`COMMIT` (Apache-2.0), the three
scripts ``gpt_eval/eval_following.py``, ``eval_keep_detail.py`` and ``eval_quality.py``. Each holds one
``chat.completions.create`` call whose system text and user text (implicitly concatenated literals; the user
text of two of them an f-string with an ``{prompt}`` field) are the prompts. The files are parsed with
:mod:`ast`, never imported or executed: the literals are read as the parser joined them and the ``{prompt}``
field is kept as the placeholder the rubric fills in.

``data/paper-prompts.sha256`` (in the package) holds the sha256 of the three scripts and of the six prompt
strings read from them, so a downloaded script, an imported copy (the scripts, or the six prompt files
``<perspective>.system.txt`` / ``.user.txt``) and the cached prompts are all checked against what the
authors released. Nothing is shipped in our code: the prompts are cached beside the benchmark data, in
``<cache root>/data/paper-prompts/`` (``REALEDIT_CACHE`` moves it), with ``source.json`` saying where they
came from and under which licence.
"""

from __future__ import annotations

import ast
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal, NamedTuple

from pydantic import Field

from realedit_bench.errors import DataError
from realedit_bench.schema.base import Row
from realedit_bench.userfiles import check_regular, is_inside, read_bytes

REPO = "bytedance/Multi-Reward-Editing"
COMMIT = "e72d7826b8ffc87cb3b6b224666fe913ec97c5e8"
LICENSE = "Apache-2.0"
URL = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
#: A mirror can be named with this environment variable: a URL template holding ``{path}``.
URL_ENV = "REALEDIT_PAPER_PROMPTS_URL"
MANIFEST = Path(__file__).resolve().parents[1] / "data" / "paper-prompts.sha256"
#: The authors' scripts and the stem of the prompts each holds (their own names for the perspectives).
SCRIPTS = {
    "gpt_eval/eval_following.py": "following",
    "gpt_eval/eval_keep_detail.py": "keep_detail",
    "gpt_eval/eval_quality.py": "quality",
}
#: The f-string field of the user texts: the edit instruction.
PLACEHOLDER = "prompt"
#: Largest script or prompt file read (the scripts are about 5 kB).
MAX_BYTES = 1 << 20
#: How to get the prompts, for the messages that find none.
HOW_TO_GET = ("run 'realedit data fetch paper-prompts' where github.com can be reached, or 'realedit data "
              "fetch paper-prompts --from DIR' with a copy of the authors' gpt_eval/eval_*.py files or the "
              "six prompt files (following.system.txt, following.user.txt, ...)")


def prompt_files() -> list[str]:
    """The six cached prompt file names: ``<stem>.system.txt`` and ``<stem>.user.txt`` per script."""
    return [f"{stem}.{part}.txt" for stem in SCRIPTS.values() for part in ("system", "user")]


class ScriptPrompts(NamedTuple):
    """What one of the authors' scripts sends, read from its syntax tree."""

    system: str
    #: The user text, with the instruction as ``{prompt}``.
    user: str
    #: Image parts after the text, in order (2: original then edited; 1: the edited image).
    images: int
    #: The model, ``max_tokens`` and ``timeout`` keywords of the call, when they are literals.
    model: str | None
    max_tokens: int | None
    timeout: float | None


#: How cached prompts came: downloaded from GitHub, or imported with ``--from``.
Obtained = Literal["downloaded", "imported scripts", "imported prompt files"]


class PromptSource(Row):
    """``source.json`` beside the cached prompts: where they came from."""

    WRITTEN_BY: ClassVar[str] = "realedit data fetch paper-prompts"

    repository: str = Field(description="GitHub repository of the authors' code.")
    commit: str = Field(description="The pinned commit the prompts were read at.")
    license: str = Field(description="Licence of the repository (and of the prompts).")
    files: dict[str, str] = Field(description="Each script (or prompt file) read -> its sha256.")
    prompts: dict[str, str] = Field(description="Each cached prompt file -> the sha256 of its text.")
    obtained: Obtained = Field(
        description="How the prompts came: downloaded from GitHub, or imported with --from.")
    origin: str = Field(description="The URL template downloaded from, or the folder imported from.")
    fetched_at: str = Field(description="UTC time the prompts were written.")


def read_manifest() -> dict[str, str]:
    """Relative path -> sha256 of the scripts and prompt files, from ``data/paper-prompts.sha256``."""
    from realedit_bench.datasets.fetch import read_manifest as read_sums

    return {e.path: e.sha256 for e in read_sums(MANIFEST)}


def cache_dir() -> Path:
    """Where the prompts are cached: ``<cache root>/data/paper-prompts`` (beside the benchmark data)."""
    from realedit_bench.settings import cache_root

    return cache_root() / "data" / "paper-prompts"


# -- reading a script -------------------------------------------------------------------------------------


def _text(node: ast.expr, where: str) -> str:
    """A string literal's value; an f-string's, with its ``{prompt}`` field kept as the placeholder."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        raise DataError(f"{where} is not a string literal (line {getattr(node, 'lineno', '?')})")
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            parts.append(value.value)
        elif (isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name)
              and value.value.id == PLACEHOLDER and value.conversion == -1 and value.format_spec is None):
            parts.append("{" + PLACEHOLDER + "}")
        else:
            raise DataError(f"{where} has an f-string field other than {{{PLACEHOLDER}}} "
                            f"(line {value.lineno})")
    return "".join(parts)


def _dict(node: ast.expr, where: str) -> dict[str, ast.expr]:
    """A dict display with string keys, as key -> value node."""
    if not isinstance(node, ast.Dict) or any(k is None for k in node.keys):
        raise DataError(f"{where} is not a dict literal (line {getattr(node, 'lineno', '?')})")
    return {_text(k, where): v for k, v in zip(node.keys, node.values, strict=True) if k is not None}


def _list(node: ast.expr, where: str) -> list[ast.expr]:
    if not isinstance(node, ast.List):
        raise DataError(f"{where} is not a list literal (line {getattr(node, 'lineno', '?')})")
    return list(node.elts)


def _chat_call(tree: ast.AST, name: str) -> ast.Call:
    """The one ``<client>.chat.completions.create(..., messages=[...])`` call of a script."""
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "create" and any(k.arg == "messages" for k in n.keywords)]
    if len(calls) != 1:
        raise DataError(f"{name}: expected one chat.completions.create(messages=...) call, "
                        f"found {len(calls)}")
    return calls[0]


def _literal(node: ast.expr | None) -> object:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:  # a variable, not a literal: not recorded
        return None


def extract_prompts(source: bytes, name: str) -> ScriptPrompts:
    """Read the prompts of one of the authors' scripts from its syntax tree (the file is never executed).

    Args:
        source: The script's bytes.
        name: How messages name it.

    Raises:
        DataError: the file is not Python, or its call is not laid out as the authors' scripts are (one
            ``create`` call; a system message of string literals; a user message whose first part is the text
            and the rest ``image_url`` parts).
    """
    try:
        tree = ast.parse(source, filename=name)
    except (SyntaxError, ValueError) as exc:
        raise DataError(f"{name} is not a Python file ({exc.__class__.__name__}: {exc})") from exc
    call = _chat_call(tree, name)
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    messages = [_dict(m, f"{name}: a message") for m in _list(keywords["messages"], f"{name}: messages")]
    roles = [_text(m.get("role", ast.Constant(None)), f"{name}: a message role") for m in messages]
    if roles != ["system", "user"]:
        raise DataError(f"{name}: expected a system and a user message, found {roles}")
    system = _text(messages[0]["content"], f"{name}: the system text")
    content = _list(messages[1]["content"], f"{name}: the user content")
    parts = [_dict(p, f"{name}: a user part") for p in content]
    kinds = [_text(p.get("type", ast.Constant(None)), f"{name}: a part type") for p in parts]
    if not kinds or kinds[0] != "text" or any(k != "image_url" for k in kinds[1:]):
        raise DataError(f"{name}: expected the text, then images, found the parts {kinds}")
    model, max_tokens, timeout = (_literal(keywords.get(k)) for k in ("model", "max_tokens", "timeout"))
    return ScriptPrompts(
        system=system, user=_text(parts[0]["text"], f"{name}: the user text"), images=len(kinds) - 1,
        model=model if isinstance(model, str) else None,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        timeout=float(timeout) if isinstance(timeout, (int, float)) else None,
    )


# -- checking and writing ---------------------------------------------------------------------------------


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _check(rel: str, data: bytes, shown: str, expected: dict[str, str]) -> None:
    """Refuse bytes that are not what the authors released under ``rel``."""
    if sha256(data) != expected[rel]:
        raise DataError(f"{shown} is not the authors' {rel} (sha256 {sha256(data)[:12]}..., expected "
                        f"{expected[rel][:12]}... from {REPO} at {COMMIT[:7]}); nothing was written")


def prompts_of_scripts(scripts: dict[str, bytes], expected: dict[str, str]) -> dict[str, str]:
    """The six prompt texts read from the three scripts (each script and each prompt sha256-checked)."""
    texts: dict[str, str] = {}
    for rel, stem in SCRIPTS.items():
        found = extract_prompts(scripts[rel], rel)
        texts[f"{stem}.system.txt"], texts[f"{stem}.user.txt"] = found.system, found.user
    for file, text in texts.items():
        _check(file, text.encode("utf-8"), f"the prompt read into {file}", expected)
    return texts


def write_cache(dest: Path, texts: dict[str, str], source: PromptSource) -> None:
    """Write the six prompt files, then ``source.json`` (last: a half-written cache has no source)."""
    from realedit_bench.jsonio import atomic_write_json, atomic_write_text

    for file, text in texts.items():
        atomic_write_text(dest / file, text)
    atomic_write_json(dest / "source.json", source)


def _source(obtained: Obtained, origin: str, files: dict[str, str], texts: dict[str, str]) -> PromptSource:
    from realedit_bench.provenance import utc_now

    return PromptSource(repository=REPO, commit=COMMIT, license=LICENSE, files=files,
                        prompts={f: sha256(t.encode("utf-8")) for f, t in texts.items()},
                        obtained=obtained, origin=origin, fetched_at=utc_now())


class Fetched(NamedTuple):
    """What a fetch did: where the prompts are, and how they came."""

    folder: Path
    source: PromptSource


def _find(root: Path, name: str) -> Path | None:
    """The first file called ``name`` under ``root`` (sorted, so the same one each time)."""
    hits = sorted(p for p in root.rglob(name) if p.is_file())
    return hits[0] if hits else None


def _read_set(root: Path, found: dict[str, Path | None], expected: dict[str, str]) -> dict[str, bytes]:
    """The bytes of each file found (all of them are), each sha256-checked against the release; a file
    that a symlink leads out of ``root`` is refused before it is read."""
    for p in found.values():
        if p is not None and not is_inside(p, root):
            raise DataError(f"--from file {p} leads outside {root} (to {os.path.realpath(p)}) through a "
                            "symlink; copy the file into the folder")
    data = {rel: read_bytes(p, what="--from file", max_bytes=MAX_BYTES) for rel, p in found.items() if p}
    for rel, raw in data.items():
        _check(rel, raw, str(found[rel]), expected)
    return data


def import_prompts(from_dir: Path, dest: Path, *, wait_for_lock: bool = False) -> Fetched:
    """Import a local copy: the authors' three scripts (preferred), or the six prompt files.

    Every file is sha256-checked before anything is written.

    Raises:
        DataError: ``from_dir`` holds neither a whole set of scripts nor of prompt files, or a file
            differs from the authors' release.
    """
    from realedit_bench.datasets.fetch import fetch_lock

    if not Path(from_dir).is_dir():
        raise DataError(f"--from {from_dir} is not a directory")
    expected = read_manifest()
    scripts = {rel: _find(from_dir, Path(rel).name) for rel in SCRIPTS}
    prompts = {file: _find(from_dir, file) for file in prompt_files()}
    if all(scripts.values()):
        data = _read_set(Path(from_dir), scripts, expected)
        texts = prompts_of_scripts(data, expected)
        obtained: Obtained = "imported scripts"
    elif all(prompts.values()):
        data = _read_set(Path(from_dir), prompts, expected)
        texts = {f: raw.decode("utf-8") for f, raw in data.items()}
        obtained = "imported prompt files"
    else:
        missing = ", ".join(Path(r).name for r, p in scripts.items() if p is None)
        raise DataError(f"--from {from_dir} holds neither the authors' scripts (missing {missing}) nor the "
                        f"six prompt files ({', '.join(prompt_files())})")
    source = _source(obtained, str(from_dir), {r: sha256(b) for r, b in data.items()}, texts)
    with fetch_lock(dest, wait=wait_for_lock):
        write_cache(dest, texts, source)
    return Fetched(dest, source)


def _url_template() -> str:
    """``$REALEDIT_PAPER_PROMPTS_URL`` (a mirror, ``{path}`` in it) or the pinned GitHub raw URL."""
    template = os.environ.get(URL_ENV) or URL
    if "{path}" not in template or not template.startswith(("http://", "https://")):
        raise DataError(f"${URL_ENV} must be an http(s) URL template holding {{path}}")
    return template


def download_prompts(dest: Path, *, wait_for_lock: bool = False,
                     progress: Callable[[str], None] | None = None) -> Fetched:
    """Download the three scripts at the pinned commit (``.part`` files, retries, sha256 checks), read their
    prompts and cache them.

    Raises:
        DataError: the download failed (one line saying how to get the prompts otherwise), or a file is not
            the authors'.
    """
    import httpx

    from realedit_bench.datasets.fetch import RETRIES, download_file, fetch_lock, redact_url

    expected = read_manifest()
    template = _url_template()
    stop = threading.Event()
    with fetch_lock(dest, wait=wait_for_lock), \
            httpx.Client(timeout=httpx.Timeout(60, connect=20), follow_redirects=True) as client:
        for rel in SCRIPTS:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if not (target.is_file() and sha256(target.read_bytes()) == expected[rel]):
                url = template.format(repo=REPO, commit=COMMIT, path=rel)
                try:
                    download_file(client, url, target, expected[rel], stop, retries=RETRIES)
                except DataError as exc:  # its own advice ("use --from DIR") is said below in full
                    why = str(exc).split(";")[0]
                    raise DataError(f"the authors' judge prompts could not be downloaded ({why}); "
                                    f"{HOW_TO_GET}") from exc
            if progress is not None:
                progress(rel)
        data = {rel: read_bytes(dest / rel, what="downloaded script", max_bytes=MAX_BYTES) for rel in SCRIPTS}
        texts = prompts_of_scripts(data, expected)
        source = _source("downloaded", redact_url(template), {r: sha256(b) for r, b in data.items()}, texts)
        write_cache(dest, texts, source)
    return Fetched(dest, source)


# -- reading the cache ------------------------------------------------------------------------------------


class PaperPrompts(NamedTuple):
    """The six prompt texts, checked, and where they came from."""

    texts: dict[str, str]
    source: PromptSource
    folder: Path


def load_prompts(folder: Path | None = None) -> PaperPrompts | None:
    """The cached prompts, each checked against the manifest; None when the cache holds none.

    Raises:
        DataError: a cached prompt file was changed since it was fetched.
    """
    from realedit_bench.jsonio import read_model

    folder = folder or cache_dir()
    if check_regular(folder / "source.json", what="prompt source") is None:
        return None
    source = read_model(folder / "source.json", PromptSource)
    expected = read_manifest()
    texts: dict[str, str] = {}
    for file in prompt_files():
        path = folder / file
        raw = read_bytes(path, what="cached prompt", max_bytes=MAX_BYTES)
        if sha256(raw) != expected[file]:
            raise DataError(f"the cached prompt {path} differs from the authors' text; fetch it again: "
                            f"'realedit data fetch paper-prompts'")
        texts[file] = raw.decode("utf-8")
    return PaperPrompts(texts, source, folder)


def ensure_prompts(log: Callable[[str], None] | None = None) -> PaperPrompts:
    """The cached prompts, downloaded first when the cache holds none (the first ``--protocol paper``).

    Raises:
        DataError: none cached and the download failed: one line saying how to get them.
    """
    found = load_prompts()
    if found is not None:
        return found
    dest = cache_dir()
    if log is not None:
        log(f"fetching the authors' judge prompts ({REPO} at {COMMIT[:7]}, {LICENSE}) into {dest}")
    download_prompts(dest)
    loaded = load_prompts(dest)
    if loaded is None:  # pragma: no cover - download_prompts wrote source.json or raised
        raise DataError(f"the authors' judge prompts are not in {dest}; {HOW_TO_GET}")
    return loaded
