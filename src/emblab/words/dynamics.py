"""Full-batch gradient descent on the QWEM loss and its closed-form dynamics (qwem.md section 4).

Gradient flow ``dW/dt = -1/2 (W W^T - M*) W``. In the eigenbasis of M* each mode's squared
singular value ``sigma_k = ||u_k^T W||^2`` follows the logistic curve

    sigma_k(t) = sigma_k(0) lam_k e^{lam_k t} / (lam_k + sigma_k(0) (e^{lam_k t} - 1))

exactly for an aligned start, and approximately (after a silent alignment phase) for a small
random start; it reaches ``lam_k / 2`` at ``tau_k = ln((lam_k - sigma_k(0)) / sigma_k(0)) / lam_k``.
Discrete GD ``W <- W - eta (W W^T - M*) W`` maps to ``t = 2 eta n``.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .._errors import FitError, InvalidParameterError

__all__ = ["theory_curves", "onset_times", "half_rise_steps", "default_lr", "gd_train", "gd_vs_theory",
           "ode_integrate"]


def theory_curves(lam: np.ndarray, s0: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Logistic curves ``sigma_k(t)``.

    Parameters
    ----------
    lam : ndarray (d,)
        Eigenvalues (> 0).
    s0 : ndarray (d,)
        Initial squared singular values ``sigma_k(0)``.
    t : ndarray (T,)
        Times.

    Returns
    -------
    ndarray (T, d)
    """
    lam = np.asarray(lam, dtype=np.float64)[None, :]
    s0 = np.asarray(s0, dtype=np.float64)[None, :]
    t = np.asarray(t, dtype=np.float64)[:, None]
    # written with e^{-lam t} so large times do not overflow
    e = np.exp(-lam * t)
    return s0 * lam / (lam * e + s0 * (1.0 - e))


