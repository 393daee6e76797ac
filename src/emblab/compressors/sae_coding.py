"""From prepared vectors to stored sparse-code fields, for the ``sae`` compressor (issue 16).

One chunk of prepared inputs x̃ (m, d) goes through three steps:

1. **support and values**: the learned top-k encoder (``pre = x̃ W_enc + b``, k largest |pre|),
   or OMP over the decoder rows (:func:`~emblab.compressors.sparse_coding.batch_omp`);
2. **value fit**: ``round`` quantises the encoder's values one by one; ``refit`` starts from the
   least-squares values on the support (OMP's own, or :func:`support_lsq` for top-k supports)
   and quantises them with the OBQ/GPTQ error feedback of
   :func:`~emblab.compressors.sparse_values.sequential_quantize`;
3. **layout order**: slots sorted by latent index; slots whose value is 0 (ReLU rows with fewer
   than k positives, or a value quantised to 0) become padding (field 0, index = the row's last
   valid index).

Returns latent indices, value fields and the float values those fields stand for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..search import topk_stable
from .sparse_values import Float16Values, LatentQuantizer, RowQuantizer, quantize_rows


def make_quantizer(value_bits: int, value_scale: str, signed: bool, codebook: np.ndarray | None = None) -> Any:
    """The value quantiser of a layout (``codebook`` is required for ``value_scale="latent"``)."""
    if value_bits == 16:
        return Float16Values()
    if value_scale == "latent":
        if codebook is None:
            raise ValueError("value_scale='latent' needs a fitted codebook")
        return LatentQuantizer(codebook)
    return RowQuantizer(value_bits, signed=signed)


def select_support(xt: np.ndarray, model: Any, k: int, encoder: str, *, need_gram: bool = False,
                   picks: np.ndarray | None = None):
    """Support and values of each row: (indices (m, k) int64, values (m, k) float64, gram or None).

    ``picks``: OMP atoms of these rows in pick order (at least k columns), e.g. cached from an
    earlier encode of the same rows at a larger k; the first k are the k-atom OMP support.
    """
    if encoder == "omp":
        from .sparse_coding import omp_path, support_lsq

        idx = omp_path(xt, model.W_dec_, k) if picks is None else np.asarray(picks[:, :k], np.int64)
        val, gram = support_lsq(xt, model.W_dec_, idx)
        return idx, val, (gram if need_gram else None)
    pre = xt @ model.W_enc_ + model.b_enc_
    key = np.abs(pre) if model.activation == "topk" else pre
    _, idx = topk_stable(key, k)  # ties by lower latent index
    val = np.take_along_axis(pre, idx, axis=1).astype(np.float64)
    if model.activation == "relu_topk":
        val = np.maximum(val, 0)
    return idx.astype(np.int64), val, None


def support_values(xt: np.ndarray, model: Any, k: int, encoder: str, value_fit: str,
                   picks: np.ndarray | None = None):
    """Support and the values to quantise: (indices (m, k), values (m, k) float64, gram or None).

    ``refit``: least-squares values on the support (OMP's own, or :func:`support_lsq` for top-k
    supports) and the supports' Gram matrices; ``round``: the encoder's values.
    """
    refit = value_fit == "refit"
    idx, val, gram = select_support(xt, model, k, encoder, need_gram=refit, picks=picks)
    if refit:
        if gram is None:  # top-k support: least-squares values on it
            from .sparse_coding import support_lsq

            val, gram = support_lsq(xt, model.W_dec_, idx)
        if model.activation == "relu_topk":
            val = np.maximum(val, 0)
    return idx, val, gram


def code_chunk(xt: np.ndarray, model: Any, k: int, encoder: str, value_fit: str, quantizer: Any,
               picks: np.ndarray | None = None):
    """Code one chunk of prepared rows (see the module docstring).

    Returns
    -------
    indices : ndarray (m, k) int64, ascending per row, padding repeats the last valid index
    fields : ndarray (m, k) uint32, 0 for padding
    values : ndarray (m, k) float32, the dequantised value of every slot (0 for padding)
    """
    idx, val, gram = support_values(xt, model, k, encoder, value_fit, picks)
    fields, _ = quantize_rows(idx, val, quantizer, gram=gram)
    values = quantizer.dequantize(idx, fields).astype(np.float32)
    fields = np.where(values == 0, 0, fields).astype(np.uint32)  # e.g. fp16 -0.0: padding too
    values[fields == 0] = 0
    return sort_and_pad(idx, fields, values, model.h)


def sort_and_pad(idx: np.ndarray, fields: np.ndarray, values: np.ndarray, h: int):
    """Sort slots by (padding last, index); padding repeats the row's last valid index."""
    valid = fields != 0
    order = np.argsort(idx + (~valid) * (h + 1), axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, axis=1)
    fields = np.take_along_axis(fields, order, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    nvalid = valid.sum(1)
    k = idx.shape[1]
    if (nvalid < k).any():
        last = np.where(nvalid > 0, idx[np.arange(len(idx)), np.maximum(nvalid - 1, 0)], 0)
        pad = np.arange(k)[None, :] >= nvalid[:, None]
        idx = np.where(pad, last[:, None], idx)
        fields = np.where(pad, 0, fields).astype(np.uint32)
        values = np.where(pad, 0, values).astype(np.float32)
    return idx, fields, values
