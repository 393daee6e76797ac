"""The scale experiment as cells: out-of-core and Ray encoding, a 5 GB kill-and-resume run, exhaustive
search at 10^5..10^7 and a Qdrant round trip, on real embeddings repeated with noise.

Data: row ``i`` of the catalogue is row ``i mod len(base)`` of ``base`` plus N(0, sigma^2) noise per
coordinate, re-normalised, written file by file (``file_rows`` rows per uncompressed parquet file,
half-file row groups) under ``work/data_all`` (an interrupted generation resumes at the first missing
file); the inputs ``n1e5`` / ``n1e6`` / ``n5gb`` / ``n1e7`` are hard-linked prefixes of 1 / 10 / 33 /
100 files (10^5..10^7 rows at the default 100,000 rows per file).

Every measurement is a cell (:func:`~emblab.experiment.run_cells`) of one :class:`CellStore`, so a
rerun computes only the cells it lacks; each runs in its own process (:mod:`emblab.scale.jobs`). A
cell finds its inputs (data files, encoded codes) again when the work folder was deleted. Records
carry ``stage`` (``fit``, ``generate``, ``encode``, ``acceptance``, ``search``, ``qdrant``) and the
1-minute load average before and after the cell (the machine is shared).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..experiment import CellStore, cell_id, run_cells
from ..io import atomic_write_json
from ..registry import resolve_spec
from .jobs import job_command, process_memory_mb, run_job

#: input name -> number of leading generated files it holds
SUBSETS = {"n1e5": 1, "n1e6": 10, "n5gb": 33, "n1e7": 100}
RECORD_VERSION = 1


@dataclass
class ScaleConfig:
    """What the scale experiment measures (the fields that change numbers form the store fingerprint).

    Attributes
    ----------
    work : str
        Folder of the generated parquet files and encoded codes (large; never committed).
    base : str
        ``.npy`` of real vectors (n_base, d) the catalogue repeats with noise; models fit on its head.
    queries : str
        ``.npy`` path or ``load_embeddings`` name of the query vectors (first ``nq`` rows).
    specs : dict
        ``{"pca": spec, "pq": spec}``: the int8 codec searched by emblab and the FAISS PQ codec.
    engines : tuple of str
        Encode engines compared (``local``, ``ray``).
    qdrant_spec : str or None
        SAE spec of the Qdrant round trip (None skips it).
    deadline : float or None
        Unix time after which cells not yet run are skipped (they run on the next invocation).
    isolate : bool
        Run each measurement in its own process (False: in this one; tests).
    """

    work: str
    base: str
    queries: str = "imdb_labeled"
    nq: int = 100
    sigma: float = 0.05
    file_rows: int = 100_000
    max_files: int = 100
    fit_rows: int = 50_000
    specs: dict[str, str] = field(default_factory=lambda: {"pca": "pca:dim=128,store=int8", "pq": "faiss:PQ32np"})
    engines: tuple[str, ...] = ("local", "ray")
    ray_workers: int = 2
    ray_batch: int = 8192
    int8_nq_1e7: int = 20  # the int8 scan costs ~n whatever the query count: fewer queries bound its time
    kill_after_chunks: int = 10
    qdrant_spec: str | None = "sae:h=1024,k=32,epochs=3,batch_size=512,progress=false"
    qdrant_n: int = 10_000
    qdrant_fit_rows: int = 20_000
    deadline: float | None = None
    isolate: bool = True

    @property
    def row_group(self) -> int:
        return max(1, self.file_rows // 2)

    def fingerprint(self) -> str:
        skip = {"work", "deadline", "isolate"}
        return cell_id({"version": RECORD_VERSION, **{k: v for k, v in dataclasses.asdict(self).items()
                                                       if k not in skip}})

    def rows(self, sub: str) -> int:
        return SUBSETS[sub] * self.file_rows

    def available(self, sub: str) -> bool:
        return SUBSETS[sub] <= self.max_files


# ------------------------------------------------------------------------------------------- data
def _write_file(path: Path, f: int, cfg: ScaleConfig, base: np.ndarray) -> None:
    """Parquet file ``f``: rows ``f*file_rows..`` of ``base`` (cycled) plus noise, written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1000 + f)  # per-file seed: a resumed generation writes the same rows
    rows = np.arange(f * cfg.file_rows, (f + 1) * cfg.file_rows)
    X = base[rows % len(base)] + rng.standard_normal((cfg.file_rows, base.shape[1]), dtype=np.float32) * cfg.sigma
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    vec = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), base.shape[1])
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.table({"id": rows.astype(np.int64), "vector": vec}), tmp, row_group_size=cfg.row_group,
                   compression="none")
    os.replace(tmp, path)


