"""One intrinsic-dimension study end to end: sweep -> summary -> results JSON, markdown, PNG.

``run_study(task, cfg, out_dir)`` writes into ``out_dir``:

* ``cells/`` the resumable cell store (see :mod:`emblab.regression.sweep`),
* ``intrinsic_dim_<task>.json`` results document of kind ``intrinsic_dimension`` (one record per
  compressor x regressor, plus the signal-to-noise context under ``context``),
* ``intrinsic_dim_<task>.md`` table, ``intrinsic_dim_<task>.png`` loss-vs-d plot.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..experiment.provenance import environment_lines
from ..experiment.results import Results, read_results, write_results
from .intrinsic_dimension import plot_curves, spec_template, summarize
from .sweep import SweepConfig, context_baselines, prepare_task, run_sweep
from .tasks import RegressionTask


def _best_val_selected(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per seed, the (compressor, d, regressor) with the lowest validation MSE and its test R^2."""
    out = []
    for seed in sorted({r["seed"] for r in records}):
        cands = [(reg["val"]["mse"], r, name, reg) for r in records if r["seed"] == seed
                 for name, reg in r["regressors"].items()]
        v, r, name, reg = min(cands, key=lambda c: c[0])
        out.append({"seed": seed, "compressor": r["compressor"], "d": r["d"], "regressor": name,
                    "val_mse": v, "test_r2": reg["test"]["r2"], "test_mse": reg["test"]["mse"]})
    return {"per_seed": out, "test_r2_mean": float(np.mean([o["test_r2"] for o in out])),
            "test_r2_std": float(np.std([o["test_r2"] for o in out]))}


def _fmt(x: dict[str, float], digits: int = 3) -> str:
    return f"{x['mean']:.{digits}f} ± {x['std']:.{digits}f}"


def _spec(rec: dict[str, Any]) -> str:
    """The full spec a record was run with (written at run time; ``compressor`` as given otherwise)."""
    return str(rec.get("spec") or rec["compressor"]).replace("|", "\\|")


