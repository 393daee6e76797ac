"""Compression benchmark runner: methods × byte budgets on tasks, one run (design.md section 9).

:func:`run_bench` evaluates an uncompressed reference row and every method on every task, in one
process, with the same split and seed, and reports each metric as a ratio to uncompressed. It
returns typed :class:`~emblab.experiment.Results` and writes them as a results JSON (kind
``compression``, one record per method × task) and a markdown table whose footer is the one
provenance block of :func:`emblab.experiment.environment_lines`.

:func:`peer_specs_for_budgets` (from :mod:`emblab.bench.candidates`) lists every peer spec
(baselines_and_eval.md §1) whose payload is exactly one of the byte budgets for width ``d``.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .._errors import DataError, EmblabError
from ..experiment.markdown import table
from ..experiment.provenance import environment_lines
from ..experiment.results import Results, read_results, results_document
from ..io import atomic_write_json, atomic_write_text
from .candidates import DEFAULT_BUDGETS, peer_specs_for_budgets  # noqa: F401  (re-exported)
from .pareto import label


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


def run_bench(methods: Sequence[str] | Callable[[Any], Sequence[str]] | None, tasks: Sequence[Any], budgets: Iterable[int] | None = DEFAULT_BUDGETS, *,
              out_dir: str | Path | None = None, command: str | None = None, config: dict | None = None,
              on_record: Callable[[dict], None] | None = None, on_start: Callable[[dict], None] | None = None,
              fit_rows: int | None = None, name: str = "bench", mode: str = "quick",
              time_budget_s: float | None = None, recipes: Any = None, faiss: bool = True,
              ladders: dict[str, bool] | None = None, resume: bool = False) -> Results:
    """Run methods × tasks and return (and optionally write) the results.

    Parameters
    ----------
    methods : list of spec strings, callable or None
        None: the peers and seed compressors that reach each budget
        (:func:`emblab.bench.candidates.default_candidates`); those the fit set cannot support
        get a ``skipped`` record with the reason. A callable gets the loaded task and returns its
        specs (e.g. per embedding width).
    tasks : list of task names, task URIs or :class:`~emblab.evaluation.tasks.Task`
    budgets : iterable of int or None
        Byte budgets; records whose bytes/vector hit one are tagged with it.
    out_dir : path, optional
        Writes ``<name>.json`` and ``<name>.md`` there (atomically, after every method, so a long
        run interrupted keeps what it finished).
    command, config : optional
        Recorded in the document.
    on_record : callable, optional
        Called with each finished record (progress display).
    on_start : callable, optional
        Called with ``{"task", "spec", "index", "total", "budget"}`` before each method is fitted.
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
    resume : bool
        Keep the finished (task, spec) records of an existing ``out_dir/<name>.json`` with the same
        kind and budgets instead of running them again.

    Each task contributes its uncompressed row, its reference rows (``Task.reference_results``,
    e.g. popularity) and every row of ``Task.evaluate_all(spec)`` per spec (a task may score one
    spec several ways; such rows carry a ``variant`` label). Records keep the ``spec`` they came
    from. The document's kind is ``recsys`` when every task is a recommendation task, else
    ``compression``.

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
    task_objs = [get_task(t) for t in tasks]
    records: list[dict[str, Any]] = []
    datasets: dict[str, Any] = {}
    res = Results(kind="compression", records=[])
    t_start = time.perf_counter()
    # recommendation tasks get their own report section (HR@10 vs bytes, baselines as lines)
    kind = "recsys" if task_objs and all(t.metadata.kind == "recsys" for t in task_objs) else "compression"
    done = _finished(out_dir, name, kind, sorted(budgets_set)) if resume else {}

    def flush() -> None:
        nonlocal res
        res = Results.from_dict(results_document(
            kind, records, command=command, dataset=datasets, budgets=sorted(budgets_set), config=config or {},
            fit_rows=fit_rows, mode=mode if methods is None else "methods", time_budget_s=time_budget_s))
        res.extra["verdict"] = verdict(res)
        if out_dir is not None:
            write_outputs(res, out_dir, name)

    def emit(rec: dict[str, Any]) -> None:
        records.append(rec)
        if on_record:
            on_record(rec)
        flush()

    for task in task_objs:  # load everything first: a data error leaves no partial output
        task.load()
        if fit_rows is not None:
            _limit_fit_rows(task, fit_rows)
    if out_dir is not None:  # fail before the long run: unwritable, or a file there that is not ours
        from ..io import guard_output

        guard_output(Path(out_dir) / f"{name}.json", "results", overwrite=True)
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
        baseline = task.evaluate(None)
        datasets[task.name] = baseline.dataset
        for res in [baseline] + task.reference_results():
            emit(result_record(res, baseline, budgets_set))
        preload_backends([c.spec for c in cands if not c.skip])
        fits = SharedFits()
        for i, cand in enumerate(cands):
            head = {"task": task.name, "method": cand.spec, "spec": cand.spec, "family": cand.family,
                    "budget": cand.budget or None}
            if cand.skip:
                emit({**head, "skipped": f"cannot fit: {cand.skip}"})
                continue
            if (task.name, cand.spec) in done:  # finished by an earlier run of the same benchmark
                for rec in done[(task.name, cand.spec)]:
                    emit(rec)
                continue
            if time_budget_s is not None and time.perf_counter() - t_start > time_budget_s:
                emit({**head, "skipped": f"not run: the time budget of {time_budget_s:g} s was used up"})
                continue
            if on_start:
                on_start({**head, "index": i + 1, "total": len(cands)})
            t0 = time.perf_counter()
            shared = None
            try:
                model, shared = fits.model_for(cand.spec)
                results = task.evaluate_all(model)
            except EmblabError as exc:
                results = [{**head, "method": full_spec(cand.spec),
                            "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}]
            else:
                fits.remember(cand.spec, model)
            wall = time.perf_counter() - t0
            for res in results:
                rec = res if isinstance(res, dict) else {**result_record(res, baseline, budgets_set),
                                                         "spec": cand.spec, "family": cand.family}
                # a budget-first method (sae:budget=B) may pack into a few bytes less than B
                if cand.budget and "error" not in rec and (rec.get("bytes_per_vector") or 0) <= cand.budget:
                    rec["budget"] = cand.budget
                if shared and isinstance(rec.get("extra"), dict):
                    rec["extra"]["fit_shared_with"] = shared
                rec["wall_time_s"] = wall / len(results)
                emit(rec)
    if not records:
        flush()
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

        if is_uncompressed(spec):
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


def _finished(out_dir: str | Path | None, name: str, kind: str, budgets: list[int]) -> dict[tuple, list[dict]]:
    """Records of ``out_dir/<name>.json`` by (task, spec), to resume an interrupted run.

    Only a results document of the same kind and budgets counts; rows that ended in an error or
    were not run (time budget) are run again.
    """
    if out_dir is None or not (Path(out_dir) / f"{name}.json").is_file():
        return {}
    try:
        old = read_results(Path(out_dir) / f"{name}.json")
    except DataError:
        return {}
    if old.kind != kind or old.extra.get("budgets") != budgets:
        return {}
    out: dict[tuple, list[dict]] = {}
    for rec in old.records:
        if isinstance(rec, dict) and "spec" in rec:
            out.setdefault((rec.get("task"), rec["spec"]), []).append(rec)
    return {k: v for k, v in out.items() if not any("error" in r or "skipped" in r for r in v)}


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
    cols = _metric_columns(recs, task)
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
