"""Compression benchmark runner: methods × byte budgets on tasks, one run (design.md section 9).

:func:`run_bench` evaluates an uncompressed reference row and every method on every task, in one
process, with the same split and seed, and reports each metric as a ratio to uncompressed. It
returns typed :class:`~emblab.experiment.Results` and writes them as a results JSON (kind
``compression``, one record per method × task) and a markdown table whose footer is the one
provenance block of :func:`emblab.experiment.environment_lines`.

Each (task, method) is one cell (:mod:`emblab.experiment.store`): its record holds the method's
scored rows, kept in a fingerprinted, crash-safe :class:`~emblab.experiment.CellStore`
(``OUT/cells`` beside the outputs, or ``$EMBLAB_CACHE/bench/<fingerprint>``), so a rerun of an
interrupted benchmark computes only the missing cells, and the results are assembled from the
cells the same way whether they were computed or read back.

:func:`peer_specs_for_budgets` (from :mod:`emblab.bench.candidates`) lists every peer spec
(baselines_and_eval.md §1) whose payload is exactly one of the byte budgets for width ``d``.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .._errors import DataError
from ..experiment.markdown import table
from ..experiment.provenance import environment_lines
from ..experiment.results import Results, TaskResult, read_results, results_document
from ..experiment.store import CellStore, cell_id, run_cells
from ..io import atomic_write_json, atomic_write_text
from .candidates import DEFAULT_BUDGETS, peer_specs_for_budgets  # noqa: F401  (re-exported)
from .pareto import label


def check_specs(specs: Sequence[str]) -> None:
    """Build every spec once so a typo fails before any work (one-line error)."""
    from ..evaluation.tasks.base import is_uncompressed
    from ..registry import build

    for s in specs:
        if not is_uncompressed(s) and not is_artifact(s):
            build(s)


def full_spec(spec: str) -> str:
    """The full resolved spec of ``spec`` (every parameter); uncompressed names and artifact
    folders stay as they are."""
    from ..evaluation.tasks.base import UNCOMPRESSED, is_uncompressed
    from ..registry import resolve_spec

    if is_artifact(spec):
        return str(spec)
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


def result_record(res: Any, baseline: Any, budgets: set[int]) -> dict[str, Any]:
    """One results-document row from a :class:`TaskResult`: its scores, ratios to the ``baseline``
    (uncompressed) result, bytes, times, and the budget it hits exactly (or None)."""
    rec: dict[str, Any] = {"task": res.task, "method": res.method, "bytes_per_vector": res.bytes_per_vector}
    if res.extra.get("variant"):  # one spec scored several ways (e.g. recsys codings): the row's label
        rec["variant"] = res.extra["variant"]
    if res.extra.get("baseline"):  # a reference row that is not a compressor (popularity, random)
        rec["baseline"] = res.extra["baseline"]
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


# --- cells: one per (task, method), in a fingerprinted store ---------------------------------------

#: bump when the cell record layout changes (a store of an older layout is then refused)
STORE_VERSION = 1


def is_artifact(spec: Any) -> bool:
    """True when ``spec`` names a saved artifact folder (evaluated as fitted) rather than a spec."""
    return isinstance(spec, (str, Path)) and Path(spec).is_dir()


def method_key(spec: str) -> str:
    """What identifies a method in its cell: the full resolved spec, or for an artifact folder the
    sha256 of its ``config.json`` (which records the sha256 of its weights)."""
    if is_artifact(spec):
        from ..io import sha256_file

        config = Path(spec) / "config.json"   # missing: loading the artifact says what is wrong
        return "artifact:" + (sha256_file(config) if config.is_file() else str(Path(spec).resolve()))
    return full_spec(spec)


def task_fingerprint(task: Any) -> dict[str, Any]:
    """Identity of a loaded task's data: its name, the sha256 of every data file it read (from
    ``dataset_info``), its URI and options, and the fingerprint of its fit set (in-memory tasks)."""
    from ..io import fingerprint_array

    info = task.dataset_info
    return {"task": task.name, "files": sorted(set(_sha256s(info))), "uri": info.get("uri"),
            "uri_options": info.get("uri_options"), "fit": fingerprint_array(task.fit_data())}


def _sha256s(obj: Any) -> Iterator[str]:
    if isinstance(obj, dict):
        for key, val in obj.items():
            if key == "sha256" and isinstance(val, str):
                yield val
            else:
                yield from _sha256s(val)
    elif isinstance(obj, (list, tuple)):
        for val in obj:
            yield from _sha256s(val)


def bench_fingerprint(tasks: Sequence[Any], budgets: Iterable[int], fit_rows: int | None, mode: str) -> str:
    """Fingerprint of a benchmark's cell store: the tasks' data (:func:`task_fingerprint`, after
    the fit-row limit), the budgets, the fit-row limit and the mode (``quick``, ``full`` or
    ``methods``). Methods are not part of it: each is a cell, so a rerun may add some."""
    return cell_id({"version": STORE_VERSION, "tasks": [task_fingerprint(t) for t in tasks],
                    "budgets": sorted(int(b) for b in budgets), "fit_rows": fit_rows, "mode": mode})


def cache_store(fingerprint: str) -> Path:
    """Default store of a benchmark without an output folder: ``$EMBLAB_CACHE/bench/<fingerprint>``."""
    from ..data.paths import cache_dir

    return cache_dir() / "bench" / fingerprint


def open_store(root: str | Path, fingerprint: str, *, fresh: bool = False,
               meta: dict[str, Any] | None = None) -> CellStore:
    """The benchmark's :class:`~emblab.experiment.CellStore` at ``root``; ``fresh`` empties it first.

    Raises
    ------
    DataError
        ``root`` holds the cells of another benchmark configuration (one line).
    """
    import shutil

    root = Path(root)
    if fresh and (root / "store.json").is_file():   # only what a CellStore writes, never other files
        for part in ("cells.jsonl", "store.json"):
            (root / part).unlink(missing_ok=True)
        for part in ("models", "preds"):
            shutil.rmtree(root / part, ignore_errors=True)
    try:
        return CellStore(root, fingerprint, meta)
    except DataError:
        raise DataError(f"{root}: holds the cells of another benchmark configuration (the tasks' data, budgets, "
                        "fit rows or mode differ); use another output folder, or start over with --fresh "
                        "(fresh=True).") from None


def _plain(obj: Any) -> Any:
    """``obj`` as the store reads it back (plain JSON types), so a computed cell and a resumed
    one give identical records."""
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    return json.loads(json.dumps(obj, default=default))


def reference_cell(task: Any) -> tuple[dict[str, Any], Callable[[], dict[str, Any]]]:
    """The cell of a task's uncompressed row and reference rows (``Task.reference_results``)."""
    def fn() -> dict[str, Any]:
        rows = [task.evaluate(None)] + list(task.reference_results())
        return {"rows": _plain([r.to_dict() for r in rows])}

    return {"task": task.name, "reference": True}, fn


