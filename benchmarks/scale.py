"""Scale benchmark (issue 9, part 5): out-of-core encode and search throughput at 10^5..10^7.

Data: *real embeddings repeated with noise*. Row ``i`` of the generated catalogue is row
``i mod 50,000`` of ``embeddings_minilm/imdb_unsup.f16.npy`` plus Gaussian noise (``--sigma`` per
coordinate, default 0.05), re-normalised to unit length. It is generated file by file (100,000 rows
per parquet file, 50,000-row row groups, uncompressed, ``id`` int64 + fixed-size-list float32
``vector``; ``--max-files`` files, 100 = 10^7 rows) straight to disk under ``--work`` (never whole in
memory; an interrupted generation resumes at the first missing file); the 10^5 / 10^6 / 5 GB / 10^7
inputs are hard-linked subsets of the same files. Queries: the first 100 rows of ``imdb_labeled``.

Every measured run is a separate subprocess (``--job``) so its peak memory is its own:
``VmHWM`` of the process (single process) or, for Ray, the peak of the summed RSS of the driver and
all its descendant processes (GCS, raylet, actors) sampled every 0.25 s, plus the driver's VmHWM.

Stages (results rewritten after each; stages past ``--deadline`` are skipped and listed):
fit models -> generate data -> encode 10^5 / 10^6 (local vs Ray) -> 5 GB acceptance run (killed,
resumed) -> search 10^5..10^7 (FAISS IndexPQ ADC, emblab int8, FAISS IndexFlatIP) -> Qdrant round trip
(``sae``) -> encode PCA int8 at 10^7 (local) -> emblab int8 search on those 10^7 codes -> encode 10^7
on Ray -> optional PQ encode at 10^6. The 10^7 stages come last because they are the longest.
The machine's load average is sampled during the run and stored with the results.

Usage::

    EMBLAB_DATA=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scale.py \
        --out benchmarks/results --work ~/.cache/emblab/scale_bench --deadline 13:05
    # smoke run (10^5 rows in 100 files of 1,000 rows; minutes, Ray included)
    ... benchmarks/scale.py --out /tmp/scale_smoke/out --work /tmp/scale_smoke/work --file-rows 1000 --fit-rows 5000
    .venv/bin/python benchmarks/scale.py --render-only   # rewrite <--out>/scale.md from <--out>/scale.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

FILE_ROWS = 100_000
ROW_GROUP = 50_000
N_ACCEPT_FILES = 33  # 3.3M rows x 384 float32 = 5.07 GB of vectors
N_FILES = 100  # 10^7 rows at 100,000 rows per file
# hard-linked inputs: name -> number of leading files (a subset needs that many generated files)
SUBSETS = (("n1e5", 1), ("n1e6", 10), ("n5gb", N_ACCEPT_FILES), ("n1e7", 100))
# emblab int8 search decodes every item per scan (cost ~ n, nearly independent of the number of
# queries), so the 10^7 scan runs on fewer queries to bound its time; the report says so
INT8_NQ_1E7 = 20
LOAD_SAMPLE_S = 30.0
PQ_SPEC = "faiss:PQ32np"  # PQ32 without polysemous re-training (see md); ADC results identical
PCA_SPEC = "pca:dim=128,store=int8"


def _set_file_rows(n: int) -> None:
    global FILE_ROWS, ROW_GROUP
    FILE_ROWS, ROW_GROUP = n, n // 2


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _vm(pid: int | str = "self") -> dict[str, float]:
    """VmRSS / VmHWM of a process in MB (0 if it is gone)."""
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


def _tree_rss_mb(root: int) -> float:
    """Summed RSS (MB) of ``root`` and all its descendants."""
    parent: dict[int, int] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
                parent[int(p.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        kids = [c for c, pp in parent.items() if pp in frontier and c not in tree]
        tree.update(kids)
        frontier = kids
    return sum(_vm(pid)["rss_mb"] for pid in tree)


def _sha(codes) -> str:
    h = hashlib.sha256()
    for k in sorted(codes.arrays):
        h.update(np.ascontiguousarray(codes.arrays[k]).tobytes())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------------- jobs
def job_encode_local(a: dict) -> dict:
    import emblab
    from emblab.scale.chunked import encode_to_dir

    model = emblab.load_model(a["model_dir"])
    t0 = time.perf_counter()
    man = encode_to_dir(model, a["input"], a["out_dir"], chunk_rows=a.get("chunk_rows", ROW_GROUP), progress=False)
    sec = time.perf_counter() - t0
    res = {"rows": man["n_rows"], "seconds": sec, "new_chunks": man["last_run"]["new_chunks"],
           "chunks": len(man["chunks"]), "peak_mb": _vm()["hwm_mb"]}
    if a.get("hash"):
        from emblab.scale.chunked import read_encoded_dir

        codes, _ = read_encoded_dir(a["out_dir"])
        res["sha"] = _sha(codes[: a["hash"]]) if a["hash"] > 0 else _sha(codes)
    return res


def job_encode_ray(a: dict) -> dict:
    from emblab.scale.ray_engine import encode_with_ray, init_ray

    peak = {"tree_mb": 0.0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak["tree_mb"] = max(peak["tree_mb"], _tree_rss_mb(os.getpid()))
            stop.wait(0.25)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.perf_counter()
    ray = init_ray(None)
    t1 = time.perf_counter()
    codes, ids = encode_with_ray(a["model_dir"], a["input"], num_workers=a["workers"], batch_size=a.get("batch", 8192))
    t2 = time.perf_counter()
    stop.set()
    th.join()
    res = {"rows": len(codes), "seconds": t2 - t1, "init_seconds": t1 - t0, "peak_tree_mb": peak["tree_mb"],
           "peak_mb": _vm()["hwm_mb"], "sha": _sha(codes), "ids_in_order": bool(np.all(np.diff(ids) == 1))}
    ray.shutdown()
    return res


def _queries() -> np.ndarray:
    from emblab.data.embeddings import load_embeddings

    return np.ascontiguousarray(load_embeddings("imdb_labeled")[:100], dtype=np.float32)


def _recall(I: np.ndarray, I_true: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(I.tolist(), I_true.tolist())]))


def job_search(a: dict) -> dict:
    import faiss

    import emblab
    from emblab.codes import Codes
    from emblab.scale.chunked import read_encoded_dir
    from emblab.scale.sources import iter_chunks

    faiss.omp_set_num_threads(1)
    n, k, xq = a["n"], 10, _queries()
    out: dict = {"n": n, "nq": len(xq), "threads": 1}
    I_true = None
    if a.get("flat"):
        xb = np.empty((n, 384), np.float32)
        for ref in iter_chunks(a["flat_input"], ROW_GROUP):
            xb[ref.start: ref.start + ref.n_rows] = ref.load()[0]
        idx = faiss.IndexFlatIP(384)
        idx.add(xb)
        del xb
        q = xq / np.linalg.norm(xq, axis=1, keepdims=True)
        t = time.perf_counter()
        _, I_true = idx.search(q, k)
        out["flat_ms_per_query"] = (time.perf_counter() - t) * 1000 / len(xq)
        out["flat_bytes"] = n * 384 * 4
        del idx
    for name, key in (("pq", "pq"), ("int8", "pca")):
        spec = a.get(key)
        if not spec:
            continue
        if time.time() > a.get("stop_at", 1e18):
            out[f"{name}_skipped"] = "deadline"
            continue
        model = emblab.load_model(spec["model_dir"])
        codes, _ = read_encoded_dir(spec["codes_dir"])
        reps = -(-n // len(codes))
        if reps > 1:  # documented: catalogue = encoded codes tiled (throughput does not depend on values)
            codes = Codes.concat([codes] * reps)[:n]
            out[f"{name}_catalogue"] = f"{spec['codes_n']:,} encoded codes tiled x{reps}"
        else:
            codes = codes[:n]
            out[f"{name}_catalogue"] = "encoded"
        if name == "pq":
            t = time.perf_counter()
            _, transforms, searcher = model.code_index(codes)
            out["pq_build_s"] = time.perf_counter() - t
            q = xq / np.linalg.norm(xq, axis=1, keepdims=True)
            t = time.perf_counter()
            _, I = searcher.search(q, k)
            out["pq_ms_per_query"] = (time.perf_counter() - t) * 1000 / len(xq)
        else:
            nq = a.get("int8_nq", len(xq))
            t = time.perf_counter()
            _, I = emblab.search(model, xq[:nq], codes, k=k, chunk_size=65536)
            out["int8_ms_per_query"] = (time.perf_counter() - t) * 1000 / nq
            out["int8_nq"] = nq
        out[f"{name}_bytes"] = int(codes.nbytes) if hasattr(codes, "nbytes") else int(sum(v.nbytes for v in codes.arrays.values()))
        if I_true is not None and out[f"{name}_catalogue"] == "encoded":
            out[f"{name}_recall@10"] = _recall(I[: len(I_true)], I_true[: len(I)])
        del codes
    out["peak_mb"] = _vm()["hwm_mb"]
    return out


def job_qdrant(a: dict) -> dict:
    import emblab
    from emblab.scale.qdrant_export import connect, export_codes, search_codes, topk_agreement
    from emblab.scale.sources import iter_chunks

    base = np.load(a["base"]).astype(np.float32)
    t = time.perf_counter()
    sae = emblab.build(a["spec"]).fit(base[: a["fit_rows"]])
    fit_s = time.perf_counter() - t
    X = next(iter(iter_chunks(a["input"], a["n"]))).load()[0][: a["n"]]
    cat, xq = sae.encode(X), _queries()
    t = time.perf_counter()
    D_ref, I_ref = emblab.search(sae, xq, cat, k=10, mode="sparse")
    em_ms = (time.perf_counter() - t) * 1000 / len(xq)
    client = connect(":memory:")
    t = time.perf_counter()
    export_codes(client, "scale", cat)
    exp_s = time.perf_counter() - t
    qc = sae.encode(xq)
    t = time.perf_counter()
    D, I = search_codes(client, "scale", qc, k=10)
    q_ms = (time.perf_counter() - t) * 1000 / len(xq)
    exact = float(np.mean([set(x) == set(y) for x, y in zip(I.tolist(), I_ref.tolist())]))
    return {"spec": sae.to_spec(full=True), "n": len(cat), "nq": len(xq), "fit_rows": min(len(base), a["fit_rows"]),
            "fit_s": fit_s, "export_s": exp_s,
            "qdrant_ms_per_query": q_ms, "emblab_sparse_ms_per_query": em_ms,
            "top10_agreement": topk_agreement(I, I_ref, D_ref), "top10_exact_set_agreement": exact,
            "bytes_per_vector": float(sae.bytes_per_vector), "peak_mb": _vm()["hwm_mb"]}


JOBS = {"encode_local": job_encode_local, "encode_ray": job_encode_ray, "search": job_search, "qdrant": job_qdrant}


# ---------------------------------------------------------------------------------------- driver
def run_job(name: str, args: dict, log) -> dict:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "--file-rows", str(FILE_ROWS), "--job", name, json.dumps(args)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        log(f"  job {name} FAILED rc={p.returncode}: {p.stderr.strip().splitlines()[-1:]}")
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1], "rc": p.returncode}
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t
    log(f"  {name}: {json.dumps(res)}")
    return res


def _data_params(sigma: float, base_path: str) -> dict:
    """What the generated files depend on: a resumed generation must match all of it."""
    return {"file_rows": FILE_ROWS, "row_group": ROW_GROUP, "sigma": sigma, "base": base_path}


def _reset_if_params_changed(work: Path, params: dict, log) -> None:
    """Delete generated data written with other parameters (e.g. a smoke run's --file-rows), so the
    file-by-file resume below never mixes files of two settings."""
    src, stamp = work / "data_all", work / "data_all" / "params.json"
    old = json.loads(stamp.read_text()) if stamp.exists() else None
    if old != params and src.exists():
        log(f"generated data in {src} has other parameters ({old}); regenerating")
        for d in [src] + [work / name for name, _ in SUBSETS]:
            shutil.rmtree(d, ignore_errors=True)
    src.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(params))


def _write_file(path: Path, f: int, sigma: float, base: np.ndarray) -> None:
    """Parquet file ``f``: rows f*FILE_ROWS.. of ``base`` (cycled) plus noise; atomic (tmp + rename)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1000 + f)  # per-file seed: a resumed generation writes the same rows
    rows = np.arange(f * FILE_ROWS, (f + 1) * FILE_ROWS)
    X = base[rows % len(base)] + rng.standard_normal((FILE_ROWS, base.shape[1]), dtype=np.float32) * sigma
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    vec = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), base.shape[1])
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.table({"id": rows.astype(np.int64), "vector": vec}), tmp, row_group_size=ROW_GROUP,
                   compression="none")
    os.replace(tmp, path)


