"""Exact top-k search over encoded collections (baselines_and_eval.md section 1, scoring modes).

``search(model, xq, codes, k, mode)`` is shared by every method:

``asymmetric``  s(q, x) = cos(q, decode(encode(x)))  -- float query against compressed items
``symmetric``   s(q, x) = cos(decode(encode(q)), decode(encode(x)))
``ip``          s(q, x) = q . decode(encode(x)) for a unit query q, without dividing by the
                reconstruction's norm: what an inner-product index (FAISS, emblab export) computes.
                Accepted by every method, not listed in ``search_modes`` (benchmarks skip it)
native modes    a method's own code-space score (``hamming``, ``sparse``, ``reconstructed``, ...)

Methods with a native scorer implement ``_search``; otherwise the catalogue is decoded chunk by
chunk (never all at once) and scored with a BLAS matrix product. Ties are broken by item index
(lower first) so results are deterministic, which matters for Hamming and sparse scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._errors import DataError, InvalidParameterError
from ._validation import check_array, l2_normalize
from .codes import Codes

#: modes every method accepts through the shared decode path
GENERIC_MODES = ("ip",)


def topk_stable(scores: np.ndarray, k: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Top-k per row by (-score, index).

    Parameters
    ----------
    scores : ndarray of shape (nq, n)
    k : int
        Clipped to ``n``.
    offset : int
        Added to the returned indices (chunked search).

    Returns
    -------
    D : ndarray of shape (nq, k) float32, scores in decreasing order
    I : ndarray of shape (nq, k) int64, item indices
    """
    nq, n = scores.shape
    k = min(k, n)
    if k == 0:
        return np.zeros((nq, 0), np.float32), np.zeros((nq, 0), np.int64)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1)
        # rows with ties at the boundary: argpartition chose arbitrarily, redo them stably
        n_ge = (scores >= kth[:, None]).sum(axis=1)
        tied = np.flatnonzero(n_ge > k)
        if tied.size:
            # keep every item above the k-th score plus the lowest-index items equal to it; O(n)
            # per row instead of a full stable sort (Hamming and sparse scores tie constantly)
            sub, th = scores[tied], kth[tied, None]
            gt = sub > th
            eq = sub == th
            need = k - gt.sum(axis=1, keepdims=True)
            keep = gt | (eq & (np.cumsum(eq, axis=1, dtype=np.int32) <= need))
            part[tied] = np.nonzero(keep)[1].reshape(len(tied), k)
    else:
        part = np.broadcast_to(np.arange(n), (nq, n)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = _rowwise_lexsort(vals, part)
    I = np.take_along_axis(part, order, axis=1).astype(np.int64) + offset
    D = np.take_along_axis(vals, order, axis=1).astype(np.float32)
    return D, I


def _rowwise_lexsort(vals: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Argsort each row by (-vals, idx)."""
    # sort by index first, then stable sort by -value keeps index order within ties
    o1 = np.argsort(idx, axis=1, kind="stable")
    v1 = np.take_along_axis(vals, o1, axis=1)
    o2 = np.argsort(-v1, axis=1, kind="stable")
    return np.take_along_axis(o1, o2, axis=1)


def merge_topk(D1: np.ndarray, I1: np.ndarray, D2: np.ndarray, I2: np.ndarray, k: int):
    """Merge two candidate lists (nq, *) into the stable top-k."""
    D = np.concatenate([D1, D2], axis=1)
    I = np.concatenate([I1, I2], axis=1)
    order = _rowwise_lexsort(D, I)[:, :k]
    return np.take_along_axis(D, order, axis=1), np.take_along_axis(I, order, axis=1)


def exact_search(xq: np.ndarray, xb: np.ndarray, k: int, *, chunk_size: int = 65536,
                 normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product (cosine if ``normalize``) top-k of float vectors.

    Parameters
    ----------
    xq : ndarray of shape (nq, d)
    xb : ndarray of shape (n, d)
    k : int

    Returns
    -------
    D, I : ndarrays of shape (nq, min(k, n))
    """
    xq = check_array(xq, name="xq")
    xb = check_array(xb, name="xb")
    if xb.shape[1] != xq.shape[1]:
        raise DataError(f"xb has {xb.shape[1]} features but xq has {xq.shape[1]}; give both the same width.")
    if normalize:
        xq, xb = l2_normalize(xq), l2_normalize(xb)
    return chunked_topk(xq, lambda s, e: xb[s:e], len(xb), k, chunk_size)


def chunked_topk(q: np.ndarray, get_chunk, n: int, k: int, chunk_size: int):
    """Exact top-k inner products of queries ``q`` (nq, d) over ``n`` items read a chunk at a time.

    ``get_chunk(start, end)`` returns the items' float vectors (end - start, d); only one chunk of
    ``chunk_size`` rows is in memory at once. Returns (D, I) (nq, k), ties by lower item index.
    """
    # Scores are accumulated in float64 and rounded to float32: BLAS rounding depends on the
    # matrix shapes, so identical items (duplicate codes are common for coarse quantisers) could
    # otherwise get scores differing in the last bit and break the lower-index tie rule, making
    # results depend on chunk_size.
    q64 = np.asarray(q, dtype=np.float64)
    D = I = None
    for start in range(0, n, chunk_size):
        xb = get_chunk(start, min(n, start + chunk_size))
        S = (q64 @ np.asarray(xb, dtype=np.float64).T).astype(np.float32)
        d, i = topk_stable(S, k, offset=start)
        if D is None:
            D, I = d, i
        else:
            D, I = merge_topk(D, I, d, i, k)
    return D, I


def search(model: Any, xq: Any, codes: Codes, k: int = 10, mode: str = "asymmetric", *,
           chunk_size: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Top-k items of an encoded collection for each query.

    Parameters
    ----------
    model : fitted compressor
        The model that produced ``codes``.
    xq : array-like of shape (nq, d)
        Float queries (uncompressed).
    codes : Codes
        Encoded catalogue of ``n`` items.
    k : int
        Number of results per query (clipped to ``n``).
    mode : str
        ``asymmetric``, ``symmetric`` or one of ``model.search_modes``.
    chunk_size : int
        Items decoded at a time by the generic path.

    Returns
    -------
    D : ndarray of shape (nq, k) float32, scores, best first
    I : ndarray of shape (nq, k) int64, item indices
    """
    if mode not in model.search_modes and mode not in GENERIC_MODES:
        raise InvalidParameterError(
            f"mode {mode!r} is not supported by {model.to_spec()}; choose one of {', '.join(model.search_modes + GENERIC_MODES)}."
        )
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidParameterError(f"k must be a positive int; got {k!r}.")
    xq = model._check_X(xq, name="xq")
    model.check_codes(codes)
    if mode == "ip":
        return chunked_topk(l2_normalize(xq), lambda s, e: model.decode(codes[s:e]), len(codes), int(k), chunk_size)
    native = model._search(xq, codes, int(k), mode)
    if native is not NotImplemented:
        return native
    if mode == "asymmetric":
        q = l2_normalize(xq)
    elif mode == "symmetric":
        q = l2_normalize(model.decode(model.encode(xq)))
    else:  # pragma: no cover - a mode listed but not implemented natively
        raise InvalidParameterError(f"{model.to_spec()} lists mode {mode!r} but has no scorer for it.")
    return chunked_topk(q, lambda s, e: l2_normalize(model.decode(codes[s:e])), len(codes), int(k), chunk_size)
