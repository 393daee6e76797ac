"""Intrinsic dimension from sweep cells, summaries with bootstrap CIs, and the loss-vs-d plot.

For one (compressor, regressor, seed), L(d) is the **validation** MSE on standardised targets, with
``raw`` counted as d = d_in. The intrinsic dimension is

    ID = min{ d : L(d) <= (1 + tol) * min_{d' incl. raw} L(d') },   tol = 0.1

(spec section 4). d* = argmin L(d) is reported too (it is the useful number on noisy tasks, where
every d lies within 10% and ID = 1 is trivial). Test metrics are touched only at the chosen d.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import DataError


def intrinsic_dimension(curve: dict[int, float], tol: float = 0.1) -> dict[str, Any]:
    """ID and d* from a validation-loss curve ``{d: loss}`` (raw included as d = d_in).

    Returns
    -------
    dict with ``id``, ``d_star``, ``best_loss``, ``threshold``.
    """
    if not curve:
        raise DataError("intrinsic_dimension needs a non-empty {d: loss} curve.")
    ds = sorted(curve)
    losses = np.array([curve[d] for d in ds], np.float64)
    if not np.all(np.isfinite(losses)):
        raise DataError("validation losses contain NaN/inf; the sweep produced a broken cell.")
    best = float(losses.min())
    thr = (1.0 + tol) * best
    id_ = next(d for d, l in zip(ds, losses) if l <= thr)
    return {"id": int(id_), "d_star": int(ds[int(losses.argmin())]), "best_loss": best, "threshold": thr}


def _bootstrap_gain(err_a: np.ndarray, err_b: np.ndarray, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Mean and 95% CI of mean(err_a - err_b) over test rows (paired bootstrap)."""
    diff = np.asarray(err_a, np.float64) - np.asarray(err_b, np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(n_boot, len(diff)))
    boots = diff[idx].mean(axis=1)
    return {"mean": float(diff.mean()), "lo": float(np.percentile(boots, 2.5)), "hi": float(np.percentile(boots, 97.5))}


