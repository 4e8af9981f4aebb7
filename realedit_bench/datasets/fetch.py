"""Download, import and verify the Real-Edit data against the sha256 manifest in ``data/``.

The public copy lives in the SuperEdit repository at a pinned commit (Apache-2.0); the gated Hugging
Face dataset ``Gstar666/RewardEdit`` (CC BY 4.0) is another source, reached with ``HF_TOKEN``.
Every file is downloaded to ``<name>.part`` (resuming with an HTTP Range request), checked against the
manifest, then renamed: a file under its final name is always whole and verified.

A file already in the destination that differs from the manifest is the user's (an edited instruction
file, a re-saved photo): it is never replaced unless ``repair=True``, and then kept as ``<name>.orig``.
Only one fetch writes a destination at a time (a lock file in it), and a stop event (Ctrl-C) ends the
download threads within a chunk, leaving their ``.part`` files to resume from.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import string
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from realedit_bench.errors import DataError
from realedit_bench.images import check_image_header, load_image, sha256_file
from realedit_bench.userfiles import check_regular

REPO = "bytedance/SuperEdit"
COMMIT = "c2add3e6fcf0baf3b96b02f91a78a9226f7ed4d7"
URL = "https://raw.githubusercontent.com/{repo}/{commit}/eval/{path}"
HF_DATASET = "Gstar666/RewardEdit"
#: A mirror can be named with this environment variable: a URL template holding ``{path}``.
URL_ENV = "REALEDIT_REAL_EDIT_URL"
#: The placeholders a URL template may use.
PLACEHOLDERS = ("path", "repo", "commit")
#: Held (flock) by the process writing a data directory; the empty file itself stays.
LOCK_NAME = ".realedit-fetch.lock"
RETRIES = 5

#: The committed manifest: ``<sha256>  <relative path>`` lines, as ``sha256sum`` writes them.
MANIFEST = Path(__file__).resolve().parents[1] / "data" / "real-edit.sha256"


class ManifestEntry(NamedTuple):
    """One expected file."""

    path: str
    sha256: str


def read_manifest(path: Path = MANIFEST) -> list[ManifestEntry]:
    """Parse a ``sha256sum``-format manifest."""
    if not path.is_file():
        raise DataError(f"the sha256 manifest {path} is missing from this installation")
    entries = []
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries.append(ManifestEntry(name.lstrip("*").strip(), digest))
    return entries


def redact_url(url: str) -> str:
    """``url`` fit for a message: no ``user:password@`` and every query value masked (tokens live there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(
        key + ("=***" if sep else "")
        for key, sep, _ in (p.partition("=") for p in parts.query.split("&") if p)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_template() -> str:
    """The download URL template (``$REALEDIT_REAL_EDIT_URL`` or the pinned GitHub one), checked now so a
    typo fails in one line before anything is written."""
    template = os.environ.get(URL_ENV) or URL
    shown = redact_url(template)
    allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise DataError(
            f"${URL_ENV} {shown!r} is not a valid template ({exc}); placeholders: {allowed}"
        ) from exc
    unknown = sorted(fields - set(PLACEHOLDERS))
    if unknown:
        names = ", ".join("{" + f + "}" for f in unknown)
        raise DataError(f"${URL_ENV} {shown!r} uses unknown placeholder(s) {names}; allowed: {allowed}")
    if "path" not in fields:
        raise DataError(f"${URL_ENV} must contain '{{path}}', got {shown!r}")
    if urlsplit(template).scheme.lower() not in ("http", "https"):
        raise DataError(f"${URL_ENV} {shown!r} must start with http:// or https://")
    return template


class _Permanent(DataError):
    """A failure that retrying cannot fix (401/403/404, a web page instead of the file, a write error)."""


class _Stopped(Exception):
    """The stop event was set (Ctrl-C or another worker failed): end this download, keep its ``.part``."""


def _backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt + 1``: exponential with jitter, capped."""
    return min(30.0, 2.0**attempt) * random.uniform(0.5, 1.0)


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _backup_name(path: Path) -> Path:
    """``<name>.orig`` (or ``.orig.1``, ... when an earlier repair already kept one)."""
    cand = path.with_name(path.name + ".orig")
    k = 1
    while cand.exists():
        cand = path.with_name(f"{path.name}.orig.{k}")
        k += 1
    return cand


def set_aside(path: Path, kept: list[Path] | None) -> None:
    """Rename a file already at ``path`` (one the user changed) to ``<name>.orig`` (``.orig.1``, ...), noting
    the new name in ``kept``; nothing when there is no such file."""
    if path.exists():
        backup = _backup_name(path)
        os.replace(path, backup)
        if kept is not None:
            kept.append(backup)


def _install(part: Path, dest: Path, kept: list[Path] | None) -> None:
    """Rename the verified ``part`` to ``dest``; a file already there (the user's) is kept as ``.orig``."""
    try:
        set_aside(dest, kept)
        os.replace(part, dest)
    except OSError as exc:
        raise _Permanent(f"cannot write {dest}: {_os_reason(exc)}") from exc


def _refuse_web_page(resp, shown: str, dest: Path) -> None:
    """A login, rate-limit or error page instead of the file: retrying would get the same page."""
    ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "text/html":
        raise _Permanent(
            f"{shown} answered a web page (Content-Type: text/html) instead of {dest.name}; "
            "check the mirror URL and that it needs no login"
        )


def _write_body(resp, part: Path, stop: threading.Event) -> None:
    """Write the response body into ``part``: appended after a 206, from the start after a 200 (the server
    ignored the Range header). Stops within a chunk when ``stop`` is set."""
    try:
        with open(part, "ab" if resp.status_code == 206 else "wb") as fh:
            for chunk in resp.iter_bytes(1 << 16):
                if stop.is_set():
                    raise _Stopped
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:  # disk full, read-only, no permission: retrying cannot help
        raise _Permanent(f"cannot write {part}: {_os_reason(exc)}") from exc


def _fetch_part(client, url: str, part: Path, dest: Path, stop: threading.Event) -> None:
    """One try at completing ``part``, resuming from its current size with an HTTP Range request."""
    shown = redact_url(url)
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", url, headers=headers) as resp:
        if resp.status_code in (401, 403, 404):
            raise _Permanent(f"{shown} answered {resp.status_code}")
        if resp.status_code in (200, 206):
            _refuse_web_page(resp, shown, dest)
            _write_body(resp, part, stop)
        elif resp.status_code != 416:  # 416: the .part is already whole
            resp.raise_for_status()


def _network_error(exc: Exception, shown: str, retries: int) -> DataError:
    """The one-line error once every try at ``shown`` failed on the network or an HTTP status."""
    import httpx

    why = (
        f"HTTP {exc.response.status_code}"
        if isinstance(exc, httpx.HTTPStatusError)
        else exc.__class__.__name__
    )
    return DataError(
        f"cannot download {shown} ({why} after {retries} tries); check the network or use --from DIR"
    )


def download_file(
    client,
    url: str,
    dest: Path,
    expected: str,
    stop: threading.Event | None = None,
    retries: int = RETRIES,
    kept: list[Path] | None = None,
) -> None:
    """Fetch ``url`` into ``dest`` via ``dest.part`` with resume and jittered backoff; verify sha256."""
    import httpx

    stop = stop or threading.Event()
    shown = redact_url(url)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries):
        if stop.is_set():
            raise _Stopped
        try:
            _fetch_part(client, url, part, dest, stop)
            if sha256_file(part) != expected:
                part.unlink(missing_ok=True)  # corrupt or wrong: start over
                raise DataError(f"hash mismatch for {dest.name} downloaded from {shown}")
            _install(part, dest, kept)
            return
        except (_Permanent, _Stopped):
            raise
        except (httpx.TransportError, httpx.HTTPStatusError, DataError) as exc:
            if attempt == retries - 1:
                if isinstance(exc, DataError):
                    raise
                raise _network_error(exc, shown, retries) from exc
            if stop.wait(_backoff(attempt)):
                raise _Stopped from None


def _run_all(
    fn: Callable[[ManifestEntry], None], items: list[ManifestEntry], workers: int, stop: threading.Event
) -> None:
    """Run ``fn`` over ``items`` in daemon threads; the first error (or Ctrl-C) sets ``stop`` and is raised.

    Daemon threads rather than a ThreadPoolExecutor: the executor's threads are joined at interpreter exit,
    so one blocked reading a stalled mirror held Ctrl-C up for minutes.
    """
    pending: queue.SimpleQueue[ManifestEntry] = queue.SimpleQueue()
    for item in items:
        pending.put(item)
    errors: list[BaseException] = []

    def work() -> None:
        while not stop.is_set():
            try:
                item = pending.get_nowait()
            except queue.Empty:
                return
            try:
                fn(item)
            except _Stopped:
                return
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                errors.append(exc)
                stop.set()
                return

    threads = [
        threading.Thread(target=work, daemon=True, name=f"realedit-fetch-{i}")
        for i in range(max(1, min(workers, len(items))))
    ]
    for t in threads:
        t.start()
    deadline: float | None = None
    try:
        for t in threads:
            while t.is_alive():
                if stop.is_set() and deadline is None:
                    # Give the others a moment to stop at their next chunk; one stuck reading a stalled
                    # mirror is a daemon thread and is left behind.
                    deadline = time.monotonic() + 1.0
                if deadline is not None and time.monotonic() > deadline:
                    break
                t.join(0.1)  # a timed join lets Ctrl-C through at once
    except KeyboardInterrupt:
        stop.set()
        raise
    if errors:
        raise errors[0]
    if stop.is_set():  # stopped from outside: the work is not done, whatever the threads managed
        raise KeyboardInterrupt


def fetch_lock(dest: Path, *, wait: bool = False) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive lock on ``dest`` while writing it: two fetches into one folder would rename each
    other's ``.part`` files away. With ``wait``, wait for another fetch writing it to end."""
    from realedit_bench.locks import folder_lock

    return folder_lock(dest, LOCK_NAME, "realedit data fetch", wait=wait)


def _prepare(dest: Path) -> None:
    """Create ``dest`` and ``dest/imgs``, saying in one line what is in the way."""
    for folder in (dest, dest / "imgs"):
        if folder.exists() and not folder.is_dir():
            raise DataError(f"{folder} is a file, not a folder; move it away or give another --data-dir")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create {folder}: {_os_reason(exc)}") from exc


def check_modified(
    dest: Path, differ: list[str], repair: bool, against: str = "the released Real-Edit"
) -> None:
    """Refuse to replace the files ``differ`` (changed by the user: they differ from ``against``) unless
    ``repair``; the message names the first five."""
    if not differ or repair:
        return
    shown = ", ".join(differ[:5]) + (f" and {len(differ) - 5} more" if len(differ) > 5 else "")
    raise DataError(
        f"{len(differ)} file(s) in {dest} differ from {against} ({shown}); nothing was replaced: "
        "rerun with --repair to replace them (the old ones are kept as <name>.orig), "
        "or give another --data-dir"
    )


def _plan(
    dest: Path, entries: list[ManifestEntry], progress: Callable[[str], None] | None
) -> tuple[list[ManifestEntry], list[str]]:
    """(files to write, files present but different). Files already right are reported done at once."""
    todo: list[ManifestEntry] = []
    differ: list[str] = []
    for e in entries:
        path = dest / e.path
        if path.is_file():
            if sha256_file(path) == e.sha256:
                if progress:
                    progress(e.path)
                continue
            differ.append(e.path)
        elif path.exists():
            raise DataError(f"{path} is in the way (not a file); move it away")
        todo.append(e)
    return todo, differ


def fetch_real_edit(
    dest: Path,
    progress: Callable[[str], None] | None = None,
    workers: int = 4,
    *,
    repair: bool = False,
    stop: threading.Event | None = None,
    kept: list[Path] | None = None,
    wait_for_lock: bool = False,
) -> int:
    """Download every file of the manifest into ``dest`` (``eval_instruct.json`` + ``imgs/``).

    Files already present with the right hash are skipped, so an interrupted fetch resumes; ``progress``
    is called once per manifest file as it is found done or downloaded. A present file with another hash
    is refused unless ``repair`` (then it is replaced and kept as ``<name>.orig``, appended to ``kept``).
    Setting ``stop`` (or Ctrl-C) ends the download threads at their next chunk, keeps their ``.part`` files
    and raises KeyboardInterrupt. Another fetch writing ``dest`` is an error, or waited for with
    ``wait_for_lock``. Returns the number of files downloaded.
    """
    import httpx

    entries = read_manifest()
    template = url_template()
    _prepare(dest)
    stop = stop or threading.Event()
    with fetch_lock(dest, wait=wait_for_lock):
        todo, differ = _plan(dest, entries, progress)
        check_modified(dest, differ, repair)
        if not todo:
            return 0
        with httpx.Client(timeout=httpx.Timeout(60, connect=20), follow_redirects=True) as client:

            def one(e: ManifestEntry) -> None:
                url = template.format(repo=REPO, commit=COMMIT, path=e.path)
                download_file(client, url, dest / e.path, e.sha256, stop, kept=kept)
                if progress:
                    progress(e.path)

            _run_all(one, todo, workers, stop)
    return len(todo)


def _find(root: Path, names: tuple[str, ...], want_dir: bool) -> Path | None:
    for name in names:
        for hit in sorted(root.rglob(name)):
            if hit.is_dir() == want_dir:
                return hit
    return None


def _copy_verified(src: Path, target: Path, kept: list[Path] | None) -> None:
    """Copy ``src`` to ``target`` as downloads are written: a ``.part`` beside it, fsynced, then renamed."""
    part = target.with_name(target.name + ".part")
    try:
        with open(src, "rb") as fin, open(part, "wb") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
    except OSError as exc:
        part.unlink(
            missing_ok=True
        )  # a local copy is cheap to redo: do not leave a half file taking the space
        raise DataError(f"cannot write {target}: {_os_reason(exc)}") from exc
    _install(part, target, kept)


def import_real_edit(
    source: Path,
    dest: Path,
    *,
    repair: bool = False,
    progress: Callable[[str], None] | None = None,
    kept: list[Path] | None = None,
    wait_for_lock: bool = False,
) -> int:
    """Copy a local copy of Real-Edit (any layout holding the instruction JSON and image folder) into
    ``dest``.

    Each file is checked against the manifest before it is placed under its final name; files in ``dest``
    that differ from the manifest are refused unless ``repair`` (as :func:`fetch_real_edit`).
    """
    from realedit_bench.datasets.real_edit import IMAGE_DIRS, INSTRUCTION_FILES

    source = Path(source)
    if not source.is_dir():
        raise DataError(f"--from {source} is not a directory")
    json_path = _find(source, INSTRUCTION_FILES, want_dir=False)
    img_dir = _find(source, IMAGE_DIRS, want_dir=True)
    if json_path is None or img_dir is None:
        raise DataError(
            f"{source} holds no {' / '.join(INSTRUCTION_FILES)} with an image folder "
            f"({' / '.join(IMAGE_DIRS)})"
        )
    entries = read_manifest()
    for e in entries:  # the whole source is checked before anything is written
        src = json_path if e.path == "eval_instruct.json" else img_dir / Path(e.path).name
        if check_regular(src, what="--from file") is None:  # a named pipe or a folder is named as such
            raise DataError(f"{source} lacks {e.path}")
        if sha256_file(src) != e.sha256:
            raise DataError(f"hash mismatch: {src} is not the released {e.path}")
    _prepare(dest)
    with fetch_lock(dest, wait=wait_for_lock):
        todo, differ = _plan(dest, entries, progress)
        check_modified(dest, differ, repair)
        for e in todo:
            src = json_path if e.path == "eval_instruct.json" else img_dir / Path(e.path).name
            _copy_verified(src, dest / e.path, kept)
            if progress:
                progress(e.path)
    return len(todo)


def fetch_from_hub(
    dest: Path, token: str | None, *, repair: bool = False, kept: list[Path] | None = None,
    wait_for_lock: bool = False,
) -> int:
    """Download the gated Hugging Face dataset (needs ``HF_TOKEN``) and import Real-Edit from it."""
    if not token:
        raise DataError(
            f"the Hugging Face dataset {HF_DATASET} is gated: set HF_TOKEN (after accepting its terms)"
        )
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(
            HF_DATASET,
            repo_type="dataset",
            token=token,
            allow_patterns=["*instruct*.json", "*Real-Edit*", "*real_edit*", "*imgs*"],
        )
    except Exception as exc:  # noqa: BLE001 - any hub failure becomes one line
        raise DataError(f"cannot download {HF_DATASET} ({exc.__class__.__name__}: {str(exc)[:150]})") from exc
    return import_real_edit(Path(local), dest, repair=repair, kept=kept, wait_for_lock=wait_for_lock)


class VerifyReport(NamedTuple):
    """Outcome of ``realedit data verify``."""

    files_checked: int
    images_decoded: int


def check_images(paths: list[Path], decode: bool) -> int:
    """Decode (or only check the header of) every image, all problems in one error; returns how many
    were decoded."""
    decoded = 0
    problems: list[str] = []
    for image in paths:
        try:
            if decode:
                load_image(image)
                decoded += 1
            else:
                check_image_header(image)
        except DataError as exc:  # collect them all: a user should not fix one file per rerun
            problems.append(str(exc))
    if problems:
        shown = "; ".join(problems[:10]) + (f"; ... ({len(problems)} in all)" if len(problems) > 10 else "")
        raise DataError(f"{len(problems)} bad image(s): {shown}")
    return decoded


def verify_real_edit(data_dir: Path, *, check_hashes: bool = True, decode: bool = True,
                     follow_symlinks: bool = False) -> VerifyReport:
    """Check hashes against the manifest and that every image decodes under the pixel cap (and is a file
    inside ``data_dir``, unless ``follow_symlinks``).

    Raises:
        DataError: on the first problem, naming the file.
    """
    from realedit_bench.datasets.base import check_files
    from realedit_bench.datasets.real_edit import RealEditBenchmark, find_layout

    json_path, img_dir = find_layout(data_dir)
    bench = RealEditBenchmark().load(data_dir)
    check_files(bench, follow_symlinks=follow_symlinks)
    checked = 0
    if check_hashes:
        for e in read_manifest():
            path = json_path if e.path == "eval_instruct.json" else img_dir / Path(e.path).name
            if not path.is_file():
                raise DataError(f"{path} is missing (run 'realedit data fetch --data-dir {data_dir}')")
            if sha256_file(path) != e.sha256:
                raise DataError(
                    f"hash mismatch: {path} differs from the released {e.path} ('realedit data verify "
                    "--no-hash' "
                    f"checks a modified copy; 'realedit data fetch --repair --data-dir {data_dir}' restores "
                    "the release)"
                )
            checked += 1
    decoded = check_images(sorted({s.image for s in bench.samples}), decode)
    return VerifyReport(checked, decoded)
