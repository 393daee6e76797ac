"""Serve codes from Qdrant: sparse ``sae`` codes as Qdrant sparse vectors, any method's decoded
vectors as dense ones; query them.

Dense collections (:func:`export_dense`) hold decode(code) with cosine distance, so Qdrant ranks
exactly as emblab's ``asymmetric`` mode, cos(q, decode(x)), the main score of every benchmark.
Qdrant stores them as float32 (4d bytes per item, more than the code): the compact codes stay in
``codes.npz``; Qdrant's own quantisation can shrink its copy.

Qdrant accepts negative sparse values, so signed top-k codes go in as they are. Values are divided
by the code's L2 norm on export (and the query's on search), so Qdrant's dot product equals emblab's
``sparse`` mode score (cosine of codes). Engines that reject negative sparse values (Milvus
SPARSE_FLOAT_VECTOR, Elasticsearch sparse_vector, OpenSearch rank_features) need the ReLU variant
(``sae:activation=relu_topk``) or the signed split into 2h non-negative dimensions.

By default the client runs embedded in this process (``QdrantClient(path=...)`` or ``":memory:"``);
pass ``url="http://host:6333"`` for a server.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from .._deps import require
from .._errors import DataError
from ..codes import Codes

VECTOR_NAME = "sae"
DENSE_NAME = "dense"
ID_FIELD = "id"


def _rows(codes: Codes, model: Any = None, chunk: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(indices, values) of each row with padding slots (value 0) removed, L2-normalised.

    Bit-packed codes are unpacked by ``model`` (the SAE that made them) one chunk at a time.
    """
    if codes.layout != "sparse":
        raise DataError(f"Qdrant export needs sparse codes; got {codes.layout!r} codes.")
    if "packed" in codes.arrays and model is None:
        raise DataError("these sparse codes are bit-packed: pass the model that made them (model=...) "
                        "so their values can be unpacked.")
    for _, part in codes.iter_chunks(chunk):
        if model is not None:
            model.check_codes(part)
            I, V = model.unpack(part)
        else:
            I, V = part.arrays["indices"].astype(np.int64), part.arrays["values"].astype(np.float32)
        for idx, val in zip(I, V):
            keep = val != 0
            idx, val = idx[keep], val[keep].astype(np.float32)
            norm = float(np.linalg.norm(val))
            yield idx, (val / norm if norm > 0 else val)


def connect(location: str = ":memory:", url: str | None = None) -> Any:
    """A Qdrant client: embedded (``location`` a folder or ``":memory:"``) or a server by ``url``.

    Raises
    ------
    DataError
        No Qdrant server answers at ``url`` (checked with one request, so the error is one line
        here rather than an HTTP client's traceback later).
    """
    qc = require("qdrant_client", "Qdrant export")
    if url:
        client = qc.QdrantClient(url=url, timeout=10)
        try:
            client.get_collections()
        except Exception as exc:  # noqa: BLE001 - httpx, grpc and qdrant's own wrappers: all mean "unreachable"
            client.close()
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise DataError(f"cannot reach a Qdrant server at {url} ({reason}); start it or check --url.") from exc
        return client
    if location == ":memory:":
        return qc.QdrantClient(location=":memory:")
    return qc.QdrantClient(path=location)


def export_codes(client: Any, collection: str, codes: Codes, *, ids: np.ndarray | None = None,
                 batch_size: int = 1024, model: Any = None) -> None:
    """(Re)create ``collection`` and upload every code as a sparse vector (point id = row or ``ids``).

    When the codes carry item ids (``codes.ids``), each point's payload holds ``{"id": item id}``.
    ``model``: the SAE that made the codes; required for bit-packed codes (it unpacks them chunk by
    chunk, so the whole catalogue is never unpacked at once).
    """
    models = require("qdrant_client.models", "Qdrant export")
    if client.collection_exists(collection):
        client.delete_collection(collection)
    client.create_collection(collection, vectors_config={},
                             sparse_vectors_config={VECTOR_NAME: models.SparseVectorParams()})
    vectors = ({VECTOR_NAME: models.SparseVector(indices=idx.tolist(), values=val.tolist())}
               for idx, val in _rows(codes, model, chunk=batch_size))
    _upload(client, collection, vectors, codes, ids, batch_size)


