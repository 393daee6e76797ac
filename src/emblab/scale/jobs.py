"""The measurements of the scale experiment, each run in a fresh process so its peak memory is its own.

A job is a function ``job(args) -> record`` of JSON-able ``args``. :func:`run_job` starts
``python -m emblab.scale.jobs NAME ARGS`` and returns the record the child prints (or
``{"error": ...}``); ``isolate=False`` runs it in this process instead (tests: no start-up cost, but
the peak memory is then the caller's). Peak memory is ``VmHWM`` of the job's process; for Ray it is
also the peak of the summed RSS of the process and all its descendants (GCS, raylet, actors).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

K = 10  # neighbours per query in every search job


def process_memory_mb(pid: int | str = "self") -> dict[str, float]:
    """``{"rss_mb", "hwm_mb"}`` of a process from ``/proc`` (zeros when it is gone)."""
    out = {"rss_mb": 0.0, "hwm_mb": 0.0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["hwm_mb"] = int(line.split()[1]) / 1024
            elif line.startswith("VmRSS:"):
                out["rss_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def tree_rss_mb(root: int) -> float:
    """Summed RSS (MB) of ``root`` and all its descendant processes."""
    parent: dict[int, int] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                parent[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = {root}, {root}
    while frontier:
        frontier = {c for c, pp in parent.items() if pp in frontier and c not in tree}
        tree |= frontier
    return sum(process_memory_mb(pid)["rss_mb"] for pid in tree)


def codes_sha(codes: Any) -> str:
    """Short sha256 of every array of a :class:`~emblab.codes.Codes` (equal codes, equal hash)."""
    h = hashlib.sha256()
    for k in sorted(codes.arrays):
        h.update(np.ascontiguousarray(codes.arrays[k]).tobytes())
    return h.hexdigest()[:16]


def queries(a: dict) -> np.ndarray:
    """The query rows, float32 (n_queries, d): ``a["queries"]`` (.npy) or ``load_embeddings(name)``."""
    from ..data.embeddings import load_embeddings

    src, nq = a["queries"], a.get("nq", 100)
    X = np.load(src, mmap_mode="r") if str(src).endswith(".npy") else load_embeddings(src)
    return np.ascontiguousarray(X[:nq], dtype=np.float32)


def encode_local(a: dict) -> dict:
    """``encode_to_dir`` of ``a["input"]`` into ``a["out_dir"]``: rows, seconds, chunks, peak, sha."""
    from ..pipeline import load_model
    from .chunked import encode_to_dir, read_encoded_dir

    model = load_model(a["model_dir"])
    t0 = time.perf_counter()
    man = encode_to_dir(model, a["input"], a["out_dir"], chunk_rows=a["chunk_rows"], progress=False)
    res = {"rows": man["n_rows"], "seconds": time.perf_counter() - t0, "new_chunks": man["last_run"]["new_chunks"],
           "chunks": len(man["chunks"]), "peak_mb": process_memory_mb()["hwm_mb"]}
    codes, _ = read_encoded_dir(a["out_dir"])
    res["sha"] = codes_sha(codes[: a["hash_rows"]] if a.get("hash_rows") else codes)
    return res


def encode_ray(a: dict) -> dict:
    """``encode_with_ray`` on a local Ray instance; Ray start-up timed apart; peak of the process tree."""
    from .ray_engine import encode_with_ray, init_ray

    peak, stop = [0.0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss_mb(os.getpid()))
            stop.wait(0.25)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    ray = init_ray(None)
    t1 = time.perf_counter()
    codes, ids = encode_with_ray(a["model_dir"], a["input"], num_workers=a["workers"], batch_size=a["batch"])
    t2 = time.perf_counter()
    stop.set()
    th.join()
    ray.shutdown()
    return {"rows": len(codes), "seconds": t2 - t1, "init_seconds": t1 - t0, "peak_tree_mb": peak[0],
            "peak_mb": process_memory_mb()["hwm_mb"], "sha": codes_sha(codes),
            "ids_in_order": bool(np.all(np.diff(ids) == 1))}


def search(a: dict) -> dict:
    """Single-thread exhaustive search of ``a["n"]`` items: FAISS IndexFlatIP on the float32 input
    (``a["flat_input"]``, the exact top-10), IndexPQ ADC (``a["pq"]``) and emblab's int8 search
    (``a["int8"]``). A catalogue smaller than n is tiled up to n (cost per item does not depend on
    code values; recall is then not reported)."""
    import faiss

    from ..codes import Codes
    from ..evaluation.metrics import knn_recall
    from ..pipeline import load_model
    from ..search import search as emblab_search
    from .chunked import read_encoded_dir
    from .sources import iter_chunks

    faiss.omp_set_num_threads(1)
    n, xq = a["n"], queries(a)
    qn = xq / np.linalg.norm(xq, axis=1, keepdims=True)
    out: dict[str, Any] = {"n": n, "nq": len(xq), "threads": 1}
    I_true = None
    if a.get("flat_input"):
        idx = faiss.IndexFlatIP(xq.shape[1])
        for ref in iter_chunks(a["flat_input"], a["chunk_rows"]):
            idx.add(np.ascontiguousarray(ref.load()[0]))
        t = time.perf_counter()
        _, I_true = idx.search(qn, K)
        out["flat_ms_per_query"] = (time.perf_counter() - t) * 1000 / len(xq)
        out["flat_bytes"] = n * xq.shape[1] * 4
        del idx
    for name in ("pq", "int8"):
        spec = a.get(name)
        if not spec:
            continue
        model = load_model(spec["model_dir"])
        codes, _ = read_encoded_dir(spec["codes_dir"])
        reps = -(-n // len(codes))
        out[f"{name}_catalogue"] = f"{len(codes):,} encoded codes tiled x{reps}" if reps > 1 else "encoded"
        codes = (Codes.concat([codes] * reps) if reps > 1 else codes)[:n]
        if name == "pq":
            t = time.perf_counter()
            root, _, searcher = model.code_index(codes)  # root keeps the index searcher points into alive
            out["pq_build_s"] = time.perf_counter() - t
            t = time.perf_counter()
            _, I = searcher.search(qn, K)
            out["pq_ms_per_query"] = (time.perf_counter() - t) * 1000 / len(xq)
            del searcher, root
        else:  # decode-and-score: cost ~ n whatever the query count, so a 10^7 scan may use fewer queries
            nq = spec.get("nq") or len(xq)
            t = time.perf_counter()
            _, I = emblab_search(model, xq[:nq], codes, k=K, chunk_size=65536)
            out["int8_ms_per_query"] = (time.perf_counter() - t) * 1000 / nq
            out["int8_nq"] = nq
        out[f"{name}_bytes"] = int(sum(v.nbytes for v in codes.arrays.values()))
        if I_true is not None and reps == 1:
            out[f"{name}_recall@10"] = knn_recall(I, I_true[: len(I)], k=K)
    out["peak_mb"] = process_memory_mb()["hwm_mb"]
    return out


def qdrant(a: dict) -> dict:
    """Fit ``a["spec"]`` (an SAE), export ``a["n"]`` codes to an in-memory Qdrant and compare its top-10
    with emblab's sparse search."""
    from ..registry import build
    from ..search import search as emblab_search
    from .qdrant_export import connect, export_codes, search_codes, topk_agreement
    from .sources import iter_chunks

    base = np.load(a["base"], mmap_mode="r")[: a["fit_rows"]].astype(np.float32)
    t = time.perf_counter()
    sae = build(a["spec"]).fit(base)
    fit_s = time.perf_counter() - t
    parts, have = [], 0
    for ref in iter_chunks(a["input"], a["n"]):  # the first n rows (chunks stop at row-group ends)
        parts.append(ref.load()[0])
        have += len(parts[-1])
        if have >= a["n"]:
            break
    X = np.concatenate(parts)[: a["n"]]
    cat, xq = sae.encode(X), queries(a)
    t = time.perf_counter()
    D_ref, I_ref = emblab_search(sae, xq, cat, k=K, mode="sparse")
    em_ms = (time.perf_counter() - t) * 1000 / len(xq)
    client = connect(":memory:")
    t = time.perf_counter()
    export_codes(client, "scale", cat, model=sae)
    exp_s = time.perf_counter() - t
    qc = sae.encode_query(xq)
    t = time.perf_counter()
    D, I = search_codes(client, "scale", qc, k=K)
    q_ms = (time.perf_counter() - t) * 1000 / len(xq)
    exact = float(np.mean([set(x) == set(y) for x, y in zip(I.tolist(), I_ref.tolist())]))
    return {"spec": sae.to_spec(full=True), "n": len(cat), "nq": len(xq), "fit_rows": len(base), "fit_s": fit_s,
            "export_s": exp_s, "qdrant_ms_per_query": q_ms, "emblab_sparse_ms_per_query": em_ms,
            "top10_agreement": topk_agreement(I, I_ref, D_ref), "top10_exact_set_agreement": exact,
            "bytes_per_vector": float(sae.bytes_per_vector), "peak_mb": process_memory_mb()["hwm_mb"]}


JOBS: dict[str, Callable[[dict], dict]] = {"encode_local": encode_local, "encode_ray": encode_ray,
                                           "search": search, "qdrant": qdrant}


def job_command(name: str, args: dict) -> list[str]:
    """argv that runs job ``name`` in a fresh Python process (it prints the record as JSON)."""
    return [sys.executable, "-m", "emblab.scale.jobs", name, json.dumps(args)]


def run_job(name: str, args: dict, *, isolate: bool = True) -> dict:
    """The record of job ``name`` (plus ``wall_s``), or ``{"error": last stderr line, "rc": code}``."""
    t = time.perf_counter()
    if not isolate:
        return {**JOBS[name](args), "wall_s": time.perf_counter() - t}
    p = subprocess.run(job_command(name, args), capture_output=True, text=True)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1], "rc": p.returncode}
    return {**json.loads(p.stdout.strip().splitlines()[-1]), "wall_s": time.perf_counter() - t}


if __name__ == "__main__":
    print(json.dumps(JOBS[sys.argv[1]](json.loads(sys.argv[2]))))
