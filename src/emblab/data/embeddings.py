"""Loaders for precomputed embedding matrices.

* :func:`load_embeddings` reads the shared MiniLM vectors ``embeddings_minilm/<name>.f16.npy``
  under the data root (``EMBLAB_DATA`` / ``--data-dir``) and returns float32 rows.
* :func:`load_vectors` reads any user file: ``.npy`` (float16/float32, optionally memory-mapped)
  or ``.parquet`` with an id column plus either one list / fixed-size-list vector column or
  several numeric columns (one per dimension).

Every problem (missing, empty, corrupt file, NaN/inf rows, wrong width) is a one-line
:class:`~emblab.DataError`. No pickle: ``np.load(..., allow_pickle=False)``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .._errors import DataError
from ..io import load_npy
from .paths import data_root

__all__ = ["EMBEDDINGS", "load_embeddings", "load_vectors", "check_finite_rows", "embeddings_path"]

#: Canonical shapes of the shared MiniLM matrices (from ``embeddings_minilm/SOURCE.txt``).
EMBEDDINGS: dict[str, tuple[int, int]] = {
    "imdb_labeled": (50_000, 384),
    "imdb_unsup": (50_000, 384),
    "scifact_corpus": (5_183, 384),
    "scifact_queries": (1_109, 384),
}
EMBEDDINGS_FOLDER = "embeddings_minilm"
_CHUNK = 65_536  # rows per finiteness check, bounds the temporary memory on memmaps


def embeddings_path(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of ``embeddings_minilm/<name>.f16.npy`` under the data root."""
    if name not in EMBEDDINGS:
        import difflib

        close = difflib.get_close_matches(name, list(EMBEDDINGS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(f"unknown embedding set {name!r}; known: {', '.join(EMBEDDINGS)}.{hint}")
    root = data_root(data_dir)
    folder = root / EMBEDDINGS_FOLDER
    if not folder.is_dir():
        raise DataError(f"{folder} is missing; expected {EMBEDDINGS_FOLDER}/ under the data root {root}.")
    return folder / f"{name}.f16.npy"


def load_embeddings(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    check_counts: bool | None = None,
    mmap: bool = False,
) -> np.ndarray:
    """Load one shared MiniLM embedding matrix as float32.

    Parameters
    ----------
    name : {"imdb_labeled", "imdb_unsup", "scifact_corpus", "scifact_queries"}
        Row order is the line order of the source text file.
    data_dir : path-like, optional
        Data root; default ``$EMBLAB_DATA``.
    check_counts : bool or None
        Shape against the canonical one (``EMBEDDINGS``): True raises on mismatch, None (default)
        warns, False skips. Tests write small files into the same layout, hence not strict.
    mmap : bool
        Memory-map the file and return it in its stored dtype (float16), without a float32 copy.

    Returns
    -------
    X : ndarray of shape (n, 384), float32 (or the stored dtype when ``mmap=True``)

    Raises
    ------
    DataError
        Unknown name, missing/empty/corrupt file, NaN/inf rows, or a wrong shape with
        ``check_counts=True``.

    Examples
    --------
    >>> X = load_embeddings("scifact_corpus")  # doctest: +SKIP
    >>> X.shape, X.dtype
    ((5183, 384), dtype('float32'))
    """
    path = embeddings_path(name, data_dir)
    X = load_npy(path, mmap=mmap)
    _check_matrix(X, path)
    expected = EMBEDDINGS[name]
    if check_counts is not False and tuple(X.shape) != expected:
        msg = f"{path}: shape {tuple(X.shape)}, but {name} should be {expected} (SOURCE.txt)"
        if check_counts:
            raise DataError(msg + "; re-copy the file.")
        warnings.warn(msg + ".", stacklevel=2)
    check_finite_rows(X, str(path))
    return X if mmap else np.ascontiguousarray(X, dtype=np.float32)


def load_vectors(
    path: str | os.PathLike,
    *,
    mmap: bool = False,
    dim: int | None = None,
    id_column: str | None = None,
    vector_column: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a matrix of vectors from ``.npy`` or ``.parquet``.

    Parameters
    ----------
    path : path-like
        ``.npy`` (float16/float32/float64, 2-D) or ``.parquet``.
    mmap : bool
        ``.npy`` only: memory-map and return the stored dtype (no float32 copy).
    dim : int, optional
        Expected width; a mismatch raises.
    id_column : str, optional
        Parquet id column; default ``"id"`` if present, else ``"_id"``; absent -> row numbers.
    vector_column : str, optional
        Parquet vector column (list or fixed-size list). Default: ``"embedding"``, ``"vector"``,
        ``"emb"``, the only list column, or else every remaining numeric column in file order.

    Returns
    -------
    ids : ndarray of shape (n,)
        Parquet ids (as stored: int64 or str objects); row numbers (int64) for ``.npy``.
    X : ndarray of shape (n, d), float32 (stored dtype with ``mmap=True``)

    Raises
    ------
    DataError
        Missing, empty or corrupt file; not 2-D; NaN/inf rows; wrong width; unknown columns.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path.")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty; regenerate it.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        X = load_npy(path, mmap=mmap)
        ids = np.arange(X.shape[0] if X.ndim else 0, dtype=np.int64)
    elif suffix in (".parquet", ".pq"):
        ids, X = _read_parquet(path, id_column, vector_column)
        mmap = False
    else:
        raise DataError(f"{path}: unsupported vector file type {suffix!r}; use .npy or .parquet.")
    _check_matrix(X, path)
    if dim is not None and X.shape[1] != dim:
        raise DataError(f"{path}: vectors have {X.shape[1]} dimensions, expected {dim}.")
    check_finite_rows(X, str(path))
    return ids, (X if mmap else np.ascontiguousarray(X, dtype=np.float32))


def _check_matrix(X: np.ndarray, path: Path) -> None:
    if X.ndim != 2:
        raise DataError(f"{path}: expected a 2-D array (n, d), got shape {X.shape}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{path}: no vectors (shape {X.shape}); regenerate the file.")
    if not np.issubdtype(X.dtype, np.floating) and not np.issubdtype(X.dtype, np.integer):
        raise DataError(f"{path}: dtype {X.dtype} is not numeric; expected float16/float32.")


def check_finite_rows(X: np.ndarray, name: str = "X") -> None:
    """Raise :class:`DataError` naming the first row that holds NaN or inf (chunked for memmaps)."""
    if not np.issubdtype(X.dtype, np.floating):
        return
    for start in range(0, X.shape[0], _CHUNK):
        block = np.asarray(X[start:start + _CHUNK])
        ok = np.isfinite(block).all(axis=1)
        if not ok.all():
            total = sum(int((~np.isfinite(np.asarray(X[s:s + _CHUNK])).all(axis=1)).sum())
                        for s in range(start, X.shape[0], _CHUNK))
            first = start + int(np.flatnonzero(~ok)[0])
            raise DataError(f"{name}: {total} row(s) hold NaN or inf (first: row {first}); "
                            "remove or recompute them.")


def _read_parquet(path: Path, id_column: str | None, vector_column: str | None):
    from .._deps import require

    pq = require("pyarrow.parquet", "Reading parquet vectors")
    pa = require("pyarrow", "Reading parquet vectors")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - any arrow parse failure is a bad file
        raise DataError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0]}); regenerate it.") from exc
    names = table.column_names
    if table.num_rows == 0:
        raise DataError(f"{path}: parquet file has no rows.")
    if id_column is None:
        id_column = next((c for c in ("id", "_id") if c in names), None)
    elif id_column not in names:
        raise DataError(f"{path}: no id column {id_column!r}; columns are {names}.")
    rest = [c for c in names if c != id_column]
    is_list = {c: pa.types.is_list(table.schema.field(c).type) or pa.types.is_fixed_size_list(
        table.schema.field(c).type) or pa.types.is_large_list(table.schema.field(c).type) for c in rest}
    if vector_column is None:
        lists = [c for c in rest if is_list[c]]
        vector_column = next((c for c in ("embedding", "vector", "emb") if c in lists), None)
        if vector_column is None and len(lists) == 1:
            vector_column = lists[0]
        elif vector_column is None and lists:
            raise DataError(f"{path}: several list columns {lists}; choose one with --vector-field.")
    if vector_column is not None:
        if vector_column not in names:
            raise DataError(f"{path}: no vector column {vector_column!r}; columns are {names}.")
        col = table.column(vector_column).combine_chunks()
        if not is_list.get(vector_column, False):
            raise DataError(f"{path}: column {vector_column!r} is not a list of numbers.")
        if col.null_count:
            raise DataError(f"{path}: column {vector_column!r} has {col.null_count} null vector(s).")
        lengths = np.asarray(col.value_lengths()) if hasattr(col, "value_lengths") else None
        if lengths is not None and lengths.size and (lengths != lengths[0]).any():
            bad = int(np.flatnonzero(lengths != lengths[0])[0])
            raise DataError(f"{path}: vectors have different lengths ({lengths[0]} vs {lengths[bad]} "
                            f"at row {bad}); all rows need the same dimension.")
        flat = col.flatten().to_numpy(zero_copy_only=False)
        try:
            X = np.asarray(flat, dtype=np.float32).reshape(table.num_rows, -1)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{path}: column {vector_column!r} is not numeric ({exc}).") from exc
    else:
        numeric = [c for c in rest if pa.types.is_integer(table.schema.field(c).type)
                   or pa.types.is_floating(table.schema.field(c).type)]
        if not numeric:
            raise DataError(f"{path}: no vector column found; columns are {names}.")
        X = np.column_stack([table.column(c).to_numpy(zero_copy_only=False) for c in numeric]).astype(np.float32)
    if id_column is not None:
        ids = table.column(id_column).to_numpy(zero_copy_only=False)
        if ids.dtype.kind not in "iu":
            ids = ids.astype(object)
    else:
        ids = np.arange(table.num_rows, dtype=np.int64)
    return ids, X
