"""``emblab search DIR --codes codes.npz --queries Q.npy -k 10``: top-k over an encoded collection."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    from ._common import OVERWRITE_HELP

    @app.command("search")
    def search_cmd(
        model_dir: str = typer.Argument(..., help="Artifact directory of the model that made the codes."),
        codes: str = typer.Option(..., "--codes", "-c",
                                  help="Codes file or chunked-encoding folder written by `emblab encode`."),
        queries: str = typer.Option(..., "--queries", "-q", help="Float query vectors: .npy or .parquet."),
        k: int = typer.Option(10, "-k", "--k", min=1, help="Results per query."),
        mode: str = typer.Option("asymmetric", "--mode", "-m", help="asymmetric, symmetric or a native mode."),
        out: Optional[str] = typer.Option(None, "--out", "-o", help="Write results: .npz (D, I) or .json."),
        show: int = typer.Option(3, "--show", min=0, help="Queries to print."),
        overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    ) -> None:
        """Search the encoded collection with float queries; print and optionally save (D, I)."""
        import numpy as np

        from ..._errors import DataError
        from ...io import atomic_save_npz, atomic_write_json, guard_output
        from ...pipeline import load_model
        from ...scale.chunked import read_codes
        from ...search import search
        from ._common import console, load_matrix

        if out is not None:
            if not out.endswith((".npz", ".json")):
                raise DataError(f"--out {out}: use a .npz or .json file name.")
            guard_output(out, "search", inputs=[model_dir, codes, queries], overwrite=overwrite)
        model = load_model(model_dir)
        cb = read_codes(codes)
        ids, xq = load_matrix(queries, dim=model.n_features_in_)
        D, I = search(model, xq, cb, k=k, mode=mode)
        if out is not None:
            if out.endswith(".npz"):
                atomic_save_npz(out, {"D": D, "I": I}, kind="search")
            else:
                atomic_write_json(out, kind="search", obj={"model": model.to_spec(full=True), "mode": mode, "k": int(I.shape[1]),
                                        "query_ids": [x.item() if hasattr(x, "item") else x for x in ids],
                                        "indices": I.tolist(), "scores": np.round(D.astype(float), 6).tolist()})
        from rich.table import Table

        t = Table(title=f"top-{I.shape[1]} of {len(cb)} items, {mode} ({model.to_spec(full=True)})")
        t.add_column("query")
        t.add_column("items (score)")
        for q in range(min(show, len(I))):
            t.add_row(str(ids[q]), ", ".join(f"{i} ({d:.3f})" for i, d in zip(I[q][:5], D[q][:5]))
                      + (" ..." if I.shape[1] > 5 else ""))
        c = console()
        if show:
            c.print(t)
        c.print(f"{len(I)} queries searched" + (f" -> {out}" if out else ""))
