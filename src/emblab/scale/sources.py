"""Streaming readers for inputs larger than memory: memory-mapped ``.npy`` and parquet datasets.

A source is split into deterministic *chunks* (a row range of a ``.npy``; a slice of one parquet
row group), so a resumed run can skip finished chunks without reading them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .._deps import require
from .._errors import DataError


@dataclass
class ChunkRef:
    """A chunk not yet read: its id, global start row, row count, and a loader."""

    chunk_id: str
    start: int
    n_rows: int
    load: Callable[[], tuple[np.ndarray, np.ndarray | None]]


def _vector_matrix(col, name: str) -> np.ndarray:
    """pyarrow (fixed-size) list column -> float32 (n, d) without Python loops."""
    pa = require("pyarrow", "Parquet input")
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not (pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type)
            or pa.types.is_large_list(col.type)):
        raise DataError(f"parquet column {name!r} must hold vectors (list of floats); got {col.type}.")
    n = len(col)
    if col.null_count:
        raise DataError(f"parquet column {name!r} has {col.null_count} null vectors; drop them first.")
    flat = col.flatten().to_numpy(zero_copy_only=False)
    if n == 0:
        return np.zeros((0, 0), np.float32)
    if flat.size % n:
        raise DataError(f"parquet column {name!r} holds vectors of different lengths; all must have the same width.")
    return np.asarray(flat, dtype=np.float32).reshape(n, flat.size // n)


def parquet_files(path: Path) -> list[Path]:
    files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise DataError(f"{path}: no .parquet files found.")
    return files


def source_signature(path: str | os.PathLike) -> dict:
    """Cheap identity of an input (paths, sizes, mtimes) to refuse resuming onto other data."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: input not found.")
    files = parquet_files(path) if (path.is_dir() or path.suffix == ".parquet") else [path]
    return {"files": [[str(f.relative_to(path) if path.is_dir() else f.name), f.stat().st_size,
                       int(f.stat().st_mtime)] for f in files]}


def iter_chunks(path: str | os.PathLike, chunk_rows: int = 65536, *, vector_column: str = "vector",
                id_column: str | None = "id") -> Iterator[ChunkRef]:
    """Yield :class:`ChunkRef` over ``path`` (a ``.npy`` file, a parquet file or a parquet folder).

    Parameters
    ----------
    path : path-like
    chunk_rows : int
        Rows per chunk (memory per chunk is about ``chunk_rows * d * 4`` bytes).
    vector_column, id_column : str
        Parquet column names (``id_column=None`` or a missing id column gives no ids).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: input not found.")
    if chunk_rows < 1:
        raise DataError(f"chunk_rows must be >= 1; got {chunk_rows}.")
    if path.suffix == ".npy":
        from ..io import load_npy

        X = load_npy(path, mmap=True)
        if X.ndim != 2 or X.shape[0] == 0:
            raise DataError(f"{path}: expected a non-empty 2-D array; got shape {X.shape}.")
        for i, s in enumerate(range(0, X.shape[0], chunk_rows)):
            e = min(X.shape[0], s + chunk_rows)
            yield ChunkRef(f"{i:06d}", s, e - s, lambda s=s, e=e: (np.asarray(X[s:e], dtype=np.float32), None))
        return
    pq = require("pyarrow.parquet", "Parquet input")
    start = 0
    any_rows = False
    for fi, f in enumerate(parquet_files(path)):
        try:
            pf = pq.ParquetFile(f)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for corrupt files
            raise DataError(f"{f}: not a readable parquet file ({exc}).") from exc
        names = pf.schema_arrow.names
        if vector_column not in names:
            raise DataError(f"{f}: no column {vector_column!r} (columns: {', '.join(names)}); use --vector-column.")
        cols = [vector_column] + ([id_column] if id_column and id_column in names else [])
        row_groups = [pf.metadata.row_group(rg).num_rows for rg in range(pf.num_row_groups)]
        pf.close()
        for rg, n_rg in enumerate(row_groups):
            for j, s in enumerate(range(0, n_rg, chunk_rows)):
                n = min(chunk_rows, n_rg - s)

                def load(rg=rg, s=s, cols=cols, f=f):
                    # a fresh reader per chunk: a long-lived ParquetFile keeps the Arrow buffers
                    # of every chunk it decoded, so memory would grow with the input size
                    with pq.ParquetFile(f) as pf_chunk:
                        it = pf_chunk.iter_batches(batch_size=chunk_rows, row_groups=[rg], columns=cols)
                        for k, batch in enumerate(it):
                            if k == s // chunk_rows:
                                X = _vector_matrix(batch.column(vector_column), vector_column)
                                ids = (batch.column(id_column).to_numpy(zero_copy_only=False)
                                       if len(cols) > 1 else None)
                                return X, ids
                    raise DataError(f"{f}: row group {rg} is shorter than its metadata says; the file is corrupt.")

                any_rows = any_rows or n > 0
                yield ChunkRef(f"{fi:04d}-{rg:05d}-{j:04d}", start, n, load)
                start += n
    if not any_rows:
        raise DataError(f"{path}: the parquet input has no rows.")