def method_cell(task: Any, spec: str, fits: SharedFits) -> tuple[dict[str, Any], Callable[[], dict[str, Any]]]:
    """The cell of one method on one task: every row of ``task.evaluate_all`` (fitted through
    ``fits``, which shares fits between specs that differ only in inference parameters)."""
    def fn() -> dict[str, Any]:
        t0 = time.perf_counter()
        model, shared = fits.model_for(spec)
        results = task.evaluate_all(model)
        fits.remember(spec, model)
        return {"rows": _plain([r.to_dict() for r in results]), "fit_shared_with": shared,
                "wall_time_s": time.perf_counter() - t0}

    return {"task": task.name, "method": method_key(spec)}, fn


def cell_results(rec: dict[str, Any]) -> list[TaskResult]:
    """The :class:`~emblab.experiment.TaskResult` rows of a finished cell (fresh copies)."""
    return [TaskResult(**copy.deepcopy(row)) for row in rec["rows"]]


def method_records(rec: dict[str, Any], cand: Any, head: dict[str, Any], baseline: Any,
                   budgets: set[int]) -> list[dict[str, Any]]:
    """Results-document rows of a method cell: one per row it scored (ratios to ``baseline``,
    budget tags, the spec as given), or one error row."""
    if "error" in rec:
        return [{**head, "method": full_spec(cand.spec), "error": rec["error"], "wall_time_s": rec.get("cell_s")}]
    results = cell_results(rec)
    out = []
    for res in results:
        row = {**result_record(res, baseline, budgets), "spec": cand.spec, "family": cand.family}
        # a budget-first method (sae:budget=B) may pack into a few bytes less than B
        if cand.budget and (row.get("bytes_per_vector") or 0) <= cand.budget:
            row["budget"] = cand.budget
        if rec.get("fit_shared_with") and isinstance(row.get("extra"), dict):
            row["extra"]["fit_shared_with"] = rec["fit_shared_with"]
        row["wall_time_s"] = rec["wall_time_s"] / len(results)
        out.append(row)
    return out


