"""Input and parameter validation shared by all compressors (design.md section 3).

Validation never uses ``assert``: every failure raises an :class:`EmblabError` subclass with a
one-line message that names the offending parameter or array.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Iterable

import numpy as np

from ._errors import DataError, InvalidParameterError, NotFittedError


def check_array(
    X: Any,
    *,
    name: str = "X",
    dtype: Any = np.float32,
    n_features: int | None = None,
    who: str | None = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """Return ``X`` as a C-contiguous 2-D finite array of ``dtype``, copying only when needed.

    Parameters
    ----------
    X : array-like of shape (n, d)
    name : str
        Name used in error messages.
    dtype : numpy dtype
        Target dtype (float32 by default).
    n_features : int, optional
        Expected width; a mismatch names both widths.
    who : str, optional
        Class name of the fitted estimator, for the width-mismatch message.
    allow_empty : bool
        Accept ``n == 0``.

    Returns
    -------
    ndarray of shape (n, d)

    Raises
    ------
    DataError
        Not 2-D, empty, non-numeric, NaN/inf, or wrong width.
    """
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise DataError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DataError(f"{name} must be numeric; got dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise DataError(f"{name} must be 2-D (n_samples, n_features); got shape {arr.shape}.")
    if not allow_empty and (arr.shape[0] == 0 or arr.shape[1] == 0):
        raise DataError(f"{name} is empty (shape {arr.shape}); give at least one row and one column.")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if np.issubdtype(arr.dtype, np.floating) and arr.size and not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise DataError(
            f"{name} has NaN or inf in {bad.size} row(s) (first: row {int(bad[0])}); "
            "remove or impute them before compressing."
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise DataError(
            f"{name} has {arr.shape[1]} features, but {who or 'the model'} was fitted with {n_features}."
        )
    return arr


def check_is_fitted(obj: Any, attribute: str = "n_features_in_") -> None:
    """Raise :class:`NotFittedError` unless ``obj`` has the fitted ``attribute``."""
    if getattr(obj, attribute, None) is None:
        raise NotFittedError(
            f"This {type(obj).__name__} is not fitted yet; call fit(X) before using it."
        )


def l2_normalize(X: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation; zero rows stay zero. Shape (n, d) -> (n, d), float32."""
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, eps)


# --- parameter constraints -------------------------------------------------------------------

class Interval:
    """Numeric interval constraint, e.g. ``Interval(int, 1, None)`` for a positive int."""

    def __init__(self, kind: type, low: float | None, high: float | None, closed: str = "both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int and not isinstance(value, numbers.Integral):
            return False
        if self.kind is float and not isinstance(value, numbers.Real):
            return False
        left_ok = self.low is None or (
            value >= self.low if self.closed in ("both", "left") else value > self.low
        )
        right_ok = self.high is None or (
            value <= self.high if self.closed in ("both", "right") else value < self.high
        )
        return left_ok and right_ok

    def __str__(self) -> str:
        kind = "an int" if self.kind is int else "a float"
        lo = "-inf" if self.low is None else self.low
        hi = "inf" if self.high is None else self.high
        lb = "[" if self.closed in ("both", "left") else "("
        rb = "]" if self.closed in ("both", "right") else ")"
        return f"{kind} in {lb}{lo}, {hi}{rb}"


class Options:
    """Value must be one of a fixed set."""

    def __init__(self, *values: Any):
        self.values = values

    def is_satisfied_by(self, value: Any) -> bool:
        return value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


class Predicate:
    """Arbitrary check with a description, e.g. ``Predicate(callable, 'a str')``."""

    def __init__(self, fn: Callable[[Any], bool], description: str):
        self.fn, self.description = fn, description

    def is_satisfied_by(self, value: Any) -> bool:
        try:
            return bool(self.fn(value))
        except Exception:
            return False

    def __str__(self) -> str:
        return self.description


def validate_params(obj: Any, constraints: dict[str, Iterable[Any]]) -> None:
    """Check every constructor parameter of ``obj`` against ``constraints``.

    Each entry maps a parameter name to a list of allowed constraints (``Interval``,
    ``Options``, ``Predicate``, a type, or ``None`` meaning the value ``None``). The first
    violated parameter raises :class:`InvalidParameterError` naming it.
    """
    for pname, allowed in constraints.items():
        value = getattr(obj, pname)
        ok = False
        for c in allowed:
            if c is None:
                ok = value is None
            elif isinstance(c, type):
                ok = isinstance(value, c) and not (c is not bool and isinstance(value, bool))
            else:
                ok = c.is_satisfied_by(value)
            if ok:
                break
        if not ok:
            desc = " or ".join(
                "None" if c is None else (f"a {c.__name__}" if isinstance(c, type) else str(c))
                for c in allowed
            )
            raise InvalidParameterError(
                f"The {pname!r} parameter of {type(obj).__name__} must be {desc}; got {value!r}."
            )
