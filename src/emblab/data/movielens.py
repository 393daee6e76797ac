"""MovieLens loaders for the recommendation task (baselines_and_eval.md §2.5).

Two layouts under the data root:

``movielens_100k/``          ``u.data`` (tab: user, item, rating, timestamp) and ``u.item``
                             (pipe-separated, **latin-1**: id|title|date|video date|url|19 genre flags;
                             genre names from ``u.genre``)
``movielens_latest_small/``  ``ml-latest-small/ratings.csv`` and ``movies.csv`` (``title``,
                             ``genres`` separated by ``|``; quoted titles contain commas)

Items are indexed 0..n_items-1 in ascending movie id (all movies of the item file, rated or not).
Item text: ``"{title}. Genres: {g1}, {g2}"`` (``"{title}."`` when a movie lists no genre).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import DataError
from .paths import data_root

__all__ = ["MovieLens", "load_movielens", "MOVIELENS_NAMES"]

MOVIELENS_NAMES = {"movielens_100k": "movielens_100k", "ml-100k": "movielens_100k",
                   "movielens_latest_small": "movielens_latest_small",
                   "ml-latest-small": "movielens_latest_small"}
_ML100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                  "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
                  "Sci-Fi", "Thriller", "War", "Western"]


@dataclass
class MovieLens:
    """Interactions and item texts of one MovieLens dataset.

    Attributes
    ----------
    name : str
    item_ids : ndarray (n_items,) int64
        Original movie ids, ascending; item index = position.
    item_texts : list of str
        ``"{title}. Genres: {g1}, {g2}"`` per item.
    users, items : ndarray (n_ratings,) int64
        User index (0..n_users-1, by ascending user id) and item index per interaction.
    ratings : ndarray (n_ratings,) float32
    timestamps : ndarray (n_ratings,) int64
    """

    name: str
    item_ids: np.ndarray
    item_texts: list[str]
    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return int(self.users.max()) + 1 if len(self.users) else 0

    def histories(self) -> list[np.ndarray]:
        """Per user, item indices sorted by (timestamp, item id) -- the protocol's order."""
        order = np.lexsort((self.items, self.timestamps, self.users))
        u = self.users[order]
        bounds = np.searchsorted(u, np.arange(self.n_users + 1))
        it = self.items[order]
        return [it[bounds[i]:bounds[i + 1]] for i in range(self.n_users)]


def _text(title: str, genres: list[str]) -> str:
    return f"{title}. Genres: {', '.join(genres)}" if genres else f"{title}."


def _finish(name: str, movie_ids: list[int], texts: list[str], raw_users, raw_items, ratings, ts) -> MovieLens:
    order = np.argsort(np.asarray(movie_ids, dtype=np.int64), kind="stable")
    item_ids = np.asarray(movie_ids, dtype=np.int64)[order]
    texts = [texts[i] for i in order]
    if len(np.unique(item_ids)) != len(item_ids):
        raise DataError(f"{name}: duplicate movie ids in the item file; the dataset is corrupt.")
    raw_items = np.asarray(raw_items, dtype=np.int64)
    pos = np.searchsorted(item_ids, raw_items)
    bad = (pos >= len(item_ids)) | (item_ids[np.minimum(pos, len(item_ids) - 1)] != raw_items)
    if bad.any():
        raise DataError(f"{name}: {int(bad.sum())} ratings refer to movies missing from the item file.")
    _, users = np.unique(np.asarray(raw_users, dtype=np.int64), return_inverse=True)
    return MovieLens(name, item_ids, texts, users.astype(np.int64), pos.astype(np.int64),
                     np.asarray(ratings, dtype=np.float32), np.asarray(ts, dtype=np.int64))


def _load_100k(folder: Path) -> MovieLens:
    for f in ("u.data", "u.item"):
        if not (folder / f).is_file():
            raise DataError(f"{folder / f} is missing; expected the ml-100k files in {folder}.")
    try:
        data = np.loadtxt(folder / "u.data", dtype=np.int64, delimiter="\t", ndmin=2)
    except ValueError as exc:
        raise DataError(f"{folder / 'u.data'}: cannot parse ({exc}); expected 4 tab-separated integers per line.") from exc
    if data.shape[1] != 4:
        raise DataError(f"{folder / 'u.data'}: expected 4 columns, got {data.shape[1]}.")
    ids, texts = [], []
    with open(folder / "u.item", encoding="latin-1") as fh:  # u.item is latin-1, not UTF-8
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("|")
            if len(parts) < 5 + len(_ML100K_GENRES):
                raise DataError(f"{folder / 'u.item'}:{line_no}: expected 24 '|'-separated fields.")
            flags = parts[5:5 + len(_ML100K_GENRES)]
            ids.append(int(parts[0]))
            texts.append(_text(parts[1], [g for g, f in zip(_ML100K_GENRES, flags) if f.strip() == "1"]))
    return _finish("movielens_100k", ids, texts, data[:, 0], data[:, 1], data[:, 2], data[:, 3])


def _load_latest_small(folder: Path) -> MovieLens:
    sub = folder / "ml-latest-small" if (folder / "ml-latest-small").is_dir() else folder
    for f in ("ratings.csv", "movies.csv"):
        if not (sub / f).is_file():
            raise DataError(f"{sub / f} is missing; expected ml-latest-small's CSV files in {sub}.")
    ids, texts = [], []
    with open(sub / "movies.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            g = row["genres"]
            genres = [] if g in ("", "(no genres listed)") else g.split("|")
            ids.append(int(row["movieId"]))
            texts.append(_text(row["title"], genres))
    cols: dict[str, list] = {"userId": [], "movieId": [], "rating": [], "timestamp": []}
    with open(sub / "ratings.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            for c in cols:
                cols[c].append(row[c])
    return _finish("movielens_latest_small", ids, texts, np.asarray(cols["userId"], np.int64),
                   np.asarray(cols["movieId"], np.int64), np.asarray(cols["rating"], np.float32),
                   np.asarray(cols["timestamp"], np.int64))


def load_movielens(name: str = "movielens_100k", data_dir: str | os.PathLike | None = None) -> MovieLens:
    """Load ``movielens_100k`` / ``movielens_latest_small`` (aliases ``ml-100k``, ``ml-latest-small``).

    Raises
    ------
    DataError
        Unknown name, missing folder or files, or unparsable rows.
    """
    key = MOVIELENS_NAMES.get(name)
    if key is None:
        raise DataError(f"unknown MovieLens dataset {name!r}; choose one of {', '.join(sorted(MOVIELENS_NAMES))}.")
    folder = data_root(data_dir) / key
    if not folder.is_dir():
        raise DataError(f"{folder} is missing; expected {key}/ under the data root.")
    return _load_100k(folder) if key == "movielens_100k" else _load_latest_small(folder)
