"""Calibrated int8 scalar quantisation peer (baselines_and_eval.md section 1, "int8").

Spec: ``int8[:calib=minmax|percentile:P]`` -- d bytes/vector, fitted state lo, hi (2d floats).

Each dimension j is mapped affinely from [lo_j, hi_j] to 256 levels::

    c = clip(round((x - lo) / (hi - lo) * 255), 0, 255)      stored as uint8
    x_hat = lo + c / 255 * (hi - lo)

lo/hi are calibrated on the *fit* set (never on the batch being encoded: deriving ranges from the
batch gives all-zero codes for a single vector, sentence-transformers#2837). ``calib=minmax``
uses the column min/max; ``calib=percentile:P`` uses the P-th and (100-P)-th percentiles, clipping
outliers. Dimensions with hi == lo (MiniLM dimensions 127 and 223 are exactly 0 everywhere) get
code 0 and decode to lo: without this guard the division gives NaN and recall collapses to 0.

The helpers :func:`calibrate`, :func:`quantize` and :func:`dequantize` are shared with
``binary:rescore_source=int8``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import Predicate
from ..base import BaseCompressor
from ..codes import Codes
from ..registry import register


def _parse_calib(calib: Any) -> float | None:
    """``"minmax"`` -> None; ``"percentile:P"`` -> P (0 < P < 50); otherwise ValueError."""
    if calib == "minmax":
        return None
    if isinstance(calib, str) and calib.startswith("percentile:"):
        p = float(calib.split(":", 1)[1])
        if 0.0 < p < 50.0:
            return p
    raise ValueError(calib)


def calibrate(X: np.ndarray, calib: str = "minmax") -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension range of ``X`` (n, d): returns ``lo, hi`` float32 of shape (d,)."""
    p = _parse_calib(calib)
    if p is None:
        lo, hi = X.min(axis=0), X.max(axis=0)
    else:
        lo, hi = np.percentile(X, [p, 100.0 - p], axis=0)
    return np.asarray(lo, np.float32), np.asarray(hi, np.float32)


def quantize(X: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """uint8 codes (n, d) of float ``X`` (n, d) for the range ``[lo, hi]`` (each (d,))."""
    # guard hi == lo: such dimensions are constant on the fit set and encode to 0
    span = np.where(hi > lo, hi - lo, np.float32(1.0)).astype(np.float32)
    # divide first (as in the formula): multiplying by 255/span overflows to inf for subnormal
    # spans and 0 * inf gives NaN; here the worst case is +-inf, which the clip handles
    with np.errstate(over="ignore", divide="ignore"):
        scaled = (X - lo) / span * np.float32(255.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def dequantize(C: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """float32 (n, d) reconstruction of uint8 codes ``C`` (n, d)."""
    span = np.where(hi > lo, hi - lo, np.float32(0.0)).astype(np.float32)
    return lo + C.astype(np.float32) * (span / np.float32(255.0))


def _valid_calib(value: Any) -> bool:
    try:
        _parse_calib(value)
    except (ValueError, TypeError):
        return False
    return True


@register("int8")
class ScalarQuantizer(BaseCompressor):
    """Per-dimension affine 8-bit quantiser calibrated on the fit set (d bytes/vector).

    Parameters
    ----------
    calib : str
        ``"minmax"`` (default) or ``"percentile:P"`` with 0 < P < 50 (e.g. ``percentile:0.1``).

    Attributes
    ----------
    lo_, hi_ : ndarray of shape (d,)
        Calibrated range per dimension.

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.random.default_rng(0).normal(size=(100, 8)).astype("float32")
    >>> m = emblab.build("int8").fit(X)
    >>> m.encode(X).data.dtype, m.bytes_per_vector
    (dtype('uint8'), 8.0)
    """

    _parameter_constraints = {
        "calib": [Predicate(_valid_calib, "'minmax' or 'percentile:P' with 0 < P < 50")],
    }
    codes_layout = "uint8"

    def __init__(self, calib: str = "minmax"):
        self.calib = calib

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        self.lo_, self.hi_ = calibrate(X, self.calib)

    def _encode(self, X: np.ndarray) -> Codes:
        return Codes({"codes": quantize(X, self.lo_, self.hi_)}, "uint8")

    def _decode(self, codes: Codes) -> np.ndarray:
        return dequantize(codes.data, self.lo_, self.hi_)

    def _bytes_per_vector(self) -> float:
        return float(self.n_features_in_)

    def _state_tensors(self) -> dict[str, np.ndarray]:
        return {"lo": self.lo_, "hi": self.hi_}

    def _set_state(self, tensors: dict[str, np.ndarray], fitted: dict[str, Any]) -> None:
        self.lo_, self.hi_ = tensors["lo"], tensors["hi"]