def run_bench(methods: Sequence[str] | Callable[[Any], Sequence[str]] | None, tasks: Sequence[Any],
              budgets: Iterable[int] | None = DEFAULT_BUDGETS, *,
              out_dir: str | Path | None = None, command: str | None = None, config: dict | None = None,
              on_record: Callable[[dict], None] | None = None, on_start: Callable[[dict], None] | None = None,
              fit_rows: int | None = None, name: str = "bench", mode: str = "quick",
              time_budget_s: float | None = None, recipes: Any = None, faiss: bool = True,
              ladders: dict[str, bool] | None = None, store: str | Path | Callable[[str], Any] | None = None,
              fresh: bool = False, reference: bool = True) -> Results:
    """Run (or resume) methods × tasks as cells and return (and optionally write) the results.

    Every (task, method) pair is one cell of an :class:`~emblab.experiment.CellStore`, run through
    :func:`~emblab.experiment.run_cells`: a cell the store holds is not run again, so an interrupted
    run resumes where it stopped. The store's fingerprint (:func:`bench_fingerprint`: the tasks'
    data, the budgets, the fit-row limit and the mode) must match, else it is refused in one line.
    Cells that fail with an :class:`~emblab.EmblabError` and cells not run because of the time
    budget are listed in the results but not stored, so a rerun runs them.

    Parameters
    ----------
    methods : list of spec strings, callable or None
        None: the peers and seed compressors that reach each budget
        (:func:`emblab.bench.candidates.default_candidates`); those the fit set cannot support
        get a ``skipped`` record with the reason. A callable gets the loaded task and returns its
        specs (e.g. per embedding width). A saved artifact folder may stand for a spec.
    tasks : list of task names, task URIs or :class:`~emblab.evaluation.tasks.Task`
    budgets : iterable of int or None
        Byte budgets; records whose bytes/vector hit one are tagged with it.
    out_dir : path, optional
        Writes ``<name>.json`` and ``<name>.md`` there (atomically, when the run ends).
    command, config : optional
        Recorded in the document.
    on_record : callable, optional
        Called with each record, computed or read back from the store (progress display).
    on_start : callable, optional
        Called with ``{"task", "spec", "index", "total", "budget"}`` before each method is fitted
        (not for methods read back from the store).
    fit_rows : int, optional
        Fit on the first ``fit_rows`` rows of each task's fit set (documented smaller runs).
    mode : {"quick", "full"}
        Default candidates only: ``quick`` leaves out OPQ and FastScan PQ.
    time_budget_s : float, optional
        Start no new method after this many seconds; the rest are listed as skipped.
    recipes : tuple of SeedRecipe, optional
        Seed recipes for the default candidates (default :data:`~emblab.bench.candidates.SEED_RECIPES`).
    faiss : bool
        Include FAISS codecs among the default peers.
    ladders : dict, optional
        Extra peer ladders for the default candidates: ``{"additive": bool, "rabitq": bool}``
        (:func:`emblab.bench.candidates.peer_specs_for_budgets`).
    store : path or callable, optional
        The cell store folder, or a function of the fingerprint returning it (e.g.
        :func:`cache_store`). Default: ``out_dir/cells`` when ``out_dir`` is given, else
        :func:`cache_store` (``$EMBLAB_CACHE/bench/<fingerprint>``).
    fresh : bool
        Empty the store first and compute every cell again.
    reference : bool
        Add each task's uncompressed row and reference rows (``Task.reference_results``); without
        them, rows carry no ratios to uncompressed (``emblab eval``).

    Each task contributes its uncompressed row, its reference rows (e.g. popularity) and every row
    of ``Task.evaluate_all(spec)`` per spec (a task may score one spec several ways; such rows
    carry a ``variant`` label). Records keep the ``spec`` they came from. The document's kind is
    ``recsys`` when every task is a recommendation task, else ``compression``.

    Returns
    -------
    Results
        Kind ``compression`` (or ``recsys``); ``extra`` holds ``budgets``, ``config``,
        ``fit_rows``, ``mode``, ``time_budget_s`` and the ``verdict`` list
        (:func:`emblab.bench.verdict.verdict`).
    """
    from ..evaluation.tasks import get_task
    from .candidates import Candidate, default_candidates
    from .verdict import verdict

    budgets_set = set(int(b) for b in budgets) if budgets else set()
    if methods is not None and not callable(methods):
        check_specs(list(methods))
    run_mode = mode if methods is None else "methods"
    task_objs = [get_task(t) for t in tasks]
    # recommendation tasks get their own report section (HR@10 vs bytes, baselines as lines)
    kind = "recsys" if task_objs and all(t.metadata.kind == "recsys" for t in task_objs) else "compression"
    for task in task_objs:  # load everything first: a data error leaves no partial output
        task.load()
        if fit_rows is not None:
            _limit_fit_rows(task, fit_rows)
    if out_dir is not None:  # fail before the long run: unwritable, or a file there that is not ours
        from ..io import guard_output

        guard_output(Path(out_dir) / f"{name}.json", "results", overwrite=True)
    fingerprint = bench_fingerprint(task_objs, budgets_set, fit_rows, run_mode)
    root = (store(fingerprint) if callable(store) else store) if store is not None else (
        Path(out_dir) / "cells" if out_dir is not None else cache_store(fingerprint))
    cells = open_store(root, fingerprint, fresh=fresh, meta={
        "kind": "bench", "tasks": [t.name for t in task_objs], "budgets": sorted(budgets_set),
        "fit_rows": fit_rows, "mode": run_mode})
    stored = set(cells.load())
    records: list[dict[str, Any]] = []
    datasets: dict[str, Any] = {}
    t_start = time.perf_counter()

    def emit(rec: dict[str, Any]) -> None:
        records.append(rec)
        if on_record:
            on_record(rec)

    def run_task(task: Any, cands: list[Any]) -> None:
        baseline = None
        if reference:
            (ref,) = run_cells(cells, [reference_cell(task)])
            if "error" in ref:
                raise DataError(f"task {task.name}: {ref['error']}")
            baseline, *others = cell_results(ref)
            datasets[task.name] = baseline.dataset
            for res in [baseline] + others:
                emit(result_record(res, baseline, budgets_set))
        preload_backends([c.spec for c in cands if not c.skip])
        fits = SharedFits()
        running: list[tuple[Any, dict[str, Any]]] = []   # the candidate of the cell being run

        def todo() -> Iterator[tuple[dict[str, Any], Callable[[], dict[str, Any]]]]:
            # run_cells pulls one cell at a time, so skipped candidates are emitted in their place
            for i, cand in enumerate(cands):
                head = {"task": task.name, "method": cand.spec, "spec": cand.spec, "family": cand.family,
                        "budget": cand.budget or None}
                if cand.skip:
                    emit({**head, "skipped": f"cannot fit: {cand.skip}"})
                    continue
                cfg, fn = method_cell(task, cand.spec, fits)
                new = cell_id(cfg) not in stored
                if new and time_budget_s is not None and time.perf_counter() - t_start > time_budget_s:
                    emit({**head, "skipped": f"not run: the time budget of {time_budget_s:g} s was used up"})
                    continue
                if new and on_start:
                    on_start({**head, "index": i + 1, "total": len(cands)})
                running.append((cand, head))
                yield cfg, fn

        def finished(rec: dict[str, Any], resumed: bool) -> None:
            if "error" not in rec and task.name not in datasets:
                datasets[task.name] = cell_results(rec)[0].dataset
            for row in method_records(rec, *running[-1], baseline, budgets_set):
                emit(row)

        run_cells(cells, todo(), on_record=finished)

    for task in task_objs:
        X_fit = task.fit_data()
        if methods is None:
            cands = default_candidates(X_fit.shape[1], budgets or (), len(X_fit), mode=mode, recipes=recipes,
                                       faiss=faiss, **(ladders or {}))
        else:
            specs = list(methods(task)) if callable(methods) else list(methods)
            if callable(methods):
                check_specs(specs)
            cands = [Candidate(0, s, "given") for s in distinct_specs(specs)]
        run_task(task, cands)
    res = Results.from_dict(results_document(
        kind, records, command=command, dataset=datasets, budgets=sorted(budgets_set), config=config or {},
        fit_rows=fit_rows, mode=run_mode, time_budget_s=time_budget_s))
    res.extra["verdict"] = verdict(res)
    if out_dir is not None:
        write_outputs(res, out_dir, name)
    return res


