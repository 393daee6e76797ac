"""Markdown of a scale results document (kind ``scale``): tables computed from the records and the
projection to 10^9 vectors computed from the measured figures (reads records only, runs nothing).

Documents written before the experiment became cells kept the models, data generation, acceptance
run and Qdrant round trip as top-level keys; :func:`scale_records` turns them into records.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ..experiment.markdown import document, table
from ..experiment.results import read_results
from ..io import atomic_write_text

N_TARGET = 10**9
_LEGACY = (("models", "fit"), ("generation", "generate"), ("acceptance", "acceptance"), ("qdrant", "qdrant"))


def scale_records(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every record of ``doc``, with the legacy top-level stages as records (``stage`` set)."""
    out = list(doc.get("records") or [])
    for key, stage in _LEGACY:
        val = doc.get(key)
        if key == "models" and val:
            out += [{"stage": stage, "key": k, **m} for k, m in val.items()]
        elif val:
            out.append({"stage": stage, **val})
    return out


def _n(n: int) -> str:
    """10^k for exact powers of ten, else the number with separators."""
    k = round(math.log10(n)) if n > 0 else 0
    return f"10^{k}" if n > 0 and 10**k == n else f"{n:,}"


def _gb(b: float) -> str:
    return f"{b / 1e9:,.1f} GB" if b < 1e12 else f"{b / 1e12:,.2f} TB"


def _size(b: float) -> str:
    return f"{b / 1e6:,.0f} MB" if b < 1e9 else _gb(b)


def _f(x: Any, fmt: str = ",.0f") -> str:
    return "–" if x is None else format(x, fmt)


def _ok(recs: list[dict], stage: str) -> list[dict]:
    return [r for r in recs if r.get("stage") == stage and "error" not in r]


def _one(recs: list[dict], stage: str) -> dict | None:
    got = _ok(recs, stage)
    return got[-1] if got else None


def _load(doc: dict, recs: list[dict]) -> str:
    """The 1-minute load average the run was measured under (run-wide samples, else per-cell values)."""
    la = doc.get("load_average")
    if la:
        return (f"1-min load average {la['start'][0]:.1f} at the start, {la['end'][0]:.1f} at the end, "
                f"{la['min_1min']:.1f}-{la['max_1min']:.1f} during the run (mean {la['mean_1min']:.1f})")
    vals = [v for r in recs for v in r.get("load_1min", [])]
    return (f"1-min load average {min(vals):.1f}-{max(vals):.1f} around the cells (mean "
            f"{sum(vals) / len(vals):.1f})") if vals else "load average not recorded"


def _data(doc: dict, recs: list[dict]) -> list[str]:
    gen, fits = _one(recs, "generate"), _ok(recs, "fit")
    ds = doc.get("dataset") or {}
    out = ["## Data", ""]
    if gen:
        inputs = ", ".join(f"{name} = {s['rows']:,} rows ({s['files']} files, {_size(s['bytes'])})"
                           for name, s in gen["subsets"].items())
        out += [f"{ds.get('name', 'base vectors repeated with noise')}: row i is base row i mod n_base plus "
                f"N(0, {gen['sigma']}^2) noise per coordinate, re-normalised (mean cosine to its source row {gen['mean_cos_to_source_row']:.3f}); "
                f"{gen['files']} uncompressed parquet files of {gen['file_rows']:,} rows ({gen['row_group']:,}-row "
                f"row groups), {gen['rows']:,} rows written in {gen['seconds']:,.0f} s ({gen['new_files']} new "
                f"files). Inputs (prefixes of these files): {inputs}. Queries: {ds.get('queries', '?')}.", ""]
    if fits:
        out += table(["model", "B/vector", "fit s", "fit rows"],
                     [[f"`{m['spec']}`", f"{m['bytes_per_vector']:.0f}", f"{m['fit_s']:.1f}", f"{m['fit_rows']:,}"]
                      for m in fits]) + [""]
    return out


