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

import contextlib
import os
import sys
import threading
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


@contextlib.contextmanager
def quiet_faiss_clustering_warnings():
    """Collapse FAISS's per-sub-quantiser ``WARNING clustering N points ...`` lines into one note.

    FAISS prints one such line (from C++, on file descriptor 2) for every k-means it runs on fewer
    than 39 x 256 rows; the demo's fit sets are smaller (3,700 passages; SciFact 5,183), which would
    bury the table under hundreds of identical lines. Everything else passes through.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # captured stderr (tests): nothing to filter
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    r, w = os.pipe()
    os.dup2(w, fd)
    os.close(w)
    count = [0]

    def pump() -> None:
        with os.fdopen(r, "rb", buffering=0) as fh:
            for line in iter(fh.readline, b""):
                if line.startswith(b"WARNING clustering"):
                    count[0] += 1
                else:
                    os.write(saved, line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)   # drops the last write end of the pipe: the pump sees EOF
        thread.join(timeout=5)
        os.close(saved)
        if count[0]:
            sys.stderr.write(f"note: FAISS warned {count[0]} times that a k-means fit set has fewer than "
                             "9,984 rows (39 per centroid); expected for the demo's small fit sets.\n")


def run_demo(out: str = "runs/demo", *, passages: int = 4000, vectors: Optional[np.ndarray] = None,
             use_data: Optional[bool] = None, full: bool = False, budgets: Optional[list[int]] = None,
             methods: Optional[list[str]] = None, quiet: bool = False) -> dict[str, Any]:
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
    """
    from .bench import DEFAULTS, execute
    from ._common import check_writable, console

    check_writable(os.path.join(out, "demo.json"))
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
        with quiet_faiss_clustering_warnings():
            return execute(cfg, out, command="emblab demo", quiet=quiet)
    if vectors is None:
        from ...data.stdlib_docs import load_stdlib_embeddings

        err.print(f"embedding {passages} stdlib documentation passages with all-MiniLM-L6-v2 (cached after the first run)")
        _, _, vectors = load_stdlib_embeddings(max_passages=passages, show_progress=not quiet)
    task = stdlib_task(np.asarray(vectors, dtype=np.float32))
    cfg["budgets"] = budgets or DEMO_BUDGETS
    cfg["methods"] = methods or demo_methods(task.load().fit_data().shape[1], cfg["budgets"])
    cfg["tasks"] = [task.name]
    return _execute_with_task(cfg, task, out, quiet)


def _execute_with_task(cfg: dict, task, out: str, quiet: bool) -> dict:
    """``bench.execute`` for an in-memory task (not in the task registry)."""
    from ...evaluation import tasks as tasks_mod
    from .bench import execute

    tasks_mod.register_task(task.name, lambda: task)
    try:
        with quiet_faiss_clustering_warnings():
            return execute(cfg, out, command="emblab demo", quiet=quiet)
    finally:
        tasks_mod._TASKS.pop(task.name, None)


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: str = typer.Option("runs/demo", "--out", "-o", help="Output folder."),
        passages: int = typer.Option(4000, "--passages", min=20, help="Stdlib passages to embed."),
        full: bool = typer.Option(False, "--full", help="With EMBLAB_DATA: every budget, full fit sets."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-method progress lines."),
    ) -> None:
        """Peer compression benchmark on stdlib documentation (offline), or on EMBLAB_DATA if set."""
        run_demo(out, passages=passages, full=full, quiet=quiet)