#: the library each method family imports on first use (seconds on a busy machine)
_BACKENDS = {"sae": "torch", "mcr2": "torch", "ae": "torch", "faiss": "faiss", "pq": "faiss", "opq": "faiss"}


def preload_backends(specs: Sequence[str]) -> None:
    """Import torch / faiss before timing starts, so the first method using one is not charged
    for the import in its fit time."""
    import importlib

    for name in sorted({_BACKENDS.get(s.split(":", 1)[0].split("|", 1)[0]) for s in specs} - {None}):
        try:
            importlib.import_module(name)
        except ImportError:   # the method's own fit gives the one-line install hint
            pass


class SharedFits:
    """Fit once, evaluate several specs that differ only in inference-time parameters.

    A method lists such parameters in ``inference_params`` (the SAE's ``encoder``: top-k and OMP
    coding use the same trained dictionary). The second spec gets a copy of the first one's
    fitted model with its own inference parameters, so its record's fit time is the (shared) time
    a fresh fit of that spec takes, and ``extra.fit_shared_with`` names the spec actually fitted.
    """

    def __init__(self) -> None:
        self._fitted: dict[str, tuple[str, Any]] = {}

    @staticmethod
    def _key(model: Any) -> tuple[str, dict[str, Any]] | None:
        names = tuple(getattr(type(model), "inference_params", ()))
        if not names:
            return None
        params = model.get_params()
        defaults = model._param_defaults()
        own = {p: params[p] for p in names}
        probe = copy.copy(model)
        probe.set_params(**{p: defaults[p] for p in names})
        return probe.to_spec(), own

    def model_for(self, spec: str) -> tuple[Any, str | None]:
        """A fitted copy sharing a previous fit (and that spec), or the spec itself (and None)."""
        from ..evaluation.tasks.base import is_uncompressed
        from ..registry import build

        if is_uncompressed(spec) or is_artifact(spec):   # evaluated as it is
            return spec, None
        model = build(spec)
        key = self._key(model)
        if key is None or key[0] not in self._fitted:
            return model, None
        first, fitted = self._fitted[key[0]]
        return copy.deepcopy(fitted).set_params(**key[1]), first

    def remember(self, spec: str, model: Any) -> None:
        key = self._key(model) if not isinstance(model, str) else None
        if key is not None and key[0] not in self._fitted:
            self._fitted[key[0]] = (spec, model)


