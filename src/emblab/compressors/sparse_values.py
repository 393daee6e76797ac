"""Value quantisers for sparse codes, and the quantisation-aware coefficient refit (issue 16).

A sparse code stores, per non-zero, a latent index and a value. Here a value becomes an unsigned
*field* of ``bits`` bits; **field 0 always means "value 0"**, which marks padding slots (ReLU
rows with fewer than k non-zeros) in every layout.

Quantisers
----------
:class:`Float16Values`   ``bits = 16``: the IEEE half-precision bits of the value.
:class:`RowQuantizer`    uniform levels ``-L..L`` (``L = 2**(bits-1) - 1``; ``0..2**bits - 1`` for
                         non-negative codes) scaled to the row's largest magnitude. The scale is
                         *not stored*: every SAE score divides by a norm of the code or of its
                         reconstruction (specs/sae.md §6), so a per-row factor cancels; values
                         decode as ``level / L``. This saves the 2 B of a per-vector fp16 scale.
:class:`LatentQuantizer` a learned codebook per latent: ``2**bits - 1`` levels from a 1-D
                         Lloyd-Max (k-means) fit of that latent's values on the training codes,
                         plus the reserved field 0 = 0. Latents with no training values share a
                         codebook fitted on all values.

Quantisation-aware refit (:func:`sequential_quantize`)
------------------------------------------------------
Rounding every value on its own ignores that the atoms of a code are not orthogonal. Given the
support S of a code, its least-squares values v* for the target x̃ and the Gram matrix
``G = D_S D_S^T``, ``||x̃ - v D_S||² = (v - v*)^T G (v - v*) + const``. Values are quantised one at a
time, largest |v*| first, and after each one the not-yet-quantised values are re-solved by least
squares given the ones already fixed. This is the OBQ/GPTQ update (Frantar et al., ICLR 2023,
Algorithm 1) applied to one k x k problem per item: with ``U`` the upper Cholesky factor of
``G^{-1}``, fixing coordinate j with error ``e = (w_j - q_j) / U_jj`` updates ``w_{j:} -= e U_{j, j:}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_RIDGE = 1e-5  # keeps G^{-1} and its Cholesky factor finite for nearly parallel atoms
_LLOYD_ITERS = 15


class Float16Values:
    """Values stored as float16 bits (16-bit fields)."""

    bits = 16

    def start(self, values: np.ndarray) -> Any:
        return None

    def nearest(self, ctx: Any, latents: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = v.astype(np.float16)
        return h.astype(np.float64), h.view(np.uint16).astype(np.uint32)

    def dequantize(self, latents: np.ndarray, fields: np.ndarray) -> np.ndarray:
        return fields.astype(np.uint16).view(np.float16).astype(np.float32)


class RowQuantizer:
    """Uniform levels scaled to each row's largest |value| (scale implicit, see module docstring).

    Parameters
    ----------
    bits : int
        Field width (8 or 4).
    signed : bool
        Levels ``-L..L`` stored in two's complement (signed codes), else ``0..2**bits - 1``.
    """

    def __init__(self, bits: int, signed: bool = True):
        self.bits, self.signed = bits, signed
        self.L = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def start(self, values: np.ndarray) -> np.ndarray:
        """Per-row step ``max|v| / L`` (m,) (1 for all-zero rows)."""
        top = np.abs(values).max(axis=1)
        return np.where(top > 0, top / self.L, 1.0)

    def nearest(self, step: np.ndarray, latents: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = -self.L if self.signed else 0
        level = np.clip(np.rint(v / step), lo, self.L)
        field = np.where(level < 0, level + (1 << self.bits), level).astype(np.uint32)
        return level * step, field

    def dequantize(self, latents: np.ndarray, fields: np.ndarray) -> np.ndarray:
        f = fields.astype(np.int64)
        if self.signed:
            f = np.where(f >= 1 << (self.bits - 1), f - (1 << self.bits), f)
        return (f / self.L).astype(np.float32)


class LatentQuantizer:
    """Per-latent learned codebooks.

    Parameters
    ----------
    codebook : ndarray of shape (h, 2**bits)
        Column 0 is 0 (the reserved field); columns 1.. are each latent's levels, ascending.
    """

    def __init__(self, codebook: np.ndarray):
        self.codebook = np.asarray(codebook, np.float32)
        h, n_fields = self.codebook.shape
        self.bits = int(np.log2(n_fields))
        levels = self.codebook[:, 1:].astype(np.float64)
        # midpoints between neighbouring levels of every latent, shifted by latent * width so that
        # one global searchsorted assigns values of different latents to their own codebooks
        self._width = 2.0 * float(np.abs(levels).max(initial=0.0)) + 1.0
        self._offset = self._width * np.arange(h)
        self._mids = ((levels[:, 1:] + levels[:, :-1]) / 2 + self._offset[:, None]).ravel()

    def start(self, values: np.ndarray) -> Any:
        return None

    def nearest(self, ctx: Any, latents: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lat = latents.astype(np.int64)
        n_mid = self.codebook.shape[1] - 2
        clipped = np.clip(v, -self._width / 2, self._width / 2)
        pos = np.searchsorted(self._mids, clipped + self._offset[lat]) - lat * n_mid
        field = (np.clip(pos, 0, n_mid) + 1).astype(np.uint32)
        return self.codebook[lat, field].astype(np.float64), field

    def dequantize(self, latents: np.ndarray, fields: np.ndarray) -> np.ndarray:
        return self.codebook[latents.astype(np.int64), fields.astype(np.int64)]


def fit_latent_codebook(indices: np.ndarray, values: np.ndarray, h: int, bits: int) -> np.ndarray:
    """Lloyd-Max codebooks (h, 2**bits) from training codes (column 0 = reserved 0).

    Parameters
    ----------
    indices, values : ndarray of shape (n, k)
        Training codes; zero values (padding) are ignored.
    h : int
    bits : int

    Returns
    -------
    ndarray (h, 2**bits) float32, each row's columns 1.. ascending.
    """
    n_lv = (1 << bits) - 1
    keep = values != 0
    lat = np.asarray(indices)[keep].astype(np.int64)
    v = np.asarray(values, np.float64)[keep]
    out = np.zeros((h, n_lv + 1), np.float32)
    if v.size == 0:
        return out
    order = np.lexsort((v, lat))
    lat, v = lat[order], v[order]
    counts = np.bincount(lat, minlength=h)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    q = (np.arange(n_lv) + 0.5) / n_lv
    glob = np.quantile(v, q)
    C = np.where(counts[:, None] > 0, v[np.minimum(starts[:, None] + (q[None, :] * counts[:, None]).astype(np.int64),
                                                   len(v) - 1)], glob[None, :])
    width = 2.0 * float(np.abs(v).max()) + 1.0
    offset = width * np.arange(h)
    for _ in range(_LLOYD_ITERS):
        mids = ((C[:, 1:] + C[:, :-1]) / 2 + offset[:, None]).ravel()
        pos = np.searchsorted(mids, v + offset[lat]) - lat * (n_lv - 1)
        cell = lat * n_lv + pos
        sums = np.bincount(cell, weights=v, minlength=h * n_lv).reshape(h, n_lv)
        cnt = np.bincount(cell, minlength=h * n_lv).reshape(h, n_lv)
        C = np.sort(np.where(cnt > 0, sums / np.maximum(cnt, 1), C), axis=1)
    out[:, 1:] = C
    return out


def quantize_rows(indices: np.ndarray, values: np.ndarray, quantizer: Any, *,
                  gram: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Quantise the values of (m, k) codes: independent rounding, or the refit when ``gram`` is given.

    Parameters
    ----------
    indices : ndarray (m, k)
        Latent of each slot.
    values : ndarray (m, k)
        Values to quantise: the encoder's (rounding) or the least-squares values v* on the support
        (refit).
    quantizer : Float16Values, RowQuantizer or LatentQuantizer
    gram : ndarray (m, k, k), optional
        Gram matrices of the supports (same slot order); switches on :func:`sequential_quantize`.

    Returns
    -------
    fields : ndarray (m, k) uint32
    quantised : ndarray (m, k) float64, the values the fields stand for (before dequantisation
        scaling of :class:`RowQuantizer`)
    """
    values = np.asarray(values, np.float64)
    ctx = quantizer.start(values)
    if gram is None or isinstance(quantizer, Float16Values):
        q, f = quantizer.nearest(ctx if ctx is None else ctx[:, None], indices, values)
        return f.astype(np.uint32), q
    return sequential_quantize(indices, values, gram, quantizer, ctx)