def export_dense(client: Any, collection: str, model: Any, codes: Codes, *, batch_size: int = 1024,
                 chunk_rows: int = 16384) -> None:
    """(Re)create ``collection`` with decode(code) of every item as a cosine dense vector.

    Point ids are row numbers; the payload holds ``{"id": item id}`` when the codes carry ids.
    Qdrant's cosine equals emblab's ``asymmetric`` score (see the module docstring).
    """
    models = require("qdrant_client.models", "Qdrant export")
    if client.collection_exists(collection):
        client.delete_collection(collection)
    d = int(model.n_features_in_)
    client.create_collection(collection, vectors_config={
        DENSE_NAME: models.VectorParams(size=d, distance=models.Distance.COSINE)})

    def vectors():
        for _, part in codes.iter_chunks(chunk_rows):   # decode a chunk at a time, never the catalogue
            for row in np.asarray(model.decode(part), dtype=np.float32):
                yield {DENSE_NAME: row.tolist()}

    _upload(client, collection, vectors(), codes, None, batch_size)


def _upload(client: Any, collection: str, vectors: Iterator[dict], codes: Codes, ids: np.ndarray | None,
            batch_size: int) -> None:
    models = require("qdrant_client.models", "Qdrant export")
    points = []
    for row, vec in enumerate(vectors):
        pid = int(ids[row]) if ids is not None else row
        payload = {ID_FIELD: codes.ids[row].item()} if codes.ids is not None else None
        points.append(models.PointStruct(id=pid, vector=vec, payload=payload))
        if len(points) >= batch_size:
            client.upsert(collection, points=points, wait=True)
            points = []
    if points:
        client.upsert(collection, points=points, wait=True)


def search_dense(client: Any, collection: str, xq: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by cosine for float queries (nq, d); returns (D, I) with I the row numbers."""
    D = np.full((len(xq), k), -np.inf, np.float32)
    I = np.full((len(xq), k), -1, np.int64)
    for r, q in enumerate(np.asarray(xq, dtype=np.float32)):
        res = client.query_points(collection, query=q.tolist(), using=DENSE_NAME, limit=k,
                                  with_payload=False).points
        for j, p in enumerate(res):
            D[r, j], I[r, j] = p.score, p.id
    return D, I


def search_codes(client: Any, collection: str, query_codes: Codes, k: int = 10, *,
                 model: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by sparse dot product for each encoded query (``model.encode_query`` codes, or packed
    codes with their ``model``); returns (D, I) like emblab.search."""
    models = require("qdrant_client.models", "Qdrant export")
    D = np.full((len(query_codes), k), -np.inf, np.float32)
    I = np.full((len(query_codes), k), -1, np.int64)
    for r, (idx, val) in enumerate(_rows(query_codes, model)):
        res = client.query_points(collection, query=models.SparseVector(indices=idx.tolist(), values=val.tolist()),
                                  using=VECTOR_NAME, limit=k, with_payload=False).points
        for j, p in enumerate(res):
            D[r, j], I[r, j] = p.score, p.id
    return D, I


def topk_agreement(I_a: np.ndarray, I_b: np.ndarray, D_ref: np.ndarray | None = None, tol: float = 1e-3) -> float:
    """Share of queries whose top-k id *sets* agree (ties at the k-th score are tolerated when
    ``D_ref`` is given: ids beyond the cut with the same score count as equal)."""
    same = 0
    for r in range(len(I_a)):
        a, b = set(I_a[r].tolist()), set(I_b[r].tolist())
        if a == b:
            same += 1
        elif D_ref is not None:
            # differing ids must all sit at the boundary score (equal-score ties broken differently)
            kth = D_ref[r, -1]
            same += int(len(a ^ b) <= 2 * int(np.sum(np.abs(D_ref[r] - kth) <= tol)))
    return same / max(len(I_a), 1)
