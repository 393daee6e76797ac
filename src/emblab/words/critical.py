"""Critical model size per analogy family (qwem.md section 7).

* :func:`accuracy_vs_dim`: all-pairs accuracy of the closed-form vectors ``W*_d`` for each d on a
  log grid (one eigendecomposition, truncated).
* :func:`critical_sizes`: smallest d whose accuracy reaches each threshold (default 5% and 20%);
  families with fewer than ``min_count`` analogies are "insufficient coverage".
* :func:`spike_snr`: ``SNR(d) = lambda_max(G) rank(G) / tr(G)`` of the Gram matrix of the family's
  difference vectors ``w_b - w_a``.
* :func:`accuracy_vs_step` / :func:`onset_agreement`: the same onset read off a model trained from
  a small initialisation, compared with ``tau_{d_c}`` (stepwise learning: the model at time
  ``tau_d`` has learned about d modes).
"""

from __future__ import annotations

import numpy as np

from .analogy import all_pairs_analogy
from .vectors import WordVectors

__all__ = ["log_grid", "accuracy_vs_dim", "critical_sizes", "spike_snr", "accuracy_vs_step",
           "crossing", "onset_agreement"]


def log_grid(d_min: int = 2, d_max: int = 1024, per_octave: int = 2) -> list[int]:
    """Integer grid ``2^{k/per_octave}`` between d_min and d_max (deduplicated, sorted)."""
    ks = np.arange(np.log2(d_min) * per_octave, np.log2(d_max) * per_octave + 1e-9)
    return sorted({int(round(2 ** (k / per_octave))) for k in ks})


def accuracy_vs_dim(words: list[str], lam: np.ndarray, U: np.ndarray, dims: list[int],
                    families: dict[str, list[tuple[str, str]]]) -> dict:
    """Per-family all-pairs accuracy of ``W*_d`` for each ``d`` (only d <= #positive eigenvalues).

    Returns
    -------
    dict with ``dims`` (list), ``overall`` (list), ``per_family`` {family: list}, ``n`` {family: int}.
    """
    npos = int((lam > 0).sum())
    dims = [d for d in dims if d <= min(npos, lam.size)]
    W_full = U[:, :max(dims)] * np.sqrt(np.maximum(lam[:max(dims)], 0))
    overall, per, n = [], {f: [] for f in families}, {}
    for d in dims:
        res = all_pairs_analogy(WordVectors(words, W_full[:, :d]), families)
        overall.append(res["accuracy"])
        for f, r in res["per_family"].items():
            per[f].append(r["accuracy"])
            n[f] = r["n"]
    return {"dims": dims, "overall": overall, "per_family": per, "n": n}


def crossing(xs: list[float], accs: list[float | None], theta: float) -> float | None:
    """Smallest x with acc >= theta (None when never reached)."""
    for x, a in zip(xs, accs):
        if a is not None and a >= theta:
            return x
    return None


def critical_sizes(acc: dict, thresholds: tuple[float, ...] = (0.05, 0.20), min_count: int = 50) -> dict:
    """Per-family smallest d reaching each threshold.

    Returns {family: {"n": int, "d_c@0.05": int|None, ..., "status": "ok"|"insufficient coverage"}}.
    """
    out = {}
    for f, accs in acc["per_family"].items():
        n = acc["n"].get(f, 0)
        row = {"n": n}
        if n < min_count:
            row["status"] = "insufficient coverage"
            for th in thresholds:
                row[f"d_c@{th:g}"] = None
        else:
            row["status"] = "ok"
            for th in thresholds:
                row[f"d_c@{th:g}"] = crossing(acc["dims"], accs, th)
            row["max_accuracy"] = max(a for a in accs if a is not None)
        out[f] = row
    return out


def _family_pairs(words: list[str], pairs: list[tuple[str, str]]) -> np.ndarray:
    index = {w: i for i, w in enumerate(words)}
    return np.array([(index[a], index[b]) for a, b in pairs if a in index and b in index],
                    dtype=np.int64).reshape(-1, 2)