def _limit_fit_rows(task: Any, n: int) -> None:
    X = task.fit_data()
    if n < len(X):
        sub = X[:n]
        task.fit_data = lambda: sub  # type: ignore[method-assign]
        task.dataset_info["n_fit_used"] = int(n)


# --- tables ------------------------------------------------------------------------------------

def metric_columns(records: list[dict], task: str) -> list[str]:
    """Metric keys of ``task``'s records (numeric fields that are not bytes, times, ratios or
    labels), in their first order."""
    cols: list[str] = []
    for r in records:
        if r.get("task") != task or "error" in r:
            continue
        for k in r:
            if k in ("task", "method", "bytes_per_vector", "budget", "main_score", "ratio_to_uncompressed",
                     "compression_ratio", "model_bytes", "fit_time_s", "encode_time_s", "search_time_s",
                     "artifact_fingerprint", "extra", "wall_time_s", "variant", "baseline", "spec"):
                continue
            if isinstance(r[k], (int, float)) and k not in cols:
                cols.append(k)
    return cols


#: metrics shown in the terminal table (the markdown table shows all)
HEADLINE = {"recall@10_asym": "R@10 asym", "recall@10_sym": "R@10 sym", "r10@100_asym": "R10@100",
            "ndcg@10": "nDCG@10", "recall@100": "R@100", "spearman": "Spearman", "hr@10": "HR@10",
            "recall@10_last5": "R@10 last5"}