def _encode(recs: list[dict]) -> list[str]:
    enc = [r for r in recs if r.get("stage") == "encode"]
    if not enc:
        return []
    local = {(r["method"], r["n"]): r.get("sha") for r in enc if r["engine"] == "local" and "error" not in r}
    rows = []
    for r in enc:
        if "error" in r:
            rows.append([r["method"], f"{r['n']:,}", r["engine"], f"failed: {r['error']}", "", "", "", "", ""])
            continue
        ray = r["engine"] == "ray"
        same = ("yes" if local.get((r["method"], r["n"])) == r["sha"] else "no") if ray and (
            r["method"], r["n"]) in local else ""
        rows.append([r["method"], f"{r['n']:,}", r["engine"], f"{r['vectors_per_s']:,.0f}", f"{r['seconds']:,.1f}",
                     _f(r.get("init_seconds"), ".1f"), f"{r['peak_mb']:,.0f} MB",
                     f"{r['peak_tree_mb']:,.0f} MB" if ray else "", same + (
                         "" if r.get("ids_in_order", True) else " (rows not in id order)")])
    pts = sorted((r["n"], r["peak_mb"]) for r in _ok(enc, "encode") if r["engine"] == "local"
                 and r["method"].startswith("pca"))
    return ["## Encode throughput: one process (`encode_to_dir`) vs Ray (`encode_with_ray`)", "",
            "Each run is its own process. Peak memory: VmHWM of the process; Ray tree: peak summed RSS of the "
            "driver and its descendants (GCS, raylet, actors; shared pages counted per process). vectors/s = rows "
            "/ encode time (read, encode, write; Ray start-up apart). Codes equal local: sha256 of all codes.", ""] + table(
        ["method", "n", "engine", "vectors/s", "encode s", "Ray start s", "peak memory", "Ray tree peak",
         "codes equal local"], rows) + (
        ["", "One-process peak memory (PCA int8): " + ", ".join(f"{mb:,.0f} MB at {_n(n)}" for n, mb in pts) + "."]
        if pts else [])


def _acceptance(recs: list[dict]) -> list[str]:
    acc = _one(recs, "acceptance")
    if not acc:
        return []
    kr, rr = acc["killed_run"], acc["resumed_run"]
    ref = [r for r in _ok(recs, "encode") if r["engine"] == "local" and r["n"] == 10 * acc["input_rows"] // acc[
        "files"] and r["method"].startswith("pca")]
    same = (ref[0].get("sha") == rr.get("sha")) if ref and rr.get("sha") else None
    return ["", f"## Acceptance: {acc['input_bytes'] / 1e9:.2f} GB of parquet, killed and resumed", "",
            f"Input: {acc['input_rows']:,} rows in {acc['files']} files; PCA int8, "
            f"{acc['chunk_rows']:,}-row chunks.", "",
            f"- Run 1, SIGKILL after {kr['chunks_done_at_kill']} chunks ({kr['seconds']:.0f} s): manifest complete "
            f"= {kr['complete_flag']}, temp files left = {kr['tmp_files_left']}, peak {kr['peak_mb_sampled']:,.0f} MB.",
            f"- Run 2 resumed: skipped {rr.get('chunks', 0) - rr.get('new_chunks', 0)} chunks, encoded "
            f"{rr.get('new_chunks')} in {_f(rr.get('seconds'))} s, {rr.get('rows', 0):,} rows, peak "
            f"{_f(rr.get('peak_mb'))} MB.",
            f"- **Peak {acc['peak_mb']:,.0f} MB < 4 GB: {acc['peak_mb'] < 4096}**; completed: "
            f"{rr.get('rows') == acc['input_rows']}; first {_n(ref[0]['n']) if ref else '?'} codes equal the "
            f"uninterrupted run's (sha256): {same}."]


