"""PCA projection peer (baselines_and_eval.md section 1): centre, project onto the top components.

Spec: ``pca:dim=64[,store=f16|f32|int8][,whiten=false]``.

``store=int8`` calibrates a per-component affine int8 map on the training projections
(min/max), so ``pca:dim=128,store=int8`` costs 128 B/vector; it is the same as
``pca:dim=128,store=f32|int8`` in one stage.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import FitError, InvalidParameterError
from .._validation import Interval, Options
from ..base import BaseCompressor
from ..codes import Codes
from ..registry import register

_STORE_BYTES = {"f32": 4, "f16": 2, "int8": 1}


@register("pca")
class PCA(BaseCompressor):
    """Principal component projection.

    Parameters
    ----------
    dim : int
        Number of components p (1 <= p <= min(n, d)).
    store : {"f16", "f32", "int8"}
        Storage type of the projected coordinates.
    whiten : bool
        Scale components to unit variance (changes the similarity; off by default).

    Attributes
    ----------
    mean_ : ndarray of shape (d,)
    components_ : ndarray of shape (p, d)
        Orthonormal rows, by decreasing explained variance.
    explained_variance_ : ndarray of shape (p,)
    lo_, hi_ : ndarray of shape (p,)
        int8 calibration range (``store="int8"`` only).

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.random.default_rng(0).normal(size=(200, 16)).astype("float32")
    >>> m = emblab.build("pca:dim=4").fit(X)
    >>> m.encode(X).data.shape, m.bytes_per_vector
    ((200, 4), 8.0)
    """

    _parameter_constraints = {
        "dim": [Interval(int, 1, None)],
        "store": [Options("f16", "f32", "int8")],
        "whiten": [bool],
    }
    test_spec = "pca:dim=8"

    def __init__(self, dim: int = 64, store: str = "f16", whiten: bool = False):
        self.dim = dim
        self.store = store
        self.whiten = whiten

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        n, d = X.shape
        if self.dim > d:
            raise InvalidParameterError(f"The 'dim' parameter of PCA must be <= n_features={d}; got {self.dim}.")
        mean = X.mean(axis=0, dtype=np.float64)
        Xc = X.astype(np.float64) - mean
        # eigh of the d x d covariance is exact and cheap for embedding widths (d <= a few thousand)
        cov = (Xc.T @ Xc) / max(n - 1, 1)
        try:
            evals, evecs = np.linalg.eigh(cov)
        except np.linalg.LinAlgError as exc:
            raise FitError(f"PCA eigendecomposition failed: {exc}") from exc
        order = np.argsort(evals)[::-1][: self.dim]
        comps = evecs[:, order].T
        # deterministic sign: largest-magnitude coordinate of each component positive
        signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(axis=1)])
        signs[signs == 0] = 1
        self.mean_ = mean.astype(np.float32)
        self.components_ = (comps * signs[:, None]).astype(np.float32)
        self.explained_variance_ = np.maximum(evals[order], 0).astype(np.float32)
        if self.store == "int8":
            Z = self._project(X)
            self.lo_, self.hi_ = Z.min(axis=0), Z.max(axis=0)

    def _scale(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.explained_variance_, 1e-12)) if self.whiten else np.ones(
            len(self.components_), np.float32)

    def _project(self, X: np.ndarray) -> np.ndarray:
        # float64 products, rounded to float32: BLAS rounding depends on the batch shape, and a
        # last-bit difference can flip an int8 code, so codes would depend on the chunk size
        Z = (X.astype(np.float64) - self.mean_) @ self.components_.T.astype(np.float64)
        return (Z / self._scale()).astype(np.float32)

    def _encode(self, X: np.ndarray) -> Codes:
        Z = self._project(X)
        if self.store == "int8":
            span = np.where(self.hi_ > self.lo_, self.hi_ - self.lo_, 1.0)
            c = np.clip(np.rint((Z - self.lo_) / span * 255.0), 0, 255).astype(np.uint8)
            return Codes({"codes": c}, "uint8")
        dtype = np.float16 if self.store == "f16" else np.float32
        return Codes({"codes": Z.astype(dtype)}, "float")

    @property
    def codes_layout(self) -> str:  # type: ignore[override]
        return "uint8" if self.store == "int8" else "float"

    def _decode_projection(self, codes: Codes) -> np.ndarray:
        if self.store == "int8":
            span = np.where(self.hi_ > self.lo_, self.hi_ - self.lo_, 0.0)
            return self.lo_ + codes.data.astype(np.float32) / 255.0 * span
        return codes.as_float()

    def _decode(self, codes: Codes) -> np.ndarray:
        Z = self._decode_projection(codes) * self._scale()
        return Z @ self.components_ + self.mean_

    def _bytes_per_vector(self) -> float:
        return float(self.dim * _STORE_BYTES[self.store])

    def _state_tensors(self) -> dict[str, np.ndarray]:
        out = {"mean": self.mean_, "components": self.components_,
               "explained_variance": self.explained_variance_}
        if self.store == "int8":
            out.update(lo=self.lo_, hi=self.hi_)
        return out

    def _set_state(self, tensors: dict[str, np.ndarray], fitted: dict[str, Any]) -> None:
        self.mean_ = tensors["mean"]
        self.components_ = tensors["components"]
        self.explained_variance_ = tensors["explained_variance"]
        if self.store == "int8":
            self.lo_, self.hi_ = tensors["lo"], tensors["hi"]

    def _fitted_meta(self) -> dict[str, Any]:
        return {"n_components_": int(self.components_.shape[0])}