def spike_snr(words: list[str], lam: np.ndarray, U: np.ndarray, dims: list[int],
              families: dict[str, list[tuple[str, str]]]) -> dict:
    """Spike signal-to-noise of each family's difference vectors vs d.

    ``R_d`` stacks ``W*_d[b] - W*_d[a]`` (n_f, d); ``G = R R^T``;
    ``SNR = lambda_max(G) * rank(G) / tr(G)`` with rank counting eigenvalues > 1e-10 lambda_max.
    Also reports how much of the top direction is the mean task vector (|cos|).
    """
    npos = int((lam > 0).sum())
    dims = [d for d in dims if d <= min(npos, lam.size)]
    W_full = U[:, :max(dims)] * np.sqrt(np.maximum(lam[:max(dims)], 0))
    out = {"dims": dims, "snr": {}, "mean_alignment": {}}
    for f, pairs in families.items():
        P = _family_pairs(words, pairs)
        if len(P) < 2:
            continue
        snrs, align = [], []
        for d in dims:
            R = W_full[P[:, 1], :d] - W_full[P[:, 0], :d]
            _, S, Vt = np.linalg.svd(R, full_matrices=False)  # eig(G) = S^2
            g = S ** 2
            lmax = g[0]
            rank = int((g > 1e-10 * lmax).sum())
            snrs.append(float(lmax * rank / g.sum()) if lmax > 0 else None)
            # |cos| between the top right-singular direction and the mean difference vector
            top = Vt[0]
            m = R.mean(0)
            align.append(float(abs(top @ m) / max(np.linalg.norm(m), 1e-300)))
        out["snr"][f] = snrs
        out["mean_alignment"][f] = align
    return out


def accuracy_vs_step(words: list[str], snapshots: list[tuple[int, np.ndarray]],
                     families: dict[str, list[tuple[str, str]]]) -> dict:
    """Per-family all-pairs accuracy of trained snapshots ``[(step, W), ...]``."""
    steps, overall, per = [], [], {f: [] for f in families}
    for step, W in snapshots:
        res = all_pairs_analogy(WordVectors(words, W), families)
        steps.append(step)
        overall.append(res["accuracy"])
        for f, r in res["per_family"].items():
            per[f].append(r["accuracy"])
    return {"steps": steps, "overall": overall, "per_family": per}


def onset_agreement(acc_d: dict, acc_t: dict, tau_steps: np.ndarray, theta: float = 0.05,
                    min_count: int = 50) -> dict:
    """Compare the onset read off accuracy-vs-d with accuracy-vs-step.

    Parameters
    ----------
    acc_d : output of :func:`accuracy_vs_dim`
    acc_t : output of :func:`accuracy_vs_step`
    tau_steps : ndarray (d_max,)
        Predicted onset step of mode k (``tau_k / (2 lr)``), index k-1.
    theta : float

    Returns
    -------
    dict: per family ``d_c``, predicted step ``tau_{d_c}``, measured step, and the Spearman/Pearson
    correlation (on log steps) over families where both exist.
    """
    from scipy.stats import pearsonr, spearmanr

    rows, pred, meas = {}, [], []
    for f in acc_d["per_family"]:
        if acc_d["n"].get(f, 0) < min_count:
            continue
        dc = crossing(acc_d["dims"], acc_d["per_family"][f], theta)
        st = crossing(acc_t["steps"], acc_t["per_family"][f], theta)
        p = float(tau_steps[dc - 1]) if dc is not None and dc <= len(tau_steps) else None
        rows[f] = {"d_c": dc, "predicted_step": p, "measured_step": st}
        if p is not None and st is not None and np.isfinite(p):
            pred.append(np.log(p))
            meas.append(np.log(max(st, 1)))
    corr = {}
    if len(pred) >= 3:
        corr = {"spearman": float(spearmanr(pred, meas).statistic), "pearson_log": float(pearsonr(pred, meas)[0])}
    return {"theta": theta, "families": rows, "n_families": len(pred), **corr}
