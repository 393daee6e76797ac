"""The peer benchmark (issue 2, part 11): every peer at 32..384 B/vector through :func:`run_bench`.

``benchmarks/peers.py`` is the driver. Tasks: ``knn_fidelity/imdb-minilm`` and ``beir_scifact``.
Every peer whose payload is exactly one of :data:`BUDGETS` runs, plus the 48 B rung (binary,
PQ48, OPQ48), the 432 B binary + int8 rescoring store and the 768 B float16 reference.

:func:`run` makes two :func:`~emblab.bench.runner.run_bench` runs, each resuming from its own cell
store under a work folder: the PQ family (PQ, OPQ, FastScan) on the first ``faiss_fit_rows``
rows of the fit set (a documented smaller fit on a shared CPU), every other peer on the whole fit
set; cheap methods first. The two documents are merged into one record list (one uncompressed
row per task). :func:`faiss_direct_check` trains ``faiss.index_factory`` directly and compares its
codes and top-10 lists with the bench's model; :func:`render_md` writes the committed page:
run_bench's tables and verdict, the agreement with the reference tables of
baselines_and_eval.md §2.1/§2.2, and the FAISS check.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .candidates import peer_specs_for_budgets
from .runner import distinct_specs, full_spec, markdown_table, run_bench

BUDGETS = (32, 64, 96, 128, 192, 256, 384)
EXTRA_RUNGS = (48,)  # binary's only size; also PQ48/OPQ48 (the 48 B ladder of §1)
#: factories checked against FAISS called directly (on the kNN task)
CHECKED = ("PQ32", "OPQ32,PQ32", "PQ32np", "OPQ32,PQ32np")

#: baselines_and_eval.md §2.1 (imdb-minilm): spec -> (row label, (R@10 asym, R@10 sym, R10@100 asym))
REFERENCE_KNN = {
    "float16": ("float16", (1.000, 1.000, 1.000)),
    "faiss:SQ8": ("SQ8 (int8)", (0.992, 0.990, 1.000)),
    "int8": ("SQ8 (int8)", (0.992, 0.990, 1.000)),
    "faiss:SQ4": ("SQ4", (0.884, 0.850, None)),
    "pca:dim=128,store=int8": ("PCA-128 + SQ8", (0.728, 0.728, 0.993)),
    "pca:dim=128,store=f32|int8": ("PCA-128 + SQ8", (0.728, 0.728, 0.993)),
    "trunc:dim=64": ("trunc-64 fp16", (0.208, None, 0.532)),
    "binary": ("binary, float query x sign codes", (0.491, None, 0.917)),
    "binary:rescore=10,rescore_source=int8": ("binary, x10 float rescoring (separate store)", (0.753, None, None)),
    "faiss:PQ32": ("PQ32", (0.484, 0.305, 0.934)),
    "faiss:PQ64": ("PQ64", (0.686, 0.560, 0.997)),
    "faiss:PQ96": ("PQ96", (0.790, 0.719, 1.000)),
    "faiss:OPQ32,PQ32": ("OPQ32", (0.586, 0.446, 0.978)),
    "faiss:OPQ64,PQ64": ("OPQ64", (0.745, 0.658, 0.999)),
    "faiss:OPQ96,PQ96": ("OPQ96", (0.795, 0.727, 1.000)),
}
#: §2.2 (beir_scifact nDCG@10)
REFERENCE_BEIR = {"float32": 0.6451, "pca:dim=256": 0.637, "pca:dim=128": 0.610, "pca:dim=64": 0.542,
                  "pca:dim=32": 0.452, "trunc:dim=256": 0.635, "trunc:dim=128": 0.602, "trunc:dim=64": 0.484,
                  "trunc:dim=32": 0.337}
KNN_KEYS = ("recall@10_asym", "recall@10_sym", "r10@100_asym")
TOL = 0.01


def cost_class(spec: str) -> int:
    """Run order: 0 cheap, 1 PQ (8-bit), 2 FastScan PQ and pca|int8 chains, 3 OPQ (slowest)."""
    if spec.startswith("faiss:OPQ"):
        return 3
    if spec.startswith("faiss:PQ"):
        return 1 if "x4fs" not in spec else 2
    return 2 if "|" in spec else 0


def is_pq(spec: str) -> bool:
    """PQ, OPQ and FastScan codecs: the ones fitted on ``faiss_fit_rows`` rows."""
    return spec.startswith("faiss:") and "PQ" in spec


def method_list(d: int, max_class: int = 3) -> list[tuple[int, str]]:
    """(budget, spec) of every peer run for width ``d``, each compressor once, cheapest first
    (PQ/OPQ by the rungs with reference values first: 32, 64, 96)."""
    specs = peer_specs_for_budgets(d, BUDGETS + EXTRA_RUNGS)
    # binary + stored int8 copy for rescoring, and the float16 / SQfp16 references
    specs += [(b, s) for b, s in peer_specs_for_budgets(d, (-(-d // 8) + d, 2 * d))
              if s.startswith("binary") or s in ("float16", "faiss:SQfp16")]
    keep, seen, out = set(distinct_specs([s for _, s in specs])), set(), []
    for b, s in specs:
        # the uncompressed row is run_bench's own reference row, never a method
        if s in keep and s not in seen and s != "float32" and cost_class(s) <= max_class:
            seen.add(s)
            out.append((b, s))
    prio = {32: 0, 64: 1, 96: 2, 48: 3, 128: 4, 192: 5}
    return sorted(out, key=lambda j: (cost_class(j[1]), j[0] if cost_class(j[1]) in (0, 2) else prio.get(j[0], 9)))


def run(tasks: Sequence[str], work_dir: str | Path, *, faiss_fit_rows: int | None = None,
        time_budget_s: float | None = None, max_class: int = 3, fresh: bool = False,
        command: str | None = None, specs: Sequence[str] | None = None) -> tuple[list[dict], dict[str, Any]]:
    """Both run_bench runs (see the module docstring); returns (records, datasets by task).

    ``specs`` replaces :func:`method_list` of the first task's width (tests, partial runs).
    """
    from ..evaluation.tasks import get_task

    t0 = time.perf_counter()
    if specs is None:
        specs = [s for _, s in method_list(get_task(tasks[0]).load().fit_data().shape[1], max_class)]
    records: list[dict] = []
    datasets: dict[str, Any] = {}
    for part, chosen, rows in (("all", [s for s in specs if not is_pq(s)], None),
                               ("pq", [s for s in specs if is_pq(s)], faiss_fit_rows)):
        if not chosen:
            continue
        left = None if time_budget_s is None else max(0.0, time_budget_s - (time.perf_counter() - t0))
        res = run_bench(chosen, [get_task(t) for t in tasks], BUDGETS + EXTRA_RUNGS, command=command,
                        store=Path(work_dir) / part, fresh=fresh, fit_rows=rows, time_budget_s=left,
                        on_record=lambda r: print(f"[{r['task']}] {r.get('spec', r['method'])}: "
                                                  f"{r.get(r.get('main_score', ''), r.get('error', r.get('skipped')))}",
                                                  flush=True))
        first = not records  # one uncompressed row per task: the first run's
        records += [r for r in res.records if first or r["method"] != "float32"]
        datasets.update({k: v for k, v in res.dataset.items() if k not in datasets})
    return records, datasets


def faiss_direct_check(task: Any, factory: str, fit_rows: int | None = None) -> dict[str, Any]:
    """Train FAISS directly and the bench's ``faiss:<factory>`` on the same rows; compare codes and
    top-10 lists (``task``: a loaded kNN task with ``xb`` / ``xq``)."""
    import faiss

    from ..registry import build
    from ..search import search

    X = task.fit_data()[:fit_rows] if fit_rows else task.fit_data()
    bench_model = build(f"faiss:{factory}").fit(X)
    t0 = time.perf_counter()
    index = faiss.index_factory(X.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    # emblab trains OPQ on one thread (its result depends on the thread count): do the same here
    n_threads = faiss.omp_get_max_threads()
    if "OPQ" in factory:
        faiss.omp_set_num_threads(1)
    try:
        index.train(X)
    finally:
        faiss.omp_set_num_threads(n_threads)
    t_train = time.perf_counter() - t0
    codes_direct = index.sa_encode(task.xb)
    index.add(task.xb)
    _, I_direct = index.search(task.xq, 10)
    codes = bench_model.encode(task.xb)
    # "adc" is FAISS's own inner-product score over the codes; "asymmetric" (cosine to the decoded
    # vector, the spec's definition) ranks differently and is not what FAISS returns
    mode = "adc" if "adc" in bench_model.search_modes else "asymmetric"
    _, I_bench = search(bench_model, task.xq, codes, 10, mode)
    return {"factory": factory, "task": task.name, "direct_train_s": t_train, "mode": mode,
            "codes_equal": bool(np.array_equal(codes_direct, codes.data)),
            "top10_equal_fraction": float(np.mean(I_direct == I_bench)),
            "top10_identical": bool(np.array_equal(I_direct, I_bench))}


# --- markdown ------------------------------------------------------------------------------------

def comparison_md(records: list[dict]) -> str:
    """The agreement of measured values with the reference tables (within ±:data:`TOL`)."""
    lines = ["## Agreement with the reference tables (baselines_and_eval.md §2.1, §2.2)", "",
             f"A value agrees when it is within ±{TOL} of the reference.", "",
             "| task | spec | reference row | metric | reference | measured | diff | agrees |", "|---|---|---|---|---|---|---|---|"]
    n_ok = n_all = 0
    # records hold full resolved specs; the reference tables are keyed by the short ones
    ref_knn = {full_spec(k): v for k, v in REFERENCE_KNN.items()}
    ref_beir = {full_spec(k): v for k, v in REFERENCE_BEIR.items()}
    for r in records:
        if "error" in r or "skipped" in r:
            continue
        if r["task"] == "knn_fidelity/imdb-minilm" and r["method"] in ref_knn:
            label, refs = ref_knn[r["method"]]
            for key, ref in zip(KNN_KEYS, refs):
                if ref is None or key not in r:
                    continue
                diff = r[key] - ref
                n_ok += abs(diff) <= TOL
                n_all += 1
                lines.append(f"| imdb-minilm | `{r['method']}` | {label} | {key} | {ref:.3f} | {r[key]:.3f} | "
                             f"{diff:+.3f} | {'yes' if abs(diff) <= TOL else 'no'} |")
        if r["task"] == "beir_scifact" and r["method"] in ref_beir:
            ref = ref_beir[r["method"]]
            diff = r["ndcg@10"] - ref
            n_ok += abs(diff) <= TOL
            n_all += 1
            lines.append(f"| beir_scifact | `{r['method']}` | §2.2 | ndcg@10 | {ref:.4f} | {r['ndcg@10']:.4f} | "
                         f"{diff:+.4f} | {'yes' if abs(diff) <= TOL else 'no'} |")
    lines += ["", f"**{n_ok} of {n_all} reference values agree within ±{TOL}.**", "", ""]
    return "\n".join(lines)


def intro(faiss_fit_rows: int | None) -> str:
    fit = (f"PQ/OPQ/FastScan fitted on the first {faiss_fit_rows} rows of the fit set (CPU time on the "
           "shared 2-core machine); every other method on the full fit set."
           if faiss_fit_rows else "Every method fitted on the full fit set.")
    return ("Every peer at 32, 64, 96, 128, 192, 256, 384 bytes/vector where it can reach the budget exactly, "
            "plus the 48 B rung (binary, PQ48, OPQ48), binary + int8 rescoring store (432 B) and float16 (768 B). "
            "imdb-minilm: fit `imdb_unsup`, catalogue `imdb_labeled[0:49000]`, queries `imdb_labeled[49000:50000]`, "
            "tie-tolerant Recall@10 against exact float32 top-10. beir_scifact: fit on the corpus embeddings, "
            "300 test queries. `÷ float32` is the main score divided by the uncompressed one (same run). "
            + fit + "\n")


def checks_md(checks: list[dict], skipped: list[dict]) -> str:
    lines = ["## FAISS called directly vs `bench`", ""]
    if not checks:
        lines.append("(not run)")
    for c in checks:
        lines.append(f"- `{c['factory']}` on {c['task']}: codes equal: **{c['codes_equal']}**, "
                     f"top-10 identical: **{c['top10_identical']}** ({c['top10_equal_fraction']:.4f} of entries)")
    if skipped:  # the layout of runs before run_bench (records now carry their own `skipped`)
        lines += ["", "## Skipped (time)", ""] + [f"- {s['task']}: `{s['method']}` ({s['reason']})" for s in skipped]
    return "\n".join(lines) + "\n"


def render_md(doc: dict, notes: str = "") -> str:
    """The committed page: run_bench's tables and verdict, notes, reference agreement, FAISS check."""
    md = markdown_table(doc).replace("# emblab compression benchmark",
                                     "# Peer compression benchmark (issue 2)\n\n" + intro(doc.get("faiss_fit_rows"))
                                     + notes, 1)
    if doc.get("max_class", 3) < 3:
        md = md.replace("\n## ", f"\nMethods of cost class > {doc['max_class']} left out (`--max-class`).\n\n## ", 1)
    edits = "".join(f"- Edit of the records after the run ({e['date']}): {e['what']}\n"
                    for e in doc.get("record_edits", []))
    return (md + "\n" + comparison_md(doc["records"]) + checks_md(doc.get("faiss_direct_check", []),
                                                                  doc.get("skipped", []))
            + ("\n## Record edits\n\n" + edits if edits else ""))
