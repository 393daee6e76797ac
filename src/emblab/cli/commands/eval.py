"""``emblab eval DIR_or_SPEC --task NAME [--out res.json]``: evaluate one compressor on one task."""

from __future__ import annotations

from typing import List, Optional

import typer


def _run(model: str, task: str, out: Optional[str], sets: Optional[List[str]], overwrite: bool = False) -> None:
    import sys

    from ...experiment.results import write_results
    from ...evaluation.tasks import get_task
    from ...evaluation.tasks.base import is_uncompressed
    from ...registry import build
    from ...io import guard_output
    from ._common import console, parse_sets
    from pathlib import Path

    task_obj = get_task(task, **parse_sets(sets))   # unknown task / option: fail first
    if not is_uncompressed(model) and not Path(model).is_dir():
        build(model)                                  # unknown spec: fail before loading data
    if out is not None:
        guard_output(out, "results", inputs=[model] if Path(model).exists() else [], overwrite=overwrite)
    res = task_obj.evaluate(model)
    if out is not None:
        write_results(out, "compression", [{**res.to_dict(), **res.scores}], command=" ".join(["emblab"] + sys.argv[1:]),
                      dataset={res.task: res.dataset})
    from rich.table import Table

    variant = f" [{res.extra['variant']}]" if res.extra.get("variant") else ""  # e.g. a recsys coding
    t = Table(title=f"{res.task}: {res.method}{variant} ({res.bytes_per_vector:g} bytes/vector)")
    t.add_column("metric")
    t.add_column("value", justify="right")
    for key, val in res.scores.items():
        t.add_row(key + (" *" if key == res.main_score else ""), f"{val:.4f}")
    for key in ("fit_time_s", "encode_time_s", "search_time_s"):
        v = getattr(res, key)
        if v is not None:
            t.add_row(key, f"{v:.3f}")
    c = console()
    c.print(t)
    if out:
        c.print(f"-> {out}")


def register(app: typer.Typer) -> None:
    from ._common import OVERWRITE_HELP

    help_model = "Artifact directory, a spec to fit on the task's fit set, or 'float32' for uncompressed."

    @app.command("eval")
    def eval_cmd(
        model: str = typer.Argument(..., help=help_model),
        task: str = typer.Option(..., "--task", "-t", help="Task name (see `emblab list tasks`)."),
        out: Optional[str] = typer.Option(None, "--out", "-o", help="Results JSON to write."),
        sets: Optional[List[str]] = typer.Option(None, "--set", help="Task option key=value (e.g. fit_set=train)."),
        overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    ) -> None:
        """Evaluate a compressor on a task (kNN fidelity, BEIR, STS, mock)."""
        _run(model, task, out, sets, overwrite)

    @app.command("evaluate", hidden=True)
    def evaluate_cmd(
        model: str = typer.Argument(..., help=help_model),
        task: str = typer.Option(..., "--task", "-t"),
        out: Optional[str] = typer.Option(None, "--out", "-o"),
        sets: Optional[List[str]] = typer.Option(None, "--set"),
        overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    ) -> None:
        """Alias of `eval`."""
        _run(model, task, out, sets, overwrite)