def _search(recs: list[dict]) -> list[str]:
    srch = [r for r in recs if r.get("stage") == "search"]
    if not srch:
        return []
    rows = []
    for r in sorted(srch, key=lambda r: (r.get("n", 0), "int8_ms_per_query" in r)):
        if "error" in r:
            rows.append([f"{r.get('n', 0):,}", f"failed: {r['error']}"] + [""] * 6)
            continue
        i8 = _f(r.get("int8_ms_per_query"), ",.1f")
        if r.get("int8_nq") and r["int8_nq"] != r["nq"]:
            i8 += f" ({r['int8_nq']} queries)"
        rows.append([f"{r['n']:,}", _f(r.get("flat_ms_per_query"), ",.2f"), _f(r.get("pq_ms_per_query"), ",.2f"),
                     _f(r.get("pq_recall@10"), ".3f"), i8, _f(r.get("int8_recall@10"), ".3f"),
                     "; ".join(f"{k}: {r[f'{k}_catalogue']}" for k in ("pq", "int8") if f"{k}_catalogue" in r),
                     f"{r['peak_mb']:,.0f} MB"])
    nq = "/".join(str(q) for q in sorted({r["nq"] for r in _ok(srch, "search")}))
    return ["", f"## Search (exhaustive, one thread, {nq} queries, k = 10)", "",
            "Recall@10 against FAISS IndexFlatIP (exact) on the same catalogue, only where the codes were encoded "
            "(not tiled: encoded codes repeated up to n, valid for timing only) and IndexFlatIP ran. The int8 scan "
            "costs ~n whatever the query count; where it ran fewer queries, ms/query is the scan over that count.",
            ""] + table(["n", "IndexFlatIP f32 ms/q", "IndexPQ ADC ms/q", "PQ R@10", "emblab int8 ms/q",
                         "int8 R@10", "catalogues", "peak memory"], rows)


def _qdrant(recs: list[dict]) -> list[str]:
    qd = _one(recs, "qdrant")
    if not qd:
        return []
    return ["", "## Qdrant round trip (SAE sparse codes)", "",
            f"`{qd['spec']}` fit on {qd['fit_rows']:,} real vectors ({qd['fit_s']:.0f} s); {qd['n']:,} catalogue "
            f"codes ({qd['bytes_per_vector']:.0f} B/vector) exported to in-memory Qdrant (local mode) in "
            f"{qd['export_s']:.1f} s; {qd['nq']} queries.", "",
            f"- **Top-10 agreement with emblab sparse search: {qd['top10_agreement']:.1%}** (tie-tolerant); exact "
            f"top-10 set equality {qd['top10_exact_set_agreement']:.1%}.",
            f"- Query time: Qdrant local mode {qd['qdrant_ms_per_query']:,.1f} ms/query, emblab sparse search "
            f"{qd['emblab_sparse_ms_per_query']:,.2f} ms/query."]


def _full_batch(srch: list[dict], key: str) -> list[tuple[int, float]]:
    """(n, ms/query) of ``key``, only full query batches (a partial int8 batch overstates ms/query)."""
    return sorted((r["n"], r[key]) for r in srch if r.get(key) is not None
                  and (not key.startswith("int8") or r.get("int8_nq", r["nq"]) == r["nq"]))


