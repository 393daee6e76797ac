"""Corrector-network runs as an experiment: one cell per (task, method, seed) in a :class:`CellStore`.

The named settings (task sizes, :class:`~emblab.retrieval.train.RetrieverConfig` values) are in
:mod:`emblab.retrieval.experiments`; this module turns them into cells of
:mod:`emblab.experiment`, so ``emblab retriever train`` (one cell) and ``benchmarks/corrector.py``
(every method for several seeds) resume the same way, write one results document (kind
``corrector``) and render it with :func:`~emblab.retrieval.report.corrector_markdown` and the two
figures of :mod:`emblab.retrieval.report`.

A cell's id hashes the task description (``task.info``), the full run config and
:data:`RECORD_VERSION`, so a finished run is reused only by the same task, config and record layout.
"""

from __future__ import annotations

import dataclasses
import os
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .._errors import EmblabError
from ..experiment import CellStore, Results, cell_id, read_results, run_cells, write_results

#: bumped when a run record changes meaning, so stored runs of older code are not reused
#: (2: every row through h is counted, replay rows included; costs in g-forward equivalents)
RECORD_VERSION = 2


def method_grid(refresh: Sequence[int]) -> list[tuple[str, int | None]]:
    """(method, refresh period) of every run of one seed: inbatch, stale, refresh-R, corrector, oracle."""
    return ([("inbatch", None), ("stale", None)] + [("refresh", r) for r in refresh]
            + [("corrector", None), ("oracle", None)])


def open_store(root: str | os.PathLike, task: Any) -> CellStore:
    """The cell store of runs on ``task`` (refuses a folder holding runs of another task)."""
    return CellStore(root, fingerprint=cell_id({"task": task.info, "version": RECORD_VERSION}),
                     meta={"kind": "corrector", "task": task.info})


def run_one(task: Any, cfg: Any, *, out_dir: str | os.PathLike | None = None, progress: bool = False,
            resume: bool = True) -> dict[str, Any]:
    """Train one run (:func:`~emblab.retrieval.train.train_retriever`); its record with ``task_info``."""
    import torch

    from .train import train_retriever

    torch.manual_seed(cfg.seed)
    rec = train_retriever(task, cfg, out_dir=out_dir, progress=progress, resume=resume)
    rec["task_info"] = task.info
    return rec


def cells(task: Any, configs: Sequence[Any], **run_kw: Any) -> Iterator[tuple[dict[str, Any], Callable[[], dict]]]:
    """(cell config, run) pairs of :func:`~emblab.experiment.run_cells` for ``configs`` on ``task``."""
    for cfg in configs:
        yield ({"task": task.info, "config": dataclasses.asdict(cfg), "version": RECORD_VERSION},
               partial(run_one, task, cfg, **run_kw))


def run_configs(store: CellStore | None, task: Any, configs: Sequence[Any], *,
                on_record: Callable[[dict[str, Any]], None] | None = None, **run_kw: Any) -> list[dict[str, Any]]:
    """Run (or reuse from ``store``) one cell per config; ``store=None`` runs every one afresh.

    Records read back from the store carry ``reused_from_cache: True``. A run that fails with an
    :class:`~emblab.EmblabError` raises it (a benchmark must not publish a table with a hole).
    """
    def mark(rec: dict[str, Any], resumed: bool) -> None:
        if "error" in rec:
            raise EmblabError(rec["error"])
        rec["reused_from_cache"] = resumed
        if on_record is not None:
            on_record(rec)

    todo = list(cells(task, configs, **run_kw))
    if store is None:
        out = [fn() for _, fn in todo]
        for rec in out:
            mark(rec, False)
        return out
    return run_cells(store, todo, on_record=mark)


def benchmark(tasks: Sequence[str], setting: str, seeds: Sequence[int], refresh: Sequence[int], *,
              store_root: str | os.PathLike, budget_s: float | None = None, progress: bool = False,
              on_record: Callable[[dict[str, Any]], None] | None = None,
              log: Callable[[str], None] = print) -> dict[str, tuple[Any, list[dict[str, Any]]]]:
    """Every method of :func:`method_grid` for each seed on each named task, stored under
    ``store_root/<task>_<setting>``; returns ``{task name: (RetrievalTask, records)}``.

    Seeds run in the outer loop so every task gets complete seeds; with ``budget_s``, a
    (task, seed) block is skipped when the previous block of that task would not fit in the
    time left (finished cells are reused, so skipped blocks run on the next invocation).
    """
    from .experiments import build_experiment

    built = {name: build_experiment(name, setting) for name in tasks}
    out: dict[str, tuple[Any, list[dict[str, Any]]]] = {name: (built[name][0], []) for name in tasks}
    block_s: dict[str, float] = {}
    t0 = time.time()
    for seed in seeds:
        for name in tasks:
            task, base = built[name]
            left = float("inf") if budget_s is None else budget_s - (time.time() - t0)
            if block_s.get(name, 0.0) > left:
                log(f"[budget] skipping {name} seed {seed}: last block took {block_s[name]:.0f}s, {left:.0f}s left")
                continue
            configs = [dataclasses.replace(base, method=m, seed=seed, **({"refresh_every": r} if r else {}))
                       for m, r in method_grid(refresh)]
            tb = time.time()
            store = open_store(Path(store_root) / f"{name}_{setting}", task)
            out[name][1].extend(run_configs(store, task, configs, on_record=on_record, progress=progress))
            block_s[name] = time.time() - tb
    return out


def write_corrector(path: str | os.PathLike, task: Any, records: list[dict[str, Any]], *, command: str,
                    note: str = "") -> Results:
    """Write the results document (kind ``corrector``): records, the recall@10 summary, the headline
    ratio per metric, the splits; returns it as :class:`~emblab.experiment.Results`."""
    from .report import headline, summarize

    split = task.final_split
    summ = {m: summarize(records, m, split) for m in ("recall@10", "ndcg@10")}
    extra = {"note": note} if note else {}
    write_results(path, "corrector", records, command=command, dataset=task.info, summary=summ["recall@10"],
                  headline={m: headline(summ[m], m) for m in summ}, metric_split=split,
                  curve_metric=f"{task.curve_split}/recall@10", **extra)
    return read_results(path)


def render_corrector(path: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Re-write ``<stem>.md``, ``<stem>_quality.png`` and ``<stem>_drift.png`` beside the results
    file ``path`` from its records alone (nothing is run); returns the paths written."""
    from ..io import atomic_write_text
    from .report import corrector_markdown, plot_drift, plot_quality

    path = Path(path)
    res = read_results(path)
    name = name or path.stem.removeprefix("corrector_")
    md, quality, drift = (path.with_name(path.stem + suffix) for suffix in (".md", "_quality.png", "_drift.png"))
    atomic_write_text(md, corrector_markdown(res, name))
    curve = str(res.extra.get("curve_metric", "val/recall@10"))
    plot_quality(res.records, curve, quality, f"corrector benchmark, {name}: {curve} vs target-encoder refresh "
                 "passes (mean over seeds)", final_split=str(res.extra.get("metric_split", "test")))
    plot_drift(res.records, drift, f"corrector benchmark, {name}: drift and top-10 overlap")
    return [md, quality, drift]
