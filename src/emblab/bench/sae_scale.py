"""Search cost of SAE codes over a large synthetic catalogue, beside FAISS (both SAE studies).

A catalogue of ``n`` items is made from a real task catalogue of ``n0`` rows:

- the SAE: the ``n0`` real codes tiled (same latent sets, so posting-list lengths are realistic);
- FAISS ``IndexFlatIP``: the ``n0`` float32 rows tiled with 1% Gaussian noise, re-normalised;
- FAISS ``IndexPQ`` (ADC, inner product): the ``n0`` rows' PQ codes tiled; an ADC scan costs the
  same whatever the code values, so its timings are valid and its recall is not.

Everything runs in one process on one thread; latency is the median over single queries
(:func:`emblab.bench.latency.median_latency`), throughput one batch of queries.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from ..codes import Codes
from .latency import median_latency


def tile_codes(codes: Codes, n: int) -> Codes:
    """``codes`` repeated row-wise up to ``n`` rows (every array, same method and fingerprint)."""
    reps = -(-n // len(codes))
    arrays = {k: np.tile(a, (reps,) + (1,) * (a.ndim - 1))[:n] for k, a in codes.arrays.items()}
    return Codes(arrays, codes.layout, codes.method, codes.model_fingerprint, codes.meta)


def pq_m_within(d: int, budget: float) -> int:
    """Largest PQ sub-quantiser count M that divides ``d`` and takes at most ``budget`` bytes (8-bit codes)."""
    return max(m for m in range(1, d + 1) if d % m == 0 and m <= budget)


def scale_record(model: Any, task: Any, n: int, *, pq_m: Sequence[int | None] = (None,), fit_rows: int = 10_000,
                 latency_queries: int = 20, reconstructed_queries: int = 3, batch_queries: int = 0,
                 seed: int = 0) -> dict[str, Any]:
    """Latency (and optionally throughput) of SAE and FAISS searchers over ``n`` items.

    Parameters
    ----------
    model : fitted SparseAutoencoder
    task : loaded kNN task
        Supplies the catalogue ``xb`` (n0, d), the queries ``xq`` and the fit set (PQ training rows).
    n : int
        Catalogue size.
    pq_m : sequence of int or None
        FAISS IndexPQ sub-quantiser counts; None = the largest M within the SAE's bytes.
    fit_rows : int
        Fit-set rows that train PQ.
    latency_queries, reconstructed_queries : int
        Single queries timed per searcher (the reconstructed scan is O(n k) per query: fewer).
    batch_queries : int
        When > 0, also the throughput of one batch of that many queries.

    Returns
    -------
    dict
        ``latency_ms``, ``throughput_qps`` (when batched), ``build_s``, ``memory_bytes`` and
        ``bytes_per_vector`` by searcher name.
    """
    import faiss

    from ..search import search

    faiss.omp_set_num_threads(1)
    xq, d = task.xq, task.xb.shape[1]
    codes = model.encode(task.xb)
    big = tile_codes(codes, n)
    qc = model.encode_query(xq)
    qi, qv = qc.arrays["indices"], qc.arrays["values"]
    build: dict[str, float] = {}
    t0 = time.perf_counter()
    index = model.sparse_index(big)  # per-item norms
    build["sae_norms"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.postings  # posting lists, built lazily on first use
    build["sae_postings"] = time.perf_counter() - t0
    reps = -(-n // len(task.xb))
    xb = np.tile(task.xb, (reps, 1))[:n]
    xb += 0.01 * np.random.default_rng(seed).standard_normal(xb.shape, dtype=np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    t0 = time.perf_counter()
    flat = faiss.IndexFlatIP(d)
    flat.add(xb)
    build["faiss_flat_f32"] = time.perf_counter() - t0
    del xb
    runs: dict[str, tuple[Callable[[int, int], Any], int]] = {
        "faiss_flat_f32": (lambda s, e: flat.search(xq[s:e], 10), latency_queries)}
    bpv: dict[str, float] = {"sae": float(model.bytes_per_vector), "faiss_flat_f32": 4.0 * d}
    train = np.ascontiguousarray(task.fit_data()[:fit_rows])
    for m in pq_m:
        m = m or pq_m_within(d, model.bytes_per_vector)
        pq = faiss.IndexPQ(d, m, 8, faiss.METRIC_INNER_PRODUCT)
        pq.train(train)
        pq.add_sa_codes(np.ascontiguousarray(np.tile(pq.sa_encode(task.xb), (reps, 1))[:n]))
        runs[f"faiss_pq{m}_adc"] = (lambda s, e, pq=pq: pq.search(xq[s:e], 10), latency_queries)
        bpv[f"faiss_pq{m}_adc"] = float(m)
    runs["sae_sparse_postings"] = (lambda s, e: index.search_sparse(qi[s:e], qv[s:e], 10), latency_queries)
    runs["sae_reconstructed_chunked"] = (lambda s, e: search(model, xq[s:e], big, 10, "reconstructed"),
                                         reconstructed_queries)
    lat = {name: median_latency(lambda i, fn=fn: fn(i, i + 1), r) for name, (fn, r) in runs.items()}
    rec: dict[str, Any] = {
        "task": task.name, "method": model.to_spec(), "n": n, "latency_ms": lat, "build_s": build,
        "bytes_per_vector": bpv,
        "memory_bytes": {"sae_codes": big.nbytes, "sae_postings": index.postings_nbytes,
                         "sae_norms": 4 * n * (2 if index.sphere_t is not None else 1)},
        "note": f"one thread; median over single queries ({latency_queries}; {reconstructed_queries} for the "
                "chunked reconstructed scan)" + (f"; throughput over a batch of {batch_queries}" if batch_queries else "")}
    if batch_queries:
        nb = min(batch_queries, len(xq))
        rec["throughput_qps"] = {}
        for name, (fn, _) in runs.items():
            t0 = time.perf_counter()
            fn(0, nb)
            rec["throughput_qps"][name] = nb / (time.perf_counter() - t0)
    return rec