def _projection(recs: list[dict]) -> list[str]:
    enc, srch, fits = _ok(recs, "encode"), _ok(recs, "search"), _ok(recs, "fit")
    gen = _one(recs, "generate")
    d = next((r["flat_bytes"] // r["n"] // 4 for r in srch if r.get("flat_bytes")), 384)
    out = ["", f"## Projection to 10^9 vectors (d = {d})", "",
           "Linear in n from the largest measured n of each figure; throughputs are per process on the machine "
           "below, under its load.", ""]
    store = [("float32", 4 * d), ("float16", 2 * d)] + [(f"`{m['spec']}`", m["bytes_per_vector"]) for m in fits]
    out += table(["representation", "B/vector", "10^9 vectors"],
                 [[name, f"{b:.0f}", _gb(b * N_TARGET)] for name, b in store]) + [""]
    rows = []
    for m in fits:
        loc = [r for r in enc if r["method"] == m["spec"] and r["engine"] == "local"]
        if loc:
            r = max(loc, key=lambda r: r["n"])
            v = r["vectors_per_s"]
            rows.append([f"{m['spec']} (n={r['n']:,})", f"{v:,.0f}", f"{N_TARGET / v / 3600:,.1f} h",
                         f"{math.ceil(N_TARGET / v / 3600):,}"])
    out += table(["encode", "vectors/s per process", "10^9 on 1 process", "processes for 10^9 in 1 h"], rows)
    if gen and rows:
        row_bytes = 4 * d + 8
        best = max((r for r in enc if r["engine"] == "local" and r["method"].startswith("pca")), key=lambda r: r["n"])
        mbs = best["vectors_per_s"] * row_bytes / 1e6
        out += ["", f"Parquet input: {row_bytes:,} B/row = {_gb(row_bytes * N_TARGET)} at 10^9; the PCA run reads "
                f"{mbs:,.0f} MB/s per process."]
    out += ["", "Exhaustive search per query-thread (from the largest full query batch):", ""]
    for key, label, bpv in (("pq_ms_per_query", "IndexPQ ADC", 32), ("int8_ms_per_query", "emblab int8", 128),
                            ("flat_ms_per_query", "IndexFlatIP float32", 4 * d)):
        pts = _full_batch(srch, key)
        if pts:
            n, ms = pts[-1]
            t9 = ms * N_TARGET / n / 1000
            growth = ", ".join(f"x{b[1] / a[1]:.1f} from {_n(a[0])} to {_n(b[0])}" for a, b in zip(pts, pts[1:]))
            out.append(f"- {label}: {ms:,.1f} ms/query at n={n:,} -> **{t9:,.0f} s/query at 10^9** "
                       f"({_gb(bpv * N_TARGET)} of codes); {t9 / 0.1:,.0f} threads for 100 ms/query"
                       + (f" (measured growth {growth})." if growth else "."))
    part = [r for r in srch if r.get("int8_nq", r["nq"]) != r["nq"]]
    for r in part:
        scan = r["int8_ms_per_query"] * r["int8_nq"] / 1000
        out.append(f"- (emblab int8 at n={r['n']:,}, {r['int8_nq']} queries: a {scan:,.0f} s scan, "
                   f"{scan * N_TARGET / r['n']:,.0f} s per scan at 10^9.)")
    out += ["", "So 10^9 needs a coarse partition (IVF, or an inverted index for sparse codes) in front of the codes: "
            "scanning ~0.1 % of them is about the measured 10^6 row per query."]
    return out


def render(doc: dict[str, Any]) -> str:
    """The markdown page of a scale results document."""
    recs = scale_records(doc)
    env = doc.get("environment") or {}
    notes = [f"{_load(doc, recs)}, on {(env.get('machine') or {}).get('cores', '?')} cores"]
    notes += [f"records edited {e['date']}: {e['what']}" for e in doc.get("record_edits", [])]
    notes += [f"not run: {s}" for s in doc.get("skipped", [])]
    body = (["Out-of-core encoding and search of real MiniLM vectors repeated with noise (issue 9, part 5)."]
            + [""] + _data(doc, recs) + _encode(recs) + _acceptance(recs) + _search(recs) + _qdrant(recs) + _projection(recs))
    return document("Scale benchmark", body, doc, notes=notes)


def render_scale(path: str | os.PathLike) -> Path:
    """Write ``<path>.md`` next to the scale results JSON ``path`` (running nothing); returns the .md path."""
    md = Path(path).with_suffix(".md")
    atomic_write_text(md, render(read_results(path).to_dict()))
    return md
