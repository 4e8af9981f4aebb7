"""``realedit weights convert``: released weights converted once into the files realedit loads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from realedit_bench.cli._common import finish, print_lines

weights_app = typer.Typer(
    help="Convert released weights once into the compact, pickle-free files realedit loads.",
    no_args_is_help=True,
)

Model = Annotated[str, typer.Argument(help="smartedit (a release folder) or hive (a .ckpt file).")]
Source = Annotated[Path, typer.Argument(
    help="The released weights: a TencentARC/SmartEdit-7B or -13B folder, or a HIVE .ckpt.")]
Dest = Annotated[Path, typer.Argument(
    help="Where the conversion goes: a folder (smartedit), a .safetensors file or a folder (hive).")]
Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")]


@weights_app.command("convert")
def convert_cmd(model: Model, source: Source, dest: Dest, progress: Progress = True) -> None:
    """Convert released weights (a no-op when DEST already holds the conversion of the same files).

    Pass DEST to 'realedit run --model MODEL --weights DEST'. Without this command, 'realedit run' converts
    the released weights into the realedit cache on first use.
    """
    from rich.console import Console

    from realedit_bench.api import convert_weights

    outcome = convert_weights(model, source, dest, progress=progress)
    print_lines(Console(), outcome.describe(), soft_wrap=True)
    finish(outcome)


def register(app: typer.Typer) -> None:
    """Add ``realedit weights``."""
    app.add_typer(weights_app, name="weights")
