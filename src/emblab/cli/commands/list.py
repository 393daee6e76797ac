"""``emblab list methods|tasks``: what is registered."""

from __future__ import annotations

import typer


def _name_column(table, names: list[str]) -> None:
    """The name column: never wrapped or cut (names are what users type); the others wrap around it."""
    width = max([len("name"), *map(len, names)])
    table.add_column("name", no_wrap=True, min_width=width, overflow="ignore")


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_cmd(what: str = typer.Argument(..., help="methods or tasks")) -> None:
        """List registered compression methods or evaluation tasks."""
        from rich.table import Table

        from ..._errors import InvalidParameterError
        from ._common import console

        if what in ("methods", "method"):
            from ...registry import get_method, list_methods

            names = list_methods()
            t = Table(title="methods (spec name)")
            _name_column(t, names)
            t.add_column("codes", overflow="fold")
            t.add_column("search modes", overflow="fold")
            t.add_column("description", overflow="fold", ratio=1)
            for name in names:
                cls = get_method(name)
                doc = (cls.__doc__ or "").strip().splitlines()
                layout = cls.codes_layout if isinstance(cls.codes_layout, str) else "depends"
                modes = cls.search_modes if isinstance(cls.search_modes, tuple) else ("asymmetric", "symmetric")
                t.add_row(name, layout, ", ".join(modes), doc[0] if doc else "")
        elif what in ("tasks", "task"):
            from ...evaluation.tasks import get_task, list_tasks

            names = list_tasks()
            t = Table(title="tasks")
            _name_column(t, names)
            for col in ("kind", "dataset", "main score"):
                t.add_column(col, overflow="fold")
            t.add_column("description", overflow="fold", ratio=1)
            for name in names:
                m = get_task(name).metadata
                t.add_row(name, m.kind, m.dataset or "(in memory)", m.main_score, m.description)
            from ...evaluation.tasks import list_schemes

            u = Table(title="your own data: task URIs (--task SCHEME:PATH, options with --set key=value)")
            u.add_column("uri", no_wrap=True)
            u.add_column("what", overflow="fold")
            u.add_column("options", overflow="fold")
            for sch in list_schemes():
                u.add_row(f"{sch.name}:PATH", sch.summary, ", ".join(o.name for o in sch.options))
            console().print(t)
            t = u
        else:
            raise InvalidParameterError(f"cannot list {what!r}; choose 'methods' or 'tasks'.")
        console().print(t)
