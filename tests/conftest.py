"""Shared fixtures: tiny planted low-rank data (seeded) and a per-run cache of fitted models.

Nothing here downloads or reads the shared data folder. Expensive fitted objects are built once
per run (``fitted_model``) and must not be mutated by tests; tests that need a fresh object fit
their own.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest

N_ROWS, N_FEATURES, RANK = 600, 32, 8


def planted_low_rank(n: int = N_ROWS, d: int = N_FEATURES, rank: int = RANK, noise: float = 0.05,
                     seed: int = 0, normalize: bool = True) -> np.ndarray:
    """float32 (n, d): rank-``rank`` signal plus isotropic noise, rows L2-normalised.

    The planted structure gives every method something to learn (PCA, PQ and the learned
    compressors all beat chance on it) while staying tiny.
    """
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, rank))
    W = rng.normal(size=(rank, d))
    X = Z @ W + noise * rng.normal(size=(n, d)) * np.sqrt(rank)
    if normalize:
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32)


def contract_spec(name: str) -> str:
    """The cheap spec the contract suite uses for a registered method (its ``test_spec``)."""
    import emblab

    cls = emblab.get_method(name)
    return getattr(cls, "test_spec", None) or name


@pytest.fixture(scope="session")
def planted() -> np.ndarray:
    """Session-wide (600, 32) planted data; treat as read-only."""
    X = planted_low_rank()
    X.setflags(write=False)
    return X


@pytest.fixture
def X_small(planted) -> np.ndarray:
    """A writable copy of the planted data."""
    return planted.copy()


_FIT_CACHE: dict[str, object] = {}


@pytest.fixture(scope="session")
def fitted_model(planted):
    """``fitted_model(spec)`` -> a model fitted once per run on the planted data (do not mutate)."""
    import emblab

    def get(spec: str):
        if spec not in _FIT_CACHE:
            _FIT_CACHE[spec] = emblab.build(spec).fit(planted)
        return _FIT_CACHE[spec]

    return get


@pytest.fixture(autouse=True)
def _restore_emblab_env():
    """CLI calls with --data-dir set EMBLAB_DATA for the process; undo it after every test so a
    test's temporary data root never leaks into the next one."""
    saved = {k: os.environ.get(k) for k in ("EMBLAB_DATA", "EMBLAB_CACHE")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
