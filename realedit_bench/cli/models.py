"""``realedit models``: the editing models realedit knows."""

from __future__ import annotations

import typer


def models_cmd(
    params: str | None = typer.Option(None, "--params", help="Show the settings (-M keys) of one model."),
) -> None:
    """List editing models: name, family, default weights, steps, guidance, resolution, licence."""
    import inspect
    import sys

    from rich.console import Console
    from rich.table import Table

    from realedit_bench.editing import class_default, describe, settings
    from realedit_bench.registry import ADAPTERS

    # Off a terminal rich assumes 80 columns; the table needs more to stay readable in logs.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    if params:
        cls = ADAPTERS.get(params)
        table = Table(title=f"settings of {params} (-M key=value)")
        table.add_column("key")
        table.add_column("default")
        for s in settings(cls):
            # None: resolved from the class's documented default, when it has one
            default = s.default if s.default is not None else class_default(cls, s.name)
            table.add_row(s.name, "required" if default is inspect.Parameter.empty else repr(default))
        console.print(table)
        return
    table = Table(title="editing models")
    for col in ("name", "family", "weights", "steps", "text guid.", "image guid.", "resolution", "licence"):
        table.add_column(col)
    for name in ADAPTERS.names():
        try:
            row = describe(ADAPTERS.get(name))
        except ImportError as exc:  # an adapter whose optional dependency is missing still shows up
            table.add_row(name, f"(unavailable: {exc})", *[""] * 6)
            continue
        table.add_row(
            name, row["family"], str(row["weights"]),
            *(str(row[k]) if row[k] is not None else "-" for k in ("steps", "text_guidance", "image_guidance", "resolution")),
            row["license"],
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``realedit models``."""
    app.command("models")(models_cmd)
