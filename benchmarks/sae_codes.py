"""Packed, quantised CompresSAE codes against the strongest quantisers at 32-128 B (issue 16).

One run over two tasks, ``knn_fidelity/imdb-minilm`` (Recall@10) and ``beir_scifact`` (nDCG@10):

``peers``  OPQ, PQ, RQ, LSQ (FAISS, fitted on at most ``--faiss-fit-rows`` rows), RaBitQ,
           PCA + int8 and binary at 32/48/64/96/128 B (plus RaBitQ's native 56 / 116 B).
``sae``    SAEs trained once per (task, training spec) and coded with every layout: budgets x
           value layout (fp16 / 8 / 4 bits, row or per-latent quantiser) x encoder (OMP / top-k) x
           value fit (refit / round), plus the uint16 + fp16 layout of specs/sae.md §7; SciFact is
           also coded by the IMDB-trained SAE (out of domain).
``scale``  single-query latency over 10^6 packed codes: sparse (posting lists) and reconstructed
           modes beside FAISS flat and PQ ADC, one thread, one process.
``report`` ``results/sae_codes.{json,md}`` from the stored records only.

Every record is a cell of :class:`emblab.experiment.store.CellStore` under ``$EMBLAB_CACHE/bench_sae_codes``
(fitted models are kept there too), so an interrupted run resumes and extra cells can be added.

Usage::

    EMBLAB_DATA=/work/shared/data OMP_NUM_THREADS=1 python benchmarks/sae_codes.py --stages peers,sae,scale,report
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from emblab.experiment.store import CellStore, fitted_model, run_cells  # noqa: E402
from emblab.bench.candidates import peer_specs_for_budgets  # noqa: E402
from emblab.data.paths import cache_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BUDGETS = (32, 48, 64, 96, 128)
TASKS = {"imdb": "knn_fidelity/imdb-minilm", "scifact": "beir_scifact"}
# training recipes (coding parameters are set per cell with SparseAutoencoder.with_coding)
RECIPE = "batch_size=256,center=true,auxk=true"
TRAIN = {"imdb": {"A": f"sae:h=4096,k=32,epochs=10,init=kaiming,{RECIPE}",
                  "T": f"sae:h=4096,k=32,epochs=10,init=tied,{RECIPE}",
                  "W": f"sae:h=16384,k=32,epochs=10,init=kaiming,{RECIPE}"},
         "scifact": {"A": f"sae:h=4096,k=32,epochs=20,init=kaiming,{RECIPE}"}}
# every coding parameter a cell does not set, spelled out so no cell depends on the library's defaults
BASE_CODING = dict(encoder="omp", pack=True, index_coding="fixed", value_bits=8, value_scale="row", value_fit="refit")
LAYOUTS = {"f16": dict(value_bits=16), "q8": dict(value_bits=8), "q4": dict(value_bits=4),
           "q8ef": dict(value_bits=8, index_coding="ef"), "q4ef": dict(value_bits=4, index_coding="ef"),
           "q8L": dict(value_bits=8, value_scale="latent"),
           "q4Lef": dict(value_bits=4, value_scale="latent", index_coding="ef")}


def sae_plan(model: str = "A", part: str = "all") -> list[dict]:
    """Coding variants of one trained SAE: ``core`` (every budget x the main layouts) and
    ``decisions`` (quantiser, value fit, encoder and the uint16 + fp16 layout at 64 and 128 B). The
    first variant has the largest k, so the OMP path of the catalogue is computed once and its
    prefixes serve every other variant."""
    omp = dict(encoder="omp", value_fit="refit")
    core = [dict(omp, budget=b, **LAYOUTS[lay]) for b in sorted(BUDGETS, reverse=True)
            for lay in ("q4ef", "q4", "q8", "f16")]
    if model != "A":  # other recipes: the 4-bit layouts at 64 and 128 B only
        core = [p for p in core if p["budget"] in (128, 64) and p["value_bits"] == 4]
        return core if part != "decisions" else []
    decisions = []
    for b in (128, 64):
        decisions += [dict(omp, budget=b, **LAYOUTS[lay]) for lay in ("q8ef", "q4Lef", "q8L")]
        decisions += [dict(LAYOUTS["q4ef"], encoder="omp", value_fit="round", budget=b)]
        decisions += [dict(LAYOUTS["q4ef"], encoder="topk", value_fit=f, budget=b) for f in ("refit", "round")]
        decisions += [dict(encoder=e, value_fit="round", budget=b, pack=False, value_bits=16) for e in ("omp", "topk")]
    return {"core": core, "decisions": decisions, "all": core + decisions}[part]


def peer_cells(task, name: str, store: CellStore, fit_rows: int):
    d = task.fit_data().shape[1]
    specs = ["float32"] + [s for _, s in peer_specs_for_budgets(d, BUDGETS, pipelines=False, fastscan=False,
                                                                 additive=True, rabitq=True)
                           if not s.startswith(("pca:dim=", "trunc", "binary:")) or "store=int8" in s]
    specs += ["faiss:RaBitQ", "faiss:RaBitQ2"]  # native sizes 56 / 116 B
    order = {"faiss:LSQ": 3, "faiss:RQ": 2, "faiss:OPQ": 1}  # slowest last
    specs.sort(key=lambda s: next((v for k, v in order.items() if s.startswith(k)), 0))
    for spec in specs:
        def run(spec=spec):
            if spec == "float32":
                return task.evaluate(None).to_dict()
            X = task.fit_data()
            rows = fit_rows if spec.startswith("faiss:") and "RaBitQ" not in spec else None
            model = fitted_model(store, spec, X, fit_rows=rows)
            rec = task.evaluate(model).to_dict()
            rec["extra"]["fit_rows"] = min(len(X), rows or len(X))
            return rec
        yield {"task": task.name, "method": spec, "fit_rows": fit_rows}, run


def sae_cells(task, key: str, store: CellStore, fit_task=None, models=("A",), part: str = "all"):
    """Cells of every coding variant of each trained model; ``fit_task`` trains on another task's
    fit set (out-of-domain coding)."""
    source = fit_task or task
    for mk in models:
        train = TRAIN["imdb" if fit_task is not None else key][mk]
        for coding in sae_plan(mk, part) if fit_task is None else [
                dict(LAYOUTS["q4ef"], encoder=e, value_fit="refit", budget=b) for b in (128, 64) for e in ("omp", "topk")]:
            def run(train=train, coding=coding):
                X = source.fit_data()
                m = fitted_model(store, train, X, params={"progress": False,  # resumable training
                                                          "checkpoint_dir": str(store.root / "checkpoints")})
                mc = m.with_coding(X, **{**BASE_CODING, **coding})
                rec = task.evaluate(mc).to_dict()
                rec["extra"].update(train_spec=train, coding=coding, val_recon_cos=m.history_.get("val_recon_cos"),
                                    best_epoch=m.history_.get("best_epoch"), train_usage=m.train_usage_,
                                    fit_set=source.name, coding_k=mc.coding_k())
                return rec
            yield {"task": task.name, "fit_on": source.name, "train": train, "coding": coding}, run


def scale_cells(task, sae_store: CellStore, args):
    """Single-query latency over n packed codes (the 49,000 real IMDB codes tiled) beside FAISS
    IndexFlatIP over float32 vectors (the catalogue tiled with 1% noise) and IndexPQ ADC at the
    SAE's bytes (the catalogue's PQ codes tiled), one thread."""
    import time

    import faiss

    from emblab.bench.latency import median_latency
    from emblab.codes import Codes
    from emblab.registry import parse_stage

    coding = dict(parse_stage("x:" + args.scale_coding)[1])
    for n in [int(v) for v in args.scale_n.split(",")]:
        def run(n=n):
            faiss.omp_set_num_threads(1)
            m = fitted_model(sae_store, TRAIN["imdb"]["A"], task.fit_data(), params={"progress": False})
            mc = m.with_coding(task.fit_data(), **{**BASE_CODING, **coding})
            codes = mc.encode(task.xb)
            reps = -(-n // len(codes))
            big = Codes({k: np.tile(a, (reps,) + (1,) * (a.ndim - 1))[:n] for k, a in codes.arrays.items()},
                        "sparse", codes.method, codes.model_fingerprint, codes.meta)
            xq, qc = task.xq, mc.encode_query(task.xq)
            qi, qv = qc.arrays["indices"], qc.arrays["values"]
            t0 = time.perf_counter()
            index = mc.sparse_index(big)
            t_norms = time.perf_counter() - t0
            index.postings
            t_post = time.perf_counter() - t0 - t_norms
            rng = np.random.default_rng(0)
            xb = np.tile(task.xb, (reps, 1))[:n]
            xb += 0.01 * rng.standard_normal(xb.shape, dtype=np.float32)
            xb /= np.linalg.norm(xb, axis=1, keepdims=True)
            flat = faiss.IndexFlatIP(xb.shape[1])
            flat.add(xb)
            del xb
            d = task.xb.shape[1]  # PQ needs M | d: the largest such M within the SAE's bytes
            m_pq = max(m for m in range(1, d + 1) if d % m == 0 and m <= mc.bytes_per_vector)
            pq = faiss.IndexPQ(d, m_pq, 8, faiss.METRIC_INNER_PRODUCT)
            pq.train(np.ascontiguousarray(task.fit_data()[:args.faiss_fit_rows]))
            pq.add_sa_codes(np.ascontiguousarray(np.tile(pq.sa_encode(task.xb), (reps, 1))[:n]))
            from emblab.search import search

            runs = {"faiss_flat_f32": (lambda i: flat.search(xq[i:i + 1], 10), 20),
                    f"faiss_pq{m_pq}_adc": (lambda i: pq.search(xq[i:i + 1], 10), 20),
                    "sae_sparse_postings": (lambda i: index.search_sparse(qi[i:i + 1], qv[i:i + 1], 10), 20),
                    "sae_reconstructed_chunked": (lambda i: search(mc, xq[i:i + 1], big, 10, "reconstructed"), 3)}
            lat = {name: median_latency(fn, reps_) for name, (fn, reps_) in runs.items()}
            return {"task": task.name, "method": mc.to_spec(), "n": n, "latency_ms": lat,
                    "bytes_per_vector": {"sae": mc.bytes_per_vector, "faiss_flat_f32": 4 * task.xb.shape[1],
                                         f"faiss_pq{m_pq}_adc": m_pq},
                    "memory_bytes": {"sae_codes": big.nbytes, "sae_postings": index.postings_nbytes,
                                     "sae_norms": 4 * n * (2 if index.sphere_t is not None else 1)},
                    "build_s": {"sae_norms": t_norms, "sae_postings": t_post},
                    "note": "one thread; median over single queries (20; 3 for the chunked reconstructed scan)"}
        yield {"scale": n, "train": TRAIN["imdb"]["A"], "coding": args.scale_coding}, run


def log(rec: dict, resumed: bool) -> None:
    score = rec.get("scores", {})
    main = {k: round(v, 4) for k, v in score.items() if k in ("recall@10_asym", "ndcg@10", "recall@10_adc",
                                                              "recall@10_reconstructed")}
    print(f"[{'resumed' if resumed else 'done'}] {rec.get('method', rec['cell'])} "
          f"{rec.get('bytes_per_vector')} B {main or rec.get('error', '')} ({rec.get('cell_s', 0):.0f}s)", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stages", default="peers,sae,scale,report")
    ap.add_argument("--tasks", default="imdb,scifact")
    ap.add_argument("--models", default="A,T,W", help="IMDB training recipes (keys of TRAIN['imdb'])")
    ap.add_argument("--faiss-fit-rows", type=int, default=10_000)
    ap.add_argument("--skip", default="", help="comma list of peer spec prefixes not to run (e.g. faiss:LSQ)")
    ap.add_argument("--only", default="", help="comma list of peer spec prefixes to run (default: all)")
    ap.add_argument("--scale-n", default="1000000")
    ap.add_argument("--scale-coding", default="budget=64,value_bits=4,index_coding=ef", help="coding of the SAE in the scale stage")
    ap.add_argument("--store", default=str(cache_dir() / "bench_sae_codes"))
    args = ap.parse_args(argv)
    from emblab.evaluation.tasks import get_task

    stages = args.stages.split(",")
    tasks = {k: get_task(TASKS[k]).load() for k in args.tasks.split(",")}
    skip = tuple(s for s in args.skip.split(",") if s) or ("\0",)
    only = tuple(s for s in args.only.split(",") if s) or ("",)
    root = Path(args.store)
    if "peers" in stages:
        store = CellStore(root / "peers", "sae_codes/peers/1")
        for key, task in tasks.items():
            cells = [(c, f) for c, f in peer_cells(task, key, store, args.faiss_fit_rows)
                     if c["method"].startswith(only) and not c["method"].startswith(skip)]
            run_cells(store, cells, on_record=log)
    if "sae" in stages:  # in priority order: the core of both tasks, out of domain, decisions, other recipes
        store = CellStore(root / "sae", "sae_codes/sae/1")
        models = args.models.split(",")
        plan = [("imdb", "A", "core"), ("scifact", "A", "all"), ("ood", "A", ""), ("imdb", "A", "decisions")]
        for key, mk, part in plan + [("imdb", m, "core") for m in models if m != "A"]:
            if mk not in models or (key == "ood" and not {"imdb", "scifact"} <= set(tasks)) \
                    or (key != "ood" and key not in tasks):
                continue
            cells = (sae_cells(tasks["scifact"], "scifact", store, fit_task=tasks["imdb"]) if key == "ood"
                     else sae_cells(tasks[key], key, store, models=[mk], part=part))
            run_cells(store, cells, on_record=log)
    if "scale" in stages:
        imdb = tasks.get("imdb") or get_task(TASKS["imdb"]).load()
        store = CellStore(root / "scale", "sae_codes/scale/1")
        run_cells(store, scale_cells(imdb, CellStore(root / "sae", "sae_codes/sae/1"), args), on_record=log)
    if "report" in stages:
        from _sae_codes_report import write_report

        write_report(root, RESULTS, command="OMP_NUM_THREADS=1 python benchmarks/sae_codes.py " + " ".join(
            argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())
