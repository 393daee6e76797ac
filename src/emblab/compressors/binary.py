"""Binary (sign-bit) peer with Hamming search and optional rescoring (baselines_and_eval.md s.1).

Spec: ``binary[:rescore=r,rescore_source=none|int8]`` (``none`` is the spec keyword for Python
``None``, the default).

Each coordinate becomes one bit, ``x_j > 0`` -> 1, packed with :func:`numpy.packbits` (layout
``bits``, ceil(d/8) bytes/vector). ``decode`` gives the unit ±1 vector ``(2b - 1) / sqrt(d)``.

Search modes
------------
``symmetric`` / ``hamming``
    Hamming distance between the query's bits and the items' bits (XOR + popcount), reported as
    the similarity ``1 - 2 H / d`` (the cosine of the two ±1 vectors). Identical rankings; ties by
    item index.
``asymmetric``
    ``rescore=0``: float query times the ±1 code, over the whole catalogue.
    ``rescore=r > 0``: the ``r * k`` best items by Hamming distance form a shortlist, which is
    re-ranked by the float query times the ±1 code (``rescore_source=None``, no extra bytes) or
    times a stored int8 copy of the vector (``rescore_source="int8"``). The int8 copy adds d
    bytes/vector; it is stored in the codes (array ``int8``) and counted in ``bytes_per_vector``.
    Its per-dimension range is calibrated on the fit set (see :mod:`.scalar_quant`). The
    shortlist size is ``r * k``, so the top 10 of a ``k=100`` search can differ from a ``k=10``
    search: evaluate Recall@10 with ``k=10``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InvalidParameterError
from .._validation import Interval, Options, l2_normalize
from ..base import BaseCompressor
from ..codes import Codes
from ..registry import register
from ..search import chunked_topk, merge_topk, topk_stable
from .scalar_quant import calibrate, dequantize, quantize

if hasattr(np, "bitwise_count"):  # numpy >= 2
    _popcount = np.bitwise_count
else:  # pragma: no cover - numpy 1.x
    _POP8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def _popcount(a: np.ndarray) -> np.ndarray:
        return _POP8[a.view(np.uint8)].reshape(*a.shape, a.itemsize).sum(axis=-1, dtype=np.uint8)


def pack_signs(X: np.ndarray) -> np.ndarray:
    """Packed sign bits (n, ceil(d/8)) uint8 of ``X`` (n, d): bit j is ``X[:, j] > 0``."""
    return np.packbits(X > 0, axis=1)


def unpack_signs(bits: np.ndarray, d: int) -> np.ndarray:
    """±1 float32 matrix (n, d) from packed bits (n, ceil(d/8))."""
    return np.unpackbits(bits, axis=1, count=d).astype(np.float32) * 2.0 - 1.0


def _words(bits: np.ndarray) -> np.ndarray:
    """View packed bits (n, B) as uint64 words (n, ceil(B/8)), zero-padded (pads add 0 bits)."""
    n, B = bits.shape
    W = -(-B // 8)
    if B % 8:
        bits = np.concatenate([bits, np.zeros((n, W * 8 - B), np.uint8)], axis=1)
    return np.ascontiguousarray(bits).view(np.uint64)


def hamming_distances(a_bits: np.ndarray, b_bits: np.ndarray) -> np.ndarray:
    """Hamming distances (na, nb) int32 between packed bit rows ``a`` (na, B) and ``b`` (nb, B)."""
    a, b = _words(a_bits), _words(b_bits)
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.int32)
    # bound the (rows, nb, words) temporary to ~4M words (32 MB)
    step = max(1, (1 << 22) // max(1, b.shape[0] * b.shape[1]))
    for s in range(0, a.shape[0], step):
        x = np.bitwise_xor(a[s:s + step, None, :], b[None, :, :])
        out[s:s + step] = _popcount(x).sum(axis=2, dtype=np.int32)
    return out


@register("binary")
class Binary(BaseCompressor):
    """Sign-bit codes: ceil(d/8) bytes/vector (+ d with an int8 rescoring copy).

    Parameters
    ----------
    rescore : int
        0 (default): no rescoring. r > 0: asymmetric search re-ranks the r*k best Hamming
        candidates with the float query.
    rescore_source : {None, "int8"}
        What the shortlist is re-ranked against: the ±1 code itself (None, no extra bytes) or a
        stored int8 copy of each vector ("int8", + d bytes/vector). "int8" needs rescore > 0.

    Attributes
    ----------
    lo_, hi_ : ndarray of shape (d,)
        int8 calibration range (``rescore_source="int8"`` only).

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.random.default_rng(0).normal(size=(100, 64)).astype("float32")
    >>> m = emblab.build("binary").fit(X)
    >>> m.encode(X).data.shape, m.bytes_per_vector
    ((100, 8), 8.0)
    """

    _parameter_constraints = {
        "rescore": [Interval(int, 0, None)],
        "rescore_source": [None, Options("int8")],
    }
    search_modes = ("asymmetric", "symmetric", "hamming")
    codes_layout = "bits"
    test_spec = "binary:rescore=2,rescore_source=int8"

    def __init__(self, rescore: int = 0, rescore_source: str | None = None):
        self.rescore = rescore
        self.rescore_source = rescore_source

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.rescore_source == "int8" and self.rescore == 0:
            raise InvalidParameterError(
                "The 'rescore_source' parameter of Binary is 'int8' but rescore=0: the int8 copy is "
                "only used for rescoring; set rescore >= 1 or rescore_source=none."
            )

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        if self.rescore_source == "int8":
            self.lo_, self.hi_ = calibrate(X, "minmax")

    def _encode(self, X: np.ndarray) -> Codes:
        arrays = {"codes": pack_signs(X)}
        if self.rescore_source == "int8":
            arrays["int8"] = quantize(X, self.lo_, self.hi_)
        return Codes(arrays, "bits")

    def _decode(self, codes: Codes) -> np.ndarray:
        d = self.n_features_in_
        return unpack_signs(codes.data, d) / np.float32(np.sqrt(d))

    def _bytes_per_vector(self) -> float:
        d = self.n_features_in_
        return float(-(-d // 8) + (d if self.rescore_source == "int8" else 0))

    def _state_tensors(self) -> dict[str, np.ndarray]:
        if self.rescore_source == "int8":
            return {"lo": self.lo_, "hi": self.hi_}
        return {}

    def _set_state(self, tensors: dict[str, np.ndarray], fitted: dict[str, Any]) -> None:
        if self.rescore_source == "int8":
            self.lo_, self.hi_ = tensors["lo"], tensors["hi"]

    # --- search ------------------------------------------------------------------------------
    def _hamming_topk(self, qbits: np.ndarray, codes: Codes, k: int, chunk: int = 16384):
        """Stable top-k by smallest Hamming distance; D = 1 - 2H/d (cosine of ±1 vectors).

        H is computed as ``(d - s_q . s_x) / 2`` with ±1 float32 vectors: every partial sum is an
        integer of magnitude <= d < 2**24, so the BLAS product is exact (equal to XOR + popcount,
        see :func:`hamming_distances`, which the tests check) and several times faster in numpy.
        """
        d = self.n_features_in_
        Sq = unpack_signs(qbits, d)
        D = I = None
        for start, part in codes.iter_chunks(chunk):
            G = Sq @ unpack_signs(part.data, d).T
            H = np.rint((d - G) * 0.5).astype(np.int32)
            # negate so topk_stable's (-score, index) order = (H, index); int32 is exact
            dd, ii = topk_stable(-H, k, offset=start)
            D, I = (dd, ii) if D is None else merge_topk(D, I, dd, ii, k)
        return (1.0 + 2.0 * D / d).astype(np.float32), I

    def _rescore_vectors(self, codes: Codes, idx: np.ndarray) -> np.ndarray:
        """Unit vectors (len(idx), d) used to re-rank a shortlist."""
        if self.rescore_source == "int8":
            V = dequantize(codes.arrays["int8"][idx], self.lo_, self.hi_)
        else:
            V = unpack_signs(codes.data[idx], self.n_features_in_)
        return l2_normalize(V)

    def _search(self, xq: np.ndarray, codes: Codes, k: int, mode: str):
        if mode in ("symmetric", "hamming"):
            return self._hamming_topk(pack_signs(xq), codes, k)
        q = l2_normalize(xq)
        if self.rescore == 0:
            scale = np.float32(1.0 / np.sqrt(self.n_features_in_))
            return chunked_topk(q, lambda s, e: unpack_signs(codes.data[s:e], self.n_features_in_) * scale,
                            len(codes), k, 16384)
        k_eff = min(k, len(codes))
        _, cand = self._hamming_topk(pack_signs(xq), codes, min(len(codes), self.rescore * k))
        D = np.empty((len(q), k_eff), np.float32)
        I = np.empty((len(q), k_eff), np.int64)
        for r in range(len(q)):
            # candidates re-ranked by the float query; ties by item index (cand sorted below)
            c = np.sort(cand[r])
            s = self._rescore_vectors(codes, c) @ q[r]
            dr, ir = topk_stable(s[None, :], k_eff)
            D[r], I[r] = dr[0], c[ir[0]]
        return D, I
