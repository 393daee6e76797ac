"""``emblab`` entry point: discovers command modules and maps errors to exit codes.

Exit codes (design.md section 10): 0 success; 2 user error (any EmblabError, bad arguments,
missing data), one line on stderr; 1 unexpected error with a traceback.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from typing import Optional

import typer

app = typer.Typer(
    name="emblab",
    help="Make embeddings smaller, fresher and better understood.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_STATE = {"verbose": False}


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks for every error."),
    data_dir: Optional[str] = typer.Option(
        None, "--data-dir", help="Root of the datasets (default: $EMBLAB_DATA).", envvar="EMBLAB_DATA"
    ),
) -> None:
    _STATE["verbose"] = verbose
    if data_dir:
        os.environ["EMBLAB_DATA"] = data_dir


def _discover() -> None:
    from . import commands

    for mod in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_discover()


def error_line(message: str) -> None:
    """Print one red ``error:`` line on stderr."""
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {message}", markup=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (also used by tests)."""
    from .._errors import EmblabError

    try:
        app(args=argv, standalone_mode=False)
        return 0
    except EmblabError as exc:
        if _STATE["verbose"]:
            import traceback

            traceback.print_exc()
        error_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        code = 2
    except KeyboardInterrupt:
        error_line("interrupted; finished chunks are kept and the run can be resumed.")
        code = 130
    except SystemExit as exc:  # typer.Exit inside commands
        code = int(exc.code or 0)
    except Exception as exc:  # click usage errors and the unexpected
        import click

        if isinstance(exc, click.exceptions.UsageError):
            error_line(exc.format_message().splitlines()[0])
            code = 2
        elif isinstance(exc, click.exceptions.Abort):
            error_line("aborted.")
            code = 1
        elif isinstance(exc, click.exceptions.Exit):
            code = exc.exit_code
        elif isinstance(exc, click.exceptions.ClickException):
            error_line(exc.format_message())
            code = 2
        else:
            import traceback

            traceback.print_exc()
            code = 1
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":  # pragma: no cover
    main()
