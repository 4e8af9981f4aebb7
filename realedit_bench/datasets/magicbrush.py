"""The MagicBrush test set (Zhang et al., NeurIPS 2023 Datasets and Benchmarks), single-turn protocol.

Where the data comes from
-------------------------
The Hugging Face dataset ``osunlp/MagicBrush`` holds only the **train** (8,807 turns) and **dev**
(528 turns) splits. The **test** split (535 sessions, 1,053 turns) is released by the authors only as
a password-protected zip linked from https://github.com/OSU-NLP-Group/MagicBrush (the password is given
there), to keep it out of web-crawled training data; its licence asks that the unzipped files not be
redistributed. So ``realedit data fetch --benchmark magicbrush --from PATH`` imports a copy the user
downloaded: ``PATH`` is the zip itself, the unzipped ``test/`` folder, or a folder holding ``test/``. It never
downloads on its own.

The authors' layout (what is imported)::

    test/edit_sessions.json        {"<img_id>": [{"input", "mask", "output", "instruction"}, ...turns]}
    test/local_descriptions.json   {"<img_id>": {"<img_id>-outputK.png": "local caption"}}
    test/global_descriptions.json  {"<img_id>": {"<img_id>-input.png" | "<img_id>-outputK.png": "caption"}}
    test/images/<img_id>/<img_id>-input.png, <img_id>-outputK.png, <img_id>-maskK.png

Our layout (what ``load`` reads), under the data directory (default ``~/.cache/realedit/data/magicbrush``)::

    test/samples.jsonl             one JSON object per turn (see below), sorted by session and turn
    test/images/<img_id>/...       the authors' image files, byte for byte
    test/PROVENANCE.json           where the import came from and the sha256 of the upstream JSON files

Each line of ``samples.jsonl``: ``sample_id`` (``<img_id>-turn<K>``), ``session`` (``<img_id>``),
``turn`` (K, 1-based), ``instruction``, ``source``, ``target``, ``mask`` (paths relative to ``test/``),
``caption`` (the local description of the target, used by CLIP-T), ``input_caption`` and
``output_caption`` (global descriptions of source and target, used by directional CLIP; null if absent).

Protocol
--------
Single-turn ("all turns", MagicBrush's ``evaluation/README.md``): every turn is edited independently
from the **ground-truth** input of that turn, i.e. turn 1 from ``<id>-input.png`` and turn K > 1 from the
ground-truth ``<id>-output{K-1}.png`` (the ``input`` field of ``edit_sessions.json``), and each edit is
compared with the ground-truth ``<id>-outputK.png``. Metrics use ``reference="target"``; bootstrap
intervals resample sessions (``image_id`` is the session id). The multi-turn (final-turn) setting, which
chains the model's own outputs, is not implemented.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from realedit_bench.datasets.base import Benchmark, LoadedBenchmark, Sample
from realedit_bench.errors import DataError
from realedit_bench.jsonio import atomic_write_bytes, atomic_write_json
from realedit_bench.provenance import utc_now
from realedit_bench.userfiles import check_name, check_regular, decode, loads_json, read_bytes

SPLIT = "test"
SAMPLES_FILE = "samples.jsonl"
UPSTREAM_URL = "https://github.com/OSU-NLP-Group/MagicBrush"
#: The password the authors publish in their README for the test zip (a crawler barrier, not a secret).
ZIP_PASSWORD = b"MagicBrush"
#: Caption files, under the names the authors' files and evaluation README use.
LOCAL_CAPTION_FILES = ("local_descriptions.json", "local_captions.json")
GLOBAL_CAPTION_FILES = ("global_descriptions.json", "global_captions.json", "global_description.json")
_JSONS = ("edit_sessions.json", *LOCAL_CAPTION_FILES, *GLOBAL_CAPTION_FILES)


def _safe_rel(name: str) -> PurePosixPath:
    check_name(str(name), "MagicBrush file name")
    pure = PurePosixPath(str(name).replace("\\", "/"))
    if not str(name) or pure.is_absolute() or ".." in pure.parts:
        raise DataError(f"MagicBrush file name {name!r} escapes its folder")
    return pure


def _captions(data: object, session: str, name: str) -> str | None:
    """Caption of file ``name`` from ``{session: {name: caption}}`` (or a flat ``{name: caption}``)."""
    if not isinstance(data, dict):
        return None
    inner = data.get(session)
    if isinstance(inner, dict) and isinstance(inner.get(name), str):
        return inner[name]
    value = data.get(name)
    return value if isinstance(value, str) else None


class _Source:
    """Read access to the authors' files, from a folder or from the zip."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        self.zip: zipfile.ZipFile | None = None
        if path.is_file():
            try:
                self.zip = zipfile.ZipFile(path)
            except zipfile.BadZipFile as exc:
                raise DataError(
                    f"{path} is not a zip file (give the MagicBrush test zip or its unzipped folder)"
                ) from exc
            self.names = set(self.zip.namelist())
            names = [n for n in self.names if n.endswith("edit_sessions.json")]
            if not names:
                raise DataError(f"{path}: no edit_sessions.json inside (is this the MagicBrush test zip?)")
            self.prefix = min(names, key=len)[: -len("edit_sessions.json")]
            if any(i.flag_bits & 0x1 for i in self.zip.infolist()):
                self.zip.setpassword(ZIP_PASSWORD)
            self.origin = str(path)
            return
        if not path.is_dir():
            raise DataError(
                f"--from {path} does not exist (give the MagicBrush test zip from {UPSTREAM_URL}, or its "
                "unzipped folder)"
            )
        for cand in (path, path / SPLIT):
            if (cand / "edit_sessions.json").is_file():
                self.root = cand
                self.origin = str(cand)
                return
        raise DataError(
            f"{path}: no edit_sessions.json here or in {path / SPLIT} (unzip the MagicBrush test zip there)"
        )

    def read(self, rel: str) -> bytes:
        """Bytes of ``rel`` (relative to the folder holding edit_sessions.json)."""
        rel_p = _safe_rel(rel)
        if self.zip is not None:
            try:
                return self.zip.read(self.prefix + str(rel_p))
            except KeyError as exc:
                raise DataError(f"{self.origin}: {rel} is missing from the zip") from exc
            except (RuntimeError, NotImplementedError) as exc:  # wrong password or AES encryption
                raise DataError(
                    f"{self.origin}: cannot decrypt {rel} ({exc}); unzip it yourself and pass the folder "
                    "with --from"
                ) from exc
        p = self.root / Path(*rel_p.parts)
        if check_regular(p, what="MagicBrush file") is None:
            raise DataError(f"{p} is missing (the MagicBrush test folder is incomplete)")
        return read_bytes(p, what="MagicBrush file")

    def has(self, rel: str) -> bool:
        if self.zip is not None:
            return (self.prefix + rel) in self.names
        return (self.root / rel).is_file()

    def same(self, rel: str, path: Path) -> bool:
        """Whether ``path`` already holds the bytes of ``rel``, without decrypting the zip: the size and
        CRC-32 from the zip directory against the local file (a rerun skipped everything only after
        decrypting everything)."""
        try:
            size = path.stat().st_size
        except OSError:
            return False
        if self.zip is not None:
            try:
                info = self.zip.getinfo(self.prefix + str(_safe_rel(rel)))
            except KeyError:
                return False
            return info.file_size == size and _crc32(path) == info.CRC
        other = self.root / Path(*_safe_rel(rel).parts)
        try:
            return other.stat().st_size == size and other.read_bytes() == path.read_bytes()
        except OSError:
            return False