def _mean_cos(path: Path, base: np.ndarray, n: int = 1000) -> float:
    """Mean cosine of the first ``n`` rows of ``path`` to their source rows of ``base``."""
    from .sources import iter_chunks

    X = next(iter(iter_chunks(path, n))).load()[0]
    b = base[: len(X)] / np.linalg.norm(base[: len(X)], axis=1, keepdims=True)
    return float(np.mean(np.sum(X * b, axis=1)))


def generate(cfg: ScaleConfig) -> dict[str, Any]:
    """Write the missing parquet files (existing ones are kept) and hard-link the inputs; the summary."""
    work, src = Path(cfg.work), Path(cfg.work) / "data_all"
    params = {"file_rows": cfg.file_rows, "sigma": cfg.sigma, "base": cfg.base}
    stamp = src / "params.json"
    if src.exists() and (not stamp.exists() or json_load(stamp) != params):  # never mix two settings' files
        for d in [src] + [work / name for name in SUBSETS]:
            shutil.rmtree(d, ignore_errors=True)
    src.mkdir(parents=True, exist_ok=True)
    atomic_write_json(stamp, params)
    base = np.load(cfg.base).astype(np.float32)
    t0, new = time.perf_counter(), 0
    for f in range(cfg.max_files):
        if not (src / f"part-{f:05d}.parquet").exists():
            _write_file(src / f"part-{f:05d}.parquet", f, cfg, base)
            new += 1
    secs = time.perf_counter() - t0
    subsets = {}
    for name, nf in SUBSETS.items():
        if cfg.available(name):
            (work / name).mkdir(exist_ok=True)
            for f in range(nf):
                if not (work / name / f"part-{f:05d}.parquet").exists():
                    os.link(src / f"part-{f:05d}.parquet", work / name / f"part-{f:05d}.parquet")
            subsets[name] = {"files": nf, "rows": cfg.rows(name),
                             "bytes": sum(p.stat().st_size for p in (work / name).glob("*.parquet"))}
    return {"files": cfg.max_files, "new_files": new, "rows": cfg.max_files * cfg.file_rows,
            "file_rows": cfg.file_rows, "row_group": cfg.row_group, "seconds": secs, "sigma": cfg.sigma,
            "mean_cos_to_source_row": _mean_cos(src / "part-00000.parquet", base), "subsets": subsets,
            "driver_peak_mb": process_memory_mb()["hwm_mb"]}


def json_load(path: Path) -> Any:
    return json.loads(path.read_text())


