"""Resumable latent-size sweep: compressor x d x seed -> downstream regressors (spec sections 2-4).

One **cell** is (compressor spec, d, seed). It fits the compressor on the training rows (with the
validation rows for early stopping), encodes train/val/test, fits every regressor on train
(hyperparameters chosen on validation) and records validation and test metrics on standardised
targets, raw-unit MSE/MAE and R^2. ``raw`` (the uncompressed embedding, d = d_in) is one cell per
seed.

Finished cells are appended, one JSON line each, to ``<store>/cells.jsonl`` (flushed and fsynced)
and their test predictions are saved as ``<store>/preds/<cell id>.npy``; a rerun with the same
configuration skips every finished cell, so an interrupted sweep resumes where it stopped. A
half-written last line (killed mid-write) is ignored. The store records a fingerprint of the task
and configuration and refuses to mix results from another one.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from .._errors import DataError, InvalidParameterError
from ..experiment.store import CellStore
from ..io import stable_json
from .regressors import REGRESSORS, make_regressor, metrics
from .tasks import RegressionTask

DEFAULT_DIMS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
DEFAULT_COMPRESSORS = ("ae", "ae:alpha=0.1", "pca:store=f32", "randproj")


@dataclass
class SweepConfig:
    """What to sweep.

    Attributes
    ----------
    compressors : list of str
        Spec strings; ``dim`` (and ``random_state`` where the method has one) are set per cell.
    dims : list of int
        Latent sizes; only d < d_in are used. ``raw`` is always added.
    seeds : list of int
        Compressor and regressor seeds (the split stays fixed).
    regressors : list of str
        Subset of ``ridge``, ``rf``, ``mlp``.
    regressor_options : dict
        Per-regressor constructor options, e.g. ``{"rf": {"max_features": "sqrt"}}``.
    n_train, n_val, n_test : int or None
        Subsample the training / validation / test rows (seeded by ``subsample_seed``) to bound
        the cost; None keeps all.
    device : str
        Torch device for the autoencoder.
    """

    compressors: list[str] = field(default_factory=lambda: list(DEFAULT_COMPRESSORS))
    dims: list[int] = field(default_factory=lambda: list(DEFAULT_DIMS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    regressors: list[str] = field(default_factory=lambda: list(REGRESSORS))
    regressor_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_train: int | None = None
    n_val: int | None = None
    n_test: int | None = None
    subsample_seed: int = 0
    device: str = "auto"

    def validate(self) -> None:
        if not self.seeds:
            raise InvalidParameterError("the sweep needs at least one seed (--seeds >= 1).")
        bad = [r for r in self.regressors if r not in REGRESSORS]
        if bad or not self.regressors:
            raise InvalidParameterError(f"unknown regressor(s) {bad}; choose from {', '.join(REGRESSORS)}.")
        if any((not isinstance(d, int)) or d < 1 for d in self.dims):
            raise InvalidParameterError(f"dims must be positive integers; got {self.dims}.")
        from ..spec import parse_spec

        for spec in self.compressors:
            parse_spec(spec)  # unknown method or key -> one-line error before any work

    def fingerprint(self) -> str:
        d = asdict(self)
        d.pop("device")
        return hashlib.sha256(stable_json(d).encode()).hexdigest()[:16]


def cell_id(compressor: str, d: int | str, seed: int) -> str:
    """Stable file-name-safe id of a cell."""
    return hashlib.sha256(f"{compressor}|{d}|{seed}".encode()).hexdigest()[:16]


def prepare_task(task: RegressionTask, cfg: SweepConfig) -> RegressionTask:
    """The task as the sweep sees it (after the configured subsampling)."""
    task = task.subsample_train(cfg.n_train, cfg.subsample_seed)
    return task.subsample_eval(cfg.n_val, cfg.n_test, cfg.subsample_seed)


def task_fingerprint(task: RegressionTask) -> str:
    h = hashlib.sha256()
    for a in (task.y.astype(np.float64), task.train, task.val, task.test):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(np.ascontiguousarray(task.X[:: max(1, len(task.X) // 512)], np.float32).tobytes())
    h.update(str(task.X.shape).encode())
    return h.hexdigest()[:16]


def _features(spec: str, d: int | None, seed: int, task: RegressionTask, ys: np.ndarray,
              device: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Fit compressor ``spec`` at width d on train; return float features for all rows + info."""
    X = task.X
    if spec == "raw":
        return X, {"bytes_per_vector": float(X.shape[1] * 4), "fit_s": 0.0}
    from ..registry import build

    model = build(spec)
    names = model.get_params()
    upd: dict[str, Any] = {"dim": d}
    if "random_state" in names:
        upd["random_state"] = seed
    if "device" in names:
        upd["device"] = device
    model.set_params(**upd)
    t0 = time.perf_counter()
    Xtr, Xva = X[task.train], X[task.val]
    if getattr(model, "alpha", 0):
        model.fit(Xtr, X_val=Xva, y=ys[task.train], y_val=ys[task.val])
    else:
        model.fit(Xtr, X_val=Xva)
    fit_s = time.perf_counter() - t0
    Z = np.zeros((len(X), d), np.float32)
    for idx in (task.train, task.val, task.test):
        Z[idx] = model.encode(X[idx]).as_float()  # regress on the stored codes
    info = {"bytes_per_vector": float(model.bytes_per_vector), "fit_s": fit_s, "spec": model.to_spec(full=True)}
    hist = getattr(model, "history_", None)
    if hist:
        info["ae_best_epoch"] = hist.get("best_epoch")
        info["ae_val_loss"] = min(hist["val_loss"]) if hist.get("val_loss") else None
    return Z, info


