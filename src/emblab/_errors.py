"""Exception types used across emblab (design.md section 6).

Every user-facing error is an :class:`EmblabError`; the CLI maps it to exit code 2 and prints
its one-line message.
"""

from __future__ import annotations

__all__ = [
    "EmblabError",
    "InvalidParameterError",
    "NotFittedError",
    "DataError",
    "ArtifactError",
    "FitError",
    "UnknownMethodError",
    "MissingDependencyError",
]


class EmblabError(Exception):
    """Base class of every error emblab raises on purpose."""


class InvalidParameterError(EmblabError, ValueError, TypeError):
    """A constructor parameter or spec value is invalid."""


class NotFittedError(EmblabError, ValueError, AttributeError):
    """A compressor was used before ``fit``."""


class DataError(EmblabError, ValueError):
    """Input data is malformed: wrong shape, NaN/inf, empty, missing file."""


class ArtifactError(EmblabError):
    """A saved artifact (model directory, codes file) is unknown, corrupt or mismatched."""


class FitError(EmblabError, RuntimeError):
    """Fitting failed: NaN loss, divergence, failed factorisation."""


class UnknownMethodError(InvalidParameterError):
    """A spec string names a method that is not registered."""


class MissingDependencyError(EmblabError, ImportError):
    """An optional dependency (extra) is not installed."""
