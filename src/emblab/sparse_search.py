"""Search over fixed-k sparse codes without decoding the catalogue (specs/sae.md §6).

A catalogue of n fixed-k codes is read through a *row reader* ``read(start, stop) -> (indices
(m, k) int, values (m, k) float32)`` (padding slots have value 0): plain ``indices``/``values``
arrays, or bit-packed rows that the model unpacks one chunk at a time
(:mod:`emblab.compressors.sparse_layout`). :class:`SparseIndex` never holds the unpacked catalogue:

* *brute force* and the reconstructed-dense scores ``z_d . u`` (O(k) multiply-adds per item) turn
  one chunk at a time into a CSR matrix (m, h) and multiply;
* *sparse* scoring uses posting lists (one per latent: item ids int32 and values float32, 8 B per
  non-zero), built lazily chunk by chunk; a query with k_q active latents only touches their
  lists, accumulates scores with ``np.bincount`` and ranks them.

Both sparse paths accumulate ``sum_j z_d[j] q[j]`` in float64 in ascending latent order and then
divide by ||z_d||, so they produce bit-identical float32 scores; mathematically tied items (equal
cosines from different codes) therefore tie on both paths and are ranked by id on both.

Scores
------
``sparse``          s(q, d) = z_q . z_d / (||z_q|| ||z_d||)       (code-space cosine)
``reconstructed``   s(q, d) = q . x̂_d / (||q|| ||x̂_d||), with q . x̂_d = z_d . u, u = W_dec q (h,)

Ranking is by (-score, item id), as in :func:`emblab.search.topk_stable`, on every path. For the
sparse inverted path the items a query does not touch score exactly 0; they are ranked by id after
the positive scores and before the negative ones, exactly as brute force ranks them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp

from ._errors import DataError, InvalidParameterError
from .search import merge_topk, topk_stable

__all__ = ["SparseIndex", "codes_to_csr", "latent_usage", "rank_scores", "usage_from_counts"]


def codes_to_csr(indices: np.ndarray, values: np.ndarray, n_latents: int) -> sp.csr_array:
    """Fixed-k codes (n, k) -> CSR (n, h) float32; padding (value 0) is dropped.

    Raises
    ------
    DataError
        An index is >= ``n_latents`` or values are not finite.
    """
    indices = np.asarray(indices)
    values = np.asarray(values, dtype=np.float32)
    if indices.shape != values.shape or indices.ndim != 2:
        raise DataError(f"sparse codes need indices and values of equal 2-D shape; got {indices.shape} "
                        f"and {values.shape}.")
    n, k = indices.shape
    if indices.size and int(indices.max()) >= n_latents:
        raise DataError(f"sparse code index {int(indices.max())} >= n_latents={n_latents}; "
                        "the codes belong to another model.")
    if not np.isfinite(values).all():
        raise DataError("sparse code values contain NaN/inf; re-encode.")
    keep = values != 0
    counts = keep.sum(axis=1)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return sp.csr_array((values[keep], indices[keep].astype(np.int32), indptr), shape=(n, n_latents))


def latent_usage(indices: np.ndarray, values: np.ndarray, n_latents: int) -> dict[str, float]:
    """Latent usage statistics of a set of codes (spec §8).

    Parameters
    ----------
    indices, values : ndarray of shape (n, k)
    n_latents : int

    Returns
    -------
    dict, see :func:`usage_from_counts`.
    """
    idx = np.asarray(indices)[np.asarray(values) != 0]
    return usage_from_counts(np.bincount(idx.ravel().astype(np.int64), minlength=n_latents))


def usage_from_counts(counts: np.ndarray) -> dict[str, float]:
    """Usage statistics from per-latent non-zero counts (h,).

    Returns
    -------
    dict with ``dead_fraction`` (share of latents used by no item), ``effective_latents``
    (exp of the entropy of the usage distribution), ``effective_fraction`` (that / h),
    ``top1pct_share`` (share of all non-zeros taken by the 1% most used latents) and
    ``max_over_mean`` (usage of the busiest latent / mean usage).
    """
    counts = np.asarray(counts, np.float64)
    n_latents = len(counts)
    total = counts.sum()
    if total == 0:
        return {"dead_fraction": 1.0, "effective_latents": 0.0, "effective_fraction": 0.0,
                "top1pct_share": 0.0, "max_over_mean": 0.0}
    p = counts / total
    nz = p[p > 0]
    eff = float(np.exp(-(nz * np.log(nz)).sum()))
    top = max(1, n_latents // 100)
    return {"dead_fraction": float((counts == 0).mean()), "effective_latents": eff,
            "effective_fraction": eff / n_latents,
            "top1pct_share": float(np.sort(counts)[::-1][:top].sum() / total),
            "max_over_mean": float(counts.max() / counts.mean())}


def rank_scores(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of one dense score vector (n,) by (-score, id), fast when few items score > 0.

    Returns
    -------
    D : ndarray (min(k, n),) float32
    I : ndarray (min(k, n),) int64
    """
    scores = np.asarray(scores, np.float32)
    n = scores.shape[0]
    k = min(k, n)
    pos = np.flatnonzero(scores > 0)  # ascending ids, so position order is id order
    if len(pos) >= k:
        d, i = topk_stable(scores[pos][None, :], k)
        return d[0], pos[i[0]]
    o = np.lexsort((pos, -scores[pos]))
    ids = [pos[o], np.flatnonzero(scores == 0)[:k - len(pos)]]
    need = k - len(pos) - len(ids[1])
    if need > 0:  # only negatives left (tiny catalogues)
        neg = np.flatnonzero(scores < 0)
        ids.append(neg[np.lexsort((neg, -scores[neg]))[:need]])
    I = np.concatenate(ids).astype(np.int64)
    return scores[I], I