def summarize(records: list[dict[str, Any]], y_test_std: np.ndarray | None = None,
              preds: Any = None, regressors: list[str] | None = None, tol: float = 0.1,
              n_boot: int = 1000) -> dict[str, Any]:
    """Per (compressor, regressor): curves, ID per seed and median, test metrics at ID / d* / raw.

    Parameters
    ----------
    records : list of dict
        Cell records from :func:`emblab.regression.sweep.run_sweep`.
    y_test_std : ndarray (n_test,), optional
        Standardised test targets; with ``preds`` enables the bootstrap CI of the test gain of d*
        against raw (errors averaged over seeds first).
    preds : callable(cell_id) -> ndarray (n_regressors, n_test), optional
    """
    raw = {(r["seed"]): r for r in records if r["raw"]}
    if not raw:
        raise DataError("the sweep has no raw cells; it cannot compare against the uncompressed embedding.")
    d_in = next(iter(raw.values()))["d"]
    regressors = regressors or sorted(next(iter(raw.values()))["regressors"])
    by: dict[tuple[str, str], dict[int, dict[int, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for r in records:
        if r["raw"]:
            continue
        for reg in r["regressors"]:
            by[(r["compressor"], reg)][r["seed"]][r["d"]] = r
    out: dict[str, Any] = {"d_in": d_in, "tol": tol, "methods": []}
    for (comp, reg), seeds in sorted(by.items()):
        per_seed, curves = [], {}
        for seed, cells in sorted(seeds.items()):
            if seed not in raw:
                continue
            curve = {d: c["regressors"][reg]["val"]["mse"] for d, c in cells.items()}
            curve[d_in] = raw[seed]["regressors"][reg]["val"]["mse"]
            est = intrinsic_dimension(curve, tol)
            at = lambda d: (cells[d] if d in cells else raw[seed])["regressors"][reg]["test"]  # noqa: E731
            per_seed.append({"seed": seed, **est, "test_at_id": at(est["id"]), "test_at_d_star": at(est["d_star"]),
                             "test_raw": raw[seed]["regressors"][reg]["test"]})
            curves[seed] = curve
        if not per_seed:
            continue
        ds = sorted(next(iter(curves.values())))
        mat = np.array([[curves[s].get(d, np.nan) for d in ds] for s in curves])
        test_mat = np.array([[(seeds[s][d] if d in seeds[s] else raw[s])["regressors"][reg]["test"]["mse"]
                              for d in ds] for s in curves])
        m: dict[str, Any] = {
            "compressor": comp, "regressor": reg, "dims": ds,
            "val_mse_mean": np.nanmean(mat, 0).tolist(), "val_mse_std": np.nanstd(mat, 0).tolist(),
            "test_mse_mean": test_mat.mean(0).tolist(), "test_mse_std": test_mat.std(0).tolist(),
            "ids": [p["id"] for p in per_seed], "d_stars": [p["d_star"] for p in per_seed],
            "id_median": float(np.median([p["id"] for p in per_seed])),
            "d_star_median": float(np.median([p["d_star"] for p in per_seed])),
            "per_seed": per_seed,
        }
        for key in ("test_at_id", "test_at_d_star", "test_raw"):
            for metric in ("mse", "mae", "huber", "r2", "mse_raw", "mae_raw"):
                vals = [p[key][metric] for p in per_seed]
                m[f"{key}_{metric}"] = {"mean": float(np.mean(vals)), "std": float(np.std(vals))}
        if y_test_std is not None and preds is not None:
            j = regressors.index(reg)
            err_star, err_raw = [], []
            for p in per_seed:
                s = p["seed"]
                cell = seeds[s].get(p["d_star"], raw[s])
                err_star.append((preds(cell["id"])[j] - y_test_std) ** 2)
                err_raw.append((preds(raw[s]["id"])[j] - y_test_std) ** 2)
            # gain > 0: d* has lower test MSE than raw (errors averaged over seeds, rows resampled)
            m["gain_d_star_vs_raw"] = _bootstrap_gain(np.mean(err_raw, 0), np.mean(err_star, 0), n_boot)
        out["methods"].append(m)
    return out


def spec_template(spec: str, device: str | None = None) -> str:
    """Full resolved spec of a sweep compressor (every parameter), with the values the sweep sets
    per cell left open: ``dim=<d>`` and ``random_state=<seed>``; ``device`` is the sweep's device
    (set on methods that have one). ``raw`` stays ``raw``.

    Examples
    --------
    >>> spec_template("pca:store=f32")
    'pca:dim=<d>,store=f32,whiten=false'
    """
    if spec == "raw":
        return spec
    import re

    from ..registry import build

    model = build(spec)
    if device is not None and "device" in model.get_params():
        model.set_params(device=device)
    full = model.to_spec(full=True)
    full = re.sub(r"(?<=[:,])dim=[^,|]*", "dim=<d>", full)
    return re.sub(r"(?<=[:,])random_state=[^,|]*", "random_state=<seed>", full)


def short_label(spec: str) -> str:
    """Plot label of a compressor spec: method name plus ``alpha`` (training settings dropped)."""
    name, _, rest = spec.partition(":")
    keep = [kv for kv in rest.split(",") if kv.startswith("alpha=")]
    return name + (f"({keep[0]})" if keep else "")


def plot_curves(summary: dict[str, Any], path: str | Path, title: str = "",
                constant_val_mse: float | None = None) -> None:
    """Validation MSE (standardised targets) vs d per regressor; raw dashed, ID marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regs = sorted({m["regressor"] for m in summary["methods"]})
    fig, axes = plt.subplots(1, len(regs), figsize=(5.2 * len(regs), 4.2), squeeze=False)
    d_in = summary["d_in"]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, reg in zip(axes[0], regs):
        ms = [m for m in summary["methods"] if m["regressor"] == reg]
        raw_val = None
        for i, m in enumerate(ms):
            ds = np.array(m["dims"])
            mu, sd = np.array(m["val_mse_mean"]), np.array(m["val_mse_std"])
            keep = ds < d_in
            c = colors[i % len(colors)]
            ax.plot(ds[keep], mu[keep], "o-", color=c, ms=3, label=f"{short_label(m['compressor'])} (ID~{m['id_median']:g})")
            ax.fill_between(ds[keep], (mu - sd)[keep], (mu + sd)[keep], color=c, alpha=0.15)
            idm = m["id_median"]
            if idm < d_in:
                ax.axvline(idm, color=c, ls=":", lw=1)
            raw_val = mu[~keep][0] if (~keep).any() else raw_val
        if raw_val is not None:
            ax.axhline(raw_val, color="k", ls="--", lw=1.2, label=f"raw ({d_in}-d)")
        if constant_val_mse is not None:
            ax.axhline(constant_val_mse, color="grey", ls="-.", lw=1, label="constant")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("latent size d")
        ax.set_ylabel("validation MSE (standardised y)")
        ax.set_title(f"{title} - {reg}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    from ..io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
