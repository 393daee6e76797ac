"""Bit-packed storage of fixed-k sparse codes, and the byte budget that fixes k (issue 16).

A sparse code row holds k (latent index, value) slots. The ``uint16`` layout of specs/sae.md §7
spends 16 + 16 bits per slot. :class:`PackedLayout` stores the indices in one of two ways and
``value_bits`` per value field, in one uint8 row:

``fixed``  ``index_bits = ceil(log2 h)`` bits per index:

    bit 0 ............................ k*ib ................................ k*(ib+vb) ... 8*B
    | idx_0 | idx_1 | ... | idx_{k-1} | field_0 | field_1 | ... | field_{k-1} | zero padding |

``ef``     Elias-Fano over the sorted indices (Elias 1974, Fano 1971; as in Vigna, "Quasi-succinct
           indices", WSDM 2013): the low ``l`` bits of each index as they are, the high parts
           ``u_i = idx_i >> l`` as a unary bit vector with bit ``u_i + i`` set
           (``k + ((h - 1) >> l) + 1`` bits), l chosen to minimise the row. For h = 4096: 9 bits
           per index plus 64 bits per row at k = 32 (instead of 12), 8 per index plus 128 at k = 64.
           Needs non-decreasing indices (codes are sorted; padding repeats the last index).

    | low_0 .. low_{k-1} (k*l bits) | unary high parts | field_0 .. field_{k-1} | zero padding |

Bits are numbered little-endian (bit ``i`` is bit ``i % 8`` of byte ``i // 8``, as
``np.packbits(..., bitorder="little")``), so a field of at most 16 bits spans at most 3 bytes and is
read back with three byte gathers, a shift and a mask. The row takes
``B = ceil(k (ib + vb) / 8)`` bytes: this is the whole per-item payload (plus 2 B when a model
stores ``recon_norm``), and ``Codes.bytes_per_vector`` measures it from the array.

What a value *field* means (a quantiser level, fp16 bits) is decided by
:mod:`emblab.compressors.sparse_values`; this module only moves bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._errors import DataError, InvalidParameterError

VALUE_BITS = (16, 8, 4)
#: bytes per slot of the unpacked layout (uint16 index + float16 value)
UNPACKED_SLOT_BYTES = 4


def index_bits(h: int) -> int:
    """Bits per latent index: ceil(log2 h), at least 1."""
    return max(1, math.ceil(math.log2(h)))


@dataclass(frozen=True)
class PackedLayout:
    """Row layout of k packed (index, value field) slots.

    Parameters
    ----------
    h : int
        Number of latents (indices are in ``[0, h)``).
    k : int
        Slots per row.
    value_bits : int
        Bits per value field (16, 8 or 4).
    """

    h: int
    k: int
    value_bits: int
    index_coding: str = "fixed"

    @property
    def index_bits(self) -> int:
        return index_bits(self.h)

    @property
    def low_bits(self) -> int:
        """Elias-Fano: bits kept per index (the rest goes to the unary part)."""
        return ef_low_bits(self.h, self.k)

    @property
    def index_field_bits(self) -> int:
        """Bits of all k indices of a row."""
        if self.index_coding == "ef":
            return ef_bits(self.h, self.k, self.low_bits)
        return self.k * self.index_bits

    @property
    def row_bytes(self) -> int:
        """Bytes of one packed row."""
        return -(-(self.index_field_bits + self.k * self.value_bits) // 8)

    def _value_offsets(self) -> np.ndarray:
        return self.index_field_bits + np.arange(self.k, dtype=np.int64) * self.value_bits

    def pack(self, indices: np.ndarray, fields: np.ndarray) -> np.ndarray:
        """Pack (n, k) indices and (n, k) unsigned value fields into (n, row_bytes) uint8.

        Raises
        ------
        DataError
            A shape differs from (n, k) or a number does not fit its bit width.
        """
        indices = np.asarray(indices)
        fields = np.asarray(fields)
        n = indices.shape[0]
        if indices.shape != (n, self.k) or fields.shape != (n, self.k):
            raise DataError(f"packing needs indices and fields of shape (n, {self.k}); got {indices.shape} "
                            f"and {fields.shape}.")
        if n and (int(indices.min()) < 0 or int(indices.max()) >= self.h):
            raise DataError(f"latent index out of [0, {self.h}); the codes belong to another model.")
        if n and (int(fields.min()) < 0 or int(fields.max()) >= 1 << self.value_bits):
            raise DataError(f"value field out of [0, 2**{self.value_bits}).")
        if self.index_coding == "ef":
            if n and (np.diff(indices.astype(np.int64), axis=1) < 0).any():
                raise DataError("Elias-Fano packing needs indices sorted ascending within each row.")
            low = self.low_bits
            high = indices.astype(np.int64) >> low
            unary = np.zeros((n, self.index_field_bits - self.k * low), np.uint8)
            np.put_along_axis(unary, high + np.arange(self.k), 1, axis=1)
            parts = [_to_bits(indices & ((1 << low) - 1), low), unary]
        else:
            parts = [_to_bits(indices, self.index_bits)]
        bits = np.concatenate(parts + [_to_bits(fields, self.value_bits)], axis=1)
        return np.packbits(bits, axis=1, bitorder="little")

    def unpack(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`pack`: (n, row_bytes) uint8 -> indices (n, k) int64, fields (n, k) uint32."""
        packed = np.asarray(packed)
        if packed.ndim != 2 or packed.shape[1] != self.row_bytes or packed.dtype != np.uint8:
            raise DataError(f"packed sparse codes must be uint8 of shape (n, {self.row_bytes}) for h={self.h}, "
                            f"k={self.k}, value_bits={self.value_bits}; got {packed.dtype} {packed.shape}. "
                            "Re-encode with this model.")
        j = np.arange(self.k, dtype=np.int64)
        if self.index_coding == "ef":
            low = self.low_bits
            idx = read_fields(packed, j * low, low).astype(np.int64) if low else np.zeros((len(packed), self.k), np.int64)
            start, stop = self.k * low, self.index_field_bits
            b0, b1 = start // 8, -(-stop // 8)
            bits = np.unpackbits(packed[:, b0:b1], axis=1, bitorder="little")[:, start - 8 * b0:stop - 8 * b0]
            pos = np.nonzero(bits)[1].reshape(len(packed), self.k)  # k set bits per row, ascending
            if len(packed) and (bits.sum(1) != self.k).any():
                raise DataError("corrupt Elias-Fano row (wrong number of set bits); re-encode.")
            idx |= (pos - j) << low
        else:
            idx = read_fields(packed, j * self.index_bits, self.index_bits).astype(np.int64)
        return idx, read_fields(packed, self._value_offsets(), self.value_bits)


