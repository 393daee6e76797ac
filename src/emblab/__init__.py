"""emblab: make embeddings smaller, fresher and better understood.

Public API (re-exports only; importing emblab never imports torch, faiss or sentence-transformers)::

    import emblab
    model = emblab.build("pca:dim=64,store=f16").fit(X)
    codes = model.encode(X)
    D, I = emblab.search(model, xq, codes, k=10)
    model.save("pca64/"); model = emblab.load_model("pca64/")
"""

from __future__ import annotations

from .version import __version__

from ._errors import (
    ArtifactError,
    DataError,
    EmblabError,
    FitError,
    InvalidParameterError,
    MissingDependencyError,
    NotFittedError,
    UnknownMethodError,
)
from .base import BaseCompressor, Compressor
from .codes import Codes
from .pipeline import Pipeline, load_model
from .registry import build, get_method, list_methods, register, to_spec
from .spec import parse_spec
from .search import exact_search, search

__all__ = [
    "__version__", "ArtifactError", "DataError", "EmblabError", "FitError", "InvalidParameterError",
    "MissingDependencyError", "NotFittedError", "UnknownMethodError", "BaseCompressor", "Compressor",
    "Codes", "Pipeline", "load_model", "build", "get_method", "list_methods", "parse_spec", "register",
    "to_spec", "exact_search", "search",
]
