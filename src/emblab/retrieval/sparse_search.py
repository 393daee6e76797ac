"""Search over fixed-k sparse codes without decoding the catalogue (specs/sae.md §6).

Catalogue codes are ``indices`` (n, k) uint16 + ``values`` (n, k) float16 (padding slots have
value 0). :class:`SparseIndex` turns them once into

* a CSR matrix ``C`` (n, h) (one row per item), used for *brute force* and for the
  reconstructed-dense scores ``C @ u`` (O(k) multiply-adds per item);
* an inverted index ``C^T`` (h, n) in CSR form (one posting list per latent), built lazily, used for
  *sparse* scoring: a query with k_q active latents only touches their posting lists.

Scores
------
``sparse``          s(q, d) = z_q . z_d / (||z_q|| ||z_d||)       (code-space cosine)
``reconstructed``   s(q, d) = q . x̂_d / (||q|| ||x̂_d||), with q . x̂_d = z_d . u, u = W_dec q (h,)

Ranking is by (-score, item id), as in :func:`emblab.search.topk_stable`. For the sparse inverted
path the items a query does not touch score exactly 0; they are ranked by id after the positive
scores and before the negative ones, exactly as brute force ranks them.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._errors import DataError, InvalidParameterError
from ..search import merge_topk, topk_stable

__all__ = ["SparseIndex", "codes_to_csr", "latent_usage", "sparse_topk_rows"]


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
    dict with ``dead_fraction`` (share of latents used by no item), ``effective_latents``
    (exp of the entropy of the usage distribution), ``effective_fraction`` (that / h),
    ``top1pct_share`` (share of all non-zeros taken by the 1% most used latents) and
    ``max_over_mean`` (usage of the busiest latent / mean usage).
    """
    idx = np.asarray(indices)[np.asarray(values) != 0]
    counts = np.bincount(idx.ravel().astype(np.int64), minlength=n_latents).astype(np.float64)
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