def onset_times(lam: np.ndarray, s0: np.ndarray) -> np.ndarray:
    """``tau_k`` (time to reach lam_k / 2); NaN where ``sigma_k(0) >= lam_k / 2`` or lam <= 0."""
    lam = np.asarray(lam, dtype=np.float64)
    s0 = np.asarray(s0, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = np.log((lam - s0) / s0) / lam
    tau[(lam <= 0) | (s0 >= lam / 2)] = np.nan
    return tau


def half_rise_steps(steps: np.ndarray, sigma: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """First (linearly interpolated) step where ``sigma[:, k] >= lam_k / 2``; NaN if never.

    Parameters
    ----------
    steps : ndarray (T,)
    sigma : ndarray (T, d)
    lam : ndarray (d,)
    """
    out = np.full(sigma.shape[1], np.nan)
    for k in range(sigma.shape[1]):  # loop over modes (d), not over tokens
        above = np.nonzero(sigma[:, k] >= lam[k] / 2)[0]
        if above.size == 0:
            continue
        i = above[0]
        if i == 0:
            out[k] = steps[0]
            continue
        y0, y1 = np.log(sigma[i - 1, k]), np.log(sigma[i, k])
        frac = (np.log(lam[k] / 2) - y0) / (y1 - y0) if y1 > y0 else 1.0
        out[k] = steps[i - 1] + frac * (steps[i] - steps[i - 1])
    return out


def default_lr(M: np.ndarray, lam1: float) -> float:
    """Step size ``min(0.5 / lam_1, 1 / |lam_min|)``.

    The spec's default 0.5/lam_1 is unstable on real M*: the unseen pairs (-2) create a large
    negative eigenvalue (about -4,500 for IMDB at V = 5k vs lam_1 = 859), and round-off components
    along it are multiplied by ``1 + lr |lam_min|`` ... ``1 - lr |lam_min|`` per step, which diverges
    once ``lr |lam_min| > 2``. Capping lr at ``1/|lam_min|`` keeps every mode monotone.
    """
    import scipy.sparse.linalg

    lam_min = float(scipy.sparse.linalg.eigsh(M, k=1, which="SA", tol=1e-6, return_eigenvectors=False)[0])
    return min(0.5 / lam1, 1.0 / abs(lam_min)) if lam_min < 0 else 0.5 / lam1


def gd_train(M: np.ndarray, d: int, n_steps: int, *, lr: float | None = None, init: str = "random",
             init_scale: float = 1e-6, lam: np.ndarray | None = None, U: np.ndarray | None = None,
             record_every: int = 1, seed: int = 0, callback: Callable[[int, np.ndarray], None] | None = None,
             callback_every: int | None = None, dtype=np.float64) -> dict:
    """Full-batch GD ``W <- W - lr (W W^T - M) W`` from a small initialisation.

    Parameters
    ----------
    M : ndarray (V, V)
        Symmetric target (M*).
    d : int
        Embedding dimension.
    n_steps : int
    lr : float, optional
        Step size eta; default :func:`default_lr` = ``min(0.5 / lam_1, 1 / |lam_min|)``.
    init : {"random", "aligned"}
        ``random``: W_ij ~ N(0, init_scale^2). ``aligned``: ``W = U_d * init_scale`` (each mode
        starts at sigma_k(0) = init_scale^2).
    lam, U : ndarray, optional
        Top-d eigenpairs of M (needed for the mode projections; computed if absent).
    record_every : int
        Record every this many steps.
    callback : callable(step, W), optional
        Called every ``callback_every`` steps (e.g. analogy accuracy vs step).

    Returns
    -------
    dict with ``steps`` (T,), ``t`` (T,) = 2 lr n, ``sigma_modes`` (T, d) = ||u_k^T W||^2,
    ``singular_values_sq`` (T, d) = eigenvalues of W^T W (descending), ``lam``, ``s0``, ``lr``,
    ``W`` (final), ``seconds``.
    """
    V = M.shape[0]
    if not 1 <= d <= V:
        raise InvalidParameterError(f"d must be in [1, V={V}]; got {d}.")
    if init not in ("random", "aligned"):
        raise InvalidParameterError(f"init must be 'random' or 'aligned'; got {init!r}.")
    if lam is None or U is None:
        from .closed_form import top_eigenpairs

        lam, U, _ = top_eigenpairs(M, d)
    lam, U = np.asarray(lam[:d], dtype=np.float64), np.asarray(U[:, :d], dtype=dtype)
    if lr is None:
        lr = default_lr(M, float(lam[0]))
    rng = np.random.default_rng(seed)
    if init == "random":
        W = rng.normal(0.0, init_scale, size=(V, d)).astype(dtype)
    else:
        W = (U * init_scale).astype(dtype)
    M = np.asarray(M, dtype=dtype)
    steps, modes, svals = [], [], []

    def record(n: int) -> None:
        P = U.T @ W  # (d, d) projections onto the eigenbasis
        steps.append(n)
        modes.append((P * P).sum(axis=1))
        svals.append(np.sort(np.linalg.eigvalsh(W.T @ W))[::-1])

    record(0)
    s0 = modes[0].copy()
    t0 = time.perf_counter()
    for n in range(1, n_steps + 1):
        # (W W^T - M) W = W (W^T W) - M W : avoids forming the V x V product
        G = W @ (W.T @ W) - M @ W
        W -= lr * G
        if n % record_every == 0 or n == n_steps:
            if not np.isfinite(W).all() or np.abs(W).max() > 1e6:
                raise FitError(f"GD diverged at step {n}; lower lr (now {lr:.3g}; see default_lr).")
            record(n)
        if callback is not None and callback_every and n % callback_every == 0:
            callback(n, W)
    st = np.asarray(steps, dtype=np.float64)
    return {"steps": st, "t": 2 * lr * st, "sigma_modes": np.asarray(modes), "singular_values_sq": np.asarray(svals),
            "lam": lam, "s0": s0, "lr": lr, "W": W, "seconds": time.perf_counter() - t0}


def ode_integrate(lam: np.ndarray, s0: np.ndarray, t: np.ndarray, n_sub: int = 2000) -> np.ndarray:
    """RK4 integration of the decoupled ODE ``d sigma/dt = sigma (lam - sigma)`` (for tests).

    Returns ndarray (T, d) at the requested times (``t`` increasing, ``t[0] = 0``).
    """
    lam = np.asarray(lam, dtype=np.float64)
    y = np.asarray(s0, dtype=np.float64).copy()
    out = [y.copy()]
    f = lambda v: v * (lam - v)  # noqa: E731
    for a, b in zip(t[:-1], t[1:]):
        h = (b - a) / n_sub
        for _ in range(n_sub):
            k1 = f(y)
            k2 = f(y + h / 2 * k1)
            k3 = f(y + h / 2 * k2)
            k4 = f(y + h * k3)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(y.copy())
    return np.asarray(out)


def gd_vs_theory(M: np.ndarray, lam: np.ndarray, U: np.ndarray, d: int, *, init: str = "random",
                 init_scale: float = 1e-6, lr: float | None = None, n_steps: int | None = None,
                 onset: str = "continuous", horizon: float = 1.5, record_points: int = 300, dtype="float64",
                 seed: int = 0, n_snapshots: int = 0,
                 on_snapshot: Callable[[int, np.ndarray], None] | None = None) -> tuple[dict, np.ndarray]:
    """The dynamics experiment: full-batch GD from a small start, measured half-rise steps vs theory.

    The one implementation behind ``emblab words dynamics`` and the QWEM benchmark's dynamics cells.

    Parameters
    ----------
    M : ndarray (V, V)
        Target M*.
    lam, U : ndarray (>= d,), (V, >= d)
        Top eigenpairs of M (descending); only the first ``d`` are used.
    d : int
        Embedding dimension.
    init, init_scale, seed : see :func:`gd_train`.
    lr : float, optional
        Step size; default :func:`default_lr`.
    n_steps : int, optional
        Default: ``horizon`` x the predicted onset step of mode d, with the continuous-time
        (``onset="continuous"``: ``tau_d / (2 lr)``) or the discrete-map (``"discrete"``: growth
        ``(1 + lr lam)^2`` per step) rate; ``sigma_d(0)`` is guessed as ``init_scale^2 d`` for a random
        start and ``init_scale^2`` for an aligned one.
    record_points : int
        About this many recorded steps.
    dtype : str
        Precision of the GD iterate.
    n_snapshots, on_snapshot : optional
        ``on_snapshot(step, W)`` about ``n_snapshots`` times, evenly spaced (accuracy vs step).

    Returns
    -------
    record : dict
        Curves (``steps`` (T,), ``sigma_modes`` (T, d), ``singular_values_sq`` (T, d)), ``lam``, ``s0``,
        predicted and measured half-rise steps (d,) in both time maps, their relative errors and
        correlations, the fraction of modes that rose in eigen-order and ``final_rel_err_vs_Md``
        (``||W W^T - M*_d|| / ||M*_d||``); arrays as numpy.
    W : ndarray (V, d)
        The final iterate.
    """
    if onset not in ("continuous", "discrete"):
        raise InvalidParameterError(f"onset must be 'continuous' or 'discrete'; got {onset!r}.")
    if not 1 <= d <= min(lam.size, U.shape[1]):
        raise InvalidParameterError(f"d must be in [1, {min(lam.size, U.shape[1])}] (computed eigenpairs); got {d}.")
    eta = float(lr) if lr else default_lr(M, float(lam[0]))
    if n_steps is None:
        s0 = init_scale ** 2 * (d if init == "random" else 1)
        lam_d = float(lam[d - 1])
        if onset == "continuous":
            tau = onset_times(np.array([lam_d]), np.array([s0]))[0] / (2 * eta)
        else:
            tau = np.log((lam_d - s0) / s0) / (2 * np.log1p(eta * lam_d)) if lam_d > 2 * s0 else np.nan
        if not np.isfinite(tau):
            raise InvalidParameterError(f"mode {d} cannot rise (lambda_d = {lam_d:.3g}, sigma(0) ~ {s0:.3g}); "
                                        "lower d or init_scale, or give n_steps.")
        n_steps = int(np.ceil(horizon * tau))
    n = int(n_steps)
    every = max(1, n // n_snapshots) if n_snapshots and on_snapshot else None
    res = gd_train(M, d, n, lr=eta, init=init, init_scale=init_scale, lam=lam[:d], U=U[:, :d],
                   record_every=max(1, n // record_points), callback=on_snapshot, callback_every=every,
                   seed=seed, dtype=np.dtype(dtype).type)
    pred = onset_times(res["lam"], res["s0"]) / (2 * eta)
    meas = half_rise_steps(res["steps"], res["sigma_modes"], res["lam"])
    ok = np.isfinite(pred) & np.isfinite(meas)
    rel = np.abs(meas - pred) / pred
    # discrete-map prediction: small modes grow by (1 + eta lam)^2 per step, not e^{2 eta lam}
    with np.errstate(divide="ignore", invalid="ignore"):
        pred_disc = np.log((res["lam"] - res["s0"]) / res["s0"]) / (2 * np.log1p(eta * res["lam"]))
    rel_disc = np.abs(meas - pred_disc) / pred_disc
    M_d = (U[:, :d] * lam[:d]) @ U[:, :d].T
    W = res["W"].astype(np.float64)
    final_err = float(np.linalg.norm(W @ W.T - M_d) / np.linalg.norm(M_d))
    with np.errstate(all="ignore"):
        rec = {"init": init, "V": int(M.shape[0]), "d": d, "lr": eta, "n_steps": n, "seconds": res["seconds"],
               "init_scale": init_scale, "dtype": np.dtype(dtype).name, "steps": res["steps"],
               "sigma_modes": res["sigma_modes"], "predicted_half_rise_discrete": pred_disc,
               "median_rel_err_discrete": float(np.nanmedian(rel_disc)) if ok.any() else None,
               "max_rel_err_discrete": float(np.nanmax(rel_disc[ok])) if ok.any() else None,
               "singular_values_sq": res["singular_values_sq"], "lam": res["lam"], "s0": res["s0"],
               "predicted_half_rise": pred, "measured_half_rise": meas,
               "median_rel_err": float(np.nanmedian(rel)) if ok.any() else None,
               "max_rel_err": float(np.nanmax(rel[ok])) if ok.any() else None,
               "corr_pred_meas": float(np.corrcoef(pred[ok], meas[ok])[0, 1]) if ok.sum() > 2 else None,
               "corr_log": float(np.corrcoef(np.log(pred[ok]), np.log(meas[ok]))[0, 1]) if ok.sum() > 2 else None,
               "frac_in_order": float(np.mean(np.diff(meas[ok]) > 0)) if ok.sum() > 1 else None,
               "final_rel_err_vs_Md": final_err, "n_modes_rose": int(ok.sum())}
    return rec, res["W"]
