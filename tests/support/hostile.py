"""A corpus of hostile and careless inputs, generated at test time, and a runner that audits what a
``realedit`` command opens.

Each :class:`Case` is one command line over one bad input: a named pipe where a file is expected, a symlink
that leads out of the data folder, a decompression bomb, JSON nested 100,000 deep, a number of 5,001
digits, a 2 MB CSV cell, a NUL byte in a name, bytes that are not UTF-8, a sparse file of 2 GiB, a folder
where a file is expected and a file where a folder is expected, a read-only folder, and settings that
are wrong (a base URL that is not http(s), a key with a newline, ``--device tpu``). Every case runs
``realedit`` in a subprocess under a timeout (a hang is a failure, not a stuck test) with an audit hook
(:func:`sys.addaudithook`, event ``open``) that logs every path the process opens, so a test can check
that nothing under the ``outside`` folder (where the symlinks lead) was read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from judge_fixtures import CATS, make_bench, make_edits, make_run_dir
from PIL import Image

#: What each subprocess runs: the console script's entry point under an audit hook that logs opened paths.
AUDITED_MAIN = """
import os, sys
log = open(os.environ["REALEDIT_AUDIT_LOG"], "w", encoding="utf-8")
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        log.write(os.fsdecode(args[0]).replace("\\n", "\\\\n") + "\\n")
        log.flush()
sys.addaudithook(hook)
from realedit_bench.cli.main import run
sys.argv[0] = "realedit"
run()
"""

#: Seconds a case may take; a command still running then is a hang.
TIMEOUT = 90
STEM = "openai_gpt-4o-2024-08-06__realedit-v1"


@dataclass
class Case:
    """One hostile input through one verb, and what must happen."""

    name: str
    args: list[str]
    #: The exit code the command must end with.
    code: int = 2
    #: Words the error line (or, for codes other than 2, the output) must hold: the file and the problem.
    says: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    #: True when the case reads outside on purpose (``--follow-symlinks``).
    may_read_outside: bool = False


@dataclass
class Result:
    """What a case's command did."""

    code: int | None
    stdout: str
    stderr: str
    opened: list[str]
    hung: bool


# -- the spoilers -------------------------------------------------------------------------------------------
def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def append(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def fifo(path: Path) -> None:
    """A named pipe no process writes to: opening it for reading blocks forever."""
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def folder_in_place(path: Path) -> None:
    """A folder where a file is expected."""
    path.unlink(missing_ok=True)
    path.mkdir()


def file_in_place(path: Path) -> None:
    """A file where a folder is expected."""
    shutil.rmtree(path, ignore_errors=True)
    path.write_text("not a folder", encoding="utf-8")


def link(path: Path, target: Path) -> None:
    """``path`` replaced by a symlink to ``target``."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    path.unlink(missing_ok=True)
    path.symlink_to(target)


def sparse(path: Path, size: int) -> None:
    """A file of ``size`` bytes that takes no disk space."""
    with open(path, "wb") as fh:
        fh.truncate(size)


def bomb_at(data: Path) -> None:
    """The photo replaced by a PNG whose header claims 100,000 x 100,000 pixels (a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(
        b"IEND", b"")
    (data / "imgs" / "1.jpeg").write_bytes(png)


def rubric_with_piped_prompt(path: Path) -> None:
    """A rubric whose prompt file is a named pipe."""
    write(path, 'format = 1\nname = "t"\nversion = "v1"\nsystem = "s"\nuser_file = "prompt.txt"\n'
                "[perspectives.following]\n[perspectives.preserving]\n[perspectives.quality]\n")
    fifo(path.parent / "prompt.txt")


# -- read-only folders and files: chmod for a user, the immutable attribute for root (who ignores modes) -----
IMMUTABLE: list[Path] = []


def read_only(path: Path) -> None:
    """``path`` (a folder) made read-only for this process, also when it runs as root."""
    _freeze(path)


def read_only_file(path: Path) -> None:
    """An existing judge cache, made read-only."""
    import sqlite3

    sqlite3.connect(str(path)).close()
    _freeze(path)


def _freeze(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o555 if path.is_dir() else 0o444)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)],
                                                        capture_output=True).returncode != 0:
        raise ReadOnlyUnavailable(f"cannot make {path} read-only for root here (no chattr +i)")
    IMMUTABLE.append(path)


def thaw() -> None:
    """Undo :func:`read_only` so the temporary folders can be removed."""
    while IMMUTABLE:
        subprocess.run(["chattr", "-i", str(IMMUTABLE.pop())], capture_output=True)