def sequential_quantize(indices: np.ndarray, values: np.ndarray, gram: np.ndarray, quantizer: Any,
                        ctx: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """OBQ/GPTQ-style quantisation of least-squares values v* (m, k) with Gram matrices (m, k, k).

    Coordinates are fixed largest |v*| first; after each, the remaining ones are re-solved by
    least squares given those already fixed (see the module docstring).

    Returns
    -------
    fields (m, k) uint32, quantised values (m, k) float64, in the input slot order.
    """
    m, k = values.shape
    rows = np.arange(m)[:, None]
    order = np.argsort(-np.abs(values), axis=1, kind="stable")
    w = np.take_along_axis(values, order, axis=1).copy()
    lat = np.take_along_axis(np.asarray(indices), order, axis=1)
    G = np.asarray(gram, np.float64)[rows[:, :, None], order[:, :, None], order[:, None, :]]
    G = G + _RIDGE * np.eye(k)
    U = np.swapaxes(np.linalg.cholesky(np.linalg.inv(G)), 1, 2)  # G^{-1} = U^T U, U upper
    q = np.empty((m, k))
    f = np.empty((m, k), np.uint32)
    for j in range(k):
        q[:, j], f[:, j] = quantizer.nearest(ctx, lat[:, j], w[:, j])
        err = (w[:, j] - q[:, j]) / U[:, j, j]
        w[:, j:] -= err[:, None] * U[:, j, j:]
    inv = np.argsort(order, axis=1)
    return np.take_along_axis(f, inv, axis=1), np.take_along_axis(q, inv, axis=1)
