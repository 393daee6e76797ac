"""``emblab demo``: the ``make demo`` job -- every method on text every Python install carries.

1. passages of the standard library's documentation (``pydoc_data`` topics and module docstrings,
   :mod:`emblab.data.stdlib_docs`; ``--passages`` of them, 3,000 by default) are embedded with the
   packaged all-MiniLM-L6-v2 (:mod:`emblab.embed`), cached in ``$EMBLAB_CACHE`` so a second run
   starts at once;
2. a kNN-fidelity instance ``knn_fidelity/stdlib-minilm`` is built from them: a seeded (seed 0)
   random 300 passages are the queries, the remaining passages are the catalogue, and the fit set
   is the catalogue (as for ``knn_fidelity/scifact-minilm``); ground truth is the exact float32
   top-10 by cosine;
3. ``emblab bench`` runs, at 32, 64 and 128 bytes/vector, the peers (PQ, PCA float16/int8,
   truncation; ``--full`` adds OPQ and FastScan PQ) and the seed compressors (``sae`` with its
   top-k and OMP encoders, ``mcr2``, ``ae``) in their best-measured configurations
   (:mod:`emblab.bench.candidates`); each progress line names the method being fitted;
4. the table, the HTML report (``--report``) and last the verdict are printed, and
   ``runs/demo/{demo.json,demo.md,config.json}`` are written.

Every finished method is kept in ``runs/demo/cells``: a rerun (after Ctrl-C, or to see the table
again) computes only what is missing; ``--fresh`` computes everything again.

``--standard-data`` runs the same on the shared datasets instead (``knn_fidelity/imdb-minilm``
and ``beir_scifact``; needs ``EMBLAB_DATA``), with fit sets limited to 10,000 rows unless
``--full``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
import typer

if TYPE_CHECKING:
    from ...experiment.results import Results

DEMO_BUDGETS = [32, 64, 128]
N_QUERIES = 300


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


def run_demo(out: str = "runs/demo", *, passages: int = 3000, vectors: Optional[np.ndarray] = None,
             use_data: bool = False, full: bool = False, budgets: Optional[list[int]] = None,
             methods: Optional[list[str]] = None, quiet: bool = False, report: Optional[str] = None,
             recipes: Any = None, overwrite: bool = False, fresh: bool = False) -> Results:
    """Run the demo and return its :class:`~emblab.experiment.Results` (see the module docstring).

    Parameters
    ----------
    out : str
        Output folder.
    passages : int
        Stdlib passages to embed (stdlib mode).
    vectors : ndarray of shape (n, d), optional
        Use these passage embeddings instead of embedding text (tests, user data).
    use_data : bool
        Run on the shared datasets (``EMBLAB_DATA``) instead of the stdlib passages.
    full : bool
        Add OPQ and FastScan PQ; with ``use_data``, full fit sets.
    budgets : list of int, optional
        Default 32, 64, 128.
    methods : list of str, optional
        Specs to run instead of the default candidates.
    quiet : bool
        No per-method progress lines.
    report : str, optional
        Also render the HTML report of ``out`` and ``benchmarks/results`` into this folder.
    recipes : tuple of SeedRecipe, optional
        Seed recipes (tests pass small ones).
    overwrite : bool
        Start over in a new folder replacing the demo (or bench) folder at ``out``, and replace the
        report at ``report``; anything else there is refused.
    fresh : bool
        Compute every method again (default: resume the finished ones kept in ``out/cells``).
    """
    from ...bench.verdict import verdict_lines
    from ...io import guard_output
    from .bench import DEFAULTS, execute
    from ._common import console

    guard_output(out, "bench", overwrite=overwrite, resume=True)   # before the embedding work
    if report:
        guard_output(report, "report", inputs=[out], overwrite=overwrite)
    err = console(stderr=True)
    cfg = dict(DEFAULTS, name="demo", budgets=budgets or DEMO_BUDGETS, methods=methods,
               mode="full" if full else "quick", task_options={})
    if use_data:
        from ...evaluation.tasks import get_task

        tasks = [get_task("knn_fidelity/imdb-minilm"), get_task("beir_scifact")]
        cfg["fit_rows"] = None if full else 10000
        err.print("demo on the shared datasets: knn_fidelity/imdb-minilm, beir_scifact", markup=False, soft_wrap=True)
    else:
        if vectors is None:
            from ...data.stdlib_docs import load_stdlib_embeddings

            err.print(f"embedding {passages} stdlib documentation passages with all-MiniLM-L6-v2 "
                      "(cached after the first run)", markup=False, soft_wrap=True)
            _, _, vectors = load_stdlib_embeddings(max_passages=passages, show_progress=not quiet)
        tasks = [stdlib_task(np.asarray(vectors, dtype=np.float32))]
    cfg["tasks"] = [t.name for t in tasks]
    res = execute(cfg, out, command="emblab demo", quiet=quiet, tasks=tasks, recipes=recipes, print_verdict=False,
                  overwrite=overwrite, fresh=fresh)
    c = console()
    if report:
        from ...report.build import build_report

        sources = [out] + (["benchmarks/results"] if os.path.isdir("benchmarks/results") else [])
        c.print(f"report: {build_report(sources, report, title='emblab demo report')}", markup=False, soft_wrap=True)
    c.print("", markup=False, soft_wrap=True)
    for line in verdict_lines(res):
        c.print(line, markup=False, soft_wrap=True)
    return res


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: str = typer.Option("runs/demo", "--out", "-o", help="Output folder."),
        passages: int = typer.Option(3000, "--passages", min=20, help="Stdlib passages to embed."),
        full: bool = typer.Option(False, "--full", help="Add OPQ and FastScan PQ (and full fit sets with --standard-data)."),
        standard_data: bool = typer.Option(False, "--standard-data", help="Run on EMBLAB_DATA's imdb-minilm and SciFact."),
        report: Optional[str] = typer.Option(None, "--report", help="Also write the HTML report into this folder."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-method progress lines."),
        fresh: bool = typer.Option(False, "--fresh", help="Compute every method again (default: resume from OUT/cells)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Start over in a new folder replacing the one at --out."),
    ) -> None:
        """Every method (peers, sae, mcr2, ae) at 32-128 B on stdlib documentation (offline), then the verdict."""
        run_demo(out, passages=passages, full=full, use_data=standard_data, quiet=quiet, report=report,
                 overwrite=overwrite, fresh=fresh)
