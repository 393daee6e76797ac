"""FAISS forms of fitted compressors: an index file that plain FAISS loads, holding emblab's codes.

``faiss_index(model, codes)`` builds a FAISS index that stores **the same codes** (no re-encoding)
and scores a unit-norm query like one of emblab's search modes, so ``faiss.read_index(path)`` +
``index.search(q, k)`` returns the top-k that ``emblab.search(model, q, codes, k, mode)`` returns:

============================  ===============================================  ====================
method                        FAISS index                                      emblab mode
============================  ===============================================  ====================
``faiss:...``, ``pq``, ``opq``  the trained index, codes added with              ``adc``
                              ``add_sa_codes`` (FastScan: ``IndexPQFastScan``)
``float32``                   ``IndexFlatIP``                                  ``asymmetric``
``float16``                   ``IndexScalarQuantizer(QT_fp16)``                ``ip``
``int8``                      ``IndexScalarQuantizer(QT_8bit)``, ranges moved   ``ip``
                              half a step so FAISS decodes exactly as emblab
``pca`` (f32/f16/int8)        ``IndexPreTransform(LinearTransform(components),  ``ip`` (+ q.mean, the
                              Flat / SQfp16 / SQ8)``                           same for every item)
``trunc`` (f32/f16)           ``IndexPreTransform(prefix selection, Flat /     ``ip``
                              SQfp16)``
============================  ===============================================  ====================

``ip`` is q . decode(x) for a unit query q: what an inner-product index computes. It differs from
the ``asymmetric`` mode (cos(q, decode(x))) by the norm of each reconstruction, so a FAISS index
can rank differently from the benchmark's main score; ``emblab export`` measures the exported
index on the task and reports both.

No FAISS form: ``sae`` (sparse codes: serve them from Qdrant), ``mcr2`` and ``ae`` (learned,
non-linear or normalised heads), ``binary`` (FAISS ``IndexBinaryFlat`` ranks by the same Hamming
distance but orders its many ties differently), ``randproj`` and multi-stage pipelines.

Queries must be L2-normalised float32 (n, d), as emblab does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._deps import require
from .._errors import InvalidParameterError
from ..codes import Codes


def faiss_form(model: Any) -> tuple[str | None, str]:
    """``(emblab mode the FAISS index reproduces, description)``, or ``(None, reason)``."""
    name = getattr(model, "method", "")
    if hasattr(model, "code_index"):
        return "adc", "the trained FAISS index holding the codes (ADC search)"
    if name == "float32":
        return "asymmetric", "IndexFlatIP over the unit vectors"
    if name == "float16":
        return "ip", "IndexScalarQuantizer QT_fp16"
    if name == "int8":
        return "ip", "IndexScalarQuantizer QT_8bit (ranges aligned with emblab's int8)"
    if name == "pca":
        inner = {"f32": "IndexFlatIP", "f16": "SQfp16", "int8": "SQ8"}[model.store]
        return "ip", f"IndexPreTransform(LinearTransform {model.dim}x{model.n_features_in_}, {inner})"
    if name == "trunc":
        return "ip", f"IndexPreTransform(first {model.dim} coordinates, {'IndexFlatIP' if model.store == 'f32' else 'SQfp16'})"
    reasons = {"sae": "sparse codes have no FAISS index type; serve them from Qdrant (emblab export --qdrant)",
               "mcr2": "a learned head; FAISS cannot apply it to queries", "ae": "a non-linear decoder",
               "binary": "IndexBinaryFlat orders Hamming ties differently from emblab",
               "randproj": "not implemented", "pipeline": "multi-stage pipelines are not exported"}
    key = "pipeline" if hasattr(model, "stages") else name
    return None, reasons.get(key, "no FAISS equivalent")


def faiss_index(model: Any, codes: Codes) -> Any:
    """A FAISS index holding ``codes`` (see the module docstring for the per-method form).

    Raises
    ------
    InvalidParameterError
        The method has no FAISS form (the message says why).
    """
    faiss = require("faiss", "FAISS export")
    mode, why = faiss_form(model)
    if mode is None:
        raise InvalidParameterError(f"{model.to_spec()} has no FAISS form: {why}.")
    model.check_codes(codes)
    name = model.method
    if mode == "adc":
        built = model.code_index(codes)
        if built is None:
            raise InvalidParameterError(f"{model.to_spec()}: this FAISS factory cannot hold precomputed codes.")
        root, transforms, searcher = built
        if isinstance(root, tuple):  # FastScan: codes live in a converted IndexPQFastScan
            if transforms:
                raise InvalidParameterError(f"{model.to_spec()}: FastScan behind a pre-transform is not exported.")
            return searcher
        _sync_ntotal(faiss, root)
        return root
    d = model.n_features_in_
    if name == "float32":
        index = faiss.IndexFlatIP(d)
        index.add(np.ascontiguousarray(codes.as_float()))
        return index
    if name == "float16":
        return _sq_fp16(faiss, d, codes)
    if name == "int8":
        return _sq8(faiss, d, model.lo_, model.hi_, codes)
    if name == "pca":
        # decode = A^T z + mean with A = diag(scale) components (scale = sqrt(variance) when whitened)
        scale = np.sqrt(np.maximum(model.explained_variance_, 1e-12)) if model.whiten else 1.0
        A = (np.reshape(scale, (-1, 1)) * model.components_).astype(np.float32)
        inner = (_flat(faiss, codes) if model.store == "f32" else _sq_fp16(faiss, model.dim, codes)
                 if model.store == "f16" else _sq8(faiss, model.dim, model.lo_, model.hi_, codes))
        return _pretransform(faiss, A, inner)
    A = np.zeros((model.dim, d), np.float32)   # trunc: the first dim coordinates
    A[np.arange(model.dim), np.arange(model.dim)] = 1.0
    inner = _flat(faiss, codes) if model.store == "f32" else _sq_fp16(faiss, model.dim, codes)
    return _pretransform(faiss, A, inner)


def _sync_ntotal(faiss: Any, index: Any) -> int:
    """Codes were added to the innermost index: make every wrapper report the same ``ntotal``."""
    idx = faiss.downcast_index(index)
    if isinstance(idx, faiss.IndexPreTransform):
        idx.ntotal = _sync_ntotal(faiss, idx.index)
    return int(idx.ntotal)


def _flat(faiss: Any, codes: Codes) -> Any:
    Z = np.ascontiguousarray(codes.as_float())
    index = faiss.IndexFlatIP(Z.shape[1])
    index.add(Z)
    return index


def _sq_fp16(faiss: Any, d: int, codes: Codes) -> Any:
    index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    data = np.ascontiguousarray(codes.data, dtype=np.float16).view(np.uint8)   # IEEE half, as FAISS stores it
    index.add_sa_codes(np.ascontiguousarray(data))
    return index


def _sq8(faiss: Any, d: int, lo: np.ndarray, hi: np.ndarray, codes: Codes) -> Any:
    # FAISS decodes code c as vmin + (c + 0.5) / 255 * vdiff, emblab as lo + c / 255 * (hi - lo):
    # vmin = lo - 0.5 / 255 * span makes the two equal (span 0 for constant dimensions, as emblab)
    span = np.where(hi > lo, hi - lo, 0.0).astype(np.float32)
    vmin = (lo - 0.5 / 255.0 * span).astype(np.float32)
    index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
    faiss.copy_array_to_vector(np.concatenate([vmin, span]).astype(np.float32), index.sq.trained)
    index.is_trained = True
    index.add_sa_codes(np.ascontiguousarray(codes.data, dtype=np.uint8))
    return index


def _pretransform(faiss: Any, A: np.ndarray, inner: Any) -> Any:
    p, d = A.shape
    lt = faiss.LinearTransform(d, p, False)
    faiss.copy_array_to_vector(np.ascontiguousarray(A, dtype=np.float32).ravel(), lt.A)
    lt.is_trained = True
    index = faiss.IndexPreTransform(lt, inner)
    index.is_trained = True
    return index


def write_index(index: Any, path: str) -> None:
    """``faiss.write_index`` to a temporary sibling, then rename (nothing half-written)."""
    from ..io import atomic_path

    faiss = require("faiss", "FAISS export")
    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))