def _crc32(path: Path) -> int:
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def _write(path: Path, data: bytes, kept: list[Path] | None) -> None:
    """Atomic, fsynced write; a file already there (the user's, see ``repair``) is kept as ``.orig``."""
    from realedit_bench.datasets.fetch import set_aside

    try:
        set_aside(path, kept)
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _json(src: _Source, name: str, raw: dict[str, bytes]) -> Any:
    return loads_json(decode(raw[name], f"{src.origin}: {name}"), f"{src.origin}: {name}")


def _image_rel(session: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise DataError(f"MagicBrush session {session!r}: an image name is missing")
    _safe_rel(name)
    if "/" in name:
        raise DataError(f"MagicBrush session {session!r}: image name {name!r} must be a bare file name")
    return f"images/{session}/{name}"


class _Upstream(NamedTuple):
    """The authors' JSON files: their bytes (each read, i.e. decrypted, once) and what they hold."""

    raw: dict[str, bytes]
    sessions: dict[str, Any]
    #: Parsed JSON of any shape; _captions checks it.
    local: object
    global_: object


def _read_upstream(src: _Source) -> _Upstream:
    """Read and parse the sessions and caption files present in ``src``."""
    raw = {n: src.read(n) for n in _JSONS if src.has(n)}
    sessions = _json(src, "edit_sessions.json", raw)
    local: object = next((_json(src, n, raw) for n in LOCAL_CAPTION_FILES if n in raw), {})
    global_: object = next((_json(src, n, raw) for n in GLOBAL_CAPTION_FILES if n in raw), {})
    if not isinstance(sessions, dict) or not sessions:
        raise DataError(f"{src.origin}: edit_sessions.json must be a non-empty object of session id -> turns")
    return _Upstream(raw, sessions, local, global_)


def _turn_rows(src: _Source, upstream: _Upstream) -> tuple[list[dict[str, Any]], set[str]]:
    """One ``samples.jsonl`` row per turn, and every image file the turns name (relative to ``test/``)."""
    rows: list[dict[str, Any]] = []
    files: set[str] = set()
    for session, turns in upstream.sessions.items():
        session = str(session)
        _safe_rel(session)
        if "/" in session or not isinstance(turns, list) or not turns:
            raise DataError(f"{src.origin}: session {session!r} must map to a non-empty list of turns")
        for k, turn in enumerate(turns, 1):
            if not isinstance(turn, dict) or not str(turn.get("instruction", "")).strip():
                raise DataError(f"{src.origin}: session {session!r} turn {k} has no instruction")
            source = _image_rel(session, turn.get("input"))
            target = _image_rel(session, turn.get("output"))
            mask = _image_rel(session, turn["mask"]) if turn.get("mask") else None
            files.update(x for x in (source, target, mask) if x)
            rows.append(
                {
                    "sample_id": f"{session}-turn{k}",
                    "session": session,
                    "turn": k,
                    "instruction": str(turn["instruction"]).strip(),
                    "source": source,
                    "target": target,
                    "mask": mask,
                    "caption": _captions(upstream.local, session, turn["output"]),
                    "input_caption": _captions(upstream.global_, session, turn["input"]),
                    "output_caption": _captions(upstream.global_, session, turn["output"]),
                }
            )
    return rows, files


def _prepare_dest(dest: Path, out: Path) -> None:
    """Create ``dest/test``, saying in one line what is in the way."""
    for folder in (dest, out):
        if folder.exists() and not folder.is_dir():
            raise DataError(f"{folder} is a file, not a folder; move it away or give another --data-dir")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {out}: {exc.strerror or exc}") from exc


def _plan_import(
    src: _Source, dest: Path, out: Path, files: set[str], derived: dict[str, bytes], repair: bool
) -> list[str]:
    """The image files to write. What is already there and right is skipped (a rerun); what is there and
    different is the user's and is refused unless ``repair``. Both decided before anything is written."""
    from realedit_bench.datasets.fetch import check_modified

    todo: list[str] = []
    differ: list[str] = []
    for rel in sorted(files):
        path = out / rel
        if path.is_file() and src.same(rel, path):
            continue
        if path.exists():
            differ.append(f"{SPLIT}/{rel}")
        todo.append(rel)
    for name, data in derived.items():
        path = out / name
        if path.exists() and not (path.is_file() and path.read_bytes() == data):
            differ.append(f"{SPLIT}/{name}")
    check_modified(dest, differ, repair, against="what this import writes")
    return todo


def _copy_images(
    src: _Source,
    out: Path,
    todo: list[str],
    total: int,
    kept: list[Path] | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Write the ``todo`` image files, reporting (files done, ``total``) to ``progress``."""
    done = total - len(todo)
    if progress:
        progress(done, total)
    for rel in todo:
        _write(out / rel, src.read(rel), kept)
        done += 1
        if progress:
            progress(done, total)


def _write_if_changed(path: Path, data: bytes, kept: list[Path] | None) -> None:
    """:func:`_write` unless ``path`` already holds ``data``."""
    if not (path.is_file() and path.read_bytes() == data):
        _write(path, data, kept)


class MagicBrushBenchmark(Benchmark):
    """MagicBrush test split, single-turn: 1,053 turns of 535 sessions, compared with ground-truth targets."""

    name = "magicbrush"
    reference = "target"
    #: What ``image_id`` counts (``realedit data info``).
    image_unit = "sessions"

    def load(self, data_dir: Path) -> LoadedBenchmark:
        """Read ``test/samples.jsonl`` written by :meth:`fetch` and check that every image file exists."""
        root = Path(data_dir) / SPLIT
        path = root / SAMPLES_FILE
        if not path.is_file():
            raise DataError(
                f"MagicBrush data not found in {data_dir} (no {SPLIT}/{SAMPLES_FILE}); download the test zip "
                "from "
                f"{UPSTREAM_URL} and run 'realedit data fetch --benchmark magicbrush --from <zip or folder>'"
            )
        raw = read_bytes(path, what="MagicBrush samples file")
        samples: list[Sample] = []
        seen: set[str] = set()
        for lineno, line in enumerate(decode(raw, str(path)).splitlines(), 1):
            if not line.strip():
                continue
            d = loads_json(line, f"{path}:{lineno}")
            try:
                sid, session, turn = str(d["sample_id"]), str(d["session"]), int(d["turn"])
                instruction = str(d["instruction"]).strip()
                paths = {k: root / Path(*_safe_rel(d[k]).parts) for k in ("source", "target")}
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{path}:{lineno}: malformed MagicBrush sample ({exc})") from exc
            if sid in seen:
                raise DataError(f"{path}:{lineno}: duplicate sample id {sid!r}")
            if not instruction:
                raise DataError(f"{path}:{lineno}: empty instruction for {sid!r}")
            for p in paths.values():
                if not p.is_file():
                    raise DataError(
                        f"{p} is missing; re-run 'realedit data fetch --benchmark magicbrush --from ...'")
            seen.add(sid)
            extra = {
                "session": session,
                "turn": turn,
                "mask": str(root / d["mask"]) if d.get("mask") else None,
                "caption": d.get("caption"),
                "input_caption": d.get("input_caption"),
                "output_caption": d.get("output_caption"),
            }
            samples.append(
                Sample(sid, session, f"turn{turn}", instruction, paths["source"], paths["target"], extra)
            )
        if not samples:
            raise DataError(f"{path} holds no samples")
        samples.sort(key=_order)
        return LoadedBenchmark(self.name, Path(data_dir), samples, hashlib.sha256(raw).hexdigest())

    def fetch(
        self,
        dest: Path,
        from_dir: Path | None = None,
        *,
        repair: bool = False,
        progress: Callable[[int, int], None] | None = None,
        kept: list[Path] | None = None,
        wait_for_lock: bool = False,
    ) -> LoadedBenchmark:
        """Import the authors' test split into ``dest`` (see the module docstring for both layouts).

        Args:
            dest: The MagicBrush data directory to write (``test/`` is created inside).
            from_dir: The test zip, the unzipped ``test/`` folder, or a folder holding ``test/``.
            repair: Replace files in ``dest`` that differ from what the import would write (kept as
                ``<name>.orig``, appended to ``kept``); without it such files are refused.
            progress: Called with (files done, files in all) as the images are imported.
            kept: Receives the paths of the files ``repair`` set aside.
            wait_for_lock: Wait for another import writing ``dest`` to end (else that is an error).

        Returns:
            The loaded benchmark.

        Raises:
            DataError: ``from_dir`` is missing or malformed (nothing is written before it is validated),
                files in ``dest`` were changed, or a file cannot be written.
        """
        from realedit_bench.datasets.fetch import fetch_lock

        if from_dir is None:
            raise DataError(
                "the MagicBrush test split is not on the Hugging Face hub (osunlp/MagicBrush has train and "
                "dev "
                f"only); download the test zip linked from {UPSTREAM_URL} and run "
                "'realedit data fetch --benchmark magicbrush --from <zip or unzipped folder>'"
            )
        src = _Source(Path(from_dir))
        upstream = _read_upstream(src)
        rows, files = _turn_rows(src, upstream)
        rows.sort(key=lambda r: (_natural(r["session"]), r["turn"]))
        samples_text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode("utf-8")
        dest = Path(dest)
        out = dest / SPLIT
        _prepare_dest(dest, out)
        with fetch_lock(dest, wait=wait_for_lock):
            derived = {f"upstream_{n}": data for n, data in upstream.raw.items()}
            todo = _plan_import(src, dest, out, files, {**derived, SAMPLES_FILE: samples_text}, repair)
            _copy_images(src, out, todo, len(files), kept, progress)
            for name, data in derived.items():
                # Kept verbatim so the import can be re-derived and checked against upstream.
                _write_if_changed(out / name, data, kept)
            provenance = self._provenance(src, upstream, rows)
            try:
                atomic_write_json(out / "PROVENANCE.json", provenance)
            except OSError as exc:
                raise DataError(f"cannot write {out / 'PROVENANCE.json'}: {exc.strerror or exc}") from exc
            # Written last: a half-finished import has no samples.jsonl and is not mistaken for data.
            _write_if_changed(out / SAMPLES_FILE, samples_text, kept)
        return self.load(dest)

    def _provenance(self, src: _Source, upstream: _Upstream, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """The content of ``PROVENANCE.json``: where the import came from and what it holds."""
        return {
            "benchmark": self.name,
            "split": SPLIT,
            "imported_from": src.origin,
            "upstream": UPSTREAM_URL,
            "imported_at": utc_now(),
            "sessions": len(upstream.sessions),
            "turns": len(rows),
            # Turns with each caption: CLIP-T needs "caption", directional CLIP the other two.
            "captions": {
                k: sum(1 for r in rows if r[k]) for k in ("caption", "input_caption", "output_caption")
            },
            "upstream_sha256": {n: hashlib.sha256(data).hexdigest() for n, data in upstream.raw.items()},
            "protocol": (
                "single-turn: each turn edited from its ground-truth input, compared with its ground-truth "
                "output"
            ),
        }

    def verify(self, data_dir: Path, *, decode: bool = True) -> int:
        """Check that ``samples.jsonl`` parses and that every image it names (sources, targets, masks)
        exists and decodes within the pixel cap (only the header when not ``decode``).

        Returns:
            The number of images checked.
        """
        from realedit_bench.datasets.fetch import check_images

        bench = self.load(data_dir)
        paths: set[Path] = set()
        for s in bench.samples:
            paths.update(p for p in (s.image, s.target, s.extra.get("mask")) if p)
        images = sorted(Path(p) for p in paths)
        check_images(images, decode)
        return len(images)


def _natural(text: str) -> tuple:
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def _order(sample: Sample) -> tuple:
    return _natural(sample.image_id), int(sample.extra.get("turn", 0))