def markdown(doc: dict[str, Any]) -> str:
    """Markdown report of a study document (tables + provenance).

    Compressors are shown by their full resolved spec, with the per-cell values ``dim=<d>`` and
    ``random_state=<seed>`` left open (the d and seed columns give them).
    """
    ctx, env = doc["context"], doc["environment"]
    lines = [f"# Intrinsic dimension: {doc['task']}", "",
             f"Task: {doc['task_meta']}", "",
             f"Rows: train {ctx['target']['n_train']} (used), val {ctx['target']['n_val']}, "
             f"test {ctx['target']['n_test']}; d_in = {doc['d_in']}. Metrics on standardised targets "
             "(train mean/std); ID = smallest d with validation MSE <= 1.1 x best (raw included).", "",
             "## Signal-to-noise context (test)", "",
             "| baseline | MSE (std. y) | R² |", "|---|---|---|"]
    for name in ("constant", "group_mean"):
        if name in ctx:
            lines.append(f"| {name} (train mean{' per prompt' if name == 'group_mean' else ''}) | "
                         f"{ctx[name]['test']['mse']:.4f} | {ctx[name]['test']['r2']:.4f} |")
    lines.append(f"| shuffled-label control (ridge, raw) | {ctx['shuffled_ridge']['test']['mse']:.4f} | "
                 f"{ctx['shuffled_ridge']['test']['r2']:.4f} |")
    b = ctx["best_val_selected"]
    picks = ", ".join(f"`{_spec(p)}` d={p['d']} {p['regressor']}" for p in b["per_seed"])
    lines.append(f"| best config chosen on validation ({picks}) | – | "
                 f"{b['test_r2_mean']:.4f} ± {b['test_r2_std']:.4f} |")
    lines += ["", "## Per compressor and regressor (mean ± std over seeds)", "",
              "| compressor | regressor | ID per seed | ID median | d* median | test MSE @ID | test MSE @d* | "
              "test MSE raw | test R² @d* | test R² raw | gain d* vs raw [95% CI] |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in doc["records"]:
        g = m.get("gain_d_star_vs_raw")
        gs = f"{g['mean']:+.4f} [{g['lo']:+.4f}, {g['hi']:+.4f}]" if g else "–"
        lines.append(f"| `{_spec(m)}` | {m['regressor']} | {m['ids']} | {m['id_median']:g} | "
                     f"{m['d_star_median']:g} | {_fmt(m['test_at_id_mse'])} | {_fmt(m['test_at_d_star_mse'])} | "
                     f"{_fmt(m['test_raw_mse'])} | {_fmt(m['test_at_d_star_r2'])} | {_fmt(m['test_raw_r2'])} | {gs} |")
    lines += ["", "## Validation MSE curves (mean over seeds)", ""]
    dims = doc["records"][0]["dims"] if doc["records"] else []
    lines += ["| compressor | regressor | " + " | ".join("raw" if d == doc["d_in"] else str(d) for d in dims) + " |",
              "|---|---|" + "---|" * len(dims)]
    for m in doc["records"]:
        lines.append(f"| `{_spec(m)}` | {m['regressor']} | " + " | ".join(f"{v:.3f}" for v in m["val_mse_mean"]) + " |")
    notes = [f"config: `{doc['config']}`",
             f"sweep wall time of this run: {doc['sweep_seconds']:.0f} s ({doc['n_cells_run']} cells run now, "
             f"{doc['n_cells_resumed']} resumed); all runs of this sweep: {doc['sweep_seconds_all_runs']:.0f} s "
             f"({len(doc['runs'])} run(s))"]
    notes += [f"edit of the records after the run ({e['date']}): {e['what']}" for e in doc.get("record_edits", [])]
    lines += [""] + environment_lines(env, notes=notes)
    lines.append("")
    return "\n".join(lines)


def run_study(task: RegressionTask, cfg: SweepConfig, out_dir: str | Path, *, progress: bool = True,
              command: str | None = None, name: str | None = None,
              on_cell: Callable[[dict[str, Any], bool], None] | None = None,
              store_dir: str | Path | None = None) -> dict[str, Any]:
    """Run or resume the sweep for ``task`` and write JSON, markdown and PNG into ``out_dir``.

    ``store_dir`` (default ``out_dir/cells``) holds the resumable cell store; it contains per-row
    test predictions, so keep it out of version control (benchmarks put it in the cache dir).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = name or task.name
    counts = {"run": 0, "resumed": 0}

    def _count(rec: dict[str, Any], resumed: bool) -> None:
        counts["resumed" if resumed else "run"] += 1
        if on_cell is not None:
            on_cell(rec, resumed)

    t0 = time.perf_counter()
    records, store = run_sweep(task, cfg, store_dir or out / "cells", progress=progress, on_cell=_count)
    seconds = time.perf_counter() - t0
    # every run of this sweep (first run and resumes) is logged next to the cells
    import datetime as _dt
    import json as _json

    runs_path = Path(store.root) / "runs.jsonl"
    with open(runs_path, "a", encoding="utf-8") as f:
        f.write(_json.dumps({"date_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
                             "seconds": seconds, "cells_run": counts["run"], "cells_resumed": counts["resumed"]}) + "\n")
    runs = [_json.loads(line) for line in runs_path.read_text().splitlines() if line.strip()]
    sub = prepare_task(task, cfg)
    y_mu, y_sd = float(sub.y[sub.train].mean()), float(sub.y[sub.train].std())
    y_test_std = (sub.y[sub.test] - y_mu) / y_sd
    summary = summarize(records, y_test_std, store.preds, regressors=list(cfg.regressors))
    for m in summary["methods"]:  # the full spec, resolved now with the defaults this run used
        m["spec"] = spec_template(m["compressor"], cfg.device)
    ctx = context_baselines(task, cfg)
    ctx["best_val_selected"] = _best_val_selected(records)
    for p in ctx["best_val_selected"]["per_seed"]:
        p["spec"] = spec_template(p["compressor"], cfg.device)
    from dataclasses import asdict

    doc = write_results(out / f"intrinsic_dim_{name}.json", "intrinsic_dimension", summary["methods"],
                        command=command, dataset={"task": task.name, **{k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
                                                                         for k, v in task.meta.items()}},
                        task=task.name, task_meta=sub.meta, d_in=summary["d_in"], tol=summary["tol"],
                        config=asdict(cfg), context=ctx, sweep_seconds=seconds,
                        n_cells_run=counts["run"], n_cells_resumed=counts["resumed"], runs=runs,
                        sweep_seconds_all_runs=float(sum(r["seconds"] for r in runs)),
                        cells_seconds_total=float(sum(r.get("cell_s", r.get("fit_s", 0.0) + sum(
                            g["fit_s"] for g in r["regressors"].values())) for r in records)))
    render_study(doc, out, name)
    return doc


def render_study(doc: dict[str, Any] | Results, out_dir: str | Path, name: str) -> None:
    """Write ``intrinsic_dim_<name>.md`` and ``.png`` into ``out_dir`` from a study document alone."""
    from ..io import atomic_write_text

    if isinstance(doc, Results):
        doc = doc.to_dict()
    out = Path(out_dir)
    atomic_write_text(out / f"intrinsic_dim_{name}.md", markdown(doc))
    plot_curves({"methods": doc["records"], "d_in": doc["d_in"]}, out / f"intrinsic_dim_{name}.png", title=name,
                constant_val_mse=doc["context"]["constant"]["val"]["mse"])


def render_results(path: str | Path) -> None:
    """Re-render the markdown and figure beside a committed ``intrinsic_dim_<name>.json``."""
    path = Path(path)
    render_study(read_results(path), path.parent, path.stem.removeprefix("intrinsic_dim_"))