def _to_bits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, k) unsigned ints -> (n, k * width) uint8 bits, least significant bit first."""
    v = values.astype(np.uint32)
    bits = (v[:, :, None] >> np.arange(width, dtype=np.uint32)) & 1
    return bits.reshape(v.shape[0], -1).astype(np.uint8)


def read_fields(packed: np.ndarray, offsets: np.ndarray, width: int) -> np.ndarray:
    """Fields of ``width`` <= 17 bits starting at bit ``offsets`` (k,) of every row -> (n, k) uint32.

    Reads three bytes from the field's first byte on. Byte positions past the row are clipped to
    its last byte: that only happens when the field ends inside its first byte(s), and the clipped
    bytes then land above the mask.
    """
    if width > 17:
        raise InvalidParameterError(f"fields wider than 17 bits are not supported; got {width}.")
    last = packed.shape[1] - 1
    byte = offsets // 8
    word = packed[:, byte].astype(np.uint32)
    word |= packed[:, np.minimum(byte + 1, last)].astype(np.uint32) << 8
    word |= packed[:, np.minimum(byte + 2, last)].astype(np.uint32) << 16
    return (word >> (offsets % 8).astype(np.uint32)) & np.uint32((1 << width) - 1)


def ef_bits(h: int, k: int, low: int) -> int:
    """Bits of k Elias-Fano coded indices in [0, h) keeping ``low`` low bits each."""
    return k * low + k + ((h - 1) >> low) + 1


def ef_low_bits(h: int, k: int) -> int:
    """The number of low bits that minimises :func:`ef_bits` (the larger one on a tie)."""
    return min(range(index_bits(h) + 1), key=lambda low: (ef_bits(h, k, low), -low))


def code_bytes(h: int, k: int, value_bits: int, *, packed: bool, norm_bytes: int = 0,
               index_coding: str = "fixed") -> int:
    """Per-item payload of a k-slot code: packed row (or 4 B per slot unpacked) + stored norm."""
    body = PackedLayout(h, k, value_bits, index_coding).row_bytes if packed else UNPACKED_SLOT_BYTES * k
    return body + norm_bytes


def k_for_budget(budget: int, h: int, value_bits: int, *, packed: bool, norm_bytes: int = 0,
                 index_coding: str = "fixed") -> int:
    """Largest k (<= h) whose code fits ``budget`` bytes per item (sizes grow with k).

    Raises
    ------
    InvalidParameterError
        Not even one slot fits.
    """
    def size(k: int) -> int:
        return code_bytes(h, k, value_bits, packed=packed, norm_bytes=norm_bytes, index_coding=index_coding)

    lo, hi = 0, h  # size(lo) <= budget (or lo = 0), find the largest such k by bisection
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if size(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    if lo < 1:
        raise InvalidParameterError(f"The 'budget' parameter of SparseAutoencoder must leave room for one non-zero "
                                    f"({size(1)} B with this layout); got {budget}.")
    return int(lo)
