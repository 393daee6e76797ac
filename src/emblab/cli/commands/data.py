"""``emblab data list|fetch|check|example-beir``: the datasets emblab knows, downloads, data-root
checks, and an example BEIR folder built offline from the stdlib documentation."""

from __future__ import annotations

from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Datasets: list, download (fetch) and verify (check).", no_args_is_help=True)
    app.add_typer(data_app, name="data")

    @data_app.command("list")
    def list_() -> None:
        """Show downloadable datasets and where each one is found now."""
        from rich.console import Console
        from rich.table import Table

        from ...data.download import DATASETS, cached_dataset_dir
        from ...data.paths import data_root

        root = data_root(required=False)
        table = Table("dataset", "found in", "source", "license")
        for name, src in DATASETS.items():
            if root is not None and (root / name).is_dir():
                where = str(root / name)
            elif cached_dataset_dir(name).is_dir():
                where = str(cached_dataset_dir(name))
            else:
                where = "[dim]not present (emblab data fetch " + name + ")[/]"
            table.add_row(name, where, src.url, src.license)
        Console().print(table)

    @data_app.command("fetch")
    def fetch(
        names: List[str] = typer.Argument(..., help="Dataset names (see `emblab data list`)."),
        force: bool = typer.Option(False, "--force", help="Download again even if present in the cache."),
    ) -> None:
        """Download datasets from their public sources into the cache (checksummed, atomic)."""
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        from ...data.download import fetch as fetch_one

        console = Console()
        for name in names:
            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), console=Console(stderr=True)) as progress:
                task = progress.add_task(f"fetch {name}", total=None)
                path = fetch_one(name, force=force,
                                 progress=lambda done, total: progress.update(task, completed=done, total=total))
            console.print(f"{name}: [bold]{path}[/]")

    @data_app.command("check")
    def check(
        names: Optional[List[str]] = typer.Argument(None, help="Only these folders (default: all known)."),
        strict: bool = typer.Option(False, "--strict", help="Missing folders are errors too."),
    ) -> None:
        """Verify the data root (--data-dir / EMBLAB_DATA): folders, files and row counts."""
        from rich.console import Console
        from rich.table import Table

        from ..._errors import DataError
        from ...data.check import check_data_root

        rows = check_data_root(names=names or None)
        style = {"ok": "green", "missing": "yellow", "bad": "bold red"}
        table = Table("dataset", "status", "detail")
        for r in rows:
            table.add_row(r.name, f"[{style[r.status]}]{r.status}[/]", r.detail)
        Console().print(table)
        bad = [r.name for r in rows if r.status == "bad" or (strict and r.status == "missing")]
        if bad:
            raise DataError(f"data check failed for {', '.join(bad)}; see the table above.")

    @data_app.command("example-beir")
    def example_beir(
        out: str = typer.Argument(..., help="New folder for the BEIR collection."),
        docs: int = typer.Option(3000, "--docs", min=100, help="Stdlib documentation passages in the corpus."),
        vectors: bool = typer.Option(False, "--vectors", help="Also write corpus.npy + queries.npy (all-MiniLM-L6-v2)."),
    ) -> None:
        """Write an example BEIR folder (stdlib docs, graded qrels) to try `emblab bench --task beir:DIR`."""
        from rich.console import Console

        from ...data.stdlib_beir import write_stdlib_beir

        n = write_stdlib_beir(out, max_passages=docs, vectors=vectors)
        Console().print(f"{out}/: {n['docs']} documents, {n['queries']} queries (qrels/test.tsv {n['test']}, "
                        f"qrels/dev.tsv {n['dev']})" + (", corpus.npy + queries.npy" if vectors else ""),
                        markup=False, soft_wrap=True)
