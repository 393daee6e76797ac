"""Decoding and search of ``sae`` codes, packed or not, chunk by chunk (specs/sae.md §6, issue 16).

:class:`SparseCodeSearch` is the half of :class:`~emblab.compressors.sae.SparseAutoencoder` that reads
codes: :meth:`~SparseCodeSearch.unpack` turns (a chunk of) codes into latent indices and float values,
and every search mode goes through a :class:`~emblab.sparse_search.SparseIndex` whose row
reader unpacks ``search_chunk`` rows at a time, so a packed catalogue is never unpacked whole. Per-item
norms (and, for the sparse mode, posting lists) are cached for the last catalogue searched.

It expects the host class to provide ``h``, ``center``, ``W_dec_``, ``mu_``, ``layout()``,
``_quantizer()``, ``_prepare()``, ``encode()``, ``encode_query()``, ``sparse_search`` and
``fingerprint``.
"""

from __future__ import annotations

import numpy as np

from .._validation import l2_normalize
from ..codes import Codes


class SparseCodeSearch:
    """Decode and search fixed-k sparse codes (mixin of the SAE compressor)."""

    #: rows unpacked at a time by decode and search (memory ~ search_chunk x k x 12 B)
    search_chunk = 65536

    def unpack(self, codes: Codes) -> tuple[np.ndarray, np.ndarray]:
        """Latent indices (n, k) int64 and values (n, k) float32 of codes (packed or not).

        Call it on a chunk (``codes[s:e]``) to keep memory bounded; padding slots have value 0.
        """
        a = codes.arrays
        if "packed" not in a:
            return (np.ascontiguousarray(a["indices"], dtype=np.int64),
                    np.ascontiguousarray(a["values"], dtype=np.float32))
        idx, fields = self.layout().unpack(np.asarray(a["packed"]))
        val = np.ascontiguousarray(self._quantizer().dequantize(idx, fields), dtype=np.float32)
        val[fields == 0] = 0
        return np.ascontiguousarray(idx), val

    # --- decoding -------------------------------------------------------------------------------
    def _raw_decode(self, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
        from ..sparse_search import codes_to_csr

        return np.asarray(codes_to_csr(idx, val, self.h) @ self.W_dec_, dtype=np.float32)

    def _to_sphere(self, xh: np.ndarray) -> np.ndarray:
        """Map raw reconstructions (n, d) to unit vectors in the input space."""
        e = l2_normalize(xh)
        if not self.center:
            return e
        m = e @ self.mu_
        t = -m + np.sqrt(np.maximum(m * m + 1.0 - float(self.mu_ @ self.mu_), 0.0))
        return (self.mu_[None, :] + t[:, None] * e).astype(np.float32)

    def _decode(self, codes: Codes) -> np.ndarray:
        out = np.empty((len(codes), self.W_dec_.shape[1]), np.float32)
        for s, chunk in codes.iter_chunks(self.search_chunk):
            out[s:s + len(chunk)] = self._to_sphere(self._raw_decode(*self.unpack(chunk)))
        return out

    def _recon_norm(self, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
        """||x̂|| per item (n,) float32 without keeping decoded rows: sqrt(z^T G z) over the k actives."""
        n, k = idx.shape
        out = np.empty(n, np.float32)
        if self.h <= 8192:
            G = getattr(self, "_gram", None)
            if G is None:
                G = self._gram = (self.W_dec_ @ self.W_dec_.T).astype(np.float32)
            step = max(1, 4_000_000 // max(k * k, 1))
            for s in range(0, n, step):
                I = idx[s:s + step].astype(np.int64)
                V = val[s:s + step].astype(np.float32)
                Gs = G[I[:, :, None], I[:, None, :]]
                out[s:s + step] = np.sqrt(np.maximum(np.einsum("ni,nij,nj->n", V, Gs, V), 0))
        else:  # G would be h^2 floats; reconstruct chunk by chunk and keep only the norm
            for s in range(0, n, 65536):
                out[s:s + 65536] = np.linalg.norm(self._raw_decode(idx[s:s + 65536], val[s:s + 65536]), axis=1)
        return out

    # --- search ---------------------------------------------------------------------------------
    def sparse_index(self, codes: Codes):
        """:class:`~emblab.sparse_search.SparseIndex` reading ``codes`` chunk by chunk, with
        per-item norms (cached for the last catalogue searched)."""
        from ..sparse_search import SparseIndex

        a = codes.arrays
        key = (tuple(id(v) for v in a.values()), len(codes), self.fingerprint)
        cached = getattr(self, "_index_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        index = SparseIndex(reader=lambda s, e: self.unpack(codes[s:e]), n=len(codes), n_latents=self.h,
                            chunk_size=self.search_chunk)
        rn = (a["recon_norm"].astype(np.float32) if "recon_norm" in a
              else index.map_chunks(self._recon_norm))
        index.recon_norm = rn
        if self.center:  # t_d of _to_sphere, from mu . e_d = z_d . (W_dec mu) / ||x̂_d||
            wmu = (self.W_dec_ @ self.mu_)[:, None]
            m = index.map_chunks(lambda i, v: (v * wmu[i, 0]).sum(1)) / np.maximum(rn, 1e-30)
            index.sphere_t = (-m + np.sqrt(np.maximum(m * m + 1.0 - float(self.mu_ @ self.mu_), 0))).astype(np.float32)
        self._index_cache = (key, index)
        return index

    def _search(self, xq: np.ndarray, codes: Codes, k: int, mode: str):
        index = self.sparse_index(codes)
        if mode == "sparse":
            qc = self.encode_query(xq)
            return index.search_sparse(qc.arrays["indices"], qc.arrays["values"], k, method=self.sparse_search)
        inv_rn = 1.0 / np.maximum(index.recon_norm, 1e-30)
        if mode == "reconstructed" or (mode == "asymmetric" and not self.center):
            q = self._prepare(xq)  # normalize(q - mu) when centred: cos(q - mu, x̂)
            return index.topk_dense(self.W_dec_ @ q.T, k, item_scale=inv_rn)
        v = l2_normalize(xq) if mode == "asymmetric" else self._decode(self.encode(xq))
        if not self.center:
            return index.topk_dense(self.W_dec_ @ v.T, k, item_scale=inv_rn)
        bias = (v @ self.mu_)[None, :].astype(np.float32)  # cos(v, mu + t e_d) = v.mu + t_d v.e_d
        return index.topk_dense(self.W_dec_ @ v.T, k, item_scale=index.sphere_t * inv_rn,
                                item_bias=lambda s, e: bias)

    def latent_stats(self, codes: Codes) -> dict[str, float]:
        """Dead-latent fraction and usage skew of ``codes`` (see :func:`latent_usage`)."""
        from ..sparse_search import usage_from_counts

        self.check_codes(codes)
        counts = np.zeros(self.h, np.int64)
        for _, chunk in codes.iter_chunks(self.search_chunk):
            i, v = self.unpack(chunk)
            counts += np.bincount(i[v != 0], minlength=self.h)
        return usage_from_counts(counts)

