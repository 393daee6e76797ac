"""Encoded collections: the per-item payload a compressor produces (design.md sections 3 and 5).

A :class:`Codes` object holds *row-aligned* arrays (leading dimension ``n``), so its byte cost per
item is measured, not declared: ``bytes_per_vector = sum(a.nbytes) / n``.

Layouts
-------
``float``    ``codes``: (n, p) float16/float32 (identity, float16, PCA, truncation)
``uint8``    ``codes``: (n, m) uint8 scalar or product-quantisation codes
``bits``     ``codes``: (n, ceil(d/8)) uint8 packed sign bits
``sparse``   ``indices``: (n, k) uint16/int32 sorted per row, ``values``: (n, k) float16/float32
             (padding slots carry value 0), optional ``recon_norm``: (n,) float16

Files are ``.npz`` written atomically, with a JSON header stored as a uint8 array (no pickle).
A codes file records the fingerprint of the model that produced it; decoding or searching it with
another model is an :class:`~emblab.ArtifactError`.

Item ids (a document id per row, e.g. BEIR ``_id`` values) travel with the codes when known
(``ids``): saved as their own array (``str`` or ``int64``), never counted in the payload bytes, and
returned by ``emblab search`` instead of row numbers.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._errors import ArtifactError, DataError
from .io import atomic_save_npz

LAYOUTS = ("float", "uint8", "bits", "sparse")
_META_KEY = "__emblab_meta__"
_IDS_KEY = "__emblab_ids__"
CODES_FORMAT_VERSION = 1


@dataclass
class Codes:
    """Row-aligned arrays encoding ``n`` items.

    Parameters
    ----------
    arrays : dict of str -> ndarray
        Every array has leading dimension ``n``.
    layout : str
        One of ``float``, ``uint8``, ``bits``, ``sparse``.
    method : str
        Spec of the compressor that produced the codes.
    model_fingerprint : str, optional
        sha256 of the fitted model state; checked when decoding or searching.
    meta : dict
        Small JSON-serialisable facts needed to interpret the codes (e.g. ``n_latents``).
    ids : ndarray of shape (n,), optional
        Item ids (str or int), not part of the payload.
    """

    arrays: dict[str, np.ndarray]
    layout: str
    method: str = ""
    model_fingerprint: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise DataError(f"unknown codes layout {self.layout!r}; expected one of {LAYOUTS}.")
        if not self.arrays:
            raise DataError("Codes need at least one array.")
        lengths = {k: a.shape[0] for k, a in self.arrays.items()}
        if len(set(lengths.values())) != 1:
            raise DataError(f"Codes arrays must share their first dimension; got {lengths}.")
        if self.ids is not None:
            self.ids = _as_id_array(self.ids)
            if len(self.ids) != len(self):
                raise DataError(f"{len(self.ids)} ids for {len(self)} codes; give one id per item.")

    def with_ids(self, ids: Sequence[Any] | np.ndarray | None) -> "Codes":
        """The same codes carrying item ``ids`` (one per row; str or int)."""
        return Codes(self.arrays, self.layout, self.method, self.model_fingerprint, dict(self.meta), ids)

    def item_ids(self, rows: np.ndarray) -> np.ndarray:
        """Ids of item rows ``rows`` (any shape; -1 marks an empty slot and maps to None)."""
        rows = np.asarray(rows)
        if self.ids is None:
            return rows
        out = np.empty(rows.shape, dtype=object)
        flat, src = out.reshape(-1), rows.reshape(-1)
        for i, r in enumerate(src):
            flat[i] = None if r < 0 else self.ids[r].item()
        return out

    # --- size -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(next(iter(self.arrays.values())).shape[0])

    @property
    def nbytes(self) -> int:
        """Total payload bytes over all items."""
        return int(sum(a.nbytes for a in self.arrays.values()))

    @property
    def bytes_per_vector(self) -> float:
        """Measured payload bytes per item (``nbytes / n``)."""
        n = len(self)
        if n == 0:
            per_row = sum(a.dtype.itemsize * int(np.prod(a.shape[1:])) for a in self.arrays.values())
            return float(per_row)
        return self.nbytes / n

    # --- access --------------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The main ``codes`` array (dense layouts)."""
        if "codes" not in self.arrays:
            raise DataError(f"{self.layout!r} codes have no dense 'codes' array; use .arrays.")
        return self.arrays["codes"]

    def as_float(self) -> np.ndarray:
        """Float codes as float32 (n, p); only for the ``float`` layout (pipeline stages)."""
        if self.layout != "float":
            raise DataError(f"{self.method or 'these'} codes ({self.layout}) are not float vectors.")
        return np.asarray(self.data, dtype=np.float32)

    def __getitem__(self, rows: Any) -> "Codes":
        """Subset of rows (slice, index array or boolean mask), keeping metadata."""
        if isinstance(rows, (int, np.integer)):
            rows = slice(int(rows), int(rows) + 1)
        return Codes({k: a[rows] for k, a in self.arrays.items()}, self.layout, self.method,
                     self.model_fingerprint, dict(self.meta), None if self.ids is None else self.ids[rows])

    def iter_chunks(self, chunk_size: int):
        """Yield ``(start, Codes)`` chunks of at most ``chunk_size`` rows."""
        n = len(self)
        for start in range(0, n, chunk_size):
            yield start, self[start:start + chunk_size]

    @classmethod
    def concat(cls, parts: Sequence["Codes"]) -> "Codes":
        """Concatenate codes produced by the same model."""
        if not parts:
            raise DataError("cannot concatenate an empty list of Codes.")
        first = parts[0]
        for p in parts[1:]:
            if p.layout != first.layout or p.model_fingerprint != first.model_fingerprint:
                raise ArtifactError("cannot concatenate codes from different models or layouts.")
        arrays = {k: np.concatenate([p.arrays[k] for p in parts]) for k in first.arrays}
        ids = np.concatenate([p.ids for p in parts]) if all(p.ids is not None for p in parts) else None
        return cls(arrays, first.layout, first.method, first.model_fingerprint, dict(first.meta), ids)

    # --- persistence ---------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        return {"format_version": CODES_FORMAT_VERSION, "layout": self.layout, "method": self.method,
                "model_fingerprint": self.model_fingerprint, "meta": self.meta, "n": len(self),
                "arrays": {k: {"shape": list(a.shape), "dtype": str(a.dtype)} for k, a in self.arrays.items()},
                "ids": self.ids is not None}

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` file atomically (no pickle).

        An existing codes file at ``path`` is replaced; any other existing file or folder is
        refused (:class:`DataError`) and left untouched.
        """
        head = np.frombuffer(json.dumps(self.header()).encode("utf-8"), dtype=np.uint8)
        extra = {} if self.ids is None else {_IDS_KEY: self.ids}
        atomic_save_npz(path, {**self.arrays, _META_KEY: head, **extra}, kind="codes")

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = False) -> "Codes":
        """Read a codes file written by :meth:`save`, checking its header against its arrays.

        Raises
        ------
        DataError
            The file does not exist.
        ArtifactError
            Empty, truncated or corrupt file, a plain array, a folder, or a header that does not
            describe the arrays (one line that says to re-encode).
        """
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: codes file not found; create it with `emblab encode`.")
        if path.is_dir():
            raise ArtifactError(f"{path}: is a folder; read a chunked encoding with "
                                "emblab.scale.chunked.read_codes (the CLI does this for you).")
        if path.stat().st_size == 0:
            raise ArtifactError(f"{path}: codes file is empty; re-encode.")
        try:
            loaded = np.load(path, allow_pickle=False)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ArtifactError(f"{path}: corrupt or truncated codes file ({_one_line(exc)}); re-encode.") from exc
        if isinstance(loaded, np.ndarray):
            raise ArtifactError(f"{path}: is a plain array, not an emblab codes file; make codes with "
                                f"`emblab encode MODEL --data {path} --out codes.npz`.")
        try:
            with loaded as npz:
                if _META_KEY not in npz.files:
                    raise ArtifactError(f"{path}: not an emblab codes file (no header); re-encode.")
                head = json.loads(bytes(npz[_META_KEY]).decode("utf-8"))
                arrays = {k: npz[k] for k in npz.files if k not in (_META_KEY, _IDS_KEY)}
                ids = npz[_IDS_KEY] if _IDS_KEY in npz.files else None
        except ArtifactError:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
            raise ArtifactError(f"{path}: corrupt or truncated codes file ({_one_line(exc)}); re-encode.") from exc
        _check_header(path, head, arrays)
        if ids is not None and (ids.ndim != 1 or len(ids) != head.get("n", len(ids))):
            raise ArtifactError(f"{path}: the ids array does not match the header; re-encode.")
        return cls(arrays, head["layout"], head.get("method") or "", head.get("model_fingerprint"),
                   head.get("meta") or {}, ids)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_header(path: Path, head: Any, arrays: dict[str, np.ndarray]) -> None:
    """Raise :class:`ArtifactError` unless ``head`` is a codes header that describes ``arrays``."""
    def bad(what: str) -> ArtifactError:
        return ArtifactError(f"{path}: codes header {what}; the file is damaged or not from emblab: re-encode.")

    if not isinstance(head, dict):
        raise bad(f"is a JSON {type(head).__name__}, not an object")
    version = head.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad(f"has format_version {version!r}, not an integer")
    if version > CODES_FORMAT_VERSION:
        raise ArtifactError(f"{path}: codes format {version} is newer than this emblab; upgrade.")
    if head.get("layout") not in LAYOUTS:
        raise bad(f"has layout {head.get('layout')!r}, not one of {', '.join(LAYOUTS)}")
    if not isinstance(head.get("method", ""), str) or not isinstance(head.get("meta", {}), (dict, type(None))):
        raise bad("has a method or meta of the wrong type")
    fingerprint = head.get("model_fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise bad("has a model_fingerprint that is not a string")
    specs = head.get("arrays", {})
    if not isinstance(specs, dict):
        raise bad("lists its arrays in the wrong form")
    for k, spec in specs.items():
        if not isinstance(spec, dict) or k not in arrays or list(arrays[k].shape) != spec.get("shape"):
            raise ArtifactError(f"{path}: array {k!r} does not match the header; re-encode.")
    if not arrays:
        raise bad("describes no arrays")


def _as_id_array(ids: Any) -> np.ndarray:
    """Item ids as an int64 or unicode array (no object arrays: codes files are saved without pickle)."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise DataError(f"ids must be one-dimensional; got shape {arr.shape}.")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "U":
        return arr
    if arr.dtype.kind == "O" and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr):
        return arr.astype(np.int64)
    return np.asarray([str(v) for v in arr], dtype=str)
