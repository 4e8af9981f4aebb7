"""Download, import and verify the Real-Edit data against the sha256 manifest in ``data/``.

The public copy lives in the SuperEdit repository at a pinned commit (Apache-2.0); the gated Hugging
Face dataset ``Gstar666/RewardEdit`` (CC BY 4.0) is another source, reached with ``HF_TOKEN``.
Every file is downloaded to ``<name>.part`` (resuming with an HTTP Range request), checked against the
manifest, then renamed: a file under its final name is always whole and verified.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from realedit_bench.errors import DataError
from realedit_bench.images import check_image_header, load_image, sha256_file

REPO = "bytedance/SuperEdit"
COMMIT = "c2add3e6fcf0baf3b96b02f91a78a9226f7ed4d7"
URL = "https://raw.githubusercontent.com/{repo}/{commit}/eval/{path}"
HF_DATASET = "Gstar666/RewardEdit"
#: A mirror can be named with this environment variable: a URL template holding ``{path}``.
URL_ENV = "REALEDIT_REAL_EDIT_URL"

#: The committed manifest: ``<sha256>  <relative path>`` lines, as ``sha256sum`` writes them.
MANIFEST = Path(__file__).resolve().parent.parent / "data" / "real-edit.sha256"


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


class _Permanent(DataError):
    """A download failure that retrying cannot fix (401/403/404)."""


def _download(client, url: str, dest: Path, expected: str, retries: int = 5) -> None:
    """Fetch ``url`` into ``dest`` via ``dest.part`` with resume and jittered backoff; verify sha256."""
    import httpx

    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries):
        try:
            have = part.stat().st_size if part.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            with client.stream("GET", url, headers=headers) as resp:
                if resp.status_code in (401, 403, 404):
                    raise _Permanent(f"{url} answered {resp.status_code}")
                if resp.status_code in (200, 206):
                    # 200 means the server ignored the Range header: start the file over.
                    with open(part, "ab" if resp.status_code == 206 else "wb") as fh:
                        for chunk in resp.iter_bytes(1 << 16):
                            fh.write(chunk)
                        fh.flush()
                        os.fsync(fh.fileno())
                elif resp.status_code != 416:  # 416: the .part is already whole
                    resp.raise_for_status()
            if sha256_file(part) != expected:
                part.unlink(missing_ok=True)  # corrupt or wrong: start over
                raise DataError(f"hash mismatch for {dest.name} downloaded from {url}")
            os.replace(part, dest)
            return
        except _Permanent:
            raise
        except (httpx.TransportError, httpx.HTTPStatusError, DataError) as exc:
            if attempt == retries - 1:
                if isinstance(exc, DataError):
                    raise
                raise DataError(
                    f"cannot download {url} ({exc.__class__.__name__}); check the network or use --from DIR"
                ) from exc
            time.sleep(min(30.0, 2**attempt) * random.uniform(0.5, 1.0))


def fetch_real_edit(dest: Path, progress: Callable[[str], None] | None = None, workers: int = 4) -> int:
    """Download every file of the manifest into ``dest`` (``eval_instruct.json`` + ``imgs/``).

    Files already present with the right hash are skipped, so an interrupted fetch resumes.
    Returns the number of files downloaded.
    """
    import httpx

    entries = read_manifest()
    template = os.environ.get(URL_ENV) or URL
    if "{path}" not in template:
        raise DataError(f"${URL_ENV} must contain '{{path}}', got {template!r}")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "imgs").mkdir(exist_ok=True)
    todo = [e for e in entries if not ((dest / e.path).is_file() and sha256_file(dest / e.path) == e.sha256)]
    with httpx.Client(timeout=60, follow_redirects=True) as client:

        def one(e: ManifestEntry) -> None:
            _download(client, template.format(repo=REPO, commit=COMMIT, path=e.path), dest / e.path, e.sha256)
            if progress:
                progress(e.path)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(one, todo):
                pass
    return len(todo)


def _find(root: Path, names: tuple[str, ...], want_dir: bool) -> Path | None:
    for name in names:
        for hit in sorted(root.rglob(name)):
            if hit.is_dir() == want_dir:
                return hit
    return None


def import_real_edit(source: Path, dest: Path) -> int:
    """Copy a local copy of Real-Edit (any layout holding the instruction JSON and image folder) into ``dest``.

    Each file is checked against the manifest before it is placed under its final name.
    """
    from realedit_bench.dataset import IMAGE_DIRS, INSTRUCTION_FILES

    source = Path(source)
    if not source.is_dir():
        raise DataError(f"--from {source} is not a directory")
    json_path = _find(source, INSTRUCTION_FILES, want_dir=False)
    img_dir = _find(source, IMAGE_DIRS, want_dir=True)
    if json_path is None or img_dir is None:
        raise DataError(f"{source} holds no {' / '.join(INSTRUCTION_FILES)} with an image folder ({' / '.join(IMAGE_DIRS)})")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "imgs").mkdir(exist_ok=True)
    copied = 0
    for e in read_manifest():
        src = json_path if e.path == "eval_instruct.json" else img_dir / Path(e.path).name
        if not src.is_file():
            raise DataError(f"{source} lacks {e.path}")
        if sha256_file(src) != e.sha256:
            raise DataError(f"hash mismatch: {src} is not the released {e.path}")
        target = dest / e.path
        if target.is_file() and sha256_file(target) == e.sha256:
            continue
        part = target.with_name(target.name + ".part")
        shutil.copyfile(src, part)
        os.replace(part, target)
        copied += 1
    return copied


def fetch_from_hub(dest: Path, token: str | None) -> int:
    """Download the gated Hugging Face dataset (needs ``HF_TOKEN``) and import Real-Edit from it."""
    if not token:
        raise DataError(f"the Hugging Face dataset {HF_DATASET} is gated: set HF_TOKEN (after accepting its terms)")
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(HF_DATASET, repo_type="dataset", token=token,
                                  allow_patterns=["*instruct*.json", "*Real-Edit*", "*real_edit*", "*imgs*"])
    except Exception as exc:  # noqa: BLE001 - any hub failure becomes one line
        raise DataError(f"cannot download {HF_DATASET} ({exc.__class__.__name__}: {str(exc)[:150]})") from exc
    return import_real_edit(Path(local), dest)


class VerifyReport(NamedTuple):
    """Outcome of ``realedit data verify``."""

    files_checked: int
    images_decoded: int


def verify_real_edit(data_dir: Path, *, check_hashes: bool = True, decode: bool = True) -> VerifyReport:
    """Check hashes against the manifest and that every image decodes under the pixel cap.

    Raises:
        DataError: on the first problem, naming the file.
    """
    from realedit_bench.dataset import RealEdit, find_layout

    json_path, img_dir = find_layout(data_dir)
    bench = RealEdit().load(data_dir)
    checked = 0
    if check_hashes:
        for e in read_manifest():
            path = json_path if e.path == "eval_instruct.json" else img_dir / Path(e.path).name
            if not path.is_file():
                raise DataError(f"{path} is missing (run 'realedit data fetch --dest {data_dir}')")
            if sha256_file(path) != e.sha256:
                raise DataError(f"hash mismatch: {path} differs from the released {e.path}")
            checked += 1
    decoded = 0
    problems: list[str] = []
    for image in sorted({s.image for s in bench.samples}):
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
    return VerifyReport(checked, decoded)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()
