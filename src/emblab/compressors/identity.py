"""Lossless and near-lossless float peers (baselines_and_eval.md section 1).

``float32``  identity, 4d bytes/vector (the uncompressed reference).
``float16``  cast to IEEE half precision, 2d bytes/vector.

Neither method has fitted state beyond the input width; vectors are stored as given (not
normalised), and the shared search normalises for cosine scoring.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._errors import DataError
from ..base import BaseCompressor
from ..codes import Codes
from ..registry import register


class _FloatCast(BaseCompressor):
    """Store vectors in a float dtype; decode casts back to float32."""

    _dtype: ClassVar[type] = np.float32

    def __init__(self):
        pass

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        # nothing to learn; the width is recorded by BaseCompressor.fit
        return None

    def _encode(self, X: np.ndarray) -> Codes:
        return Codes({"codes": X.astype(self._dtype, copy=True)}, "float")

    def _decode(self, codes: Codes) -> np.ndarray:
        return codes.as_float()

    def _bytes_per_vector(self) -> float:
        return float(self.n_features_in_ * np.dtype(self._dtype).itemsize)


@register("float32")
class Float32(_FloatCast):
    """Identity: codes are the float32 vectors themselves (4d bytes/vector).

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.eye(4, dtype="float32")
    >>> m = emblab.build("float32").fit(X)
    >>> m.bytes_per_vector
    16.0
    """

    _dtype = np.float32


@register("float16")
class Float16(_FloatCast):
    """Cast to float16 (2d bytes/vector); relative error about 5e-4 per coordinate.

    Values beyond the float16 range (|x| > 65504) would overflow to inf, so ``encode`` rejects
    them with :class:`~emblab.DataError`; embeddings are far inside it.

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.eye(4, dtype="float32")
    >>> emblab.build("float16").fit(X).bytes_per_vector
    8.0
    """

    _dtype = np.float16

    def _encode(self, X: np.ndarray) -> Codes:
        big = np.abs(X).max(axis=1) > np.finfo(np.float16).max
        if big.any():
            raise DataError(
                f"X has values beyond the float16 range (+-65504) in {int(big.sum())} row(s) "
                f"(first: row {int(np.flatnonzero(big)[0])}); rescale the data or use float32."
            )
        return super()._encode(X)
