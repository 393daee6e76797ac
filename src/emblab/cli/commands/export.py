"""``emblab export``: ship a method on a task's collection (FAISS index file, Qdrant, codes with ids).

::

    emblab export SPEC_OR_MODEL_DIR --task beir:DIR [--set k=v] --out served/
    emblab export --from runs/mine --budget 64 --out served/          # the bench verdict at 64 B
        [--no-faiss] [--qdrant-path DIR | --qdrant-url URL] [--collection NAME]
        [--qdrant-vectors dense|sparse] [--overwrite]

Writes ``served/{model/, codes.npz, index.faiss, ids.json, export.json}`` (:mod:`emblab.scale.export`)
and prints what each served form scores on the task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer


def verdict_choice(bench_dir: str, budget: Optional[int], task: Optional[str]) -> dict[str, Any]:
    """The verdict entry of a bench run for ``budget`` (and ``task`` when it ran several)."""
    from ..._errors import DataError, InvalidParameterError
    from ...bench.verdict import verdict
    from ...experiment.results import read_results

    folder = Path(bench_dir)
    docs = sorted(folder.glob("*.json")) if folder.is_dir() else []
    res = None
    for path in docs:
        try:
            cand = read_results(path)
        except DataError:
            continue
        if cand.kind == "compression":
            res = cand
            break
    if res is None:
        raise DataError(f"--from {bench_dir}: no emblab bench results there; run `emblab bench --out {bench_dir}` first.")
    entries = [e for e in (res.extra.get("verdict") or verdict(res)) if e.get("spec")]
    if task is not None:
        entries = [e for e in entries if e["task"] == task or (e.get("reproduce") or "").find(task) >= 0]
    budgets = sorted({e["budget"] for e in entries})
    if budget is None:
        if len(budgets) != 1:
            raise InvalidParameterError(f"--from {bench_dir}: pick one of the budgets {budgets} with --budget.")
        budget = budgets[0]
    chosen = [e for e in entries if e["budget"] == budget]
    if not chosen:
        raise InvalidParameterError(f"--from {bench_dir}: no verdict at {budget} B; the run has {budgets}.")
    if len({e["task"] for e in chosen}) > 1:
        raise InvalidParameterError(f"--from {bench_dir}: several tasks have a verdict at {budget} B; name one with --task.")
    entry = chosen[0]
    info = res.dataset.get(entry["task"], {})
    return {"spec": entry["spec"], "task": info.get("uri") or entry["task"],
            "options": info.get("uri_options") or {}, "score": entry.get("score"), "metric": entry.get("metric")}


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        model: Optional[str] = typer.Argument(None, help="Spec to fit on the task, or a fitted model directory."),
        task: Optional[str] = typer.Option(None, "--task", "-t", help="Task whose collection to ship (beir:DIR, knn:PATH, ...)."),
        out: str = typer.Option(..., "--out", "-o", help="Output folder (model/, codes.npz, index.faiss, export.json)."),
        sets: Optional[List[str]] = typer.Option(None, "--set", help="Task option key=value (URI tasks)."),
        from_bench: Optional[str] = typer.Option(None, "--from", help="Bench output folder: ship its verdict."),
        budget: Optional[int] = typer.Option(None, "--budget", min=1, help="With --from: the budget whose verdict to ship."),
        faiss: bool = typer.Option(True, "--faiss/--no-faiss", help="Write index.faiss when the method has a FAISS form."),
        qdrant_path: Optional[str] = typer.Option(None, "--qdrant-path", help="Also write a Qdrant collection into this embedded store folder."),
        qdrant_url: Optional[str] = typer.Option(None, "--qdrant-url", help="Also write a Qdrant collection to this server."),
        collection: str = typer.Option("emblab", "--collection", help="Qdrant collection name."),
        qdrant_vectors: str = typer.Option("dense", "--qdrant-vectors", help="dense (decoded, cosine) or sparse (sae codes)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier export in --out."),
    ) -> None:
        """Ship a method on a task's collection: codes with ids, a FAISS index file, a Qdrant collection."""
        from ..._errors import InvalidParameterError
        from ...evaluation.tasks import get_task
        from ...scale.export import export_collection
        from ._common import console, parse_sets

        options: dict[str, Any] = parse_sets(sets)
        if from_bench is not None:
            choice = verdict_choice(from_bench, budget, task)
            if model is not None:
                raise InvalidParameterError("give either a MODEL or --from BENCH_DIR, not both.")
            model, task = choice["spec"], choice["task"]
            options = {**{k: str(v) for k, v in choice["options"].items()}, **options}
        elif budget is not None:
            raise InvalidParameterError("--budget picks a verdict of --from BENCH_DIR; give --from too.")
        if model is None or task is None:
            raise InvalidParameterError("give MODEL and --task, or --from BENCH_DIR --budget B.")
        if qdrant_url and not qdrant_url.startswith(("http://", "https://")):
            raise InvalidParameterError(f"--qdrant-url {qdrant_url}: expected http://host:port or https://host:port.")
        task_obj = get_task(task, **options) if options else get_task(task)
        err = console(stderr=True)
        manifest = export_collection(model, task_obj, out, faiss=faiss, qdrant_path=qdrant_path,
                                     qdrant_url=qdrant_url, collection=collection, qdrant_vectors=qdrant_vectors,
                                     overwrite=overwrite, log=lambda line: err.print(line, markup=False, soft_wrap=True))
        c = console()
        c.print(f"exported {manifest['spec']} on {manifest['task']}: {manifest['n_items']} items, "
                f"{manifest['bytes_per_vector']:g} B/vector -> {Path(out)}/", markup=False, soft_wrap=True)
        fa = manifest["faiss"]
        if fa.get("mode") and faiss:
            line = f"index.faiss, {fa['form']} (scores as emblab mode {fa['mode']})"
        else:
            line = f"none ({fa.get('none', 'skipped with --no-faiss')})"
        c.print(f"  FAISS: {line}", markup=False, soft_wrap=True)
        if manifest.get("qdrant"):
            q = manifest["qdrant"]
            c.print(f"  Qdrant: collection {q['collection']!r} at {q.get('url') or q.get('path')} ({q['vectors']} vectors, "
                    f"scores as emblab mode {q['mode']})", markup=False, soft_wrap=True)
        for name, scores in manifest["scores"].items():
            c.print(f"  {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), markup=False, soft_wrap=True)