def _mean_cos(path: Path, base: np.ndarray, n: int = 1000) -> float:
    """Mean cosine of the first ``n`` generated rows to their source rows (read back from file 0,
    so it is also right when file 0 came from an earlier, interrupted generation)."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as pf:
        batch = next(pf.iter_batches(batch_size=n, columns=["vector"]))
    X = batch.column("vector").flatten().to_numpy().reshape(len(batch), base.shape[1])
    b = base[: len(X)] / np.linalg.norm(base[: len(X)], axis=1, keepdims=True)
    return float(np.mean(np.sum(X * b, axis=1)))


def _link_subsets(work: Path, n_files: int, log) -> dict:
    """Hard-link the leading files into one folder per input size; sizes needing more files than were
    generated (a small --max-files) are left out, and the stages using them are skipped."""
    src, subsets = work / "data_all", {}
    for name, nf in SUBSETS:
        if nf > n_files:
            log(f"no {name} input: it needs {nf} files, --max-files is {n_files}")
            continue
        d = work / name
        d.mkdir(exist_ok=True)
        for f in range(nf):
            if not (d / f"part-{f:05d}.parquet").exists():
                os.link(src / f"part-{f:05d}.parquet", d / f"part-{f:05d}.parquet")
        subsets[name] = {"files": nf, "rows": nf * FILE_ROWS,
                         "bytes": sum(p.stat().st_size for p in d.glob("*.parquet"))}
    return subsets


def generate(work: Path, n_files: int, sigma: float, base: np.ndarray, base_path: str, log) -> dict:
    """Write ``n_files`` parquet files file by file (resumable: existing files are kept) and link
    the subsets; the slow part of the benchmark (~90 s per 10^6 rows on the loaded machine)."""
    _reset_if_params_changed(work, _data_params(sigma, base_path), log)
    src = work / "data_all"
    t0, new = time.perf_counter(), 0
    for f in range(n_files):
        path = src / f"part-{f:05d}.parquet"
        if not path.exists():
            _write_file(path, f, sigma, base)
            new += 1
        if (f + 1) % 10 == 0 or f + 1 == n_files:
            log(f"  data: {f + 1}/{n_files} files ({new} written this run, {time.perf_counter() - t0:.0f}s)")
    secs = time.perf_counter() - t0
    log(f"data: wrote {new} files in {secs:.0f}s; {n_files - new} existed from an earlier run")
    return {"files": n_files, "new_files": new, "rows": n_files * FILE_ROWS, "file_rows": FILE_ROWS,
            "row_group": ROW_GROUP, "seconds": secs, "sigma": sigma,
            "mean_cos_to_source_row": _mean_cos(src / "part-00000.parquet", base),
            "subsets": _link_subsets(work, n_files, log), "driver_peak_mb": _vm()["hwm_mb"]}


def acceptance(work: Path, pca_dir: str, log) -> dict:
    """5 GB parquet: run killed (SIGKILL) after >= 10 chunks, then resumed to completion."""
    out_dir = work / "enc_accept"
    shutil.rmtree(out_dir, ignore_errors=True)
    args = {"model_dir": pca_dir, "input": str(work / "n5gb"), "out_dir": str(out_dir), "hash": 10 * FILE_ROWS}
    p = subprocess.Popen([sys.executable, __file__, "--file-rows", str(FILE_ROWS), "--job", "encode_local", json.dumps(args)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hwm, done, t0 = 0.0, 0, time.perf_counter()
    while p.poll() is None:
        hwm = max(hwm, _vm(p.pid)["hwm_mb"])
        try:
            done = len(json.loads((out_dir / "manifest.json").read_text())["chunks"])
        except (OSError, ValueError, KeyError):
            done = 0
        if done >= 10:
            os.kill(p.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    p.wait()
    killed_s = time.perf_counter() - t0
    man = json.loads((out_dir / "manifest.json").read_text())
    tmp_left = [x.name for x in out_dir.glob("*.tmp-*")]
    log(f"acceptance: killed after {len(man['chunks'])} chunks ({killed_s:.0f}s), tmp files {tmp_left}")
    res = run_job("encode_local", args, log)
    return {"input_rows": N_ACCEPT_FILES * FILE_ROWS, "files": N_ACCEPT_FILES, "chunk_rows": ROW_GROUP,
            "input_bytes": sum(x.stat().st_size for x in (work / "n5gb").glob("*.parquet")),
            "killed_run": {"chunks_done_at_kill": len(man["chunks"]), "complete_flag": man["complete"],
                           "seconds": killed_s, "peak_mb_sampled": hwm, "tmp_files_left": len(tmp_left)},
            "resumed_run": res,
            "peak_mb": max(hwm, res.get("peak_mb", 0.0)),
            "rusage_children_maxrss_mb": __import__("resource").getrusage(
                __import__("resource").RUSAGE_CHILDREN).ru_maxrss / 1024}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--job", nargs=2, metavar=("NAME", "JSON"))
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--work", default=str(Path.home() / ".cache/emblab/scale_bench"))
    ap.add_argument("--sigma", type=float, default=0.05)
    ap.add_argument("--deadline", default=None, help="HH:MM UTC: later stages are skipped")
    ap.add_argument("--keep", action="store_true", help="keep the generated data")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--file-rows", type=int, default=FILE_ROWS, help="(smoke tests) rows per generated file")
    ap.add_argument("--fit-rows", type=int, default=50_000, help="real vectors the models are fitted on")
    ap.add_argument("--max-files", type=int, default=N_FILES,
                    help=f"parquet files to generate (default {N_FILES}: 10^7 rows at 100,000 rows/file); "
                         "stages whose input needs more files are skipped")
    args = ap.parse_args(argv)
    _set_file_rows(args.file_rows)
    if args.job:
        print(json.dumps(JOBS[args.job[0]](json.loads(args.job[1]))))
        return 0
    out = Path(args.out)
    if args.render_only:
        from _scale_report import render  # noqa: PLC0415

        doc = json.loads((out / "scale.json").read_text())
        (out / "scale.md").write_text(render(doc))
        return 0
    return run_all(args, out)


class _LoadSampler:
    """Samples the 1-minute load average in the background: the machine is shared, and throughputs
    only mean something next to the load they were measured under."""

    def __init__(self, interval_s: float = LOAD_SAMPLE_S):
        self.start = [round(x, 2) for x in os.getloadavg()]
        self.samples = [self.start[0]]
        self.interval_s = interval_s
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.samples.append(round(os.getloadavg()[0], 2))

    def summary(self, final: bool = False) -> dict:
        """Start / latest (1, 5, 15 min) and the 1-min range so far; ``final`` stops sampling."""
        if final:
            self._stop.set()
        end = [round(x, 2) for x in os.getloadavg()]
        vals = self.samples + [end[0]]
        return {"start": self.start, "end": end, "min_1min": min(vals), "max_1min": max(vals),
                "mean_1min": round(float(np.mean(vals)), 2), "samples": len(vals),
                "interval_s": self.interval_s, "complete": final}


def _deadline_ts(deadline: str | None) -> float:
    """``HH:MM`` (UTC, today) as a timestamp; no deadline -> far future."""
    if not deadline:
        return 1e18
    h, m = map(int, deadline.split(":"))
    return _now().replace(hour=h, minute=m, second=0, microsecond=0).timestamp()


def fit_models(base: np.ndarray, fit_rows: int, work: Path, log) -> dict:
    """Fit and save the PCA int8 and PQ models once; every job loads them from disk."""
    import emblab

    models = {}
    for key, spec in (("pca", PCA_SPEC), ("pq", PQ_SPEC)):
        t = time.perf_counter()
        m = emblab.build(spec).fit(base[:fit_rows])
        d = work / "models" / key
        shutil.rmtree(d, ignore_errors=True)
        m.save(d)
        models[key] = {"spec": m.to_spec(full=True), "dir": str(d), "fit_s": time.perf_counter() - t,
                       "bytes_per_vector": float(m.bytes_per_vector), "fit_rows": min(len(base), fit_rows)}
        log(f"fit {spec} in {models[key]['fit_s']:.1f}s")
    return models


def run_all(args, out: Path) -> int:
    import emblab
    from emblab.experiment.results import write_results

    work = Path(args.work).expanduser()
    work.mkdir(parents=True, exist_ok=True)
    stop_at = _deadline_ts(args.deadline)
    load = _LoadSampler()

    def log(msg):
        print(f"[{_now():%H:%M:%S}] {msg}", flush=True)

    records: list[dict] = []
    extra: dict = {"skipped": []}
    command = "EMBLAB_DATA=/work/shared/data OMP_NUM_THREADS=1 " + " ".join([sys.executable] + sys.argv)

    def save(final=False):
        extra["load_average"] = load.summary(final)
        write_results(out / "scale.json", "scale", records, command=command,
                      dataset={"name": "imdb_unsup repeated with noise", "sigma": args.sigma,
                               "queries": "imdb_labeled[:100]"}, **extra)

    def late(what):
        if time.time() > stop_at:
            extra["skipped"].append(what)
            log(f"skip {what} (deadline)")
            return True
        return False

    def no_input(what, sub):
        if sub in extra["generation"]["subsets"]:
            return False
        extra["skipped"].append(f"{what} (no {sub} input with --max-files {args.max_files})")
        log(f"skip {what} (no {sub} input)")
        return True

    log(f"load average at start: {load.start}")
    base_path = str(Path(os.environ.get("EMBLAB_DATA", "/work/shared/data")) / "embeddings_minilm/imdb_unsup.f16.npy")
    base = np.load(base_path).astype(np.float32)
    models = extra["models"] = fit_models(base, args.fit_rows, work, log)
    extra["generation"] = generate(work, args.max_files, args.sigma, base, base_path, log)
    extra["generation"]["kept"] = bool(args.keep)  # the report says whether the data was deleted
    subsets = extra["generation"]["subsets"]
    del base
    save()
    # (key, subset) encoded by the local engine in *this* run: searches read only these codes, never
    # leftovers of an earlier --keep run that was fitted with other models
    encoded: set[tuple[str, str]] = set()

    def encode(key, sub, engine):
        what = f"encode {key} {sub} {engine}"
        if late(what) or no_input(what, sub):
            return
        n = subsets[sub]["rows"]
        if engine == "local":
            od = work / f"enc_{key}_{sub}_local"
            shutil.rmtree(od, ignore_errors=True)
            r = run_job("encode_local", {"model_dir": models[key]["dir"], "input": str(work / sub),
                                         "out_dir": str(od), "hash": -1}, log)
            if "error" not in r:
                encoded.add((key, sub))
        else:  # codes come back to the driver (1.28 GB at 10^7 x 128 B) and are hashed there
            r = run_job("encode_ray", {"model_dir": models[key]["dir"], "input": str(work / sub), "workers": 2}, log)
        rec = {"stage": "encode", "method": models[key]["spec"], "n": n, "engine": engine, **r}
        if "seconds" in r:
            rec["vectors_per_s"] = n / r["seconds"]
        records.append(rec)
        save()

    def codes_for(key, n):
        """Search catalogue source: the largest local encoding of this run with <= n rows (the
        search job tiles it up to n when it is smaller)."""
        for s in ("n1e7", "n1e6", "n1e5"):
            if (key, s) in encoded and subsets[s]["rows"] <= n:
                return {"model_dir": models[key]["dir"], "codes_dir": str(work / f"enc_{key}_{s}_local"),
                        "codes_n": subsets[s]["rows"]}
        return None

    # ---- encode throughput at 10^5 / 10^6: local vs Ray
    for key, sub in (("pca", "n1e5"), ("pca", "n1e6"), ("pq", "n1e5")):
        for engine in ("local", "ray"):
            encode(key, sub, engine)

    # ---- acceptance: 5 GB parquet, killed and resumed
    if not late("acceptance 5 GB") and not no_input("acceptance 5 GB", "n5gb"):
        extra["acceptance"] = check_acceptance(acceptance(work, models["pca"]["dir"], log), records,
                                               models["pca"]["spec"])
        save()

    # ---- search throughput (int8 at 10^7 comes after the 10^7 encode below)
    for n, sub in ((FILE_ROWS, "n1e5"), (10 * FILE_ROWS, "n1e6"), (100 * FILE_ROWS, None)):
        if late(f"search {n}"):
            continue
        a = {"n": n, "flat": sub is not None and sub in subsets, "stop_at": stop_at}
        a["flat_input"] = str(work / sub) if a["flat"] else None
        for key in ("pq", "pca"):
            if codes_for(key, n):
                a[key] = codes_for(key, n)
        if n == 100 * FILE_ROWS:
            # PQ is not encoded at 10^7 (too slow here: ~100 s per 10^6 rows per process under
            # load, ~17 min more), so its 10^7 catalogue is always tiled; int8 runs later on real codes
            a.pop("pca", None)
        r = run_job("search", a, log)
        records.append({"stage": "search", **r})
        save()

    # ---- Qdrant round trip (before the long 10^7 stages, so a deadline does not cost it)
    if Path(emblab.__file__).parent.joinpath("compressors/sae.py").exists() and not late("qdrant"):
        r = run_job("qdrant", {"base": base_path, "input": str(work / "n1e5"), "n": 10_000, "fit_rows": 20_000,
                               "spec": "sae:h=1024,k=32,epochs=3,batch_size=512,progress=false"}, log)
        extra["qdrant"] = r
        save()

    # ---- 10^7: local PCA int8 encode, int8 search on its codes, then the same encode on Ray.
    # The search runs before the Ray encode: it needs only the local codes, and Ray is the
    # longest and least predictable job.
    encode("pca", "n1e7", "local")
    search_int8_1e7(codes_for("pca", 100 * FILE_ROWS), stop_at, late, records, log)
    save()
    encode("pca", "n1e7", "ray")

    # ---- optional: PQ at 10^6 (slow here)
    for engine in ("local", "ray"):
        encode("pq", "n1e6", engine)
    save(final=True)
    log(f"load average at end: {extra['load_average']['end']}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
        log(f"deleted {work}")
    try:
        sys.path.insert(0, str(Path(__file__).parent))
        from _scale_report import render

        (out / "scale.md").write_text(render(json.loads((out / "scale.json").read_text())))
    except Exception as exc:  # noqa: BLE001 - the md is re-rendered with --render-only
        log(f"md not written: {exc}")
    log("done")
    return 0


def check_acceptance(acc: dict, records: list[dict], pca_spec: str) -> dict:
    """Acceptance verdicts: completed, resume skipped the done chunks, peak < 4 GB, and the first
    10^6 codes equal those of the uninterrupted 10^6 run."""
    local_1e6 = [r for r in records if r.get("stage") == "encode" and r["method"] == pca_spec
                 and r["n"] == 10 * FILE_ROWS and r["engine"] == "local"]
    if local_1e6 and "sha" in acc["resumed_run"] and "sha" in local_1e6[0]:
        acc["first_1e6_codes_equal_uninterrupted_1e6_run"] = acc["resumed_run"]["sha"] == local_1e6[0]["sha"]
    rr = acc["resumed_run"]
    acc["completed"] = rr.get("rows") == acc["input_rows"]
    acc["resume_skipped_chunks"] = rr.get("chunks", 0) - rr.get("new_chunks", 0)
    acc["peak_under_4gb"] = acc["peak_mb"] < 4096
    return acc


def search_int8_1e7(spec: dict | None, stop_at: float, late, records: list[dict], log) -> None:
    """emblab int8 search at 10^7 on ``spec``'s codes: the real 10^7 encoding when the local 10^7
    encode finished, else the 10^6 codes tiled x10 (the job records which)."""
    if late("search int8 10^7"):
        return
    if spec is None:
        log("skip search int8 10^7 (no local PCA encoding in this run)")
        return
    r = run_job("search", {"n": 100 * FILE_ROWS, "flat": False, "int8_nq": INT8_NQ_1E7, "stop_at": stop_at,
                           "pca": spec}, log)
    records.append({"stage": "search", **r})


if __name__ == "__main__":
    sys.exit(main())
