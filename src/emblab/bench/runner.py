"""Compression benchmark runner: methods × byte budgets on tasks, one run (design.md section 9).

:func:`run_bench` evaluates an uncompressed reference row and every method on every task, in one
process, with the same split and seed, and reports each metric as a ratio to uncompressed. It
writes a results JSON (kind ``compression``, one record per method × task) and a markdown table.

:func:`peer_specs_for_budgets` lists every peer spec (baselines_and_eval.md §1) whose payload is
exactly one of the byte budgets for width ``d``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .._errors import EmblabError, InvalidParameterError
from ..evaluation.results import results_document
from ..io import atomic_write_json, atomic_write_text

DEFAULT_BUDGETS = (32, 64, 96, 128, 192, 256, 384)


def rabitq_code_bytes(d: int, bits: int) -> int:
    """Code size of FAISS ``RaBitQ{bits}`` on d dimensions: sign bits + 8 B of factors (1 bit), or
    sign bits + extra bits + 20 B of factors (``IndexRaBitQ.sa_code_size`` in faiss-cpu 1.15)."""
    signs = -(-d // 8)
    return signs + 8 if bits == 1 else signs + -(-d * (bits - 1) // 8) + 20


def _rabitq_for_budget(d: int, b: int) -> str | None:
    """The RaBitQ spec of exactly ``b`` bytes with the most dimensions kept: the fewest bits per
    dimension, after a PCA + random rotation (``PCAR``) to d' < d dimensions when needed."""
    for bits in (1, 2, 3, 4):
        if rabitq_code_bytes(d, bits) == b:
            return f"faiss:RaBitQ{bits if bits > 1 else ''}"
        dims = [p for p in range(32, d, 8) if rabitq_code_bytes(p, bits) == b]
        if dims:
            return f"faiss:PCAR{max(dims)},RaBitQ{bits if bits > 1 else ''}"
    return None


