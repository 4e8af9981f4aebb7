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

    console = Console()
    table = _settings_table(model_settings(params), console.width) if params else _models_table(list_models())
    console.print(table)


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


def _settings_table(settings: ModelSettings, width: int) -> Table:
    """Each setting: its ``-M`` key, its default and what it means, within ``width`` columns."""
    from rich.table import Table
    from rich.text import Text

    # Keys are never cut or wrapped; a long default (a hub id) folds at 32 columns, never cut; the meanings
    # wrap in what is left. Widths are set here: rich's own split would fold a default to make room.
    key_width = max((len(key) for key, _ in settings.rows), default=3)
    default_width = min(32, max((len(default) for _, default in settings.rows), default=7))
    table = Table(title=Text(f"settings of {settings.name} (-M key=value)"))
    table.add_column("key", no_wrap=True, width=key_width)
    table.add_column("default", width=default_width, overflow="fold")
    table.add_column("meaning", width=max(16, width - key_width - default_width - 10), overflow="fold")
    for key, default in settings.rows:
        table.add_row(key, Text(default), Text(settings.help.get(key, "")))
    return table


def register(app: typer.Typer) -> None:
    """Add ``realedit models``."""
    app.command("models")(models_cmd)
