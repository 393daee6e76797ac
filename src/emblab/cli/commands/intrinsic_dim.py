"""``emblab intrinsic-dim TASK --out DIR``: latent-size sweep and intrinsic dimension of a regression task.

TASK is a built-in task (``imdb_rating``, ``asap_sas``, ``stocknet_return``) or a ``.npz`` file
with arrays ``X`` (n, d) and ``y`` (n,) and optionally ``train`` / ``val`` / ``test`` row indices
(default: seeded random 80/10/10). Results: ``DIR/intrinsic_dim_<task>.{json,md,png}``; the
resumable cell store is ``DIR/cells`` (rerun the same command to resume).
"""

from __future__ import annotations

from typing import Optional

import typer

from ...spec import split_specs


def _npz_task(path: str):
    import numpy as np

    from ..._errors import DataError
    from ...regression.tasks import RegressionTask, random_split

    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the task file ({exc}); expected .npz with X and y.") from exc
    if "X" not in arrays or "y" not in arrays:
        raise DataError(f"{path}: the task file needs arrays 'X' (n, d) and 'y' (n,); found {sorted(arrays)}.")
    X, y = np.asarray(arrays["X"], np.float32), np.asarray(arrays["y"], np.float64).reshape(-1)
    if all(k in arrays for k in ("train", "val", "test")):
        tr, va, te = (np.asarray(arrays[k], np.int64) for k in ("train", "val", "test"))
    else:
        if len(X) != len(y):
            raise DataError(f"{path}: {len(X)} embedding rows but {len(y)} targets; they must be row-aligned.")
        tr, va, te = random_split(len(y), 42)
    from pathlib import Path

    return RegressionTask(Path(path).stem, X, y, tr, va, te, meta={"source": str(path)})


def register(app: typer.Typer) -> None:
    @app.command("intrinsic-dim")
    def intrinsic_dim(
        task: str = typer.Argument(..., help="imdb_rating, asap_sas, stocknet_return, or a .npz with X, y."),
        out: str = typer.Option(..., "--out", "-o", help="Output folder (results, plot, cell store)."),
        compressors: str = typer.Option("ae,ae:alpha=0.1,pca:store=f32,randproj", "--compressors",
                                        help="Comma list of compressor specs (dim is set per cell)."),
        dims: str = typer.Option("1,2,4,8,16,32,64,128,256", "--dims", help="Latent sizes (d < d_in used)."),
        seeds: int = typer.Option(3, "--seeds", min=1, help="Number of seeds (0..N-1)."),
        regressors: str = typer.Option("ridge,rf,mlp", "--regressors", help="Subset of ridge, rf, mlp."),
        model: str = typer.Option("all-MiniLM-L6-v2", "--model", "-m",
                                  help="Sentence encoder for built-in tasks (e.g. a local all-mpnet-base-v2 folder)."),
        n_train: Optional[int] = typer.Option(None, "--n-train", min=3, help="Subsample training rows."),
        n_val: Optional[int] = typer.Option(None, "--n-val", min=3, help="Subsample validation rows."),
        n_test: Optional[int] = typer.Option(None, "--n-test", min=3, help="Subsample test rows."),
        rf_max_features: Optional[str] = typer.Option(None, "--rf-max-features",
                                                      help="Random forest max_features (sqrt, log2 or a float; default 1.0)."),
        rf_max_samples: Optional[float] = typer.Option(None, "--rf-max-samples", help="Random forest max_samples."),
        device: str = typer.Option("auto", "--device", help="Autoencoder device: auto, cpu, cuda."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Start over in an existing intrinsic-dim folder."),
    ) -> None:
        """Sweep compressors x latent size x seeds, fit regressors, estimate the intrinsic dimension."""
        import sys

        from rich.console import Console
        from rich.table import Table

        from ..._errors import InvalidParameterError
        from ...io import atomic_path, guard_output, make_output_dir
        from ...regression.study import run_study
        from ._common import on_interrupt
        from ...regression.sweep import SweepConfig
        from ...regression.tasks import TASKS, load_task

        try:
            dim_list = [int(d) for d in dims.split(",") if d.strip()]
        except ValueError as exc:
            raise InvalidParameterError(f"--dims must be a comma list of integers; got {dims!r}.") from exc
        state = guard_output(out, "intrinsic-dim", inputs=[task] if task.endswith(".npz") else [],
                             overwrite=overwrite, resume=True)
        if task.endswith(".npz"):
            t = _npz_task(task)
        else:
            opts = {"model": model} if task in TASKS else {}
            t = load_task(task, **opts)
        rf_opts: dict = {}
        if rf_max_features is not None:
            try:
                rf_opts["max_features"] = float(rf_max_features)
            except ValueError:
                rf_opts["max_features"] = rf_max_features
        if rf_max_samples is not None:
            rf_opts["max_samples"] = rf_max_samples
        cfg = SweepConfig(compressors=split_specs(compressors), dims=dim_list, seeds=list(range(seeds)),
                          regressors=[r.strip() for r in regressors.split(",") if r.strip()],
                          regressor_options={"rf": rf_opts} if rf_opts else {}, n_train=n_train,
                          n_val=n_val, n_test=n_test, device=device)
        command = "emblab " + " ".join(sys.argv[1:])
        if state == "replace":   # a fresh sweep beside the old one, swapped in when it ends
            with atomic_path(out, is_dir=True, kind="intrinsic-dim") as tmp:
                doc = run_study(t, cfg, tmp, progress=progress, command=command)
        else:
            on_interrupt("interrupted; finished cells are kept: rerun the same command to resume.")
            doc = run_study(t, cfg, make_output_dir(out, "intrinsic-dim"), progress=progress, command=command)
        table = Table(title=f"intrinsic dimension: {doc['task']} (validation MSE within 10% of best)")
        for col in ("compressor", "regressor", "ID per seed", "d* median", "test MSE @d*", "test MSE raw", "test R² @d*"):
            table.add_column(col)
        for m in doc["records"]:
            table.add_row(m["compressor"], m["regressor"], str(m["ids"]), f"{m['d_star_median']:g}",
                          f"{m['test_at_d_star_mse']['mean']:.4f}", f"{m['test_raw_mse']['mean']:.4f}",
                          f"{m['test_at_d_star_r2']['mean']:.4f}")
        console = Console()
        console.print(table)
        ctx = doc["context"]
        console.print(f"constant test R² {ctx['constant']['test']['r2']:.4f}; shuffled-label ridge test R² "
                      f"{ctx['shuffled_ridge']['test']['r2']:.4f}; best (validation-chosen) test R² "
                      f"{ctx['best_val_selected']['test_r2_mean']:.4f}")
        console.print(f"wrote {out}/intrinsic_dim_{doc['task']}.json, .md, .png "
                      f"({doc['n_cells_run']} cells run, {doc['n_cells_resumed']} resumed)")
