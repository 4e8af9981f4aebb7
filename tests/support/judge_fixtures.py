"""Helpers for the judge tests: a tiny Real-Edit-shaped benchmark, edited-image folders, env for the
fake server (tests/support/judge_server.py), an in-process CLI runner, and readers of what a run wrote."""

from __future__ import annotations

import json
import random
from pathlib import Path

from paths import PAPER_PROMPTS
from PIL import Image

from realedit_bench.jsonio import read_model, read_rows
from realedit_bench.schema.judge import JudgeSummary, JudgmentRow

CATS = ("Local", "Remove", "Add", "Texture", "Background", "Global", "Style")
SECRET = "sk-test-SECRET-7f3a9c1e5b"
ANTHROPIC_SECRET = "sk-ant-test-SECRET-2d8e4f6a"
GEMINI_SECRET = "AIza-test-SECRET-9c4b1e7d"
GPT = "openai/gpt-4o-2024-08-06"
CLAUDE = "anthropic/claude-sonnet-4-6"
GEMINI = "gemini/gemini-2.5-flash"
GOOD = '{"verdict": "yes", "score": 4, "reason": "ok"}'
STEM = "openai_gpt-4o-2024-08-06__realedit-v1"


def _image(path: Path, seed: int, size: tuple[int, int] = (40, 32)) -> None:
    rng = random.Random(seed)
    im = Image.new("RGB", size)
    im.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size[0] * size[1])]
    )
    im.save(path)


def make_bench(root: Path, n_photos: int = 2) -> Path:
    """A Real-Edit-shaped data directory: n photos x 7 instructions."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "imgs").mkdir(exist_ok=True)
    data = {}
    for i in range(1, n_photos + 1):
        _image(root / "imgs" / f"{i}.jpeg", seed=1000 + i)
        data[f"{i}.jpeg"] = [f"{k + 1}. {c}: edit {c.lower()} of photo {i}" for k, c in enumerate(CATS)]
    (root / "eval_instruct.json").write_text(json.dumps(data), encoding="utf-8")
    return root


def make_edits(folder: Path, n_photos: int = 2, cats: tuple[str, ...] = CATS, extra: bool = False) -> Path:
    """A plain folder of edited images named <sample_id>.png."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n_photos + 1):
        for k, c in enumerate(cats):
            _image(folder / f"{i}-{c.lower()}.png", seed=i * 100 + k)
    if extra:
        (folder / "notes.txt").write_text("not an image")
        _image(folder / "99-local.png", seed=5)
    return folder


def judge_env(server, cache_dir: Path) -> dict[str, str]:
    """Environment pointing both SDKs at the fake server, with test keys and a private cache."""
    return {
        "OPENAI_API_KEY": SECRET,
        "OPENAI_BASE_URL": server.openai_base_url,
        "ANTHROPIC_API_KEY": ANTHROPIC_SECRET,
        "ANTHROPIC_BASE_URL": server.anthropic_base_url,
        "GOOGLE_API_KEY": GEMINI_SECRET,
        "GEMINI_API_KEY": "",
        "GOOGLE_GEMINI_BASE_URL": server.base_url,
        "REALEDIT_CACHE": str(cache_dir),
        "AZURE_OPENAI_ENDPOINT": "",
        "AZURE_OPENAI_API_KEY": "",
    }


def set_env(monkeypatch, env: dict[str, str]) -> None:
    """Apply ``env`` with pytest's monkeypatch (empty values unset the variable)."""
    for k, v in env.items():
        if v:
            monkeypatch.setenv(k, v)
        else:
            monkeypatch.delenv(k, raising=False)


def invoke(*args: str):
    """Run ``realedit judge ...`` in-process through the same typer command users get.

    Returns (exit code, stdout+stderr, exception). A RealEditError maps to exit code 2 as the console
    script does.
    """
    import typer
    from typer.testing import CliRunner

    from realedit_bench.cli import judge as judge_cli
    from realedit_bench.errors import RealEditError

    app = typer.Typer()
    judge_cli.register(app)

    @app.callback()
    def _root() -> None:
        """Group so that 'judge' is a subcommand, as in the real app."""

    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    code = result.exit_code
    if isinstance(result.exception, RealEditError):
        code = 2
    elif result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return code, result.output, result.exception


