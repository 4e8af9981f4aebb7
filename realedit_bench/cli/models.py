"""``realedit models``: the editing models realedit knows, and the settings of one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from realedit_bench.outcome import ModelList, ModelSettings


def models_cmd(
    params: str | None = typer.Option(
        None, "--params", help="Show the settings (-M keys) of one model: default and meaning."),
) -> None:
    """List editing models: name and family, default weights and licence, steps, guidance, resolution."""
    from rich.console import Console

    from realedit_bench.api import list_models, model_settings

    table = _settings_table(model_settings(params)) if params else _models_table(list_models())
    Console().print(table)


def _models_table(models: ModelList) -> Table:
    """One row per model within 80 columns: the family under the name, the licence under the weights and the
    resolution under the steps."""
    import textwrap

    from rich import box
    from rich.table import Table
    from rich.text import Text

    # Names are never cut or wrapped; weights and licence wrap to what 80 columns leave beside the numbers
    # (a long hub id folds rather than pushing the numbers off the screen).
    name_width = max(len(r["name"]) for r in models.rows)
    width = max(20, min(max(len(r.get("weights", "")) for r in models.rows), 80 - name_width - 24))
    table = Table(title="editing models", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name (family)", no_wrap=True)
    table.add_column("default weights (licence)", no_wrap=True)
    table.add_column("steps\npx", justify="right", no_wrap=True)
    table.add_column("guidance\ntext/img", justify="right", no_wrap=True)
    for row in models.rows:
        if "weights" not in row:  # unavailable: the reason is in the family cell
            table.add_row(Text(row["name"]), Text(textwrap.fill(row["family"], width), style="dim"))
            continue
        table.add_row(
            Text.assemble(row["name"], "\n", (f"({row['family']})", "dim")),
            Text.assemble(textwrap.fill(row["weights"], width, break_on_hyphens=False), "\n",
                          (textwrap.fill(row["licence"], width), "dim")),
            f"{row['steps']}\n{row['resolution']}", f"{row['text guid.']}/{row['image guid.']}",
        )
    return table


def _settings_table(settings: ModelSettings) -> Table:
    """Each setting: its ``-M`` key, its default and what it means."""
    from rich.table import Table
    from rich.text import Text

    # Keys and defaults are never cut or wrapped; the meanings wrap in what is left.
    table = Table(title=Text(f"settings of {settings.name} (-M key=value)"))
    table.add_column("key", no_wrap=True)
    table.add_column("default", no_wrap=True)
    table.add_column("meaning", ratio=1)
    for key, default in settings.rows:
        table.add_row(key, Text(default), Text(settings.help.get(key, "")))
    return table


def register(app: typer.Typer) -> None:
    """Add ``realedit models``."""
    app.command("models")(models_cmd)
