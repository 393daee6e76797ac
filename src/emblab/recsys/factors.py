"""Collaborative item and user factors learned with ``implicit`` (ALS, BPR), tuned and cached.

CF spec strings use the compressor grammar: ``als`` or ``als:factors=256,regularization=0.1``.

======  =========================================================  =================================
method  parameters (default)                                       tuned when not given (grid)
======  =========================================================  =================================
als     factors (64), iterations (15), regularization, alpha,      regularization {0.01, 0.1, 1, 10},
        weighting (``none`` or ``bm25``: implicit's BM25 example   alpha {1, 5}, weighting {none,
        weighting, K1=100, B=0.8), seed (0)                        bm25}
bpr     factors (64; one of them is implicit's item bias),         learning_rate {0.01, 0.05},
        iterations (100), learning_rate, regularization, seed (0)  regularization {0.001, 0.01}
======  =========================================================  =================================

Selection (:func:`learn_factors`): every grid point is fitted on the *validation* split's
training interactions (each evaluated user's history minus its last item, or a random one
without timestamps) and scored by validation NDCG@10 (ties: HR@10, then grid order); the best is
refitted on the split's full training interactions. The test items are never seen.

Determinism: implicit's CPU models with ``random_state=seed`` and one thread (``num_threads=1``
and BLAS limited to one thread) give bit-identical factors. Results are cached under
``$EMBLAB_CACHE/recsys_factors/`` keyed by the sha256 of (interactions, split, spec, implicit
version), so a second run of a task or benchmark loads instead of refitting.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import FitError, InvalidParameterError
from ..io import stable_json

__all__ = ["CF_METHODS", "GRIDS", "LearnedFactors", "parse_cf_spec", "cf_spec", "interaction_matrix",
           "fit_factors", "learn_factors"]

CF_METHODS = ("als", "bpr")
_DEFAULTS: dict[str, dict[str, Any]] = {
    "als": {"factors": 64, "iterations": 15, "regularization": None, "alpha": None, "weighting": None, "seed": 0},
    "bpr": {"factors": 64, "iterations": 100, "learning_rate": None, "regularization": None, "seed": 0},
}
#: values tried for every parameter a spec leaves unset
GRIDS: dict[str, dict[str, tuple]] = {
    "als": {"regularization": (0.01, 0.1, 1.0, 10.0), "alpha": (1.0, 5.0), "weighting": ("none", "bm25")},
    "bpr": {"learning_rate": (0.01, 0.05), "regularization": (0.001, 0.01)},
}
_CODE_VERSION = 1  # bump when fitting changes, so cached factors are not reused


def parse_cf_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"als:factors=256"`` -> ``("als", {all parameters, None where tuned})``.

    Raises
    ------
    InvalidParameterError
        Unknown method or key, or a value of the wrong type or range.
    """
    from ..spec import parse_stage

    name, given = parse_stage(str(spec))
    if name not in CF_METHODS:
        raise InvalidParameterError(f"unknown collaborative-filtering method {name!r}; choose one of "
                                    f"{', '.join(CF_METHODS)} (e.g. cf=als:factors=64).")
    params = dict(_DEFAULTS[name])
    for key, val in given.items():
        if key not in params:
            raise InvalidParameterError(f"{key!r} is not a parameter of {name!r}; valid keys: {', '.join(params)}.")
        params[key] = "none" if key == "weighting" and val is None else val  # 'none' parses as None
    for key in ("factors", "iterations"):
        if not isinstance(params[key], int) or isinstance(params[key], bool) or params[key] < 1:
            raise InvalidParameterError(f"{name}: {key} must be a positive int; got {params[key]!r}.")
    if name == "bpr" and params["factors"] < 2:
        raise InvalidParameterError("bpr: factors must be >= 2 (one of them is the item bias).")
    if not isinstance(params["seed"], int) or isinstance(params["seed"], bool):
        raise InvalidParameterError(f"{name}: seed must be an int; got {params['seed']!r}.")
    for key in ("regularization", "alpha", "learning_rate"):
        v = params.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
            raise InvalidParameterError(f"{name}: {key} must be a non-negative number; got {v!r}.")
        if v is not None:
            params[key] = float(v)
    if params.get("weighting") not in (None, "none", "bm25"):
        raise InvalidParameterError(f"als: weighting must be none or bm25; got {params['weighting']!r}.")
    return name, params


def cf_spec(name: str, params: dict[str, Any]) -> str:
    """Canonical spec: sorted keys, unset (tuned) parameters left out."""
    from ..spec import format_value

    items = [f"{k}={format_value(v)}" for k, v in sorted(params.items()) if v is not None]
    return name + (":" + ",".join(items) if items else "")


def interaction_matrix(users: np.ndarray, items: np.ndarray, weights: np.ndarray | None, n_users: int,
                       n_items: int):
    """(n_users, n_items) scipy CSR float32 of interaction weights (1 without weights)."""
    import scipy.sparse as sp

    w = np.ones(len(users), np.float32) if weights is None else np.asarray(weights, np.float32)
    return sp.csr_matrix((w, (np.asarray(users), np.asarray(items))), shape=(n_users, n_items), dtype=np.float32)