def judge(judge_setup: tuple[Path, Path], *extra: str, judge_name: str = GPT, images: Path | None = None):
    """``realedit judge`` over the ``judge_setup`` fixture's benchmark and edits (or ``images``)."""
    bench, edits = judge_setup
    return invoke(
        "judge", "--images", str(images or edits), "--data-dir", str(bench), "--judge", judge_name, *extra
    )


def rows_of(folder: Path, stem: str = STEM) -> list[JudgmentRow]:
    """The judgment rows a run wrote under ``folder/judgments``."""
    return read_rows(folder / "judgments" / f"{stem}.jsonl", JudgmentRow)


def summary_of(folder: Path, stem: str = STEM) -> JudgeSummary:
    """The summary a run wrote under ``folder/judgments``."""
    return read_model(folder / "judgments" / f"{stem}.summary.json", JudgeSummary)


def make_run_dir(root: Path, bench: Path, n_photos: int = 1) -> Path:
    """A minimal ``realedit run`` output directory (manifest, edits.jsonl, images/) over ``make_bench``."""
    from realedit_bench.jsonio import JsonlAppender, atomic_write_json
    from realedit_bench.schema import AdapterRef, BenchmarkRef, EditRow, RunManifest

    when = "2025-03-01T12:00:00+00:00"
    (root / "images").mkdir(parents=True, exist_ok=True)
    out = JsonlAppender(root / "edits.jsonl")
    n = 0
    for i in range(1, n_photos + 1):
        for k, c in enumerate(CATS):
            sid = f"{i}-{c.lower()}"
            _image(root / "images" / f"{sid}.png", seed=i * 100 + k)
            out.append(
                EditRow(
                    sample_id=sid,
                    image_id=str(i),
                    category=c.lower(),
                    instruction=f"edit {c.lower()}",
                    source=f"{i}.jpeg",
                    status="ok",
                    output=f"images/{sid}.png",
                    seed=n,
                    seconds=0.1,
                    size=(40, 32),
                    finished_at=when,
                )
            )
            n += 1
    out.close()
    atomic_write_json(root / "manifest.json", RunManifest(
        run_id=root.name, label="identity", realedit_version="0.1.0", git_sha="abc123",
        command=["realedit", "run"],
        created_at=when, updated_at=when,
        benchmark=BenchmarkRef(name="real-edit", data_dir=str(bench), instructions_sha256="0" * 64,
                               n_samples_total=7 * n_photos, n_samples_selected=n),
        adapter=AdapterRef(name="identity", family="synthetic", params={}), base_seed=0, device="cpu",
        dtype="float32", status="complete", counts={"ok": n, "error": 0},
    ))
    return root


def paper_rubric_toml() -> str:
    """A rubric file that loads the authors' six released prompt files (as a user would write it)."""
    d = str(PAPER_PROMPTS).replace("\\", "/")
    return f'''
format = 1
name = "paper-gpt4o"
version = "2024-05-13"
image_format = "jpeg"
jpeg_quality = 75
max_tokens = 50
instruction_placeholder = "prompt"
instruction_fence = "none"
text_position = "before_images"
score_key = "score"
reason_key = ""
[perspectives.following]
system_file = "{d}/following.system.txt"
user_file = "{d}/following.user.txt"
images = ["source", "edited"]
verdict_key = "following"
[perspectives.preserving]
system_file = "{d}/keep_detail.system.txt"
user_file = "{d}/keep_detail.user.txt"
images = ["source", "edited"]
verdict_key = "consistent"
[perspectives.quality]
system_file = "{d}/quality.system.txt"
user_file = "{d}/quality.user.txt"
images = ["edited"]
verdict_key = "clear"
'''
