"""``emblab`` entry point: discovers command modules and maps errors to exit codes.

Exit codes (design.md section 10; the README states the contract):

- 0: success.
- 2: user error: any :class:`~emblab.EmblabError` (bad input, unknown spec, corrupt artifact,
  missing data, an output that would replace what the user owns), an input or output file the
  system refuses (``OSError`` naming a file), and every usage error (unknown command or option,
  missing or malformed argument). One ``error:`` line on stderr; a usage error is preceded by the
  usage line.
- 130: interrupted (Ctrl-C / SIGINT). One line saying whether rerunning the command resumes.
- 1: unexpected error (a bug): the traceback.

``--verbose`` prints the traceback for every error. Python warnings print as one
``warning:`` line each.

Typer raises the exceptions of the click it uses: its own vendored copy (``typer._click``, typer
>= 0.22) or the ``click`` package (older typer). :func:`click_exception_types` collects the
classes from both, so the mapping holds whichever typer ``pip`` installs (tested range pinned in
pyproject.toml). With ``standalone_mode=False`` typer turns Ctrl-C into ``Exit(130)`` and
*returns* 130 from ``app()``; :func:`main` honours what ``app()`` returns.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import warnings
from typing import Any, Optional

import typer

app = typer.Typer(
    name="emblab",
    help="Make embeddings smaller, fresher and better understood.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_STATE = {"verbose": False}
INTERRUPTED = 130


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


def error_line(message: str, prefix: str = "[bold red]error:[/]") -> None:
    """Print one ``error:`` line on stderr (whitespace and newlines collapsed)."""
    from rich.console import Console
    from rich.markup import escape

    text = " ".join(str(message).split())
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"{prefix} {escape(text)}", markup=True)


def click_exception_types() -> dict[str, tuple[type, ...]]:
    """The click exception classes typer may raise, from every click it can be using.

    Returns
    -------
    dict with keys ``usage``, ``click``, ``abort``, ``exit``: tuples of classes.
    """
    found: dict[str, list[type]] = {"usage": [], "click": [], "abort": [typer.Abort], "exit": [typer.Exit]}
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        for key, cls_name in (("usage", "UsageError"), ("click", "ClickException"), ("abort", "Abort"),
                              ("exit", "Exit")):
            if isinstance(getattr(mod, cls_name, None), type):
                found[key].append(getattr(mod, cls_name))
    return {k: tuple(dict.fromkeys(v)) for k, v in found.items()}


def _usage_error(exc: Any) -> None:
    """Usage line + one error line (stderr), like click's own but without its help box."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" or not exc.format_message().strip():
        # a group called without its subcommand: click would print the whole help page
        message = _missing_command(ctx)
    else:
        where = ctx.command_path if ctx is not None else "emblab"
        message = f"{exc.format_message().rstrip()} (see `{where} --help`)"
    if ctx is not None:
        sys.stderr.write(ctx.get_usage().strip().splitlines()[0] + "\n")
        sys.stderr.flush()
    error_line(message)


def _missing_command(ctx: Any) -> str:
    group = ctx.command if ctx is not None else typer.main.get_command(app)
    names = sorted(n for n, c in getattr(group, "commands", {}).items() if not getattr(c, "hidden", False))
    where = ctx.command_path if ctx is not None else "emblab"
    if names:
        return f"no command given; choose one of: {', '.join(names)} (see `{where} --help`)."
    return f"missing arguments (see `{where} --help`)."


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Warnings as one line on stderr (``warning: ...``) instead of two with a source line."""
    try:
        error_line(str(message), prefix="[yellow]warning:[/]")
    except Exception:  # noqa: BLE001 - a broken stderr must not turn a warning into a crash
        pass


def interrupt_note() -> str:
    """What the interrupted command left behind (set by commands through ``_common.on_interrupt``)."""
    from .commands._common import interrupt_message

    return interrupt_message()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (and exits with it when ``argv`` is None)."""
    code = run(argv)
    if argv is None:
        sys.exit(code)
    return code


def run(argv: list[str] | None = None) -> int:
    """Run one command line and map every outcome to an exit code (see the module docstring)."""
    from .._errors import EmblabError

    args = list(sys.argv[1:] if argv is None else argv)
    verbose = any(a in ("--verbose", "-v") for a in args[:max(1, _first_command_index(args))])
    _STATE["verbose"] = verbose
    kinds = click_exception_types()
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        first = _first_command_index(args)
        group = typer.main.get_command(app)
        if first < len(args) and first == len(args) - 1:
            sub = getattr(group, "commands", {}).get(args[first])
            group = sub if sub is not None and hasattr(sub, "commands") else None
        if first >= len(args) or group is not None and first == len(args) - 1:
            # `emblab` or `emblab serve` alone: a usage error whatever the click version (8.1 would
            # print the help and exit 0, 8.2 raises NoArgsIsHelpError)
            path = "emblab" + (f" {args[first]}" if first < len(args) else "")
            sys.stderr.write(f"Usage: {path} [OPTIONS] COMMAND [ARGS]...\n")
            names = sorted(n for n, c in group.commands.items() if not getattr(c, "hidden", False))
            error_line(f"no command given; choose one of: {', '.join(names)} (see `{path} --help`).")
            return 2
        rv = app(args=args, standalone_mode=False, prog_name="emblab")
        code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
    except KeyboardInterrupt:
        code = INTERRUPTED
    except kinds["exit"] as exc:
        code = int(getattr(exc, "exit_code", 0) or 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except EmblabError as exc:
        _traceback_if_verbose()
        error_line(str(exc) or type(exc).__name__)
        code = 2
    except kinds["usage"] as exc:
        _traceback_if_verbose()
        _usage_error(exc)
        code = 2
    except kinds["abort"]:
        code = INTERRUPTED
    except kinds["click"] as exc:
        _traceback_if_verbose()
        error_line(exc.format_message())
        code = 2
    except OSError as exc:
        if getattr(exc, "filename", None) is None:
            code = _unexpected()
        else:
            _traceback_if_verbose()
            error_line(f"{exc.filename}: {exc.strerror or exc}; check the path and its permissions.")
            code = 2
    except Exception:  # noqa: BLE001 - a bug: show it
        code = _unexpected()
    finally:
        warnings.showwarning = previous
    if code == INTERRUPTED:
        error_line(interrupt_note())
    _STATE["verbose"] = False
    return code


def _first_command_index(args: list[str]) -> int:
    """Index of the first argument that is not a root option (``--verbose``, ``--data-dir X``)."""
    i = 0
    while i < len(args):
        if args[i] in ("--verbose", "-v"):
            i += 1
        elif args[i] == "--data-dir":
            i += 2
        elif args[i].startswith("--data-dir="):
            i += 1
        else:
            return i
    return i


def _traceback_if_verbose() -> None:
    if _STATE["verbose"]:
        import traceback

        traceback.print_exc()


def _unexpected() -> int:
    import traceback

    traceback.print_exc()
    return 1


if __name__ == "__main__":  # pragma: no cover
    main()
