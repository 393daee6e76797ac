"""User-item interactions: a user's folder, or a MovieLens set, as one :class:`Interactions` table.

Folder layout (input of the ``recsys:DIR`` task, baselines_and_eval.md §2.5)::

    DIR/interactions.tsv     (or interactions.csv) header naming ``user``, ``item`` and optionally
                             ``timestamp`` (numbers, or ISO 8601 dates) and ``weight`` (positive
                             numbers); any other column is an error
    DIR/item_vectors.npy     optional: (n_items, d) item vectors to evaluate instead of learning
    DIR/items.txt            them; items.txt holds one item id per row of item_vectors.npy
    DIR/user_vectors.npy     optional, with item vectors: (n_users, d) user vectors and their ids
    DIR/users.txt            (they must come from the training histories only, or results leak)

Ids are strings. Items and users are indexed in ascending id order (numerically when every id
is an integer), or in ``items.txt`` order when item vectors are supplied. A (user, item) pair
that occurs several times is one interaction: its weights are summed and its timestamp is the
latest, so a held-out item never also sits in the user's history.
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import DataError

__all__ = ["Interactions", "read_interactions", "read_vectors", "interactions_from_movielens",
           "INTERACTION_FILES", "COLUMNS"]

INTERACTION_FILES = ("interactions.tsv", "interactions.csv")
COLUMNS = ("user", "item", "timestamp", "weight")


@dataclass
class Interactions:
    """One interaction table with integer user and item indices.

    Attributes
    ----------
    name : str
    user_ids, item_ids : list of str
        Id of each user / item index.
    users, items : ndarray (n,) int64
        User and item index of each interaction (one row per distinct pair).
    timestamps : ndarray (n,) float64 or None
        None when the source has no timestamp column (splits are then seeded random).
    weights : ndarray (n,) float32 or None
        None when the source has no weight column (every interaction weighs 1).
    source : dict
        File fingerprints and counts for the results JSON.
    """

    name: str
    user_ids: list[str]
    item_ids: list[str]
    users: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray | None = None
    weights: np.ndarray | None = None
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def histories(self) -> list[np.ndarray]:
        """Item indices of each user, ordered by (timestamp, item index), or by item index."""
        keys = (self.items, self.users) if self.timestamps is None else (self.items, self.timestamps, self.users)
        order = np.lexsort(keys)
        bounds = np.searchsorted(self.users[order], np.arange(self.n_users + 1))
        it = self.items[order]
        return [it[bounds[u]:bounds[u + 1]] for u in range(self.n_users)]

    def content_hash(self) -> str:
        """sha256 over the index arrays, timestamps and weights (the cache key of learned factors)."""
        import hashlib

        h = hashlib.sha256()
        for arr in (self.users, self.items, self.timestamps, self.weights):
            h.update(b"none" if arr is None else np.ascontiguousarray(arr).tobytes())
        h.update(f"{self.n_users},{self.n_items}".encode())
        return h.hexdigest()


def _sorted_ids(ids: set[str]) -> list[str]:
    try:
        return sorted(ids, key=lambda s: (int(s), s))
    except ValueError:
        return sorted(ids)


def _parse_time(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"{where}: timestamp {text!r} is neither a number nor an ISO 8601 date; "
                        "write Unix seconds or dates like 2024-05-01T12:00:00.") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t.timestamp()


def _find_file(folder: Path) -> Path:
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; give a folder holding interactions.tsv or interactions.csv.")
    found = [folder / f for f in INTERACTION_FILES if (folder / f).is_file()]
    if not found:
        raise DataError(f"{folder}: no interactions.tsv or interactions.csv; write one with a header naming "
                        "user and item (optionally timestamp, weight).")
    if len(found) > 1:
        raise DataError(f"{folder}: both interactions.tsv and interactions.csv exist; keep one.")
    return found[0]


def _header(path: Path, fields: list[str] | None) -> list[str]:
    if not fields:
        raise DataError(f"{path}: the file is empty; the first line must be a header naming user and item.")
    cols = [f.strip().lower() for f in fields]
    unknown = [c for c in cols if c not in COLUMNS]
    if unknown:
        raise DataError(f"{path}: unknown column {unknown[0]!r} in the header; allowed columns are "
                        f"{', '.join(COLUMNS)} (rename a rating column to weight, or drop it).")
    for c in cols:
        if cols.count(c) > 1:
            raise DataError(f"{path}: column {c!r} appears twice in the header.")
    for need in ("user", "item"):
        if need not in cols:
            raise DataError(f"{path}: the header has no {need!r} column; it needs user and item.")
    return cols


def read_interactions(folder: str | os.PathLike, *, item_ids: list[str] | None = None,
                      name: str | None = None) -> Interactions:
    """Read ``folder/interactions.tsv`` (or ``.csv``); see the module docstring for the format.

    Parameters
    ----------
    folder : path-like
    item_ids : list of str, optional
        Fixed item index (``items.txt`` of supplied vectors); an interaction with another item is
        an error. Default: every item in the file, in ascending id order.
    name : str, optional
        Dataset name (default: the folder name).

    Raises
    ------
    DataError
        Missing or ambiguous file, unknown or missing columns, short rows, empty ids,
        non-numeric or non-positive weights, unparsable timestamps, no interaction at all.
    """
    folder = Path(folder)
    path = _find_file(folder)
    from ..io import sha256_file

    pairs: dict[tuple[str, str], list[float]] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:  # -sig: spreadsheet exports start with a BOM
        reader = csv.reader(fh, delimiter="\t" if path.suffix == ".tsv" else ",")
        cols = _header(path, next(reader, None))
        iu, ii = cols.index("user"), cols.index("item")
        it = cols.index("timestamp") if "timestamp" in cols else None
        iw = cols.index("weight") if "weight" in cols else None
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(cols):
                raise DataError(f"{where}: {len(row)} fields, but the header has {len(cols)}.")
            u, i = row[iu].strip(), row[ii].strip()
            if not u or not i:
                raise DataError(f"{where}: empty {'user' if not u else 'item'} id.")
            w = 1.0
            if iw is not None:
                try:
                    w = float(row[iw])
                except ValueError:
                    raise DataError(f"{where}: weight {row[iw]!r} is not a number; weights must be positive "
                                    "numbers (or drop the weight column).") from None
                if not (math.isfinite(w) and w > 0):
                    raise DataError(f"{where}: weight {row[iw]!r} must be a positive finite number.")
            t = _parse_time(row[it].strip(), where) if it is not None else 0.0
            if not math.isfinite(t):
                raise DataError(f"{where}: timestamp {row[it]!r} is not finite.")
            acc = pairs.get((u, i))
            if acc is None:
                pairs[(u, i)] = [w, t]
            else:  # a repeated pair is one interaction: summed weight, latest time
                acc[0] += w
                acc[1] = max(acc[1], t)
    if not pairs:
        raise DataError(f"{path}: no interactions below the header.")
    user_ids = _sorted_ids({u for u, _ in pairs})
    if item_ids is None:
        item_ids = _sorted_ids({i for _, i in pairs})
    u_index = {u: k for k, u in enumerate(user_ids)}
    i_index = {i: k for k, i in enumerate(item_ids)}
    missing = next((i for _, i in pairs if i not in i_index), None)
    if missing is not None:
        raise DataError(f"{path}: item {missing!r} is not in items.txt; every interacted item needs a vector.")
    users = np.fromiter((u_index[u] for u, _ in pairs), np.int64, len(pairs))
    items = np.fromiter((i_index[i] for _, i in pairs), np.int64, len(pairs))
    vals = np.asarray(list(pairs.values()), dtype=np.float64)
    return Interactions(name or folder.resolve().name, user_ids, list(item_ids), users, items,
                        timestamps=vals[:, 1] if it is not None else None,
                        weights=vals[:, 0].astype(np.float32) if iw is not None else None,
                        source={"folder": str(folder), "file": path.name, "sha256": sha256_file(path),
                                "n_interactions": len(pairs), "n_users": len(user_ids),
                                "n_items": len(item_ids), "columns": cols})


def _read_ids(path: Path, n: int, what: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path} is missing; it must list one {what} id per row of the vectors file.")
    ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(ids) != n:
        raise DataError(f"{path}: {len(ids)} ids for {n} vectors; give one id per row.")
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: duplicate {what} ids.")
    return ids


def _read_matrix(path: Path) -> np.ndarray:
    from .._validation import check_array
    from ..io import load_npy

    return check_array(load_npy(path), name=str(path))


def read_vectors(folder: str | os.PathLike) -> tuple[np.ndarray, list[str], np.ndarray | None, list[str] | None] | None:
    """Supplied vectors of a folder: ``(item_vectors, item_ids, user_vectors, user_ids)`` or None.

    Returns None when ``item_vectors.npy`` is absent; user vectors are None without
    ``user_vectors.npy``.

    Raises
    ------
    DataError
        Unreadable arrays, NaN/inf, id files that do not match the rows, user vectors without
        item vectors or of another width.
    """
    folder = Path(folder)
    has_items, has_users = (folder / "item_vectors.npy").is_file(), (folder / "user_vectors.npy").is_file()
    if not has_items:
        if has_users:
            raise DataError(f"{folder}: user_vectors.npy needs item_vectors.npy (and items.txt) beside it.")
        return None
    V = _read_matrix(folder / "item_vectors.npy")
    item_ids = _read_ids(folder / "items.txt", len(V), "item")
    if not has_users:
        return V, item_ids, None, None
    U = _read_matrix(folder / "user_vectors.npy")
    if U.shape[1] != V.shape[1]:
        raise DataError(f"{folder}: user_vectors.npy has {U.shape[1]} columns, item_vectors.npy {V.shape[1]}; "
                        "they must have the same width.")
    return V, item_ids, U, _read_ids(folder / "users.txt", len(U), "user")


def interactions_from_movielens(ml: Any) -> Interactions:
    """Every rating of a :class:`~emblab.data.movielens.MovieLens` set as an interaction.

    Weights are left out (every rated item counts once, §2.5 option 4); timestamps are kept.
    """
    users, items, ts = ml.users, ml.items, ml.timestamps
    key = users * ml.n_items + items
    if len(np.unique(key)) != len(key):  # keep the latest rating of a repeated pair
        order = np.lexsort((ts, key))
        last = np.r_[key[order][1:] != key[order][:-1], True]
        sel = order[last]
        users, items, ts = users[sel], items[sel], ts[sel]
    return Interactions(ml.name, [str(u) for u in range(ml.n_users)], [str(i) for i in ml.item_ids],
                        users.astype(np.int64), items.astype(np.int64), timestamps=ts.astype(np.float64),
                        source={"dataset": ml.name, "n_interactions": int(len(users)), "n_users": ml.n_users,
                                "n_items": ml.n_items})
