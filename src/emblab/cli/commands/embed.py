"""``emblab embed INPUT --out OUT``: embed a text file with sentence-transformers (resumable)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    from ._common import OVERWRITE_HELP

    @app.command("embed")
    def embed(
        input: str = typer.Argument(..., help="Texts: .txt (one per line), .jsonl(.gz), .csv, .tsv or .parquet."),
        out: str = typer.Option(..., "--out", "-o", help="Output .npy or .parquet."),
        model: str = typer.Option("all-MiniLM-L6-v2", "--model", "-m",
                                  help="sentence-transformers name or folder (default: packaged MiniLM, offline)."),
        batch_size: int = typer.Option(64, "--batch-size", min=1, help="Texts per forward pass."),
        chunk_size: int = typer.Option(4096, "--chunk-size", min=1, help="Texts per resumable chunk."),
        text_field: str = typer.Option("text", "--text-field", help="Text column/field (jsonl, csv, parquet)."),
        id_field: str = typer.Option("id", "--id-field", help="Id column/field; row numbers when absent."),
        fmt: Optional[str] = typer.Option(None, "--format", help="npy or parquet (default: from --out)."),
        dtype: str = typer.Option("float32", "--dtype", help="Stored dtype: float32 or float16."),
        device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Embed only the first N texts."),
        engine: str = typer.Option("local", "--engine", help="local, or ray (parquet input -> parquet folder)."),
        workers: int = typer.Option(2, "--workers", help="Ray actors (with --engine ray)."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Existing Ray cluster."),
        overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    ) -> None:
        """Embed texts into vectors; an interrupted run resumes from its finished chunks."""
        import time

        from rich.console import Console

        from ..._errors import DataError
        from ...embed import TextEncoder, embed_to_file, read_texts
        from ...io import guard_output
        from ._common import on_interrupt

        if fmt is not None and fmt not in ("npy", "parquet"):
            raise DataError(f"--format must be npy or parquet; got {fmt!r}.")
        if engine not in ("local", "ray"):
            raise DataError(f"--engine must be 'local' or 'ray'; got {engine!r}.")
        inputs = [input] + ([model] if Path(model).exists() else [])
        guard_output(out, "embeddings-dir" if engine == "ray" else "embeddings", inputs=inputs, overwrite=overwrite)
        if engine == "ray":
            from ...scale.ray_engine import embed_with_ray

            if not str(input).endswith(".parquet") and not Path(input).is_dir():
                raise DataError("--engine ray reads a parquet file or folder with id and text columns.")
            embed_with_ray(input, out, model=model, text_column=text_field, id_column=id_field,
                           num_workers=workers, batch_size=batch_size, address=ray_address)
            Console().print(f"embedded {input} on Ray -> [bold]{out}/[/] (parquet: {id_field}, vector)")
            return
        ids, texts = read_texts(input, text_field=text_field, id_field=id_field, limit=limit)
        on_interrupt(f"interrupted; finished chunks are kept in {out}.parts: rerun the same command to resume.")
        console = Console(stderr=True)
        encoder = TextEncoder(model, device=device, batch_size=batch_size)
        console.print(f"{len(texts)} texts from {input}; model {encoder.model_id}")
        t0 = time.perf_counter()
        path = embed_to_file(texts, ids, out, encoder=encoder, chunk_size=chunk_size, fmt=fmt, dtype=dtype)
        dt = time.perf_counter() - t0
        Console().print(f"wrote [bold]{path}[/] ({len(texts)} x {encoder.dim}, {dtype}) in {dt:.1f} s")
