"""``realedit data fetch|verify|info``: get and check benchmark data."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from realedit_bench.cli._common import DATA_DIR_HELP

data_app = typer.Typer(help="Get, verify and describe benchmark data.", no_args_is_help=True)


@data_app.command("fetch")
def fetch_cmd(
    benchmark: str = typer.Argument("real-edit", help="real-edit (default) or magicbrush."),
    dest: Path | None = typer.Option(None, "--dest", help="Where to put the data. " + DATA_DIR_HELP, show_default=False),
    from_dir: Path | None = typer.Option(None, "--from", help="Import from a local copy instead of downloading."),
    source: str = typer.Option(
        "github", "--source", help="github: the public copy in bytedance/SuperEdit at a pinned commit; "
        "hf: the gated Hugging Face dataset Gstar666/RewardEdit (needs HF_TOKEN)."
    ),
) -> None:
    """Download (or import) benchmark data and verify every file's sha256.

    Resumable: files already present and correct are kept; a partial download continues where it stopped.
    """
    from rich.console import Console

    from realedit_bench.errors import ConfigError
    from realedit_bench.registries import BENCHMARKS
    from realedit_bench.settings import resolve_data_dir

    console = Console(stderr=True)
    target = resolve_data_dir(dest, benchmark)
    if benchmark != "real-edit":
        bench = BENCHMARKS.get(benchmark)()
        if not hasattr(bench, "fetch"):
            raise ConfigError(f"benchmark {benchmark!r} cannot be fetched by realedit")
        bench.fetch(target, from_dir=from_dir)
        console.print(f"{benchmark} ready in {target}", markup=False)
        return
    from realedit_bench import fetch

    if from_dir is not None:
        n = fetch.import_real_edit(from_dir, target)
    elif source == "hf":
        n = fetch.fetch_from_hub(target, os.environ.get("HF_TOKEN"))
    elif source == "github":
        from rich.progress import Progress

        total = len(fetch.read_manifest())
        with Progress(console=console) as progress:
            task = progress.add_task("Real-Edit", total=total)
            present = total
            n = fetch.fetch_real_edit(target, progress=lambda _p: progress.advance(task))
            progress.update(task, completed=present)
    else:
        raise ConfigError(f"--source must be github or hf, got {source!r}")
    report = fetch.verify_real_edit(target, decode=False)
    console.print(f"Real-Edit ready in {target}: {n} files written, {report.files_checked} verified by sha256", markup=False)


@data_app.command("verify")
def verify_cmd(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP, show_default=False),
    no_hash: bool = typer.Option(False, "--no-hash", help="Skip the sha256 check (a modified or custom data set)."),
) -> None:
    """Check that the data parses, matches the released hashes and that every image decodes safely."""
    from rich.console import Console

    from realedit_bench import fetch
    from realedit_bench.settings import resolve_data_dir

    target = resolve_data_dir(data_dir)
    report = fetch.verify_real_edit(target, check_hashes=not no_hash)
    Console().print(
        f"ok: {target}: {report.files_checked} files match the sha256 manifest, "
        f"{report.images_decoded} images decode within the pixel cap", markup=False
    )


@data_app.command("info")
def info_cmd(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP, show_default=False),
    benchmark: str = typer.Option("real-edit", "--benchmark", help="Benchmark name."),
) -> None:
    """Describe the data: where it is, how many samples per category, its content hash."""
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    from realedit_bench.inputs import load_benchmark

    bench = load_benchmark(benchmark, data_dir)
    console = Console()
    counts = Counter(s.category for s in bench.samples)
    table = Table(title=f"{bench.name} in {bench.data_dir}")
    table.add_column("category")
    table.add_column("samples", justify="right")
    for cat, n in counts.items():
        table.add_row(cat, str(n))
    table.add_row("[bold]total", f"[bold]{len(bench.samples)}")
    console.print(table)
    console.print(f"photos: {len({s.image_id for s in bench.samples})}  instructions sha256: {bench.content_sha256}")


def register(app: typer.Typer) -> None:
    """Add ``realedit data``."""
    app.add_typer(data_app, name="data")