class ReadOnlyUnavailable(RuntimeError):
    """This machine cannot make a folder read-only for the current user (root without chattr)."""


NESTED = "[" * 100_000 + "]" * 100_000
RATINGS_HEADER = "sample_id,model,perspective,rater,score\n"
#: A file-making step: (path, the folder the symlinks lead to) -> None.
Spoil = Callable[[Path, Path], None]


def _writes(text: str | bytes) -> Spoil:
    return lambda path, outside: write(path, text)


def _as(step: Callable[[Path], None]) -> Spoil:
    return lambda path, outside: step(path)


def _links_to(name: str) -> Spoil:
    return lambda path, outside: link(path, outside / name)


#: A spoiled data folder: (file of the folder, spoil, words of the message). Every data verb reads it.
DATA_SPOILS: dict[str, tuple[str, Spoil, tuple[str, ...]]] = {
    "instructions-nested": ("eval_instruct.json", _writes('{"1.jpeg": ' + NESTED + "}"), ("nested",)),
    "instructions-huge-number": ("eval_instruct.json", _writes('{"1.jpeg": [' + "7" * 5001 + "]}"),
                                 ("5,001 digits",)),
    "instructions-nul-in-name": ("eval_instruct.json", _writes(json.dumps(
        {"1\u0000.jpeg": [f"{k + 1}. {c}: x" for k, c in enumerate(CATS)]})), ("NUL byte in its name",)),
    "instructions-not-utf8": ("eval_instruct.json", _writes(b'{"1.jpeg": ["1. Local: caf\xe9"]}'),
                              ("not UTF-8",)),
    "instructions-pipe": ("eval_instruct.json", _as(fifo), ("named pipe",)),
    "instructions-folder": ("eval_instruct.json", _as(folder_in_place), ("a folder",)),
    "instructions-2gib-sparse": ("eval_instruct.json", _as(lambda p: sparse(p, 2 << 30)),
                                 ("bytes, over the",)),
    "image-pipe": ("imgs/1.jpeg", _as(fifo), ("named pipe",)),
    "image-folder": ("imgs/1.jpeg", _as(folder_in_place), ("a folder",)),
    "image-symlink-out": ("imgs/1.jpeg", _links_to("secret.jpeg"), ("leads outside", "--follow-symlinks")),
    "image-folder-symlink-out": ("imgs", _links_to("imgs"), ("1.jpeg", "leads outside", "--follow-symlinks")),
}
DATA_VERBS = ("verify", "run", "judge", "metrics")

#: A spoiled folder of edits or run directory: (what it is, file, spoil, words, the verbs that read it).
IMAGES_SPOILS: dict[str, tuple[str, str, Spoil, tuple[str, ...], tuple[str, ...]]] = {
    "edited-image-pipe": ("edits", "1-local.png", _as(fifo), ("named pipe",),
                          ("judge", "metrics", "agree-template")),
    "edited-image-symlink-out": ("edits", "1-local.png", _links_to("secret.jpeg"), ("leads outside",),
                                 ("judge", "metrics", "agree-template")),
    "edits.jsonl-nested": ("run", "edits.jsonl", _as(lambda p: append(p, NESTED)), ("nested",),
                           ("judge", "metrics", "agree-template", "report")),
    "edits.jsonl-huge-number": ("run", "edits.jsonl", _as(lambda p: append(p, "9" * 5001)), ("digits",),
                                ("judge", "report")),
    "manifest-not-utf8": ("run", "manifest.json", _writes(b"\xff\xfe{"), ("not UTF-8",),
                          ("judge", "metrics", "report")),
    "edits.jsonl-pipe": ("run", "edits.jsonl", _as(fifo), ("named pipe",), ("judge", "metrics", "report")),
    "summary-not-utf8": ("run", f"judgments/{STEM}.summary.json", _writes(b'{"x": "\xff"}'), ("not UTF-8",),
                         ("report",)),
    "judgments-folder-is-a-file": ("run", "judgments", _as(file_in_place), ("is a file",), ("judge",)),
    "run-folder-read-only": ("run", ".", _as(lambda p: (read_only(p / "judgments"), read_only(p))),
                             ("cannot create or write",), ("judge", "metrics", "agree-template")),
}

