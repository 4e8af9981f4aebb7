"""Entry point of the ``realedit`` console script.

Each verb lives in its own module exposing ``register(app)``; heavy libraries are imported inside the
command functions so that ``realedit --help`` stays fast. Errors derived from RealEditError print one
line and exit with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import typer
from rich.console import Console
from rich.markup import escape

from realedit_bench import __version__
from realedit_bench.errors import RealEditError
from realedit_bench.outcome import EXIT_INTERNAL, EXIT_INTERRUPTED
from realedit_bench.redact import mask_secrets

err_console = Console(stderr=True, highlight=False)

app = typer.Typer(
    name="realedit",
    help="Evaluate instruction-based image editors on the Real-Edit benchmark: "
    "run an editor, judge its edits with a vision-language model, compute metrics, publish a leaderboard.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: it wraps at any width (rich panels cut option names at 80 columns), and uses a wide
    # terminal's width up to 120 columns (click's default stops at 80).
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)

#: Verb modules, in the order ``--help`` lists them.
VERBS = ("run", "models", "data", "judge", "metrics", "report", "reproduce", "agree", "reward", "weights")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"realedit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Evaluate instruction-based image editors on Real-Edit."""


def check_own_packages() -> None:
    """Refuse to run when another installed package shadows our ``adapters`` or ``leaderboard``."""
    for name in ("adapters", "leaderboard", "reward_model"):
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise RealEditError(
                f"package {name!r} of realedit is not installed; reinstall realedit (pip install -e .)"
            )
        module = importlib.import_module(name)
        if not getattr(module, "REALEDIT_PACKAGE", False):
            raise RealEditError(
                f"the installed package {name!r} at {spec.origin} is not realedit's; another distribution "
                f"shadows it: uninstall it or use a separate virtual environment"
            )


for _verb in VERBS:
    importlib.import_module(f"realedit_bench.cli.{_verb}").register(app)


def run() -> None:
    """Console-script entry: run the app, turning user errors into one line and exit code 2, and a stop
    (Ctrl-C, SIGTERM) into what was kept and how to resume, with exit code 130."""
    from realedit_bench.interrupt import interrupt_of, sigterm_as_interrupt, stopped_lines

    try:
        with sigterm_as_interrupt():
            check_own_packages()
            app()
    except RealEditError as exc:
        # The message holds user text (paths, values): print it literally, never as Rich markup.
        err_console.print(f"[bold red]error:[/] {escape(mask_secrets(str(exc)))}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED:
            _print_stopped(stopped_lines(interrupt_of(exc)))
        raise
    except KeyboardInterrupt as exc:  # before the app ran (typer turns one inside a verb into exit 130)
        _print_stopped(stopped_lines(exc))
        sys.exit(EXIT_INTERRUPTED)
    except Exception:  # a bug (ours or an editor's): the traceback for the report, and its own exit code
        import traceback

        # Not exit code 1 (some samples failed), which scripts treat as "go on".
        traceback.print_exc()
        err_console.print(f"[bold red]internal error[/] (exit code {EXIT_INTERNAL}): please report it with "
                          "the traceback above", soft_wrap=True)
        sys.exit(EXIT_INTERNAL)


def _print_stopped(lines: list[str]) -> None:
    for line in lines:
        err_console.print(line, markup=False, soft_wrap=True)


if __name__ == "__main__":
    run()