# ------------------------------------------------------------------------------------------ cells
class Plan:
    """The cells of one run, in order, and the helpers their functions share."""

    def __init__(self, cfg: ScaleConfig, store: CellStore):
        self.cfg, self.store, self.skipped = cfg, store, []
        self._data_ready = False

    def model_dir(self, key: str) -> Path:
        return self.store.model_dir(cell_id(self.fit_config(key)))

    def fit_config(self, key: str) -> dict[str, Any]:
        return {"stage": "fit", "key": key, "spec": self.cfg.specs[key], "fit_rows": self.cfg.fit_rows,
                "base": self.cfg.base}

    def fit(self, key: str) -> dict[str, Any]:
        from ..registry import build

        model = build(self.cfg.specs[key]).fit(np.load(self.cfg.base)[: self.cfg.fit_rows].astype(np.float32))
        shutil.rmtree(self.model_dir(key), ignore_errors=True)
        model.save(self.model_dir(key))
        return {"key": key, "spec": model.to_spec(full=True), "fit_s": model.fit_time_s_,
                "bytes_per_vector": float(model.bytes_per_vector), "fit_rows": self.cfg.fit_rows}

    def data(self) -> dict[str, Any]:
        """Generate the data (a no-op when every file exists); the generation summary."""
        out = generate(self.cfg)
        self._data_ready = True
        return out

    def input(self, sub: str) -> str:
        if not self._data_ready:
            self.data()
        return str(Path(self.cfg.work) / sub)

    def codes_dir(self, key: str, sub: str, *, fresh: bool = False) -> str:
        """Folder of ``key``'s local codes of input ``sub``; encoded here when missing (``fresh``: emptied)."""
        from ..pipeline import load_model
        from .chunked import encode_to_dir

        d = Path(self.cfg.work) / "codes" / f"{key}-{cell_id(self.fit_config(key))}-{sub}"
        if fresh:
            shutil.rmtree(d, ignore_errors=True)
        elif not (d / "manifest.json").exists() or not json_load(d / "manifest.json").get("complete"):
            encode_to_dir(load_model(self.model_dir(key)), self.input(sub), d, chunk_rows=self.cfg.row_group,
                          progress=False)
        return str(d)

    def encode(self, key: str, sub: str, engine: str) -> dict[str, Any]:
        a = {"model_dir": str(self.model_dir(key)), "input": self.input(sub), "chunk_rows": self.cfg.row_group}
        if engine == "local":
            r = run_job("encode_local", {**a, "out_dir": self.codes_dir(key, sub, fresh=True)}, isolate=self.cfg.isolate)
        else:
            r = run_job("encode_ray", {**a, "workers": self.cfg.ray_workers, "batch": self.cfg.ray_batch},
                        isolate=self.cfg.isolate)
        rec = {"method": resolve_spec(self.cfg.specs[key]), "n": self.cfg.rows(sub), "engine": engine, **r}
        return {**rec, "vectors_per_s": rec["n"] / r["seconds"]} if "seconds" in r else rec

    def search(self, n: int, flat: str | None, pq: str | None, int8: str | None, int8_nq: int | None) -> dict:
        a: dict[str, Any] = {"n": n, "queries": self.cfg.queries, "nq": self.cfg.nq, "chunk_rows": self.cfg.row_group,
                             "flat_input": self.input(flat) if flat else None}
        if pq:
            a["pq"] = {"model_dir": str(self.model_dir("pq")), "codes_dir": self.codes_dir("pq", pq)}
        if int8:
            a["int8"] = {"model_dir": str(self.model_dir("pca")), "codes_dir": self.codes_dir("pca", int8),
                         "nq": int8_nq}
        return run_job("search", a, isolate=self.cfg.isolate)

    def acceptance(self) -> dict[str, Any]:
        """Encode ``n5gb`` locally, SIGKILL the process after ``kill_after_chunks`` chunks, resume it."""
        cfg, out_dir = self.cfg, self.codes_dir("pca", "n5gb", fresh=True)
        args = {"model_dir": str(self.model_dir("pca")), "input": self.input("n5gb"), "out_dir": out_dir,
                "chunk_rows": cfg.row_group, "hash_rows": cfg.rows("n1e6")}
        p = subprocess.Popen(job_command("encode_local", args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        hwm, t0, man = 0.0, time.perf_counter(), Path(out_dir) / "manifest.json"
        while p.poll() is None:
            hwm = max(hwm, process_memory_mb(p.pid)["hwm_mb"])
            try:
                if len(json_load(man)["chunks"]) >= cfg.kill_after_chunks:
                    os.kill(p.pid, signal.SIGKILL)
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        p.wait()
        killed_s, m = time.perf_counter() - t0, json_load(man)
        rr = run_job("encode_local", args, isolate=cfg.isolate)
        return {"input_rows": cfg.rows("n5gb"), "files": SUBSETS["n5gb"], "chunk_rows": cfg.row_group,
                "input_bytes": sum(x.stat().st_size for x in Path(args["input"]).glob("*.parquet")),
                "killed_run": {"chunks_done_at_kill": len(m["chunks"]), "complete_flag": m["complete"],
                               "seconds": killed_s, "peak_mb_sampled": hwm,
                               "tmp_files_left": len(list(Path(out_dir).glob("*.tmp-*")))},
                "resumed_run": rr, "peak_mb": max(hwm, rr.get("peak_mb", 0.0))}

    def qdrant(self) -> dict[str, Any]:
        cfg = self.cfg
        return run_job("qdrant", {"base": cfg.base, "input": self.input("n1e5"), "n": min(cfg.qdrant_n, cfg.file_rows),
                                  "fit_rows": cfg.qdrant_fit_rows, "spec": cfg.qdrant_spec, "queries": cfg.queries,
                                  "nq": cfg.nq}, isolate=cfg.isolate)

    def cells(self) -> Iterator[tuple[dict[str, Any], Callable[[], dict[str, Any]]]]:
        """(config, fn) of every cell, in run order: short stages first, 10^7 last."""
        cfg = self.cfg

        def cell(config: dict[str, Any], fn: Callable[[], dict[str, Any]], needs: str | None = None):
            if needs and not cfg.available(needs):
                self.skipped.append(f"{config['stage']} {needs} (needs {SUBSETS[needs]} files, --max-files "
                                    f"{cfg.max_files})")
                return []
            return [(config, self._timed(config["stage"], fn))]

        out = [c for key in cfg.specs for c in cell(self.fit_config(key), lambda key=key: self.fit(key))]
        out += cell({"stage": "generate", "files": cfg.max_files}, self.data)

        def enc(key, sub, engines=cfg.engines):
            return [c for e in engines for c in cell({"stage": "encode", "key": key, "sub": sub, "engine": e},
                                                     lambda e=e: self.encode(key, sub, e), sub)]

        out += enc("pca", "n1e5") + enc("pca", "n1e6") + enc("pq", "n1e5")
        out += cell({"stage": "acceptance", "sub": "n5gb"}, self.acceptance, "n5gb")
        for flat, int8, n in (("n1e5", "n1e5", cfg.rows("n1e5")), ("n1e6", "n1e6", cfg.rows("n1e6")),
                              (None, None, cfg.rows("n1e7"))):  # PQ: 10^5 codes, tiled above 10^5
            conf = {"stage": "search", "n": n, "flat": flat, "pq": "n1e5", "int8": int8}
            out += cell(conf, lambda c=conf: self.search(c["n"], c["flat"], c["pq"], c["int8"], None), int8)
        if cfg.qdrant_spec:
            out += cell({"stage": "qdrant", "spec": cfg.qdrant_spec, "n": cfg.qdrant_n}, self.qdrant, "n1e5")
        out += enc("pca", "n1e7", ("local",))
        conf = {"stage": "search", "n": cfg.rows("n1e7"), "int8": "n1e7", "int8_nq": cfg.int8_nq_1e7}
        out += cell(conf, lambda: self.search(conf["n"], None, None, "n1e7", cfg.int8_nq_1e7), "n1e7")
        out += enc("pca", "n1e7", tuple(e for e in cfg.engines if e != "local")) + enc("pq", "n1e6")
        yield from out

    def _timed(self, stage: str, fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        """``fn`` skipped past the deadline (not stored: the next run does it), load average around it."""

        def run() -> dict[str, Any]:
            if self.cfg.deadline and time.time() > self.cfg.deadline:
                return {"stage": stage, "error": "not run: past the deadline", "skipped": True}
            before = os.getloadavg()[0]
            rec = fn()
            return {"stage": stage, **rec, "load_1min": [round(before, 2), round(os.getloadavg()[0], 2)]}

        return run


def open_store(root: str | os.PathLike, cfg: ScaleConfig) -> CellStore:
    """The cell store of ``cfg`` (one folder per configuration under ``root``)."""
    return CellStore(Path(root) / cfg.fingerprint(), fingerprint=cfg.fingerprint(),
                     meta={"experiment": "scale", "config": dataclasses.asdict(cfg)})


def run(cfg: ScaleConfig, store_root: str | os.PathLike, *,
        on_record: Callable[[dict[str, Any], bool], None] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Run (or resume) every cell of ``cfg``; returns (records in run order, stages left out)."""
    plan = Plan(cfg, open_store(store_root, cfg))
    records = run_cells(plan.store, plan.cells(), on_record=on_record)
    return records, plan.skipped