def peer_specs_for_budgets(d: int, budgets: Iterable[int] = DEFAULT_BUDGETS, *, faiss: bool = True,
                           pipelines: bool = True, fastscan: bool = True, additive: bool = False,
                           rabitq: bool = False, sae: bool = False) -> list[tuple[int, str]]:
    """Every peer spec whose bytes/vector is exactly a budget, for input width ``d``.

    Parameters
    ----------
    d : int
        Embedding width.
    budgets : iterable of int
        Bytes per vector.
    faiss : bool
        Include FAISS codecs (PQm, OPQm+PQm, SQ8, SQ4, SQfp16, PQ 4-bit FastScan).
    pipelines : bool
        Include ``pca:dim=b,store=f32|int8`` chains.
    fastscan : bool
        Include 4-bit FastScan PQ (``faiss:PQ{2b}x4fs``).
    additive : bool
        Include FAISS additive quantisers with 8-bit codebooks: residual (``faiss:RQ{b}x8``) and
        local-search (``faiss:LSQ{b}x8``). Their encoders are slow (beam / local search).
    rabitq : bool
        Include FAISS RaBitQ at exactly b bytes (:func:`_rabitq_for_budget`).
    sae : bool
        Include ``sae:budget=b`` (the SAE with its default layout, k chosen for the budget).

    Returns
    -------
    list of (budget, spec), by budget then in a fixed method order.

    Examples
    --------
    >>> [s for b, s in peer_specs_for_budgets(384, [48])]
    ['binary', 'binary:rescore=10', 'faiss:PQ48np', 'faiss:OPQ48,PQ48np', 'pca:dim=24', 'pca:dim=48,store=int8', 'pca:dim=48,store=f32|int8', 'trunc:dim=24', 'faiss:PQ96x4fs']
    """
    out: list[tuple[int, str]] = []
    for b in sorted(set(int(x) for x in budgets)):
        if b < 1:
            raise InvalidParameterError(f"budgets must be positive byte counts; got {b}.")
        specs: list[str] = []
        if b == 4 * d:
            specs.append("float32")
        if b == 2 * d:
            specs.append("float16")
            if faiss:
                specs.append("faiss:SQfp16")
        if b == d:
            specs.append("int8")
            if faiss:
                specs.append("faiss:SQ8")
        nbits = -(-d // 8)
        if b == nbits:
            specs += ["binary", "binary:rescore=10"]
        if b == nbits + d:
            specs.append("binary:rescore=10,rescore_source=int8")
        # PQ with one dimension per sub-quantiser (m = d) is excluded: m in {d/2, d/3, ...} as in §1
        if faiss and d % b == 0 and 2 * b <= d:
            # "np": no polysemous training. It only permutes centroid ids (same search results)
            # and costs minutes of CPU per codec on a 2-core machine
            specs += [f"faiss:PQ{b}np", f"faiss:OPQ{b},PQ{b}np"]
        if faiss and 2 * b == d:
            specs.append("faiss:SQ4")
        if b % 2 == 0 and b // 2 <= d:
            specs.append(f"pca:dim={b // 2}")
        if b <= d:
            specs.append(f"pca:dim={b},store=int8")
            if pipelines:
                specs.append(f"pca:dim={b},store=f32|int8")
        if b % 2 == 0 and b // 2 <= d:
            specs.append(f"trunc:dim={b // 2}")
        if faiss and fastscan and d % (2 * b) == 0 and 4 * b <= d:
            specs.append(f"faiss:PQ{2 * b}x4fs")
        if faiss and additive and b <= d:
            specs += [f"faiss:RQ{b}x8", f"faiss:LSQ{b}x8"]
        if faiss and rabitq and _rabitq_for_budget(d, b):
            specs.append(_rabitq_for_budget(d, b))
        if sae and b >= 2:
            specs.append(f"sae:budget={b}")
        out += [(b, s) for s in specs]
    return out


def check_specs(specs: Sequence[str]) -> None:
    """Build every spec once so a typo fails before any work (one-line error)."""
    from ..evaluation.tasks.base import is_uncompressed
    from ..registry import build

    for s in specs:
        if not is_uncompressed(s):
            build(s)


def full_spec(spec: str) -> str:
    """The full resolved spec of ``spec`` (every parameter); uncompressed names stay as they are."""
    from ..evaluation.tasks.base import UNCOMPRESSED, is_uncompressed
    from ..registry import resolve_spec

    return UNCOMPRESSED if is_uncompressed(spec) else resolve_spec(spec)


def distinct_specs(specs: Iterable[str]) -> list[str]:
    """``specs`` without the ones that build the same compressor as an earlier one
    (``pca`` and ``pca:dim=64``), in their first order."""
    seen: set[str] = set()
    out = []
    for s in specs:
        full = full_spec(s)
        if full not in seen:
            seen.add(full)
            out.append(s)
    return out


def _record(res: Any, baseline: Any, budgets: set[int]) -> dict[str, Any]:
    rec: dict[str, Any] = {"task": res.task, "method": res.method, "bytes_per_vector": res.bytes_per_vector}
    rec["budget"] = int(res.bytes_per_vector) if res.bytes_per_vector in budgets else None
    rec.update(res.scores)
    rec["main_score"] = res.main_score
    if baseline is not None:
        rec["ratio_to_uncompressed"] = {k: (v / baseline.scores[k] if baseline.scores.get(k) else None)
                                        for k, v in res.scores.items() if k in baseline.scores}
    rec["compression_ratio"] = (baseline.bytes_per_vector / res.bytes_per_vector
                                if baseline is not None and res.bytes_per_vector else None)
    for key in ("model_bytes", "fit_time_s", "encode_time_s", "search_time_s", "artifact_fingerprint"):
        rec[key] = getattr(res, key)
    rec["extra"] = res.extra
    return rec


def run_bench(methods: Sequence[str] | None, tasks: Sequence[Any], budgets: Iterable[int] | None = DEFAULT_BUDGETS, *,
              out_dir: str | Path | None = None, command: str | None = None, config: dict | None = None,
              on_record: Callable[[dict], None] | None = None, fit_rows: int | None = None,
              name: str = "bench") -> dict[str, Any]:
    """Run methods × tasks and return (and optionally write) a results document.

    Parameters
    ----------
    methods : list of spec strings or None
        None: every peer reaching a budget (:func:`peer_specs_for_budgets` on the task's width).
    tasks : list of task names or :class:`~emblab.evaluation.tasks.Task`
    budgets : iterable of int or None
        Byte budgets; records whose bytes/vector hit one are tagged with it.
    out_dir : path, optional
        Writes ``<name>.json`` and ``<name>.md`` there (atomically, after every method, so a long
        run interrupted keeps what it finished).
    command, config : optional
        Recorded in the document.
    on_record : callable, optional
        Called with each record (progress display).
    fit_rows : int, optional
        Fit on the first ``fit_rows`` rows of each task's fit set (documented smaller runs).

    Returns
    -------
    dict
        Results document (``emblab.evaluation.results`` schema, kind ``compression``).
    """
    from ..evaluation.tasks import get_task

    budgets_set = set(int(b) for b in budgets) if budgets else set()
    if methods is not None:
        check_specs(list(methods))
    task_objs = [get_task(t) for t in tasks]
    records: list[dict[str, Any]] = []
    datasets: dict[str, Any] = {}
    doc: dict[str, Any] = {}

    def flush() -> None:
        nonlocal doc
        doc = results_document("compression", records, command=command, dataset=datasets,
                               budgets=sorted(budgets_set), config=config or {}, fit_rows=fit_rows)
        if out_dir is not None:
            write_outputs(doc, out_dir, name)

    for task in task_objs:  # load everything first: a data error leaves no partial output
        task.load()
        if fit_rows is not None:
            _limit_fit_rows(task, fit_rows)
    if out_dir is not None:  # fail before the long run: unwritable, or a file there that is not ours
        from ..io import guard_output

        guard_output(Path(out_dir) / f"{name}.json", "results", overwrite=True)
    for task in task_objs:
        d = task.fit_data().shape[1]
        specs = distinct_specs(list(methods) if methods is not None
                               else [s for _, s in peer_specs_for_budgets(d, budgets or ())])
        baseline = task.evaluate(None)
        datasets[task.name] = baseline.dataset
        rec = _record(baseline, baseline, budgets_set)
        records.append(rec)
        if on_record:
            on_record(rec)
        flush()
        for spec in specs:
            t0 = time.perf_counter()
            try:
                res = task.evaluate(spec)
            except EmblabError as exc:
                rec = {"task": task.name, "method": full_spec(spec),
                       "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
            else:
                rec = _record(res, baseline, budgets_set)
            rec["wall_time_s"] = time.perf_counter() - t0
            records.append(rec)
            if on_record:
                on_record(rec)
            flush()
    if not records:
        flush()
    return doc


def _limit_fit_rows(task: Any, n: int) -> None:
    X = task.fit_data()
    if n < len(X):
        sub = X[:n]
        task.fit_data = lambda: sub  # type: ignore[method-assign]
        task.dataset_info["n_fit_used"] = int(n)


# --- tables ------------------------------------------------------------------------------------

def _metric_columns(records: list[dict], task: str) -> list[str]:
    cols: list[str] = []
    for r in records:
        if r.get("task") != task or "error" in r:
            continue
        for k in r:
            if k in ("task", "method", "bytes_per_vector", "budget", "main_score", "ratio_to_uncompressed",
                     "compression_ratio", "model_bytes", "fit_time_s", "encode_time_s", "search_time_s",
                     "artifact_fingerprint", "extra", "wall_time_s"):
                continue
            if isinstance(r[k], (int, float)) and k not in cols:
                cols.append(k)
    return cols


#: metrics shown in the terminal table (the markdown table shows all)
HEADLINE = {"recall@10_asym": "R@10 asym", "recall@10_sym": "R@10 sym", "r10@100_asym": "R10@100",
            "ndcg@10": "nDCG@10", "recall@100": "R@100", "spearman": "Spearman"}


def table_rows(doc: dict, task: str, headline: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one task's table, sorted by bytes/vector then main score (descending).

    The method column is the record's spec as stored (runs write the full resolved spec); a
    record repeating an earlier (task, method) is not shown twice.
    """
    recs, seen = [], set()
    for r in doc["records"]:
        if r.get("task") == task and r.get("method") not in seen:
            seen.add(r.get("method"))
            recs.append(r)
    cols = _metric_columns(recs, task)
    if headline:
        cols = [c for c in cols if c in HEADLINE] or cols[:4]
    main = next((r.get("main_score") for r in recs if r.get("main_score")), cols[0] if cols else "")
    header = ["method", "bytes/vec"] + cols + [f"{main} ÷ float32", "fit s"]

    def key(r):
        return (r.get("bytes_per_vector") or 1e18, -(r.get(main) or 0.0))

    rows = []
    for r in sorted(recs, key=key):
        if "error" in r:
            rows.append([r["method"], "-"] + ["error"] + [""] * (len(header) - 3))
            continue
        ratio = (r.get("ratio_to_uncompressed") or {}).get(main)
        rows.append([r["method"], f"{r['bytes_per_vector']:g}"]
                    + [f"{r[c]:.{3 if headline else 4}f}" if isinstance(r.get(c), (int, float)) and abs(r[c]) <= 1.0 + 1e-9
                       else (f"{r[c]:.2f}" if isinstance(r.get(c), (int, float)) else "–") for c in cols]
                    + [f"{ratio:.3f}" if ratio is not None else "–",
                       f"{r['fit_time_s']:.1f}" if r.get("fit_time_s") is not None else "–"])
    return header, rows


def tasks_in(doc: dict) -> list[str]:
    seen: list[str] = []
    for r in doc["records"]:
        if r.get("task") not in seen:
            seen.append(r.get("task"))
    return seen


def markdown_table(doc: dict) -> str:
    """Markdown tables (one per task) with machine, versions, command and date."""
    env = doc.get("environment", {})
    lines = [f"# emblab compression benchmark", ""]
    for task in tasks_in(doc):
        header, rows = table_rows(doc, task)
        lines += [f"## {task}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        # a '|' inside a spec (pca:dim=128|int8) would split the markdown cell
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        errs = [r for r in doc["records"] if r.get("task") == task and "error" in r]
        lines += [f"- error in `{r['method']}`: {r['error']}" for r in errs]
        lines.append("")
    m = env.get("machine", {})
    pk = env.get("packages", {})
    lines += ["## Environment", "",
              f"- machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gb')} GB" + (f", GPU {m['gpu']}" if m.get("gpu") else ""),
              f"- versions: emblab {env.get('emblab')}, python {env.get('python')}, "
              + ", ".join(f"{k} {v}" for k, v in pk.items()),
              f"- command: `{env.get('command')}`", f"- date: {env.get('date_utc')} (commit {env.get('git_commit')})"]
    if doc.get("fit_rows"):
        lines.append(f"- fit sets limited to their first {doc['fit_rows']} rows")
    return "\n".join(lines) + "\n"


def rich_tables(doc: dict) -> list[Any]:
    """rich Table objects, one per task."""
    from rich.table import Table

    out = []
    for task in tasks_in(doc):
        header, rows = table_rows(doc, task, headline=True)
        t = Table(title=task, show_lines=False)
        labels = [HEADLINE.get(h, h) for h in header]
        labels[1], labels[-2] = "B/vec", "÷ f32"
        for i, h in enumerate(labels):
            t.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
        for row in rows:
            t.add_row(*row)
        out.append(t)
    return out


def write_outputs(doc: dict, out_dir: str | Path, name: str = "bench") -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.md`` into ``out_dir`` atomically."""
    out = Path(out_dir)
    atomic_write_json(out / f"{name}.json", doc, kind="results")
    atomic_write_text(out / f"{name}.md", markdown_table(doc))
    return out / f"{name}.json", out / f"{name}.md"