#: A spoiled file named by an option: (verb, option, file name, spoil, words).
FILE_SPOILS: dict[str, tuple[str, str, str, Spoil, tuple[str, ...]]] = {
    "agree:judgments-nested": ("agree", "--judgments", "j.jsonl", _writes(NESTED + "\n"), ("nested",)),
    "agree:judgments-huge-number": ("agree", "--judgments", "j.jsonl", _writes("1" * 5001 + "\n"),
                                    ("5,001 digits",)),
    "agree:judgments-pipe": ("agree", "--judgments", "j.jsonl", _as(fifo), ("named pipe",)),
    "agree:ratings-2mb-cell": ("agree", "--human", "h.csv", _writes(
        RATINGS_HEADER + "1-local,identity,following,alice," + "x" * 2_000_000 + "\n"), ("2,000,", "cell")),
    "agree:ratings-not-utf8": ("agree", "--human", "h.csv", _writes(
        RATINGS_HEADER.encode() + b"1-local,caf\xe9,following,a,3\n"), ("not UTF-8",)),
    "agree:ratings-pipe": ("agree", "--human", "h.csv", _as(fifo), ("named pipe",)),
    "agree:ratings-folder": ("agree", "--human", "h.csv", _as(folder_in_place), ("a folder",)),
    "agree:ratings-nested-json": ("agree", "--human", "h.json", _writes(NESTED), ("nested",)),
    "agree:ratings-huge-number": ("agree", "--human", "h.jsonl", _writes(
        '{"sample_id": "1-local", "model": "identity", "perspective": "following", "rater": "a", "score": '
        + "3" * 5001 + "}\n"), ("5,001 digits",)),
    "judge --check:rubric-pipe": ("check", "--rubric", "r.toml", _as(fifo), ("named pipe",)),
    "judge --check:rubric-folder": ("check", "--rubric", "r.toml", _as(folder_in_place), ("a folder",)),
    "judge --check:rubric-nested": ("check", "--rubric", "r.toml", _writes("a = " + NESTED), ("nested",)),
    "judge --check:rubric-huge-number": ("check", "--rubric", "r.toml", _writes("a = " + "5" * 5001),
                                         ("digits",)),
    "judge --check:rubric-not-utf8": ("check", "--rubric", "r.toml", _writes(b'name = "caf\xe9"'),
                                      ("not UTF-8",)),
    "judge --check:prompt-file-pipe": ("check", "--rubric", "r.toml", _as(rubric_with_piped_prompt),
                                       ("prompt.txt", "named pipe")),
    "judge --check:prices-pipe": ("check", "--prices", "p.json", _as(fifo), ("named pipe",)),
    "judge --check:prices-folder": ("check", "--prices", "p.json", _as(folder_in_place), ("a folder",)),
    "judge --check:prices-nested": ("check", "--prices", "p.json", _writes('{"models": ' + NESTED + "}"),
                                    ("nested",)),
    "judge --check:prices-huge-number": ("check", "--prices", "p.json", _writes(
        '{"models": {"openai/gpt-4o": {"input": ' + "1" * 5001 + ', "output": 1}}}'), ("digits",)),
    "judge --check:prices-not-utf8": ("check", "--prices", "p.json", _writes(b'{"models": "\xff"}'),
                                      ("not UTF-8",)),
    "judge:panel-pipe": ("dry-run", "--panel", "panel.toml", _as(fifo), ("named pipe",)),
    "judge:panel-nested": ("dry-run", "--panel", "panel.toml", _writes("a = " + NESTED), ("nested",)),
    "judge:panel-huge-number": ("dry-run", "--panel", "panel.toml", _writes("a = " + "5" * 5001),
                                ("digits",)),
    "judge:panel-not-utf8": ("dry-run", "--panel", "panel.toml", _writes(b'name = "caf\xe9"'),
                             ("not UTF-8",)),
    "judge:cache-is-a-folder": ("dry-run", "--cache", "cache.sqlite", _as(folder_in_place), ("judge cache",)),
    "judge:cache-read-only": ("dry-run", "--cache", "cache.sqlite", _as(read_only_file), ("judge cache",)),
}

