"""``emblab demo``: the ``make demo`` job -- the peer benchmark on text every Python install carries.

Without ``EMBLAB_DATA`` (a fresh machine, offline):

1. passages of the standard library's documentation (``pydoc_data`` topics and module docstrings,
   :mod:`emblab.data.stdlib_docs`; ``--passages`` of them, 4,000 by default) are embedded with the
   packaged all-MiniLM-L6-v2 (:mod:`emblab.embed`), cached in ``$EMBLAB_CACHE`` so a second run
   starts at once;
2. a kNN-fidelity instance ``knn_fidelity/stdlib-minilm`` is built from them: a seeded (seed 0)
   random 300 passages are the queries, the remaining passages are the catalogue, and the fit set
   is the catalogue (as for ``knn_fidelity/scifact-minilm``); ground truth is the exact float32
   top-10 by cosine;
3. ``bench`` runs every peer that reaches 32, 64, 96, 128, 192, 256 or 384 bytes/vector exactly
   (PCA f16/int8, truncation, int8, FAISS PQ, SQ8/SQ4, binary at 48 B) plus float16; OPQ only at
   32 and 64 B (its rotation training dominates the run time);
4. the table is printed and ``runs/demo/{demo.json,demo.md,config.json}`` are written.

With ``EMBLAB_DATA`` set it runs on the standard datasets instead: ``knn_fidelity/imdb-minilm``
and ``beir_scifact`` at 32, 64, 128 and 384 B, with PQ/OPQ fit sets limited to 10,000 rows to
keep the run short (``--full`` lifts both limits).
"""

from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np
import typer

DEMO_BUDGETS = [32, 64, 96, 128, 192, 256, 384]
DATA_BUDGETS = [32, 64, 128, 384]
N_QUERIES = 300


def demo_methods(d: int, budgets: list[int], opq_budgets: tuple[int, ...] = (32, 64)) -> list[str]:
    """Peers at ``budgets`` (no pipelines/fastscan), OPQ only at ``opq_budgets``, plus float16."""
    from ...bench.runner import peer_specs_for_budgets

    specs = [s for b, s in peer_specs_for_budgets(d, list(budgets) + [-(-d // 8)], pipelines=False, fastscan=False)
             if not (s.startswith("faiss:OPQ") and b not in opq_budgets)]
    return specs + ["float16"]


def stdlib_task(X: np.ndarray, ids: list[str] | None = None, n_queries: int = N_QUERIES, seed: int = 0):
    """kNN-fidelity instance from passage embeddings X (n, d): held-out queries, catalogue = fit set."""
    from ...data.stdlib_docs import stdlib_query_catalogue_split
    from ...evaluation.tasks import KnnFidelityTask

    cat, qry = stdlib_query_catalogue_split(len(X), n_queries=n_queries, seed=seed)
    return KnnFidelityTask.from_arrays(
        "knn_fidelity/stdlib-minilm", X[cat], X[cat], X[qry],
        dataset={"source": "python stdlib documentation passages (emblab.data.stdlib_docs)",
                 "n_passages": int(len(X)), "query_rows_seed": seed},
        description="kNN fidelity on MiniLM embeddings of stdlib documentation passages",
        splits={"fit": f"catalogue ({len(cat)} passages)", "catalogue": f"{len(cat)} passages",
                "queries": f"{len(qry)} passages chosen with seed {seed}"})


def run_demo(out: str = "runs/demo", *, passages: int = 4000, vectors: Optional[np.ndarray] = None,
             use_data: Optional[bool] = None, full: bool = False, budgets: Optional[list[int]] = None,
             methods: Optional[list[str]] = None, quiet: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Run the demo and return the results document (see the module docstring).

    Parameters
    ----------
    out : str
        Output folder.
    passages : int
        Stdlib passages to embed (stdlib mode).
    vectors : ndarray of shape (n, d), optional
        Use these passage embeddings instead of embedding text (tests, user data).
    use_data : bool, optional
        Force the standard-dataset mode on/off (default: on when ``EMBLAB_DATA`` is set).
    full : bool
        Standard-dataset mode without the fit-row and budget limits.
    overwrite : bool
        Replace an earlier demo (or bench) folder at ``out``; anything else there is refused.
    """
    from .bench import DEFAULTS, execute
    from ...io import guard_output
    from ._common import console

    guard_output(out, "bench", overwrite=overwrite)   # before the embedding work
    if use_data is None:
        use_data = bool(os.environ.get("EMBLAB_DATA")) and vectors is None
    err = console(stderr=True)
    cfg = dict(DEFAULTS, name="demo")
    if use_data:
        from ...evaluation.tasks import get_task

        cfg["tasks"] = ["knn_fidelity/imdb-minilm", "beir_scifact"]
        cfg["budgets"] = budgets or (DEMO_BUDGETS if full else DATA_BUDGETS)
        cfg["fit_rows"] = None if full else 10000
        d = get_task("beir_scifact").load().fit_data().shape[1]
        cfg["methods"] = methods or demo_methods(d, cfg["budgets"], opq_budgets=(32,) if not full else tuple(cfg["budgets"]))
        err.print(f"EMBLAB_DATA is set: demo on {', '.join(cfg['tasks'])}")
        return execute(cfg, out, command="emblab demo", quiet=quiet, overwrite=overwrite)
    if vectors is None:
        from ...data.stdlib_docs import load_stdlib_embeddings

        err.print(f"embedding {passages} stdlib documentation passages with all-MiniLM-L6-v2 (cached after the first run)")
        _, _, vectors = load_stdlib_embeddings(max_passages=passages, show_progress=not quiet)
    task = stdlib_task(np.asarray(vectors, dtype=np.float32))
    cfg["budgets"] = budgets or DEMO_BUDGETS
    cfg["methods"] = methods or demo_methods(task.load().fit_data().shape[1], cfg["budgets"])
    cfg["tasks"] = [task.name]
    return _execute_with_task(cfg, task, out, quiet, overwrite)


def _execute_with_task(cfg: dict, task, out: str, quiet: bool, overwrite: bool) -> dict:
    """``bench.execute`` for an in-memory task (not in the task registry)."""
    from ...evaluation import tasks as tasks_mod
    from .bench import execute

    tasks_mod.register_task(task.name, lambda: task)
    try:
        return execute(cfg, out, command="emblab demo", quiet=quiet, overwrite=overwrite)
    finally:
        tasks_mod._TASKS.pop(task.name, None)


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: str = typer.Option("runs/demo", "--out", "-o", help="Output folder."),
        passages: int = typer.Option(4000, "--passages", min=20, help="Stdlib passages to embed."),
        full: bool = typer.Option(False, "--full", help="With EMBLAB_DATA: every budget, full fit sets."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-method progress lines."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier demo folder at --out."),
    ) -> None:
        """Peer compression benchmark on stdlib documentation (offline), or on EMBLAB_DATA if set."""
        run_demo(out, passages=passages, full=full, quiet=quiet, overwrite=overwrite)
