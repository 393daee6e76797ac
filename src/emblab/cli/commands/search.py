"""``emblab search DIR --codes codes.npz --queries Q -k 10``: top-k over an encoded collection.

Queries are vectors (``.npy`` / ``.parquet``) or texts (``.txt``, ``.jsonl``, ``.csv``, ``.tsv``;
embedded with ``--encoder``, default all-MiniLM-L6-v2, which must be the model that embedded the
collection). Results name items by their ids when the codes carry them (``emblab export`` and
``emblab encode`` of a parquet file with an id column), otherwise by row number.
"""

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
        queries: str = typer.Option(..., "--queries", "-q",
                                    help="Query vectors (.npy, .parquet) or texts (.txt, .jsonl, .csv, .tsv)."),
        encoder: Optional[str] = typer.Option(None, "--encoder", help="Model for text queries (default all-MiniLM-L6-v2)."),
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
        from ._common import console

        if out is not None:
            if not out.endswith((".npz", ".json")):
                raise DataError(f"--out {out}: use a .npz or .json file name.")
            guard_output(out, "search", inputs=[model_dir, codes, queries], overwrite=overwrite)
        model = load_model(model_dir)
        cb = read_codes(codes)
        ids, xq = read_queries(queries, dim=model.n_features_in_, encoder=encoder)
        D, I = search(model, xq, cb, k=k, mode=mode)
        names = cb.item_ids(I)
        if out is not None:
            if out.endswith(".npz"):
                atomic_save_npz(out, {"D": D, "I": I, **({"ids": names.astype(str)} if cb.ids is not None else {})},
                                kind="search")
            else:
                doc = {"model": model.to_spec(full=True), "mode": mode, "k": int(I.shape[1]),
                       "query_ids": [x.item() if hasattr(x, "item") else x for x in ids],
                       "indices": I.tolist(), "scores": np.round(D.astype(float), 6).tolist()}
                if cb.ids is not None:
                    doc["ids"] = names.tolist()
                atomic_write_json(out, doc, kind="search")
        from rich.table import Table

        t = Table(title=f"top-{I.shape[1]} of {len(cb)} items, {mode} ({model.to_spec(full=True)})")
        t.add_column("query", overflow="fold")
        t.add_column("ids (score)" if cb.ids is not None else "items (score)", overflow="fold")
        for q in range(min(show, len(I))):
            t.add_row(str(ids[q]), ", ".join(f"{i} ({d:.3f})" for i, d in zip(names[q][:5], D[q][:5]))
                      + (" ..." if I.shape[1] > 5 else ""))
        c = console()
        if show:
            c.print(t)
        c.print(f"{len(I)} queries searched" + (f" -> {out}" if out else ""))


def read_queries(path: str, *, dim: int, encoder: str | None):
    """(query ids, float32 (nq, d)): vectors as they are, texts embedded with ``encoder``."""
    from pathlib import Path

    from ...evaluation.tasks.user_data import embed, is_text_file, read_texts
    from ._common import load_matrix

    if is_text_file(Path(path)):
        qids, texts = read_texts(Path(path))
        X, _ = embed(texts, f"queries-{Path(path).name}", encoder)
        from ..._validation import check_array

        return qids, check_array(X, name=path, n_features=dim, who="the model")
    return load_matrix(path, dim=dim)
