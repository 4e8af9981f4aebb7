"""``realedit data fetch|verify|info``: get and check benchmark data."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import typer

from realedit_bench.cli._common import DATA_DIR_HELP

data_app = typer.Typer(help="Get, verify and describe benchmark data.", no_args_is_help=True)

SOURCES = ("github", "hf")
STOPPED = "stopped by Ctrl-C; rerun the same command to resume"


@data_app.command("fetch")
def fetch_cmd(
    benchmark: str = typer.Argument("real-edit", help="real-edit (default) or magicbrush."),
    dest: Path | None = typer.Option(None, "--dest", help="Where to put the data. " + DATA_DIR_HELP, show_default=False),
    from_dir: Path | None = typer.Option(
        None, "--from", help="Import from a local copy instead of downloading. Real-Edit: a folder holding the "
        "instruction JSON and its image folder. MagicBrush: the password-protected test zip, or (faster: no "
        "decryption in Python) the folder made by 'unzip -P MagicBrush test.zip'.", show_default=False,
    ),
    source: str = typer.Option(
        "github", "--source", help="github: the public copy in bytedance/SuperEdit at a pinned commit; "
        "hf: the gated Hugging Face dataset Gstar666/RewardEdit (needs HF_TOKEN). Ignored with --from and for "
        "MagicBrush."
    ),
    repair: bool = typer.Option(
        False, "--repair", help="Replace files in the destination that differ from the release (without it they "
        "are refused); each replaced file is kept as <name>.orig."
    ),
) -> None:
    """Download (or import) benchmark data and verify every file's sha256.

    Resumable: files already present and correct are kept; a partial download continues where it stopped.
    Files you changed are never replaced without --repair. Exit code 130 on Ctrl-C (rerun to resume).
    """
    from rich.console import Console

    from realedit_bench.cli._common import check_out_dir
    from realedit_bench.errors import ConfigError
    from realedit_bench.registry import BENCHMARKS
    from realedit_bench.settings import resolve_data_dir

    console = Console(stderr=True)
    if source not in SOURCES:  # checked even where it is ignored: a typo should not pass silently
        raise ConfigError(f"--source must be {' or '.join(SOURCES)}, got {source!r}")
    bench = BENCHMARKS.get(benchmark)()
    if benchmark != "real-edit" and not hasattr(bench, "fetch"):
        raise ConfigError(f"benchmark {benchmark!r} cannot be fetched by realedit")
    target = resolve_data_dir(dest, benchmark)
    if benchmark == "real-edit":
        from realedit_bench.datasets import fetch

        if from_dir is None and source == "github":
            fetch.url_template()  # a bad mirror URL fails before anything is created
        if (target / "test" / "samples.jsonl").is_file():
            raise ConfigError(f"{target} holds MagicBrush data (test/samples.jsonl); give Real-Edit its own --dest")
    check_out_dir(target, "--dest")
    kept: list[Path] = []
    try:
        if benchmark == "real-edit":
            line = _fetch_real_edit(console, target, from_dir, source, repair, kept)
        else:
            line = _fetch_other(console, bench, benchmark, target, from_dir, repair, kept)
    except KeyboardInterrupt:
        console.print(STOPPED, markup=False, soft_wrap=True)
        raise typer.Exit(130) from None
    if kept:
        shown = ", ".join(str(p) for p in kept[:3]) + (f" and {len(kept) - 3} more" if len(kept) > 3 else "")
        console.print(f"--repair: kept the {len(kept)} replaced file(s) as {shown}", markup=False, soft_wrap=True)
    console.print(line, markup=False, soft_wrap=True)


def _fetch_real_edit(console, target: Path, from_dir: Path | None, source: str, repair: bool, kept: list[Path]) -> str:
    from rich.progress import Progress

    from realedit_bench.datasets import fetch

    if from_dir is None and source == "hf":
        n = fetch.fetch_from_hub(target, os.environ.get("HF_TOKEN"), repair=repair, kept=kept)
    else:
        with Progress(console=console) as progress:
            # Files found already done count too, so a resumed fetch starts where it stopped.
            task = progress.add_task("Real-Edit", total=len(fetch.read_manifest()))

            def tick(_path: str) -> None:
                progress.advance(task)

            if from_dir is not None:
                n = fetch.import_real_edit(from_dir, target, repair=repair, progress=tick, kept=kept)
            else:
                n = fetch.fetch_real_edit(target, progress=tick, repair=repair, kept=kept)
    report = fetch.verify_real_edit(target, decode=False)
    return f"Real-Edit ready in {target}: {n} files written, {report.files_checked} verified by sha256"


def _fetch_other(console, bench, benchmark: str, target: Path, from_dir: Path | None, repair: bool, kept: list[Path]) -> str:
    from rich.progress import Progress

    accepted = inspect.signature(bench.fetch).parameters
    with Progress(console=console) as progress:
        task = progress.add_task(benchmark, total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        extra = {"repair": repair, "progress": tick, "kept": kept}
        loaded = bench.fetch(target, from_dir=from_dir, **{k: v for k, v in extra.items() if k in accepted})
    samples = loaded.samples
    if samples and "caption" in samples[0].extra:
        # Captions feed CLIP-T (local) and directional CLIP (global); a sample without one is skipped there.
        n = len(samples)
        no_local = sum(1 for s in samples if not s.extra.get("caption"))
        no_global = sum(1 for s in samples if not (s.extra.get("input_caption") and s.extra.get("output_caption")))
        if no_local:
            console.print(f"warning: {no_local} of {n} samples have no local caption: CLIP-T will skip them",
                          markup=False, soft_wrap=True)
        if no_global:
            console.print(f"warning: {no_global} of {n} samples have no global captions: directional CLIP will skip them",
                          markup=False, soft_wrap=True)
    return f"{benchmark} ready in {target}: {len(samples)} samples"


@data_app.command("verify")
def verify_cmd(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP, show_default=False),
    benchmark: str = typer.Option("real-edit", "--benchmark", help="real-edit (default) or magicbrush."),
    no_hash: bool = typer.Option(False, "--no-hash", help="Skip the sha256 check (a modified or custom data set)."),
) -> None:
    """Check that the data parses, matches the released hashes and that every image decodes safely.

    MagicBrush (no public hashes: its test split is not redistributed) is checked for a parsable
    samples.jsonl and for every source, target and mask image existing and decoding.
    """
    from rich.console import Console

    from realedit_bench.datasets import fetch
    from realedit_bench.errors import ConfigError
    from realedit_bench.registry import BENCHMARKS
    from realedit_bench.settings import resolve_data_dir

    bench = BENCHMARKS.get(benchmark)()
    target = resolve_data_dir(data_dir, benchmark)
    if benchmark == "real-edit":
        report = fetch.verify_real_edit(target, check_hashes=not no_hash)
        line = (f"ok: {target}: {report.files_checked} files match the sha256 manifest, "
                f"{report.images_decoded} images decode within the pixel cap")
    elif hasattr(bench, "verify"):
        images = bench.verify(target)
        line = f"ok: {target}: {benchmark} samples parse and all {images} images decode within the pixel cap"
    else:
        raise ConfigError(f"benchmark {benchmark!r} has no verify step")
    Console().print(line, markup=False, soft_wrap=True)


@data_app.command("info")
def info_cmd(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP, show_default=False),
    benchmark: str = typer.Option("real-edit", "--benchmark", help="Benchmark name."),
) -> None:
    """Describe the data: where it is, how many samples per category, its content hash."""
    from collections import Counter

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from realedit_bench.inputs import load_benchmark
    from realedit_bench.registry import BENCHMARKS

    bench = load_benchmark(benchmark, data_dir)
    unit = getattr(BENCHMARKS.get(benchmark), "image_unit", "photos")  # MagicBrush counts sessions
    console = Console()
    counts = Counter(s.category for s in bench.samples)
    table = Table(title=escape(f"{bench.name} in {bench.data_dir}"))
    table.add_column("category")
    table.add_column("samples", justify="right")
    for cat, n in counts.items():
        table.add_row(escape(cat), str(n))
    table.add_row("[bold]total", f"[bold]{len(bench.samples)}")
    console.print(table)
    console.print(f"{unit}: {len({s.image_id for s in bench.samples})}  instructions sha256: {bench.content_sha256}",
                  markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``realedit data``."""
    app.add_typer(data_app, name="data")