#: A key that looks like one (the settings cases need one to get past "no key").
KEY = "sk-test-corpus-0000000000"
#: Settings that are configuration errors: (command line after the verb's data, environment, words).
SETTINGS: dict[str, tuple[list[str], dict[str, str], tuple[str, ...]]] = {
    "judge --check:OPENAI_BASE_URL-not-a-url": (["judge", "--check"], {
        "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "localhost:8000"}, ("OPENAI_BASE_URL", "http(s) URL")),
    "judge --check:key-with-newline": (["judge", "--check"], {"OPENAI_API_KEY": KEY + "\nextra"},
                                       ("OPENAI_API_KEY", "newline")),
    "judge --check:openai-api-port": (
        ["judge", "--check", "--judge", "openai-api/http://127.0.0.1:99999/v1/m"], {}, ("http(s) URL",)),
    "run:--device tpu": (["run", "--device", "tpu"], {}, ("--device", "tpu")),
    "run:--device cuda:97": (["run", "--device", "cuda:97"], {}, ("cuda:97",)),
    "run:--dtype fp8": (["run", "--dtype", "fp8"], {}, ("--dtype", "fp8")),
}


class Corpus:
    """The hostile inputs under ``root``, each case built on demand in its own folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.outside = root / "outside"
        self.clean = root / "clean-data"
        self.edits = root / "clean-edits"

    @classmethod
    def names(cls) -> list[str]:
        """The names of every case (nothing is written)."""
        return list(cls(Path("unused")).cases())

    def prepare(self) -> Corpus:
        """Write what the cases share: the clean benchmark and edits, and the files outside."""
        (self.outside / "imgs").mkdir(parents=True)
        # Valid images: were they read, an edit would succeed, so only the refusal can stop the command.
        Image.new("RGB", (40, 32), (200, 30, 30)).save(self.outside / "secret.jpeg")
        Image.new("RGB", (40, 32), (30, 200, 30)).save(self.outside / "imgs" / "1.jpeg")
        make_bench(self.clean, n_photos=1)
        make_edits(self.edits, n_photos=1)
        write(self.root / "ratings.csv", RATINGS_HEADER + "1-local,identity,following,alice,3\n")
        return self

    def cases(self) -> dict[str, Callable[[], Case]]:
        """Every case of the corpus by name (built when called)."""
        out: dict[str, Callable[[], Case]] = {}
        for tag, (_, _, says) in DATA_SPOILS.items():
            for verb in DATA_VERBS:
                out[f"{verb}:{tag}"] = partial(self._data_case, f"{verb}:{tag}", verb, tag, says=says)
        # An edit's source photo that cannot be read is recorded per sample: those verbs go on (exit 1).
        for verb, code in (("verify", 2), ("run", 1), ("metrics", 1)):
            out[f"{verb}:image-bomb"] = partial(self._data_case, f"{verb}:image-bomb", verb, "image-bomb",
                                                code=code, says=("1.jpeg", "decompression bomb"))
        out["run:image-symlink-out --follow-symlinks"] = partial(
            self._data_case, "run:follow", "run", "image-symlink-out", code=0, says=(),
            extra=("--follow-symlinks",))
        out["data fetch:--from with a pipe"] = self._fetch_case
        for tag, (_, _, _, says, verbs) in IMAGES_SPOILS.items():
            for verb in verbs:
                out[f"{verb}:{tag}"] = partial(self._images_case, f"{verb}:{tag}", verb, tag, says)
        for name in FILE_SPOILS:
            out[name] = partial(self._file_case, name)
        for name in SETTINGS:
            out[name] = partial(self._settings_case, name)
        out["run:--out is a file"] = self._out_is_a_file
        return out

    def folder(self, name: str) -> Path:
        """A fresh folder for one case."""
        path = self.root / "cases" / name.replace(":", "-").replace(" ", "_")
        path.mkdir(parents=True)
        return path

    # -- the kinds of case ----------------------------------------------------------------------------------
    def _data_case(self, name: str, verb: str, tag: str, *, says: tuple[str, ...] | None = None,
                   code: int = 2, extra: tuple[str, ...] = ()) -> Case:
        case = self.folder(name)
        data = case / "data"
        shutil.copytree(self.clean, data)
        if tag == "image-bomb":
            bomb_at(data)
        else:
            file, spoil, spoil_says = DATA_SPOILS[tag]
            spoil(data / file, self.outside)
            says = (Path(file).name, *spoil_says) if says is None else says
        return Case(name, [*self._data_args(verb, data, case / "out"), *extra], code=code, says=says or (),
                    may_read_outside=bool(extra))

    def _data_args(self, verb: str, data: Path, out: Path) -> list[str]:
        return {
            "verify": ["data", "verify", "--no-hash", "--data-dir", str(data)],
            "run": ["run", "--model", "identity", "--data-dir", str(data), "--out", str(out)],
            "judge": ["judge", "--dry-run", "--images", str(self.edits), "--data-dir", str(data)],
            "metrics": ["metrics", "--images", str(self.edits), "--data-dir", str(data), "--metric", "l1",
                        "--device", "cpu", "--out", str(out)],
        }[verb]

    def _fetch_case(self) -> Case:
        case = self.folder("fetch")
        source = case / "copy"
        shutil.copytree(self.clean, source)
        fifo(source / "eval_instruct.json")
        return Case("fetch", ["data", "fetch", "--from", str(source)],
                    env={"REALEDIT_DATA_DIR": str(case / "d")}, says=("eval_instruct.json", "named pipe"))

    def _images_case(self, name: str, verb: str, tag: str, says: tuple[str, ...]) -> Case:
        kind, file, spoil, _, _ = IMAGES_SPOILS[tag]
        case = self.folder(name)
        if kind == "edits":
            images = case / "edits"
            shutil.copytree(self.edits, images)
        else:
            images = make_run_dir(case / "runs" / "r", self.clean)
            (images / "judgments").mkdir()
        spoil(images / file, self.outside)
        name_of = Path(file).name if file != "." else ""
        return Case(name, self._images_args(verb, images, case / "out"), says=(name_of, *says))

    def _images_args(self, verb: str, images: Path, out: Path) -> list[str]:
        return {
            # A server on this machine needs no key; the command must stop before calling it.
            "judge": ["judge", "--images", str(images), "--data-dir", str(self.clean), "--judge",
                      "openai-api/http://127.0.0.1:9/v1/m"],
            "metrics": ["metrics", "--images", str(images), "--data-dir", str(self.clean), "--metric", "l1",
                        "--device", "cpu"],
            "agree-template": ["agree", "--template", str(images), "--data-dir", str(self.clean)],
            "report": ["report", "--runs", str(images.parent), "--out", str(out)],
        }[verb]

    def _file_case(self, name: str) -> Case:
        kind, option, file_name, spoil, says = FILE_SPOILS[name]
        path = self.folder(name) / file_name
        spoil(path, self.outside)
        ratings = str(self.root / "ratings.csv")
        args = {
            "agree": ["agree", option, str(path),
                      *(["--human", ratings] if option == "--judgments" else ["--judge-ratings", ratings])],
            "check": ["judge", "--check", option, str(path)],
            "dry-run": ["judge", "--dry-run", "--images", str(self.edits), "--data-dir", str(self.clean),
                        option, str(path)],
        }[kind]
        return Case(name, args, env={"OPENAI_API_KEY": KEY}, says=(file_name, *says))

    def _settings_case(self, name: str) -> Case:
        args, env, says = SETTINGS[name]
        if args[0] == "run":
            args = ["run", "--model", "identity", "--limit", "1", "--data-dir", str(self.clean), *args[1:]]
        return Case(name, args, env=env, says=says)

    def _out_is_a_file(self) -> Case:
        runs = self.folder("out-file") / "runs"
        write(runs, "a file where the runs folder goes")
        return Case("out-file", ["run", "--model", "identity", "--limit", "1", "--data-dir", str(self.clean),
                                 "--out", str(runs)], says=("runs", "is a file"))


def run_case(case: Case, workdir: Path) -> Result:
    """Run ``case`` in a subprocess (audited, under :data:`TIMEOUT`) from ``workdir``."""
    log = workdir / "opened.log"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "ANTHROPIC_", "AZURE_", "REALEDIT_"))}
    env.update({"HF_HUB_OFFLINE": "1", "REALEDIT_CACHE": str(workdir / "cache"), "COLUMNS": "200",
                "REALEDIT_AUDIT_LOG": str(log), **case.env})
    try:
        proc = subprocess.run([sys.executable, "-c", AUDITED_MAIN, *case.args], capture_output=True,
                              text=True, env=env, cwd=workdir, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        return Result(None, _text(exc.stdout), _text(exc.stderr), _opened(log), hung=True)
    return Result(proc.returncode, proc.stdout, proc.stderr, _opened(log), hung=False)


def _text(data: bytes | str | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else data or ""


def _opened(log: Path) -> list[str]:
    return log.read_text(encoding="utf-8").splitlines() if log.is_file() else []


def read_outside(result: Result, outside: Path) -> list[str]:
    """The opened paths whose real location is under ``outside``."""
    root = os.path.realpath(outside)
    return [p for p in result.opened if os.path.realpath(p).startswith(root + os.sep)]