def _run_cell(task: RegressionTask, cfg: SweepConfig, spec: str, d: int, seed: int,
              ys: np.ndarray, y_mu: float, y_sd: float) -> tuple[dict[str, Any], np.ndarray]:
    Z, info = _features(spec, None if spec == "raw" else d, seed, task, ys, cfg.device)
    rec: dict[str, Any] = {"id": cell_id(spec, d, seed), "compressor": spec, "d": int(d), "seed": int(seed),
                           "raw": spec == "raw", **info, "regressors": {}}
    preds = np.zeros((len(cfg.regressors), len(task.test)), np.float32)
    for j, name in enumerate(cfg.regressors):
        t0 = time.perf_counter()
        reg = make_regressor(name, seed, **cfg.regressor_options.get(name, {}))
        reg.fit(Z[task.train], ys[task.train], Z[task.val], ys[task.val])
        pv, pt = reg.predict(Z[task.val]), reg.predict(Z[task.test])
        test = metrics(ys[task.test], pt)
        yt_raw, pt_raw = task.y[task.test], pt * y_sd + y_mu
        test.update(mse_raw=float(np.mean((yt_raw - pt_raw) ** 2)), mae_raw=float(np.mean(np.abs(yt_raw - pt_raw))))
        rec["regressors"][name] = {"val": metrics(ys[task.val], pv), "test": test, "params": reg.params(),
                                   "fit_s": time.perf_counter() - t0}
        preds[j] = pt
    return rec, preds


def plan_cells(cfg: SweepConfig, d_in: int) -> list[tuple[str, int]]:
    """(compressor, d) pairs of one seed: every compressor at every d < d_in, then raw."""
    dims = sorted({d for d in cfg.dims if d < d_in})
    return [(c, d) for c in cfg.compressors for d in dims] + [("raw", d_in)]


def run_sweep(task: RegressionTask, cfg: SweepConfig, store_dir: str | os.PathLike, *,
              progress: bool = True, on_cell: Callable[[dict[str, Any], bool], None] | None = None
              ) -> tuple[list[dict[str, Any]], CellStore]:
    """Run (or resume) the sweep; return all cell records and the store.

    Parameters
    ----------
    task : RegressionTask
    cfg : SweepConfig
    store_dir : path
        Cell store folder (created; reused to resume).
    progress : bool
        Show a rich progress bar.
    on_cell : callable(record, resumed), optional
        Called for every cell (also for those loaded from the store).
    """
    cfg.validate()
    task = prepare_task(task, cfg)
    y_mu, y_sd = float(task.y[task.train].mean()), float(task.y[task.train].std())
    if not y_sd > 0:
        raise DataError(f"task {task.name!r}: the training targets are constant; nothing to regress.")
    ys = (task.y - y_mu) / y_sd  # standardised with training statistics only
    store = CellStore(store_dir, f"{task_fingerprint(task)}-{cfg.fingerprint()}",
                      {"task": task.name, "config": asdict(cfg), "n_train": int(len(task.train)),
                       "n_val": int(len(task.val)), "n_test": int(len(task.test))})
    done = store.load()
    todo = [(c, d, s) for s in cfg.seeds for c, d in plan_cells(cfg, task.X.shape[1])]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    records = []
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.fields[info]}"), disable=not progress)
    with bar:
        t = bar.add_task(f"sweep {task.name}", total=len(todo), info="")
        for spec, d, seed in todo:
            cid = cell_id(spec, d, seed)
            resumed = cid in done
            if resumed:
                rec = done[cid]
            else:
                t_cell = time.perf_counter()
                rec, preds = _run_cell(task, cfg, spec, d, seed, ys, y_mu, y_sd)
                rec["cell_s"] = time.perf_counter() - t_cell
                store.add(rec, preds)
            records.append(rec)
            if on_cell is not None:
                on_cell(rec, resumed)
            vals = " ".join(f"{k}={v['val']['mse']:.3f}" for k, v in rec["regressors"].items())
            bar.update(t, advance=1, info=f"{spec} d={d} s={seed} val {vals}{' (resumed)' if resumed else ''}")
    return records, store


def context_baselines(task: RegressionTask, cfg: SweepConfig, seed: int = 0) -> dict[str, Any]:
    """Constant predictor, per-group mean (if groups) and the shuffled-label ridge control."""
    task = prepare_task(task, cfg)
    y_mu, y_sd = float(task.y[task.train].mean()), float(task.y[task.train].std())
    ys = (task.y - y_mu) / y_sd
    out: dict[str, Any] = {}
    for nm in ("val", "test"):
        idx = getattr(task, nm)
        out.setdefault("constant", {})[nm] = metrics(ys[idx], np.zeros(len(idx)))
    if task.groups is not None:
        g = task.groups
        means = {k: float(ys[task.train][g[task.train] == k].mean()) for k in np.unique(g[task.train])}
        for nm in ("val", "test"):
            idx = getattr(task, nm)
            out.setdefault("group_mean", {})[nm] = metrics(ys[idx], np.array([means.get(k, 0.0) for k in g[idx]]))
    # shuffled-label control: ridge on raw features with permuted training targets; validation
    # targets are permuted too so the penalty choice cannot peek at the real signal
    rng = np.random.default_rng(seed)
    yperm_tr, yperm_va = rng.permutation(ys[task.train]), rng.permutation(ys[task.val])
    reg = make_regressor("ridge", seed).fit(task.X[task.train], yperm_tr, task.X[task.val], yperm_va)
    out["shuffled_ridge"] = {"test": metrics(ys[task.test], reg.predict(task.X[task.test])),
                             "alpha": reg.alpha_}
    out["target"] = {"train_mean": y_mu, "train_std": y_sd, "n_train": int(len(task.train)),
                     "n_val": int(len(task.val)), "n_test": int(len(task.test))}
    return out
