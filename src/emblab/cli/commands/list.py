"""``emblab list methods|tasks``: what is registered."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("list")
    def list_cmd(what: str = typer.Argument(..., help="methods or tasks")) -> None:
        """List registered compression methods or evaluation tasks."""
        from rich.table import Table

        from ..._errors import InvalidParameterError
        from ._common import console

        if what in ("methods", "method"):
            from ...registry import get_method, list_methods

            t = Table(title="methods (spec name)")
            for col in ("name", "codes", "search modes"):
                t.add_column(col, no_wrap=True)
            t.add_column("description", overflow="ellipsis", no_wrap=True)
            for name in list_methods():
                cls = get_method(name)
                doc = (cls.__doc__ or "").strip().splitlines()
                layout = cls.codes_layout if isinstance(cls.codes_layout, str) else "depends"
                modes = cls.search_modes if isinstance(cls.search_modes, tuple) else ("asymmetric", "symmetric")
                t.add_row(name, layout, ", ".join(modes), doc[0] if doc else "")
        elif what in ("tasks", "task"):
            from ...evaluation.tasks import get_task, list_tasks

            t = Table(title="tasks")
            for col in ("name", "kind", "dataset", "main score"):
                t.add_column(col, no_wrap=True)
            t.add_column("description", overflow="ellipsis", no_wrap=True)
            for name in list_tasks():
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
