"""Truncation peer (baselines_and_eval.md section 1): keep the first p coordinates, re-normalise.

Spec: ``trunc:dim=p[,store=f16|f32]`` (4p or 2p bytes/vector, no fitted state).

This is the Matryoshka-style baseline. The stored code is the unit-normalised prefix
``x[:p] / ||x[:p]||``. ``decode`` must return the input width ``d``, so it pads the normalised
prefix with ``d - p`` zeros: the cosine between a decoded item and any float query ``q`` is then
``q[:p] . x[:p] / (||q|| ||x[:p]||)``, which ranks items exactly as the cosine of the truncated
vectors, and the cosine between two decoded items *is* the cosine of their truncated vectors.
A row whose prefix is all zero stays zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InvalidParameterError
from .._validation import Interval, Options, l2_normalize
from ..base import BaseCompressor
from ..codes import Codes
from ..registry import register

_STORE_DTYPES = {"f32": np.float32, "f16": np.float16}


@register("trunc")
class Truncate(BaseCompressor):
    """First ``dim`` coordinates, re-normalised to unit length.

    Parameters
    ----------
    dim : int
        Number of leading coordinates kept, p (1 <= p <= d).
    store : {"f16", "f32"}
        Storage type of the kept coordinates (2p or 4p bytes/vector).

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.random.default_rng(0).normal(size=(10, 16)).astype("float32")
    >>> m = emblab.build("trunc:dim=4").fit(X)
    >>> m.encode(X).data.shape, m.decode(m.encode(X)).shape, m.bytes_per_vector
    ((10, 4), (10, 16), 8.0)
    """

    _parameter_constraints = {
        "dim": [Interval(int, 1, None)],
        "store": [Options("f16", "f32")],
    }
    test_spec = "trunc:dim=8"

    def __init__(self, dim: int = 64, store: str = "f16"):
        self.dim = dim
        self.store = store

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        d = X.shape[1]
        if self.dim > d:
            raise InvalidParameterError(
                f"The 'dim' parameter of Truncate must be <= n_features={d}; got {self.dim}."
            )

    def _encode(self, X: np.ndarray) -> Codes:
        Z = l2_normalize(X[:, : self.dim])
        return Codes({"codes": Z.astype(_STORE_DTYPES[self.store])}, "float")

    def _decode(self, codes: Codes) -> np.ndarray:
        Z = codes.as_float()
        out = np.zeros((Z.shape[0], self.n_features_in_), dtype=np.float32)
        out[:, : Z.shape[1]] = Z
        return out

    def _bytes_per_vector(self) -> float:
        return float(self.dim * np.dtype(_STORE_DTYPES[self.store]).itemsize)

    def _fitted_meta(self) -> dict[str, Any]:
        return {"dim": int(self.dim)}
