"""``emblab eval DIR_or_SPEC... --task NAME [--out res.json]``: evaluate compressors on one task.

A config over the bench runner (:func:`emblab.bench.runner.run_bench`): one task, the given
specs (or artifact folders, or ``float32``), no byte budgets and no reference rows. Each model
is one cell, run in a temporary store (an evaluation is not resumed); the results file has the
layout of ``emblab bench`` records.
"""

from __future__ import annotations

from typing import List, Optional

import typer


def _run(models: List[str], task: str, out: Optional[str], sets: Optional[List[str]], overwrite: bool = False) -> None:
    import sys
    import tempfile
    from pathlib import Path

    from ..._errors import EmblabError
    from ...bench.runner import check_specs, metric_columns, run_bench
    from ...evaluation.tasks import get_task
    from ...experiment.results import write_results
    from ...io import guard_output
    from ._common import console, parse_sets

    task_obj = get_task(task, **parse_sets(sets))   # unknown task / option: fail first
    check_specs(models)                             # unknown spec: fail before loading data
    if out is not None:
        guard_output(out, "results", inputs=[m for m in models if Path(m).exists()], overwrite=overwrite)
    command = " ".join(["emblab"] + sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="emblab-eval-") as store:
        res = run_bench(models, [task_obj], None, store=store, reference=False, command=command)
    failed = next((r for r in res.records if "error" in r), None)
    if failed is not None:
        raise EmblabError(failed["error"])
    if out is not None:
        write_results(out, "compression", res.records, command=command, dataset=res.dataset)
    from rich.table import Table

    c = console()
    for rec in res.records:
        variant = f" [{rec['variant']}]" if rec.get("variant") else ""  # e.g. a recsys coding
        t = Table(title=f"{rec['task']}: {rec['method']}{variant} ({rec['bytes_per_vector']:g} bytes/vector)")
        t.add_column("metric")
        t.add_column("value", justify="right")
        for key in metric_columns([rec], rec["task"]):
            t.add_row(key + (" *" if key == rec.get("main_score") else ""), f"{rec[key]:.4f}")
        for key in ("fit_time_s", "encode_time_s", "search_time_s"):
            if rec.get(key) is not None:
                t.add_row(key, f"{rec[key]:.3f}")
        c.print(t)
    if out:
        c.print(f"-> {out}")


def register(app: typer.Typer) -> None:
    from ._common import OVERWRITE_HELP

    help_model = ("Artifact directory, a spec to fit on the task's fit set, or 'float32' for uncompressed "
                  "(several: one table each).")

    @app.command("eval")
    def eval_cmd(
        model: List[str] = typer.Argument(..., help=help_model),
        task: str = typer.Option(..., "--task", "-t", help="Task name (see `emblab list tasks`)."),
        out: Optional[str] = typer.Option(None, "--out", "-o", help="Results JSON to write."),
        sets: Optional[List[str]] = typer.Option(None, "--set", help="Task option key=value (e.g. fit_set=train)."),
        overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    ) -> None:
        """Evaluate compressors on a task (kNN fidelity, BEIR, STS, recsys, mock)."""
        _run(model, task, out, sets, overwrite)

    @app.command("evaluate", hidden=True)
    def evaluate_cmd(
        model: List[str] = typer.Argument(..., help=help_model),
        task: str = typer.Option(..., "--task", "-t"),
        out: Optional[str] = typer.Option(None, "--out", "-o"),
        sets: Optional[List[str]] = typer.Option(None, "--set"),
        overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    ) -> None:
        """Alias of `eval`."""
        _run(model, task, out, sets, overwrite)