RowReader = Callable[[int, int], "tuple[np.ndarray, np.ndarray]"]


class SparseIndex:
    """Catalogue of fixed-k sparse codes prepared for search, read chunk by chunk.

    Parameters
    ----------
    indices, values : ndarray of shape (n, k), optional
        Plain codes (uint16 indices, float16/32 values; zero values are padding).
    n_latents : int
        h.
    reader : callable(start, stop) -> (indices, values), optional
        Instead of arrays: returns rows ``start:stop`` as (m, k) int indices and float32 values
        (e.g. unpacked from bit-packed codes).
    n : int, optional
        Number of items (with ``reader``).
    chunk_size : int
        Rows read at a time.

    Attributes
    ----------
    recon_norm, sphere_t : ndarray (n,) or None
        Per-item factors a model may attach (||x̂_d||; the centring term of the SAE).
    """

    def __init__(self, indices: np.ndarray | None = None, values: np.ndarray | None = None,
                 n_latents: int = 0, *, reader: RowReader | None = None, n: int | None = None,
                 chunk_size: int = 65536):
        self.n_latents = int(n_latents)
        self.chunk_size = int(chunk_size)
        if reader is None:
            if indices is None or values is None:
                raise DataError("SparseIndex needs indices and values, or a reader and n.")
            indices, values = np.asarray(indices), np.asarray(values)
            codes_to_csr(indices[:1], values[:1], self.n_latents)  # shape/finite checks up front
            self.n = int(indices.shape[0])
            self._read = lambda s, e: (indices[s:e], np.asarray(values[s:e], np.float32))
        else:
            if n is None:
                raise DataError("SparseIndex(reader=...) needs the number of items n.")
            self.n, self._read = int(n), reader
        self._code_norm = None
        self._post = None
        self.recon_norm = None
        self.sphere_t = None

    def __len__(self) -> int:
        return self.n

    def rows(self, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Codes of items ``start:stop``: (m, k) indices and float32 values."""
        return self._read(start, self.n if stop is None else min(stop, self.n))

    def chunks(self, chunk_size: int | None = None):
        """Yield ``(start, stop, indices, values)`` over the catalogue."""
        step = chunk_size or self.chunk_size
        for s in range(0, self.n, step):
            e = min(self.n, s + step)
            yield (s, e, *self.rows(s, e))

    def csr(self, start: int = 0, stop: int | None = None) -> sp.csr_array:
        """Items ``start:stop`` as a CSR matrix (m, h) float32 (padding dropped)."""
        return codes_to_csr(*self.rows(start, stop), self.n_latents)

    @property
    def code_norm(self) -> np.ndarray:
        """||z_d|| per item (n,) float32, computed once chunk by chunk."""
        if self._code_norm is None:
            out = np.empty(self.n, np.float32)
            for s, e, _, v in self.chunks():
                out[s:e] = np.sqrt((v.astype(np.float64) ** 2).sum(1))
            self._code_norm = out
        return self._code_norm

    def map_chunks(self, fn: Callable[[np.ndarray, np.ndarray], np.ndarray], dtype=np.float32) -> np.ndarray:
        """``fn(indices, values) -> (m,)`` applied chunk by chunk, concatenated to (n,)."""
        out = np.empty(self.n, dtype)
        for s, e, i, v in self.chunks():
            out[s:e] = fn(i, v)
        return out

    # --- posting lists -------------------------------------------------------------------------
    @property
    def postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ptr (h+1,) int64, ids (nnz,) int32, values (nnz,) float32), ids ascending within each
        latent's list. Built by a two-pass counting sort over chunks."""
        if self._post is None:
            h = self.n_latents
            counts = np.zeros(h, np.int64)
            for _, _, i, v in self.chunks():
                counts += np.bincount(i[v != 0].astype(np.int64), minlength=h)
            ptr = np.zeros(h + 1, np.int64)
            np.cumsum(counts, out=ptr[1:])
            ids = np.empty(ptr[-1], np.int32)
            w = np.empty(ptr[-1], np.float32)
            cursor = ptr[:-1].copy()
            for s, e, i, v in self.chunks():
                keep = v != 0
                lat = i[keep].astype(np.int64)
                item = np.broadcast_to(np.arange(s, e)[:, None], keep.shape)[keep]
                val = v[keep]
                order = np.argsort(lat, kind="stable")  # row-major, so ids stay ascending per latent
                lat, item, val = lat[order], item[order], val[order]
                c = np.bincount(lat, minlength=h)
                first = np.cumsum(c) - c
                dest = cursor[lat] + np.arange(len(lat)) - first[lat]
                ids[dest], w[dest] = item, val
                cursor += c
            self._post = (ptr, ids, w)
        return self._post

    @property
    def postings_nbytes(self) -> int:
        """Memory of the posting lists (a search structure, not part of the stored codes)."""
        return int(sum(a.nbytes for a in self.postings))

    # --- reconstructed-dense and brute-force scores ------------------------------------------------
    def dot(self, U: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``z_d . u`` for items ``start:stop`` and every column of ``U`` (h, nq) -> (m, nq) float64."""
        U = np.ascontiguousarray(U, dtype=np.float64)
        if U.ndim != 2 or U.shape[0] != self.n_latents:
            raise DataError(f"U must have shape (n_latents={self.n_latents}, nq); got {U.shape}.")
        return np.asarray(self.csr(start, stop).astype(np.float64) @ U)

    def topk_dense(self, U: np.ndarray, k: int, *, item_scale: np.ndarray | None = None,
                   item_bias=None, chunk_size: int | None = None):
        """Top-k of ``(z_d . u_q) * item_scale[d] + item_bias(d, q)`` over every item (brute force).

        Parameters
        ----------
        U : ndarray (h, nq)
        k : int
        item_scale : ndarray (n,), optional
            Per-item factor (e.g. 1/||x̂_d|| or 1/||z_d||).
        item_bias : callable(start, stop) -> (m, nq), optional
            Added after scaling (used by centred asymmetric scoring).

        Returns
        -------
        D (nq, k) float32, I (nq, k) int64
        """
        D = I = None
        for s in range(0, self.n, chunk_size or self.chunk_size):
            e = min(self.n, s + (chunk_size or self.chunk_size))
            S = self.dot(U, s, e)
            if item_scale is not None:
                S *= np.asarray(item_scale[s:e, None], np.float64)
            if item_bias is not None:
                S += item_bias(s, e)
            d, i = topk_stable(np.ascontiguousarray(S.T, dtype=np.float32), k, offset=s)
            D, I = (d, i) if D is None else merge_topk(D, I, d, i, k)
        return D, I

    # --- code-space cosine --------------------------------------------------------------------------
    def search_sparse(self, q_indices: np.ndarray, q_values: np.ndarray, k: int,
                      method: str = "inverted") -> tuple[np.ndarray, np.ndarray]:
        """Top-k by code-space cosine z_q . z_d / (||z_q|| ||z_d||).

        Parameters
        ----------
        q_indices, q_values : ndarray (nq, k_q)
            Query codes.
        k : int
        method : {"inverted", "brute"}
            Posting-list accumulation (touches only the query's latents) or a full O(n k) scan.
            Both rank by (-score, id).
        """
        Q = codes_to_csr(q_indices, q_values, self.n_latents).astype(np.float64)
        Q.sort_indices()
        qn = np.sqrt(np.asarray(Q.multiply(Q).sum(axis=1))).ravel()
        Q = sp.csr_array(sp.diags_array(1.0 / np.maximum(qn, 1e-300)) @ Q)
        Q.sort_indices()
        inv_norm = 1.0 / np.maximum(self.code_norm.astype(np.float64), 1e-30)
        if method == "brute":
            U = Q.T.toarray()  # (h, nq) dense query codes
            return self.topk_dense(U, k, item_scale=inv_norm)
        if method != "inverted":
            raise InvalidParameterError(f"sparse search method must be 'inverted' or 'brute'; got {method!r}.")
        ptr, ids, w = self.postings
        kk = min(k, self.n)
        D = np.empty((Q.shape[0], kk), np.float32)
        I = np.empty((Q.shape[0], kk), np.int64)
        for r in range(Q.shape[0]):
            lat, qv = Q.indices[Q.indptr[r]:Q.indptr[r + 1]], Q.data[Q.indptr[r]:Q.indptr[r + 1]]
            segs = [slice(ptr[j], ptr[j + 1]) for j in lat]
            if segs:
                item = np.concatenate([ids[g] for g in segs])
                wt = np.concatenate([w[g] * q for g, q in zip(segs, qv)])  # float64 products
                scores = np.bincount(item, weights=wt, minlength=self.n) * inv_norm
            else:
                scores = np.zeros(self.n)
            D[r], I[r] = rank_scores(scores, kk)
        return D, I
