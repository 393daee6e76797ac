"""Verify a data root (``emblab data check``): folders present, files readable, row counts as in
each folder's ``SOURCE.txt``.

Counts are read cheaply: ``.npy`` headers through a memory map, line counts for text files. Each
dataset yields one :class:`CheckRow` with status ``ok``, ``missing`` or ``bad``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .._errors import DataError
from .paths import data_root

__all__ = ["CheckRow", "check_data_root", "KNOWN_FOLDERS"]


@dataclass
class CheckRow:
    """Result of checking one dataset folder."""

    name: str
    status: str  # "ok" | "missing" | "bad"
    detail: str


def _lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def _check_embeddings(folder: Path) -> str:
    from .embeddings import EMBEDDINGS

    parts = []
    for name, shape in EMBEDDINGS.items():
        path = folder / f"{name}.f16.npy"
        if not path.exists():
            raise DataError(f"{path.name} missing")
        try:
            X = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataError(f"{path.name} unreadable ({exc})") from exc
        if tuple(X.shape) != shape:
            raise DataError(f"{path.name} has shape {tuple(X.shape)}, expected {shape}")
        parts.append(f"{name} {shape[0]}")
    return ", ".join(parts) + f" x {shape[1]}"


def _check_beir(folder: Path) -> str:
    from .beir import load_beir

    ds = load_beir(folder, check_counts=False)
    from .beir import BEIR_COUNTS

    exp = BEIR_COUNTS["scifact_beir"]
    got = {"corpus": len(ds.corpus_ids), "queries": len(ds.query_ids),
           "qrels_train": sum(map(len, ds.qrels("train").values())),
           "qrels_test": sum(map(len, ds.qrels("test").values())), "test_queries": len(ds.test_query_ids())}
    bad = [f"{k} {v} (expected {exp[k]})" for k, v in got.items() if v != exp[k]]
    if bad:
        raise DataError(", ".join(bad))
    return f"{got['corpus']} docs, {got['queries']} queries, qrels test {got['qrels_test']} / {got['test_queries']} queries"


def _check_stsb(folder: Path) -> str:
    from .sts import STSB_COUNTS, load_stsb

    got = {s: len(load_stsb(s, folder.parent, check_counts=True)[0]) for s in STSB_COUNTS}
    return ", ".join(f"{s} {n}" for s, n in got.items())


def _check_sick(folder: Path) -> str:
    from .sts import SICK_COUNTS, load_sick

    got = {s: len(load_sick(s, folder.parent, check_counts=True)[0]) for s in SICK_COUNTS}
    return ", ".join(f"{s} {n}" for s, n in got.items())


def _count(relpath: str, expected: int) -> Callable[[Path], str]:
    def fn(folder: Path) -> str:
        path = folder / relpath
        if not path.exists():
            raise DataError(f"{relpath} missing")
        if path.name.endswith(".gz"):
            import gzip

            with gzip.open(path, "rb") as fh:
                n = sum(1 for line in fh if line.strip())
        else:
            n = _lines(path)
        if n != expected:
            raise DataError(f"{relpath}: {n} rows, expected {expected}")
        return f"{relpath} {n} rows"
    return fn


def _all(*checks: Callable[[Path], str]) -> Callable[[Path], str]:
    return lambda folder: "; ".join(c(folder) for c in checks)


#: Folder name -> check function (raises DataError with a short reason when something is wrong).
KNOWN_FOLDERS: dict[str, Callable[[Path], str]] = {
    "embeddings_minilm": _check_embeddings,
    "scifact_beir": _check_beir,
    "stsb": _check_stsb,
    "sick": _check_sick,
    "imdb_aclimdb": _all(_count("imdb_labeled.jsonl.gz", 50_000), _count("imdb_unsup.jsonl.gz", 50_000)),
    "movielens_100k": _count("u.data", 100_000),
    "movielens_latest_small": _all(_count("ml-latest-small/ratings.csv", 100_837),
                                   _count("ml-latest-small/movies.csv", 9_743)),
}


def check_data_root(data_dir: str | os.PathLike | None = None, names: list[str] | None = None) -> list[CheckRow]:
    """Check the known dataset folders under the data root.

    Parameters
    ----------
    data_dir : path-like, optional
        Data root; default ``$EMBLAB_DATA``.
    names : list of str, optional
        Only these folders (default: all of :data:`KNOWN_FOLDERS`).

    Returns
    -------
    list of CheckRow

    Raises
    ------
    DataError
        No data root configured, or an unknown folder name.
    """
    root = data_root(data_dir)
    names = names or list(KNOWN_FOLDERS)
    unknown = [n for n in names if n not in KNOWN_FOLDERS]
    if unknown:
        raise DataError(f"unknown dataset(s) {unknown}; known: {', '.join(KNOWN_FOLDERS)}.")
    rows = []
    for name in names:
        folder = root / name
        if not folder.is_dir():
            rows.append(CheckRow(name, "missing", f"{folder} not found"))
            continue
        try:
            rows.append(CheckRow(name, "ok", KNOWN_FOLDERS[name](folder)))
        except DataError as exc:
            rows.append(CheckRow(name, "bad", str(exc)))
    return rows
