"""What a result file records about how it was made: time, versions, git sha, command line, hardware."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: Libraries whose versions every manifest records.
TRACKED_LIBRARIES = (
    "realedit", "torch", "torchvision", "diffusers", "transformers", "accelerate", "open_clip_torch",
    "openai", "anthropic", "pillow", "numpy", "pydantic",
)


def utc_now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def library_versions(names: tuple[str, ...] = TRACKED_LIBRARIES) -> dict[str, str]:
    """Installed versions of ``names`` (absent ones are left out)."""
    out: dict[str, str] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def git_sha() -> str | None:
    """Commit of the realedit source tree when running from a git checkout, else None."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5,
    ).stdout.strip()
    return f"{sha}-dirty" if dirty else sha


def command_line() -> list[str]:
    """The command as typed: ``realedit`` plus its arguments (never environment variables), URL credentials
    removed (an ``openai-api/`` judge name may hold them)."""
    from realedit_bench.redact import redact_url_secrets

    return ["realedit", *(redact_url_secrets(a) for a in sys.argv[1:])]
