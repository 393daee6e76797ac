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

from emblab.testing import planted_low_rank  # noqa: E402,F401  (the checker's data, shared by the tests)

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