def sparse_topk_rows(S: sp.csr_array, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k per row of a sparse score matrix whose missing entries are 0.

    Parameters
    ----------
    S : csr_array of shape (nq, n)
        Scores of touched items; untouched items score 0.
    n, k : int

    Returns
    -------
    D : ndarray (nq, min(k, n)) float32
    I : ndarray (nq, min(k, n)) int64, ranked by (-score, id)
    """
    nq = S.shape[0]
    k = min(k, n)
    D = np.empty((nq, k), np.float32)
    I = np.empty((nq, k), np.int64)
    indptr, cols, vals = S.indptr, S.indices, S.data
    for r in range(nq):
        c = cols[indptr[r]:indptr[r + 1]].astype(np.int64)
        v = vals[indptr[r]:indptr[r + 1]].astype(np.float32)
        pos = v > 0
        cp, vp = c[pos], v[pos]
        if len(cp) >= k:
            d, i = topk_stable(vp[None, :], k)
            D[r], I[r] = d[0], cp[i[0]]
            continue
        o = np.lexsort((cp, -vp))
        got_i, got_d = [cp[o]], [vp[o]]
        need = k - len(cp)
        # zero-score items: every id whose score is not positive or negative, by ascending id
        nonzero_ids = np.sort(c[v != 0])
        span = need + len(nonzero_ids)
        zeros = np.setdiff1d(np.arange(min(span, n)), nonzero_ids, assume_unique=True)[:need]
        got_i.append(zeros)
        got_d.append(np.zeros(len(zeros), np.float32))
        need -= len(zeros)
        if need > 0:  # only negatives left (tiny catalogues)
            neg = v < 0
            cn, vn = c[neg], v[neg]
            o = np.lexsort((cn, -vn))[:need]
            got_i.append(cn[o])
            got_d.append(vn[o])
        I[r] = np.concatenate(got_i)[:k]
        D[r] = np.concatenate(got_d)[:k]
    return D, I


class SparseIndex:
    """Catalogue of fixed-k sparse codes prepared for search.

    Parameters
    ----------
    indices, values : ndarray of shape (n, k)
        Codes (uint16 indices, float16/32 values; zero values are padding).
    n_latents : int
        h.
    """

    def __init__(self, indices: np.ndarray, values: np.ndarray, n_latents: int):
        self.n_latents = int(n_latents)
        self.indices = np.asarray(indices)
        self.values = np.asarray(values, dtype=np.float32)
        self.C = codes_to_csr(self.indices, self.values, self.n_latents)
        self.n = self.C.shape[0]
        self.code_norm = np.sqrt((self.values.astype(np.float64) ** 2).sum(1)).astype(np.float32)
        self._inv = None
        self._inv_normed = None

    def __len__(self) -> int:
        return self.n

    @property
    def inverted(self) -> sp.csr_array:
        """Posting lists (h, n): row j lists the items using latent j, values divided by ||z_d||."""
        if self._inv is None:
            inv_norm = 1.0 / np.maximum(self.code_norm, 1e-30)
            Cn = sp.csr_array((self.C.data * np.repeat(inv_norm, np.diff(self.C.indptr)), self.C.indices,
                               self.C.indptr), shape=self.C.shape)
            self._inv = Cn.T.tocsr()
            self._inv.sort_indices()
        return self._inv

    # --- reconstructed-dense and brute-force scores ------------------------------------------------
    def dot(self, U: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
        """``z_d . u`` for items ``start:stop`` and every column of ``U`` (h, nq) -> (m, nq) float32."""
        U = np.ascontiguousarray(U, dtype=np.float32)
        if U.ndim != 2 or U.shape[0] != self.n_latents:
            raise DataError(f"U must have shape (n_latents={self.n_latents}, nq); got {U.shape}.")
        C = self.C if (start == 0 and stop is None) else self.C[start:stop]
        return np.asarray(C @ U, dtype=np.float32)

    def topk_dense(self, U: np.ndarray, k: int, *, item_scale: np.ndarray | None = None,
                   item_bias: np.ndarray | None = None, chunk_size: int = 262144):
        """Top-k of ``(z_d . u_q) * item_scale[d] + item_bias[d, q]`` over every item (brute force).

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
        for s in range(0, self.n, chunk_size):
            e = min(self.n, s + chunk_size)
            S = self.dot(U, s, e)
            if item_scale is not None:
                S *= item_scale[s:e, None]
            if item_bias is not None:
                S += item_bias(s, e)
            d, i = topk_stable(np.ascontiguousarray(S.T), k, offset=s)
            D, I = (d, i) if D is None else merge_topk(D, I, d, i, k)
        return D, I

    # --- code-space cosine --------------------------------------------------------------------------
    def search_sparse(self, q_indices: np.ndarray, q_values: np.ndarray, k: int,
                      method: str = "inverted", batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by code-space cosine z_q . z_d / (||z_q|| ||z_d||).

        Parameters
        ----------
        q_indices, q_values : ndarray (nq, k_q)
            Query codes.
        k : int
        method : {"inverted", "brute"}
            Posting-list accumulation (touches only the query's latents) or a full O(n k) scan.
            Both give identical rankings.
        batch : int
            Queries per sparse product (bounds memory).
        """
        Q = codes_to_csr(q_indices, q_values, self.n_latents)
        qn = np.sqrt(np.asarray(Q.multiply(Q).sum(axis=1))).ravel()
        Q = sp.csr_array(sp.diags_array(1.0 / np.maximum(qn, 1e-30)) @ Q)
        if method == "brute":
            U = Q.T.toarray()  # (h, nq) dense query codes
            return self.topk_dense(U, k, item_scale=1.0 / np.maximum(self.code_norm, 1e-30))
        if method != "inverted":
            raise InvalidParameterError(f"sparse search method must be 'inverted' or 'brute'; got {method!r}.")
        inv = self.inverted
        Ds, Is = [], []
        for s in range(0, Q.shape[0], batch):
            S = sp.csr_array(Q[s:s + batch] @ inv)
            d, i = sparse_topk_rows(S, self.n, k)
            Ds.append(d)
            Is.append(i)
        return np.concatenate(Ds), np.concatenate(Is)