def as_results(doc: Results | dict[str, Any]) -> Results:
    """``doc`` as typed :class:`~emblab.experiment.Results` (a results document dict is converted)."""
    return doc if isinstance(doc, Results) else Results.from_dict(doc)


def table_rows(res: Results, task: str, headline: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and rows of one task's table, sorted by bytes/vector then main score (descending).

    Skipped methods are not rows (:func:`not_run_lines` lists them with their reasons). The
    method column is the record's spec as stored (runs write the full resolved spec), with its
    variant in brackets; a record repeating an earlier (task, method, variant) is not shown twice.
    ``headline`` keeps the main score and one more headline metric (80-column terminals).
    """
    recs, seen = [], set()
    for r in res.records:
        key = (r.get("method"), r.get("variant"))
        if r.get("task") == task and "skipped" not in r and key not in seen:
            seen.add(key)
            recs.append(r)
    cols = metric_columns(recs, task)
    main = next((r.get("main_score") for r in recs if r.get("main_score")), cols[0] if cols else "")
    if headline:
        cols = ([main] if main in cols else []) + [c for c in cols if c in HEADLINE and c != main][:1]
    header = ["method", "bytes/vec"] + cols + [f"{main} ÷ float32", "fit s"]

    def key(r):
        return (r.get("bytes_per_vector") or 1e18, -(r.get(main) or 0.0))

    rows = []
    for r in sorted(recs, key=key):
        if "error" in r:
            rows.append([r.get("spec") or r["method"], "-"] + ["error"] + [""] * (len(header) - 3))
            continue
        ratio = (r.get("ratio_to_uncompressed") or {}).get(main)
        # terminal tables name the spec as run (its defaults resolve to the full spec); the
        # markdown table shows the full resolved spec of every row
        name = label({**r, "method": r.get("spec") or r["method"]}) if headline else label(r)
        rows.append([name, f"{r['bytes_per_vector']:g}"]
                    + [f"{r[c]:.{3 if headline else 4}f}" if isinstance(r.get(c), (int, float)) and abs(r[c]) <= 1.0 + 1e-9
                       else (f"{r[c]:.2f}" if isinstance(r.get(c), (int, float)) else "–") for c in cols]
                    + [f"{ratio:.3f}" if ratio is not None else "–",
                       f"{r['fit_time_s']:.1f}" if r.get("fit_time_s") is not None else "–"])
    return header, rows


def not_run_lines(res: Results, task: str) -> list[str]:
    """One line per method of ``task`` that failed or was not run, with the reason."""
    out = []
    for r in res.records:
        if r.get("task") != task:
            continue
        name = r.get("spec") or r["method"]
        if "skipped" in r:
            out.append(f"{name} ({r['budget']} B): {r['skipped']}" if r.get("budget") else f"{name}: {r['skipped']}")
        elif "error" in r:
            out.append(f"{name}: error: {r['error']}")
    return out


def tasks_in(res: Results) -> list[str]:
    """Tasks of the records, in their first order."""
    seen: list[str] = []
    for r in res.records:
        if r.get("task") not in seen:
            seen.append(r.get("task"))
    return seen


def markdown_table(res: Results | dict[str, Any]) -> str:
    """Markdown tables (one per task), the provenance footer
    (:func:`~emblab.experiment.environment_lines`) and the verdict."""
    res = as_results(res)
    lines = ["# emblab " + ("recommendation" if res.kind == "recsys" else "compression") + " benchmark", ""]
    # notes recorded in the JSON (e.g. which defaults older rows ran with) survive every re-render
    for note in res.extra.get("notes") or []:
        lines += [f"> {note}", ""]
    for task in tasks_in(res):
        header, rows = table_rows(res, task)
        lines += [f"## {task}", "", *table(header, rows)]
        missing = not_run_lines(res, task)
        if missing:
            lines += ["", "Not run or failed:", ""] + [f"- {m}" for m in missing]
        lines.append("")
        if res.kind == "recsys":
            from .pareto import markdown_summary

            for metric in ("hr@10", "recall@10_last5"):
                lines += [f"### {task}: {metric}", "",
                          markdown_summary(res.where(task=task), metric, res.dataset.get(task)), ""]
    notes = []
    if res.extra.get("fit_rows"):
        notes.append(f"fit sets limited to their first {res.extra['fit_rows']} rows")
    if res.extra.get("mode") == "quick":
        notes.append("quick mode: OPQ and FastScan PQ left out (`--full` adds them)")
    from .verdict import verdict_markdown

    lines += environment_lines(res.environment, notes=notes) + [""] + verdict_markdown(res)
    return "\n".join(lines).rstrip("\n") + "\n"


def rich_tables(res: Results) -> list[Any]:
    """rich Table objects, one per task."""
    from rich.table import Table

    out = []
    for task in tasks_in(res):
        header, rows = table_rows(res, task, headline=True)
        t = Table(title=task, show_lines=False)
        labels = [HEADLINE.get(h, h) for h in header]
        labels[1], labels[-2] = "B/vec", "÷ f32"
        for i, h in enumerate(labels):
            # specs are what users copy: fold them onto several lines, never cut them
            t.add_column(h, justify="left" if i == 0 else "right", overflow="fold", no_wrap=i != 0,
                         ratio=1 if i == 0 else None)
        for row in rows:
            t.add_row(*row)
        out.append(t)
    return out


def write_outputs(res: Results, out_dir: str | Path, name: str = "bench") -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.md`` into ``out_dir`` atomically."""
    out = Path(out_dir)
    atomic_write_json(out / f"{name}.json", res.to_dict(), kind="results")
    atomic_write_text(out / f"{name}.md", markdown_table(res))
    return out / f"{name}.json", out / f"{name}.md"


def render_markdown(json_path: str | Path) -> Path:
    """Re-write the ``.md`` beside a bench results file from the JSON alone (nothing is run)."""
    path = Path(json_path)
    md = path.with_suffix(".md")
    atomic_write_text(md, markdown_table(read_results(path)))
    return md
