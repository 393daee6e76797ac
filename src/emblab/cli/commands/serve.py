"""``emblab serve``: serve sparse (``sae``) codes from Qdrant.

``emblab serve qdrant MODEL_DIR --codes codes.npz --collection NAME [--location DIR|:memory:] [--url URL]``
    (re)creates the collection and uploads every code as a Qdrant sparse vector.
``emblab serve query MODEL_DIR --queries Q.npy --collection NAME [--location DIR] [--url URL] [-k 10]
[--compare codes.npz] [--out res.json|res.npz]``
    encodes float queries with the model and returns Qdrant's top-k; ``--compare`` also runs
    emblab's own ``sparse`` search on the same codes and prints the top-k agreement.

Qdrant runs embedded in this process by default (``--location`` folder, as in
:func:`emblab.scale.qdrant_export.connect`); ``--url http://host:6333`` talks to a server.
An embedded ``:memory:`` collection vanishes when the command ends, so ``query`` needs a folder or
a server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

serve_app = typer.Typer(help="Serve sparse codes from a vector database (Qdrant).", no_args_is_help=True)


def _client(location: Optional[str], url: Optional[str], *, need_persistent: bool = False) -> Any:
    from ..._errors import DataError, InvalidParameterError
    from ...scale.qdrant_export import connect

    if location and url:
        raise InvalidParameterError("give either --location (embedded Qdrant) or --url (a server), not both.")
    if url:
        if not url.startswith(("http://", "https://")):
            raise InvalidParameterError(f"--url {url}: expected http://host:port or https://host:port.")
        return connect(url=url)
    location = location or ":memory:"
    if location == ":memory:":
        if need_persistent:
            raise InvalidParameterError("an in-memory Qdrant is empty in a new command; pass the --location "
                                        "folder or --url used by `emblab serve qdrant`.")
        return connect(":memory:")
    p = Path(location)
    if p.exists() and not p.is_dir():
        raise DataError(f"--location {location}: is a file; give a folder for the embedded Qdrant store.")
    if p.is_dir() and any(p.iterdir()) and not (p / "meta.json").is_file():
        raise DataError(f"--location {location}: holds files that are not a Qdrant store; it was left untouched: "
                        "give an empty or new folder.")
    if need_persistent and not p.is_dir():
        raise DataError(f"--location {location}: no Qdrant store there; run `emblab serve qdrant` first.")
    try:
        return connect(str(p))
    except RuntimeError as exc:  # qdrant's local mode locks its folder against a second client
        raise DataError(f"--location {location}: cannot open the Qdrant store ({' '.join(str(exc).split())}).") from exc


def _sparse_model(model_dir: str):
    from ..._errors import InvalidParameterError
    from ...pipeline import load_model

    model = load_model(model_dir)
    if getattr(model, "codes_layout", None) != "sparse":
        raise InvalidParameterError(f"{model_dir}: {model.to_spec()} makes {model.codes_layout} codes; Qdrant "
                                    "serving needs a sparse model such as sae:h=4096,k=32.")
    return model


@serve_app.command("qdrant")
def qdrant_cmd(
    model_dir: str = typer.Argument(..., help="Artifact directory of the sparse model that made the codes."),
    codes: str = typer.Option(..., "--codes", "-c", help="Sparse codes file written by `emblab encode`."),
    collection: str = typer.Option(..., "--collection", help="Qdrant collection to (re)create."),
    location: Optional[str] = typer.Option(None, "--location", help="Embedded store folder or :memory: (default)."),
    url: Optional[str] = typer.Option(None, "--url", help="Qdrant server URL instead of the embedded store."),
    ids: Optional[str] = typer.Option(None, "--ids", help="Optional .npy of integer point ids (default: row numbers)."),
    batch_size: int = typer.Option(1024, "--batch-size", min=1, help="Points per upsert."),
) -> None:
    """Export sparse codes to a Qdrant collection (one sparse vector per item)."""
    import time

    import numpy as np

    from ..._errors import ArtifactError, DataError
    from ...scale.chunked import read_codes
    from ...scale.qdrant_export import export_codes
    from ._common import console

    if not collection.strip():
        raise DataError("--collection must not be empty.")
    model = _sparse_model(model_dir)
    cb = read_codes(codes)
    if cb.layout != "sparse":
        raise DataError(f"{codes}: holds {cb.layout} codes; Qdrant export needs sparse codes (sae).")
    if cb.model_fingerprint and cb.model_fingerprint != model.fingerprint:
        raise ArtifactError(f"{codes}: was made by another model than {model_dir}; encode with this model first.")
    point_ids = None
    if ids is not None:
        from ...io import load_npy

        point_ids = load_npy(ids)
        if point_ids.ndim != 1 or len(point_ids) != len(cb) or not np.issubdtype(point_ids.dtype, np.integer) \
                or (len(point_ids) and point_ids.min() < 0):
            raise DataError(f"--ids {ids}: need {len(cb)} non-negative integers (one per code); "
                            f"got shape {point_ids.shape}, dtype {point_ids.dtype}.")
        if len(np.unique(point_ids)) != len(point_ids):
            raise DataError(f"--ids {ids}: ids must be unique.")
    client = _client(location, url)
    t = time.perf_counter()
    try:
        export_codes(client, collection, cb, ids=point_ids, batch_size=batch_size, model=model)
    finally:
        client.close()
    where = url or location or ":memory:"
    console().print(f"exported {len(cb)} sparse codes to Qdrant collection {collection!r} at {where} "
                    f"in {time.perf_counter() - t:.1f}s" + (" (in-memory: gone when this command ends)"
                                                           if where == ":memory:" else ""))


@serve_app.command("query")
def query_cmd(
    model_dir: str = typer.Argument(..., help="Artifact directory of the sparse model."),
    queries: str = typer.Option(..., "--queries", "-q", help="Float query vectors: .npy or .parquet."),
    collection: str = typer.Option(..., "--collection", help="Qdrant collection written by `emblab serve qdrant`."),
    location: Optional[str] = typer.Option(None, "--location", help="Embedded store folder."),
    url: Optional[str] = typer.Option(None, "--url", help="Qdrant server URL."),
    k: int = typer.Option(10, "-k", "--k", min=1, help="Results per query."),
    compare: Optional[str] = typer.Option(None, "--compare", help="Codes file: also run emblab's sparse search "
                                          "and report top-k agreement."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Write results: .npz (D, I) or .json."),
    show: int = typer.Option(3, "--show", min=0, help="Queries to print."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing emblab search results file at --out."),
) -> None:
    """Query a Qdrant collection of sparse codes with float vectors."""
    import numpy as np

    from ..._errors import ArtifactError, DataError
    from ...io import atomic_save_npz, atomic_write_json, guard_output
    from ...scale.chunked import read_codes
    from ...scale.qdrant_export import search_codes, topk_agreement
    from ...search import search
    from ._common import console, load_matrix

    if out is not None:
        if not out.endswith((".npz", ".json")):
            raise DataError(f"--out {out}: use a .npz or .json file name.")
        guard_output(out, "search", inputs=[model_dir, queries, compare, location], overwrite=overwrite)
    model = _sparse_model(model_dir)
    qids, xq = load_matrix(queries, dim=model.n_features_in_)
    cb = None
    if compare is not None:
        cb = read_codes(compare)
        if cb.model_fingerprint and cb.model_fingerprint != model.fingerprint:
            raise ArtifactError(f"--compare {compare}: was made by another model than {model_dir}.")
    client = _client(location, url, need_persistent=True)
    try:
        if not client.collection_exists(collection):
            raise DataError(f"no Qdrant collection {collection!r} at {url or location}; run `emblab serve qdrant` first.")
        qc = model.encode_query(xq) if hasattr(model, "encode_query") else model.encode(xq)
        D, I = search_codes(client, collection, qc, k=k)
    finally:
        client.close()
    agreement = None
    if cb is not None:
        D_ref, I_ref = search(model, xq, cb, k=k, mode="sparse")
        agreement = topk_agreement(I, I_ref, D_ref)
    if out is not None:
        if out.endswith(".npz"):
            atomic_save_npz(out, {"D": D, "I": I}, kind="search")
        else:
            doc = {"model": model.to_spec(full=True), "collection": collection, "k": int(k),
                   "query_ids": [x.item() if hasattr(x, "item") else x for x in qids],
                   "indices": I.tolist(), "scores": np.round(D.astype(float), 6).tolist()}
            if agreement is not None:
                doc["topk_agreement_with_emblab"] = agreement
            atomic_write_json(out, doc, kind="search")
    from rich.table import Table

    t = Table(title=f"Qdrant top-{k} from {collection!r}")
    t.add_column("query")
    t.add_column("items (score)")
    for q in range(min(show, len(I))):
        t.add_row(str(qids[q]), ", ".join(f"{i} ({d:.3f})" for i, d in zip(I[q][:5], D[q][:5]))
                  + (" ..." if k > 5 else ""))
    c = console()
    if show:
        c.print(t)
    msg = f"{len(I)} queries searched"
    if agreement is not None:
        msg += f"; top-{k} agreement with emblab sparse search: {agreement:.1%}"
    c.print(msg + (f" -> {out}" if out else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(serve_app, name="serve")