def fit_factors(name: str, params: dict[str, Any], X) -> tuple[np.ndarray, np.ndarray]:
    """One deterministic fit; returns user (n_users, f) and item (n_items, f) factors, float32.

    Parameters
    ----------
    name : {"als", "bpr"}
    params : dict
        Fully resolved parameters (none left to tune).
    X : scipy.sparse matrix (n_users, n_items)
    """
    from .._deps import require

    require("implicit", "Collaborative filtering (recsys task)")
    from threadpoolctl import threadpool_limits

    if any(v is None for v in params.values()):
        raise InvalidParameterError(f"{name}: parameters {[k for k, v in params.items() if v is None]} are unset.")
    X = X.tocsr().astype(np.float32)
    with threadpool_limits(1, "blas"):  # one BLAS thread: implicit asks for it, and it keeps fits bit-identical
        if name == "als":
            from implicit.cpu.als import AlternatingLeastSquares

            if params["weighting"] == "bm25":
                from implicit.nearest_neighbours import bm25_weight

                X = bm25_weight(X.T.tocsr(), K1=100, B=0.8).T.tocsr().astype(np.float32)  # rows = items, as implicit's example
            model = AlternatingLeastSquares(factors=params["factors"], regularization=params["regularization"],
                                            alpha=params["alpha"], iterations=params["iterations"],
                                            random_state=params["seed"], num_threads=1)
        else:
            from implicit.cpu.bpr import BayesianPersonalizedRanking

            # implicit appends an item-bias column (user side fixed to 1): factors-1 learned + bias
            model = BayesianPersonalizedRanking(factors=params["factors"] - 1, learning_rate=params["learning_rate"],
                                                regularization=params["regularization"],
                                                iterations=params["iterations"], random_state=params["seed"],
                                                num_threads=1)
        model.fit(X, show_progress=False)
    U = np.ascontiguousarray(model.user_factors, dtype=np.float32)
    V = np.ascontiguousarray(model.item_factors, dtype=np.float32)
    if not (np.isfinite(U).all() and np.isfinite(V).all()):
        raise FitError(f"{cf_spec(name, params)} produced NaN/inf factors; lower the learning rate or raise "
                       "the regularization.")
    return U, V


@dataclass
class LearnedFactors:
    """Factors of one split and how they were chosen.

    Attributes
    ----------
    spec : str
        Fully resolved CF spec that produced the factors.
    user_factors : ndarray (n_users, f) float32
    item_factors : ndarray (n_items, f) float32
    fit_time_s : float
        Seconds of the final fit (0 when loaded from the cache; see ``cached``).
    tuning : list of dict
        Validation rows ``{"spec", "hr@10", "ndcg@10"}`` of every grid point (empty if none).
    cached : bool
    """

    spec: str
    user_factors: np.ndarray
    item_factors: np.ndarray
    fit_time_s: float = 0.0
    tuning: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = False


def _grid(name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    free = [k for k, v in params.items() if v is None]
    values = [GRIDS[name][k] for k in free]
    return [{**params, **dict(zip(free, combo))} for combo in itertools.product(*values)]


def _validate(name: str, params: dict[str, Any], X_val_train, val_split) -> dict[str, float]:
    from ..evaluation.tasks.recsys import ip_scores, rank_topn, split_metrics

    U, V = fit_factors(name, params, X_val_train)
    top = rank_topn(ip_scores(U[val_split.users], V), val_split.histories, val_split.n_items)
    return split_metrics(top, val_split)


def _cache_key(content: str, name: str, params: dict[str, Any], split_key: dict[str, Any]) -> str:
    import importlib.metadata as md

    try:
        version = md.version("implicit")
    except md.PackageNotFoundError:  # pragma: no cover - fit_factors raises first
        version = "?"
    blob = stable_json({"data": content, "spec": cf_spec(name, params), "split": split_key, "implicit": version,
                        "code": _CODE_VERSION})
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def learn_factors(spec: str, X_train, *, X_val_train=None, val_split=None, content_hash: str = "",
                  split_key: dict[str, Any] | None = None, cache: bool = True) -> LearnedFactors:
    """Learn factors for one split, choosing unset parameters on its validation split.

    Parameters
    ----------
    spec : str
        CF spec; parameters it leaves unset are chosen from :data:`GRIDS`.
    X_train : scipy.sparse (n_users, n_items)
        The split's training interactions (what the final factors are fitted on).
    X_val_train, val_split : scipy.sparse and RecsysSplit
        Validation training interactions and the validation split (needed when tuning).
    content_hash, split_key :
        Identify the data and split in the cache key; caching is off when ``content_hash`` is "".
    cache : bool

    Returns
    -------
    LearnedFactors
    """
    name, params = parse_cf_spec(spec)
    path = None
    if cache and content_hash:
        from ..data.paths import cache_dir

        path = cache_dir() / "recsys_factors" / _cache_key(content_hash, name, params, split_key or {})
        if (path.with_suffix(".npz")).is_file() and (path.with_suffix(".json")).is_file():
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            with np.load(path.with_suffix(".npz"), allow_pickle=False) as z:
                return LearnedFactors(meta["spec"], z["user_factors"], z["item_factors"], meta["fit_time_s"],
                                      meta["tuning"], cached=True)
    grid = _grid(name, params)
    tuning: list[dict[str, Any]] = []
    if len(grid) > 1 or any(v is None for v in params.values()):
        if X_val_train is None or val_split is None:
            raise InvalidParameterError(f"{spec}: unset parameters need a validation split to be chosen on.")
        for p in grid:
            tuning.append({"spec": cf_spec(name, p), **_validate(name, p, X_val_train, val_split)})
        best = max(range(len(grid)), key=lambda i: (tuning[i]["ndcg@10"], tuning[i]["hr@10"], -i))
        params = grid[best]
    t0 = time.perf_counter()
    U, V = fit_factors(name, params, X_train)
    out = LearnedFactors(cf_spec(name, params), U, V, time.perf_counter() - t0, tuning)
    if path is not None:
        from ..io import atomic_save_npz, atomic_write_json

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_npz(path.with_suffix(".npz"), {"user_factors": U, "item_factors": V})
        atomic_write_json(path.with_suffix(".json"), {"spec": out.spec, "fit_time_s": out.fit_time_s,
                                                      "tuning": tuning})
    return out
