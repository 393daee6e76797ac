"""Sentence-similarity datasets: STS-B (``stsb/``) and SICK-R (``sick/SICK.txt``).

Both return ``(sents1, sents2, gold)``: two lists of sentences and a float64 array of gold scores
(STS-B 0-5, SICK relatedness 1-5), in file order.

STS-B is parsed by splitting each line on tabs and taking columns 4 (score), 5 and 6
(sentences); baselines_and_eval.md section 2.3. A CSV parser must not be used: the sentences
contain unbalanced quotes, and a few lines carry extra source columns after the sentences.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .._errors import DataError

__all__ = ["load_stsb", "load_sick", "STSB_COUNTS", "SICK_COUNTS"]

STSB_COUNTS = {"train": 5749, "dev": 1500, "test": 1379}
SICK_COUNTS = {"train": 4439, "trial": 495, "test": 4906}
_SICK_ALIASES = {"dev": "trial", "validation": "trial"}


def _check(name: str, split: str, n: int, expected: int, check_counts: bool | None, path: Path) -> None:
    if check_counts is False or n == expected:
        return
    msg = f"{path}: {n} {name} {split} pairs, expected {expected} (SOURCE.txt)"
    if check_counts:
        raise DataError(msg + "; re-copy or re-download the dataset.")
    warnings.warn(msg, stacklevel=3)


def _split_name(split: str, valid, aliases=None) -> str:
    s = str(split).lower()
    s = (aliases or {}).get(s, s)
    if s not in valid:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(valid)}.")
    return s


def load_stsb(
    split: str = "test",
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    check_counts: bool | None = None,
) -> tuple[list[str], list[str], np.ndarray]:
    """Load STS-B pairs.

    Parameters
    ----------
    split : {"train", "dev", "test"}
    data_dir : path-like, optional
        Data root holding ``stsb/``; default ``$EMBLAB_DATA``, then the download cache.
    download : bool
        Fetch from the public source into the cache when missing.
    check_counts : bool or None
        Row count against the canonical one: True raises, None warns, False skips.

    Returns
    -------
    sents1, sents2 : list of str, length n
    gold : ndarray of shape (n,), float64 in [0, 5]

    Raises
    ------
    DataError
        Unknown split, missing file, a line with fewer than 7 fields or a bad score.

    Examples
    --------
    >>> s1, s2, gold = load_stsb("test")  # doctest: +SKIP
    >>> len(s1)
    1379
    """
    from .download import resolve_dataset_dir

    split = _split_name(split, list(STSB_COUNTS))
    path = resolve_dataset_dir("stsb", data_dir, download=download) / f"sts-{split}.csv"
    if not path.exists():
        raise DataError(f"{path}: missing; the stsb/ folder should hold sts-train.csv, sts-dev.csv, sts-test.csv.")
    s1, s2, gold = [], [], []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 7:
                raise DataError(f"{path}:{lineno}: expected at least 7 tab-separated fields, got {len(cols)}.")
            try:
                gold.append(float(cols[4]))
            except ValueError as exc:
                raise DataError(f"{path}:{lineno}: score {cols[4]!r} is not a number.") from exc
            s1.append(cols[5])
            s2.append(cols[6])
    if not s1:
        raise DataError(f"{path}: file is empty.")
    _check("STS-B", split, len(s1), STSB_COUNTS[split], check_counts, path)
    return s1, s2, np.asarray(gold, dtype=np.float64)


def load_sick(
    split: str = "test",
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    check_counts: bool | None = None,
) -> tuple[list[str], list[str], np.ndarray]:
    """Load SICK-R pairs (``relatedness_score``) of one SemEval-2014 split.

    Parameters
    ----------
    split : {"train", "trial", "test"}
        Case-insensitive; ``"dev"`` is an alias of ``"trial"``.
    data_dir, download, check_counts
        As in :func:`load_stsb`.

    Returns
    -------
    sents1, sents2 : list of str, length n
    gold : ndarray of shape (n,), float64 in [1, 5]

    Raises
    ------
    DataError
        Unknown split, missing file, header without the needed columns, bad score.

    Examples
    --------
    >>> s1, s2, gold = load_sick("test")  # doctest: +SKIP
    >>> len(s1)
    4906
    """
    from .download import resolve_dataset_dir

    split = _split_name(split, list(SICK_COUNTS), _SICK_ALIASES)
    path = resolve_dataset_dir("sick", data_dir, download=download) / "SICK.txt"
    if not path.exists():
        raise DataError(f"{path}: missing; the sick/ folder should hold SICK.txt.")
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        need = ["sentence_A", "sentence_B", "relatedness_score", "SemEval_set"]
        missing = [c for c in need if c not in header]
        if missing:
            raise DataError(f"{path}: header lacks column(s) {missing}; is this the full SICK.txt?")
        ia, ib, isc, iset = (header.index(c) for c in need)
        width = max(ia, ib, isc, iset) + 1
        s1, s2, gold = [], [], []
        for lineno, line in enumerate(fh, 2):
            if not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < width:
                raise DataError(f"{path}:{lineno}: expected {len(header)} tab-separated fields, got {len(cols)}.")
            if cols[iset].strip().lower() != split:
                continue
            try:
                gold.append(float(cols[isc]))
            except ValueError as exc:
                raise DataError(f"{path}:{lineno}: relatedness_score {cols[isc]!r} is not a number.") from exc
            s1.append(cols[ia])
            s2.append(cols[ib])
    if not s1:
        raise DataError(f"{path}: no pairs with SemEval_set == {split.upper()!r}.")
    _check("SICK", split, len(s1), SICK_COUNTS[split], check_counts, path)
    return s1, s2, np.asarray(gold, dtype=np.float64)
