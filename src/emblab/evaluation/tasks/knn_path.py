"""``knn:PATH``: kNN fidelity on a user's own vectors (the ``knn_fidelity`` protocol on any data).

``PATH`` is a ``.npy`` file, a ``.parquet`` file with a vector column, or a folder of them (files in
sorted name order, concatenated). Without ``queries=`` a seeded random sample of the rows is held
out as queries (``n_queries``, default min(1000, n // 10), at most n // 2; ``seed`` 0) and the
remaining rows are the catalogue; with ``queries=PATH`` the user's own query vectors search the
whole collection. The compressor is fitted on the catalogue, or on ``fit=PATH``.

Ground truth is the exact float32 top-10 by cosine over the uncompressed catalogue; metrics are
the tie-tolerant ``recall@10_asym`` (main score), ``recall@10_sym`` and ``r10@100_asym``
(:mod:`.knn_fidelity`).
"""

from __future__ import annotations

from pathlib import Path

from ..._errors import DataError
from ..._validation import l2_normalize
from .base import TaskMetadata
from .knn_fidelity import KnnFidelityTask
from .uri import TaskOption, register_scheme, task_name

OPTIONS = (
    TaskOption("queries", str, None, "query vectors (.npy/.parquet/folder); default: a held-out sample"),
    TaskOption("n_queries", int, None, "held-out queries when no queries= (default min(1000, n // 10))"),
    TaskOption("seed", int, 0, "seed of the held-out query sample"),
    TaskOption("fit", str, None, "fit set (vectors or a folder of them); default: the catalogue"),
)
DEFAULTS = {o.name: o.default for o in OPTIONS}


def knn_path_task(path: str, *, queries: str | None = None, n_queries: int | None = None, seed: int = 0,
                  fit: str | None = None) -> KnnFidelityTask:
    """The ``knn:PATH`` task (see the module docstring)."""
    if n_queries is not None and n_queries < 1:
        raise DataError(f"knn:{path}: n_queries must be >= 1; got {n_queries}.")
    if queries is not None and n_queries is not None:
        raise DataError(f"knn:{path}: give either queries= or n_queries=, not both.")
    if not Path(path).expanduser().exists():
        raise DataError(f"knn:{path}: not found; give a .npy or .parquet file or a folder of them.")
    opts = {"queries": queries, "n_queries": n_queries, "seed": seed, "fit": fit}
    name = task_name("knn", path, opts, DEFAULTS)

    def load():
        from .user_data import load_fit_source, read_vectors

        _, X, info = read_vectors(Path(path).expanduser())
        info = {"source": str(path), **info}
        if queries is not None:
            _, xq, q_info = read_vectors(Path(queries).expanduser())
            if xq.shape[1] != X.shape[1]:
                raise DataError(f"queries={queries}: vectors have {xq.shape[1]} dimensions but {path} has "
                                f"{X.shape[1]}; embed both with the same model.")
            xb = X
            info["queries"] = q_info
        else:
            from ...data.stdlib_docs import stdlib_query_catalogue_split

            if len(X) < 3:
                raise DataError(f"knn:{path}: {len(X)} vectors; need at least 3 to hold out queries "
                                "(or give queries=PATH).")
            want = n_queries or min(1000, max(1, len(X) // 10))
            cat, qry = stdlib_query_catalogue_split(len(X), n_queries=want, seed=seed)
            xb, xq = X[cat], X[qry]
            info["split"] = f"{len(qry)} held-out query rows (seed {seed}), {len(cat)} catalogue rows"
        X_fit = xb
        if fit is not None:
            X_fit, info["fit"] = load_fit_source(fit, encoder=None, d=X.shape[1])
        return X_fit, xb, xq, info

    def collection():
        from .user_data import read_vectors

        ids, X, _ = read_vectors(Path(path).expanduser())
        return ids, l2_normalize(X)

    meta = TaskMetadata(name=name, kind="knn_fidelity", dataset=str(path), main_score="recall@10_asym",
                        description=f"kNN fidelity on the vectors in {path}",
                        splits={"fit": fit or "catalogue", "catalogue": "rows not held out" if queries is None
                                else "all rows", "queries": queries or "held-out sample"})
    task = KnnFidelityTask(meta, load)
    if queries is None:   # the held-out queries are part of what the user serves
        task.collection_loader = collection
    return task


register_scheme("knn", knn_path_task, options=OPTIONS,
                summary="vectors (.npy, .parquet or a folder): held-out queries, exact float32 top-10, "
                        "Recall@10 (kNN fidelity)")
