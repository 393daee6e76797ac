"""Downstream regressors and metrics for the intrinsic-dimension sweep (intrinsic_dimension.md 3-4).

Every regressor is fitted on *standardised* targets (training mean/std) and exposes
``fit(X, y, X_val, y_val) -> self`` and ``predict(X) -> (n,)``; hyperparameters that need choosing
are chosen on the validation rows, never on test.

* ``ridge``: closed form on centred features (one SVD, then every penalty in 10^-3..10^3 is
  nearly free), penalty chosen on validation MSE.
* ``rf``: scikit-learn ``RandomForestRegressor`` with 100 trees. The paper uses ``max_features=1.0``
  and full bootstrap samples; ``max_features`` / ``max_samples`` / ``min_samples_leaf`` are exposed
  because a 100-tree forest on 384-d inputs does not fit a shared 2-core CPU budget (the
  benchmark states the values it used).
* ``mlp``: scikit-learn ``MLPRegressor`` with two hidden layers of 64 (ReLU, Adam, early stopping
  on an internal 10% slice of train). Deviation from the authors' torch MLP (BatchNorm, dropout
  0.1, lr 1e-4, batch 32): same widths, sklearn optimiser defaults; features are standardised with
  training statistics (zero-variance columns guarded).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InvalidParameterError

REGRESSORS = ("ridge", "rf", "mlp")
RIDGE_ALPHAS = tuple(10.0 ** k for k in range(-3, 4))


def metrics(y_true: np.ndarray, y_pred: np.ndarray, delta: float = 1.0) -> dict[str, float]:
    """MSE, MAE, Huber (``delta``) and R^2 of predictions (n,)."""
    y_true = np.asarray(y_true, np.float64)
    r = y_true - np.asarray(y_pred, np.float64)
    a = np.abs(r)
    hub = np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
    var = float(np.var(y_true))
    mse = float(np.mean(r * r))
    return {"mse": mse, "mae": float(a.mean()), "huber": float(hub.mean()),
            "r2": float(1.0 - mse / var) if var > 0 else float("nan")}


def _standardise_cols(X: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    return ((X - mu) / sd).astype(np.float32)


def _col_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = X.mean(axis=0)
    sd = X.std(axis=0)
    return mu, np.where(sd > 1e-12, sd, 1.0)  # exact-zero dims (MiniLM 127, 223) must not divide by 0


class Ridge:
    """Closed-form ridge on centred features; penalty chosen on validation MSE."""

    def __init__(self, alphas: tuple[float, ...] = RIDGE_ALPHAS, seed: int = 0):
        self.alphas = alphas

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> "Ridge":
        X = np.asarray(X, np.float64)
        self.x_mean_ = X.mean(axis=0)
        self.y_mean_ = float(np.mean(y))
        U, s, Vt = np.linalg.svd(X - self.x_mean_, full_matrices=False)
        Uty = U.T @ (np.asarray(y, np.float64) - self.y_mean_)
        Xv = np.asarray(X_val, np.float64) - self.x_mean_
        best = (np.inf, None, None)
        for a in self.alphas:
            w = Vt.T @ (s / (s * s + a) * Uty)
            err = float(np.mean((Xv @ w + self.y_mean_ - y_val) ** 2))
            if err < best[0]:
                best = (err, a, w)
        self.alpha_, self.coef_ = best[1], best[2]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, np.float64) - self.x_mean_) @ self.coef_ + self.y_mean_

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha_}


class RandomForest:
    """100-tree random forest (scikit-learn); validation rows are not used for fitting."""

    def __init__(self, seed: int = 0, n_estimators: int = 100, max_features: Any = 1.0,
                 max_samples: Any = None, min_samples_leaf: int = 1, max_depth: int | None = None,
                 n_jobs: int = 1):
        self.kw = dict(n_estimators=n_estimators, max_features=max_features, max_samples=max_samples,
                       min_samples_leaf=min_samples_leaf, max_depth=max_depth, n_jobs=n_jobs,
                       random_state=seed)

    def fit(self, X, y, X_val, y_val) -> "RandomForest":
        from sklearn.ensemble import RandomForestRegressor

        self.model_ = RandomForestRegressor(**self.kw).fit(np.asarray(X, np.float32), y)
        return self

    def predict(self, X):
        return self.model_.predict(np.asarray(X, np.float32))

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in self.kw.items() if k not in ("n_jobs", "random_state")}


class MLP:
    """64-64 ReLU MLP (scikit-learn ``MLPRegressor``) on standardised features, early stopping."""

    def __init__(self, seed: int = 0, hidden: tuple[int, ...] = (64, 64), max_iter: int = 100,
                 batch_size: int = 128, learning_rate_init: float = 1e-3, l2: float = 1e-4,
                 n_iter_no_change: int = 5):
        self.kw = dict(hidden_layer_sizes=tuple(hidden), max_iter=max_iter, batch_size=batch_size,
                       learning_rate_init=learning_rate_init, alpha=l2, early_stopping=True,
                       validation_fraction=0.1, n_iter_no_change=n_iter_no_change, random_state=seed)

    def fit(self, X, y, X_val, y_val) -> "MLP":
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        self.mu_, self.sd_ = _col_stats(np.asarray(X, np.float64))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is a budget, not an error
            self.model_ = MLPRegressor(**self.kw).fit(_standardise_cols(X, self.mu_, self.sd_), y)
        return self

    def predict(self, X):
        return self.model_.predict(_standardise_cols(X, self.mu_, self.sd_))

    def params(self) -> dict[str, Any]:
        return {"hidden": list(self.kw["hidden_layer_sizes"]), "n_iter": int(self.model_.n_iter_),
                "max_iter": self.kw["max_iter"], "batch_size": self.kw["batch_size"]}


def make_regressor(name: str, seed: int = 0, **options: Any):
    """Build ``ridge`` / ``rf`` / ``mlp`` with ``options`` passed to its constructor."""
    cls = {"ridge": Ridge, "rf": RandomForest, "mlp": MLP}.get(name)
    if cls is None:
        raise InvalidParameterError(f"unknown regressor {name!r}; choose from {', '.join(REGRESSORS)}.")
    try:
        return cls(seed=seed, **options)
    except TypeError as exc:
        raise InvalidParameterError(f"bad options for regressor {name!r}: {exc}.") from exc
