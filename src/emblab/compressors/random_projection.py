"""Gaussian random projection (data-independent baseline for the intrinsic-dimension sweep).

Spec: ``randproj:dim=64[,store=f32|f16][,random_state=0]``.

``z = (x - mean) @ R`` with ``R`` (d_in, dim) drawn i.i.d. N(0, 1/dim) from a seeded generator
(Johnson-Lindenstrauss scaling, so squared norms are preserved in expectation). Only the training
mean is learned from data. Decoding uses the pseudo-inverse of ``R`` (the least-squares
reconstruction inside the projected subspace).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import Interval, Options
from ..base import BaseCompressor
from ..codes import Codes
from ..registry import register


@register("randproj")
class RandomProjection(BaseCompressor):
    """Seeded Gaussian random projection to ``dim`` coordinates.

    Parameters
    ----------
    dim : int
        Output width p.
    store : {"f32", "f16"}
        Storage type of the projected coordinates.
    random_state : int
        Seed of the projection matrix.

    Attributes
    ----------
    mean_ : ndarray of shape (d,)
    projection_ : ndarray of shape (d, p)

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.random.default_rng(0).normal(size=(100, 16)).astype("float32")
    >>> m = emblab.build("randproj:dim=4").fit(X)
    >>> m.encode(X).data.shape, m.bytes_per_vector
    ((100, 4), 16.0)
    """

    _parameter_constraints = {
        "dim": [Interval(int, 1, None)],
        "store": [Options("f32", "f16")],
        "random_state": [Interval(int, 0, None)],
    }
    test_spec = "randproj:dim=4"

    def __init__(self, dim: int = 64, store: str = "f32", random_state: int = 0):
        self.dim = dim
        self.store = store
        self.random_state = random_state

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        d = X.shape[1]
        rng = np.random.default_rng(self.random_state)
        self.mean_ = X.mean(axis=0, dtype=np.float64).astype(np.float32)
        self.projection_ = (rng.standard_normal((d, self.dim)) / np.sqrt(self.dim)).astype(np.float32)

    def transform(self, X: Any) -> np.ndarray:
        """Float32 projection (n, dim)."""
        return (self._check_X(X) - self.mean_) @ self.projection_

    def _encode(self, X: np.ndarray) -> Codes:
        Z = (X - self.mean_) @ self.projection_
        return Codes({"codes": Z.astype(np.float16 if self.store == "f16" else np.float32)}, "float")

    def _decode(self, codes: Codes) -> np.ndarray:
        pinv = np.linalg.pinv(self.projection_.astype(np.float64))  # (p, d)
        return (codes.as_float().astype(np.float64) @ pinv + self.mean_).astype(np.float32)

    def _bytes_per_vector(self) -> float:
        return float(self.dim * (2 if self.store == "f16" else 4))

    def _state_tensors(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean_, "projection": self.projection_}

    def _set_state(self, tensors: dict[str, np.ndarray], fitted: dict[str, Any]) -> None:
        self.mean_ = tensors["mean"]
        self.projection_ = tensors["projection"]
