"""``emblab search DIR --codes codes.npz --queries Q.npy -k 10``: top-k over an encoded collection."""

from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("search")
    def search_cmd(
        model_dir: str = typer.Argument(..., help="Artifact directory of the model that made the codes."),
        codes: str = typer.Option(..., "--codes", "-c", help="Codes file written by `emblab encode`."),
        queries: str = typer.Option(..., "--queries", "-q", help="Float query vectors: .npy or .parquet."),
        k: int = typer.Option(10, "-k", "--k", min=1, help="Results per query."),
        mode: str = typer.Option("asymmetric", "--mode", "-m", help="asymmetric, symmetric or a native mode."),
        out: Optional[str] = typer.Option(None, "--out", "-o", help="Write results: .npz (D, I) or .json."),
        show: int = typer.Option(3, "--show", min=0, help="Queries to print."),
    ) -> None:
        """Search the encoded collection with float queries; print and optionally save (D, I)."""
        import numpy as np

        from ..._errors import DataError
        from ...codes import Codes
        from ...io import atomic_save_npz, atomic_write_json
        from ...pipeline import load_model
        from ...search import search
        from ._common import check_writable, console, load_matrix

        if out is not None and not out.endswith((".npz", ".json")):
            raise DataError(f"--out {out}: use a .npz or .json file name.")
        model = load_model(model_dir)
        if out is not None:
            check_writable(out)
        cb = Codes.load(codes)
        ids, xq = load_matrix(queries, dim=model.n_features_in_)
        D, I = search(model, xq, cb, k=k, mode=mode)
        if out is not None:
            if out.endswith(".npz"):
                atomic_save_npz(out, {"D": D, "I": I})
            else:
                atomic_write_json(out, {"model": model.to_spec(), "mode": mode, "k": int(I.shape[1]),
                                        "query_ids": [x.item() if hasattr(x, "item") else x for x in ids],
                                        "indices": I.tolist(), "scores": np.round(D.astype(float), 6).tolist()})
        from rich.table import Table

        t = Table(title=f"top-{I.shape[1]} of {len(cb)} items, {mode} ({model.to_spec()})")
        t.add_column("query")
        t.add_column("items (score)")
        for q in range(min(show, len(I))):
            t.add_row(str(ids[q]), ", ".join(f"{i} ({d:.3f})" for i, d in zip(I[q][:5], D[q][:5]))
                      + (" ..." if I.shape[1] > 5 else ""))
        c = console()
        if show:
            c.print(t)
        c.print(f"{len(I)} queries searched" + (f" -> {out}" if out else ""))
