"""``realedit models``: the editing models realedit knows."""

from __future__ import annotations

import typer


def models_cmd(
    params: str | None = typer.Option(None, "--params", help="Show the settings (-M keys) of one model."),
) -> None:
    """List editing models: name, family, default weights, steps, guidance, resolution, licence."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from realedit_bench.api import list_models, model_settings

    # Off a terminal rich assumes 80 columns; the table needs more to stay readable in logs.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    if params:
        settings = model_settings(params)
        table = Table(title=f"settings of {params} (-M key=value)")
        table.add_column("key")
        table.add_column("default")
        for key, default in settings.rows:
            table.add_row(key, default)
    else:
        models = list_models()
        table = Table(title="editing models")
        for col in models.COLUMNS:
            table.add_column(col)
        for row in models.rows:
            table.add_row(*(row.get(col, "") for col in models.COLUMNS))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``realedit models``."""
    app.command("models")(models_cmd)
