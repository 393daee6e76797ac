"""``emblab report RESULTS... --out report/``: a self-contained HTML page from results JSON."""

from __future__ import annotations

from typing import List

import typer


def register(app: typer.Typer) -> None:
    from ._common import OVERWRITE_HELP

    @app.command("report")
    def report(
        results: List[str] = typer.Argument(..., help="Results JSON files or folders of them."),
        out: str = typer.Option("report", "--out", "-o", help="Output folder (index.html + PNGs)."),
        title: str = typer.Option("emblab report", help="Page title."),
        overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    ) -> None:
        """Render results JSON files into one HTML page with figures (never re-runs models)."""
        from rich.console import Console

        from ...io import guard_output
        from ...report.build import build_report

        guard_output(out, "report", inputs=results, overwrite=overwrite)
        path = build_report(results, out, title=title)
        Console().print(f"report written: [bold]{path}[/]")
