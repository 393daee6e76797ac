"""``emblab encode DIR --data X --out codes.npz``: encode vectors with a saved model.

Three paths, one result:

- default: the input is read whole and written as one ``.npz``;
- ``--chunk-rows N`` (or an ``--out`` folder): out-of-core; ``.npy`` is memory-mapped and parquet is
  read by row group, one codes file per chunk plus ``manifest.json``, and a rerun resumes from the
  finished chunks (:mod:`emblab.scale.chunked`);
- ``--engine ray``: Ray Data ``map_batches`` over a parquet dataset with the model shipped to the
  workers (:mod:`emblab.scale.ray_engine`), local cluster or ``--ray-address``.
"""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    from ._common import OVERWRITE_HELP

    @app.command("encode")
    def encode(
        model_dir: str = typer.Argument(..., help="Artifact directory written by `emblab fit`."),
        data: str = typer.Option(..., "--data", "-d", help="Vectors to encode: .npy, .parquet or a parquet folder."),
        out: str = typer.Option(..., "--out", "-o", help="Codes file (.npz), or a folder for chunked/Ray output."),
        chunk_rows: Optional[int] = typer.Option(None, "--chunk-rows", min=1,
                                                 help="Encode out-of-core in chunks of N rows (resumable)."),
        engine: str = typer.Option("local", "--engine", help="local or ray."),
        workers: int = typer.Option(2, "--workers", min=1, help="Ray actors (with --engine ray)."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Existing Ray cluster (default: start a local one)."),
        vector_column: str = typer.Option("vector", "--vector-column", help="Parquet column holding the vectors."),
        id_column: str = typer.Option("id", "--id-column", help="Parquet id column."),
        overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    ) -> None:
        """Encode the vectors in --data into codes (in memory, out-of-core in chunks, or on Ray)."""
        from ..._errors import DataError
        from ...io import atomic_path, guard_output
        from ...pipeline import load_model
        from ._common import RESUME_NOTE, console, load_matrix, on_interrupt

        if engine not in ("local", "ray"):
            raise DataError(f"--engine must be 'local' or 'ray'; got {engine!r}.")
        chunked = engine == "local" and (chunk_rows is not None or not out.endswith(".npz"))
        kind = "codes-parquet" if engine == "ray" else "codes-dir" if chunked else "codes"
        state = guard_output(out, kind, inputs=[model_dir, data], overwrite=overwrite, resume=chunked)
        model = load_model(model_dir)
        if engine == "ray":
            from ...scale.ray_engine import encode_with_ray

            encode_with_ray(model_dir, data, out_dir=out, vector_column=vector_column, id_column=id_column,
                            num_workers=workers, address=ray_address)
            console().print(f"encoded {data} on Ray with [bold]{model.to_spec(full=True)}[/] -> {out}/ (parquet)")
            return
        if chunked:
            from ...scale.chunked import encode_to_dir

            kw = dict(chunk_rows=chunk_rows or 65536, vector_column=vector_column, id_column=id_column)
            if state == "replace":   # a fresh run beside the old one, swapped in when complete
                with atomic_path(out, is_dir=True, kind="codes-dir") as tmp:
                    man = encode_to_dir(model, data, tmp, **kw)
            else:
                on_interrupt(RESUME_NOTE)
                man = encode_to_dir(model, data, out, **kw)
            console().print(f"encoded {man['n_rows']} vectors in {len(man['chunks'])} chunks "
                            f"({man['last_run']['new_chunks']} new) with [bold]{model.to_spec(full=True)}[/]: "
                            f"{man['bytes_per_vector']:g} bytes/vector -> {out}/")
            return
        ids, X = load_matrix(data, dim=model.n_features_in_)
        codes = model.encode(X)
        if not data.lower().endswith(".npy"):  # parquet ids travel with the codes (emblab search prints them)
            codes = codes.with_ids(ids)
        codes.save(out)
        console().print(f"encoded {len(codes)} vectors with [bold]{model.to_spec(full=True)}[/]: "
                        f"{codes.bytes_per_vector:g} bytes/vector ({codes.nbytes} bytes) -> {out}")
