"""Recommendation protocol: hold-out splits, masked top-10 ranking, metrics, baselines (§2.5).

Protocol
--------
* Split (:func:`holdout_split`): per user, hold out the last ``n_holdout`` interactions by
  (timestamp, item index), or, without timestamps, ``n_holdout`` seeded random ones. Users with
  at most ``n_holdout`` interactions keep all of them for training and are not evaluated.
  ``n_holdout=1`` is leave-last-out (HR@10, NDCG@10); ``n_holdout=5`` is leave-last-5
  (Recall@10 = |top-10 ∩ held-out| / 5).
* Ranking (:func:`rank_topn`): every item not in the user's training history, by (-score, item
  index); scores come in blocks of users so the (users x items) matrix is never whole.
* Scores: inner product u . v (:func:`ip_scores`; collaborative factors are scored as MIPS), or,
  for the title-embedding control (:func:`evaluate_split`), the cosine of the user vector
  u = normalize(mean of L2-normalised history embeddings) with the method's search mode.
* Baselines: popularity (most-interacted items in the training interactions of all users,
  excluding the user's own history) and random (seeded uniform scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..._errors import DataError
from ..._validation import l2_normalize
from ...search import topk_stable
from ..metrics import hit_rate_at_k, ndcg_single_at_k, recall_at_k

__all__ = ["RecsysSplit", "holdout_split", "leave_last_out", "rank_topn", "ip_scores", "split_metrics",
           "popularity_topn", "random_topn", "user_vectors", "topn_excluding", "evaluate_split", "TOPN"]

TOPN = 10
#: scores computed per block of at most this many (user, item) pairs (float64: 128 MB)
_BLOCK = 1 << 24


@dataclass
class RecsysSplit:
    """Training histories and held-out items of the evaluated users.

    Attributes
    ----------
    histories, heldout : list of ndarray (int64)
        Per evaluated user: training items (ordered as given) and held-out items.
    n_items, n_holdout : int
    users : ndarray (n_eval,) int64 or None
        Index of each evaluated user among all users.
    train_mask : ndarray (n,) bool or None
        Over the interactions the split was made from: True where an interaction is training data
        (every interaction of users that are not evaluated, and the histories of those who are).
    """

    histories: list[np.ndarray]
    heldout: list[np.ndarray]
    n_items: int
    n_holdout: int
    users: np.ndarray | None = None
    train_mask: np.ndarray | None = None

    @property
    def max_history(self) -> int:
        return max(len(h) for h in self.histories)


def holdout_split(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, n_holdout: int = 1, *,
                  timestamps: np.ndarray | None = None, seed: int = 0) -> RecsysSplit:
    """Hold out each user's last ``n_holdout`` interactions (by time), or random ones without time.

    Parameters
    ----------
    users, items : ndarray (n,) int
        One row per (user, item) interaction; a pair must not repeat.
    n_users, n_items : int
    n_holdout : int
    timestamps : ndarray (n,), optional
        Order within a user is (timestamp, item index). Without timestamps, ``n_holdout`` items
        per user are drawn at random (seeded; same seed, same split).
    seed : int

    Returns
    -------
    RecsysSplit

    Raises
    ------
    DataError
        ``n_holdout < 1`` or no user with more than ``n_holdout`` interactions.
    """
    if n_holdout < 1:
        raise DataError(f"n_holdout must be >= 1; got {n_holdout}.")
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    if timestamps is not None:
        order = np.lexsort((items, np.asarray(timestamps), users))
    else:  # a seeded random order within each user: the last n_holdout are a uniform draw
        order = np.lexsort((np.random.default_rng(seed).random(len(users)), users))
    u_sorted = users[order]
    counts = np.bincount(users, minlength=n_users)
    ends = np.cumsum(counts)
    from_end = ends[u_sorted] - 1 - np.arange(len(order))  # 0 = a user's last interaction
    held_sorted = (from_end < n_holdout) & (counts[u_sorted] > n_holdout)
    train_mask = np.ones(len(users), bool)
    train_mask[order[held_sorted]] = False
    evaluated = np.flatnonzero(counts > n_holdout)
    if evaluated.size == 0:
        raise DataError(f"no user has more than {n_holdout} interaction(s); leave-{n_holdout}-out needs users "
                        f"with at least {n_holdout + 1}.")
    starts = ends - counts
    it_sorted = items[order]
    hist = [it_sorted[starts[u]:ends[u] - n_holdout] for u in evaluated]
    held = [it_sorted[ends[u] - n_holdout:ends[u]] for u in evaluated]
    return RecsysSplit(hist, held, int(n_items), int(n_holdout), evaluated.astype(np.int64), train_mask)


def leave_last_out(histories: list[np.ndarray], n_items: int, n_holdout: int = 1) -> RecsysSplit:
    """Split ordered per-user interactions (see ``MovieLens.histories``): the last ``n_holdout``
    of each user with more than ``n_holdout`` are held out."""
    users = np.concatenate([np.full(len(h), u, np.int64) for u, h in enumerate(histories)])
    items = np.concatenate([np.asarray(h, np.int64) for h in histories])
    position = np.concatenate([np.arange(len(h)) for h in histories])
    return holdout_split(users, items, len(histories), n_items, n_holdout, timestamps=position)


def rank_topn(score_rows: Callable[[int, int], np.ndarray], histories: list[np.ndarray], n_items: int,
              n: int = TOPN) -> np.ndarray:
    """Top-``n`` items per user by (-score, item index), the user's history excluded.

    Parameters
    ----------
    score_rows : callable (start, stop) -> ndarray (stop - start, n_items)
        Scores of users ``start..stop-1`` against every item.
    histories : list of ndarray
        Items to exclude, one array per user (row).
    n_items, n : int

    Returns
    -------
    ndarray (n_users, n) int64; -1 pads rows with fewer than ``n`` items left.
    """
    n_users = len(histories)
    out = np.full((n_users, n), -1, np.int64)
    step = max(1, min(4096, _BLOCK // max(n_items, 1)))
    for s in range(0, n_users, step):
        e = min(n_users, s + step)
        S = np.array(score_rows(s, e), dtype=np.float32)
        rows = np.concatenate([np.full(len(h), r, np.int64) for r, h in enumerate(histories[s:e])])
        S[rows, np.concatenate(histories[s:e]).astype(np.int64)] = -np.inf
        D, I = topk_stable(S, n)
        I[~np.isfinite(D)] = -1
        out[s:e, :I.shape[1]] = I
    return out


def ip_scores(U: np.ndarray, V: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """Inner-product scorer for :func:`rank_topn`: rows of ``U`` (n_users, d) against ``V`` (n_items, d).

    Accumulated in float64 and rounded to float32, so equal items tie exactly whatever the block
    shape (BLAS rounding depends on it).
    """
    V64 = np.asarray(V, np.float64).T
    return lambda s, e: (np.asarray(U[s:e], np.float64) @ V64).astype(np.float32)


def split_metrics(top: np.ndarray, split: RecsysSplit) -> dict[str, float]:
    """HR@10 / NDCG@10 (one held-out item) or ``recall@10_last{n}`` (several) from top-10 lists."""
    if split.n_holdout == 1:
        ranks = np.array([int(np.flatnonzero(t == h[0])[0]) + 1 if h[0] in t else TOPN + 1
                          for t, h in zip(top, split.heldout)])
        return {"hr@10": hit_rate_at_k(ranks, TOPN), "ndcg@10": ndcg_single_at_k(ranks, TOPN)}
    rec = [recall_at_k(t.tolist(), {int(i): 1 for i in h}, TOPN) for t, h in zip(top, split.heldout)]
    return {f"recall@10_last{split.n_holdout}": float(np.mean(rec))}


def popularity_topn(split: RecsysSplit, counts: np.ndarray | None = None) -> np.ndarray:
    """Most-interacted items, excluding each user's own history, (n_users, 10).

    ``counts`` (n_items,) are the training interactions of *all* users; default: the evaluated
    users' histories.
    """
    if counts is None:
        counts = np.bincount(np.concatenate(split.histories), minlength=split.n_items)
    c = np.asarray(counts, np.float32)
    return rank_topn(lambda s, e: np.broadcast_to(c, (e - s, len(c))), split.histories, split.n_items)


def random_topn(split: RecsysSplit, seed: int = 0) -> np.ndarray:
    """Uniformly random rankings (seeded), excluding each user's history, (n_users, 10)."""
    rng = np.random.default_rng(seed)
    return rank_topn(lambda s, e: rng.random((e - s, split.n_items), dtype=np.float32), split.histories,
                     split.n_items)


# --- the title-embedding control (cosine of mean-of-history users) -----------------------------------

def user_vectors(item_vecs: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
    """u = normalize(mean of L2-normalised history rows), (n_users, d) float32."""
    V = l2_normalize(item_vecs)
    return l2_normalize(np.stack([V[h].mean(0) for h in histories]))


def topn_excluding(I: np.ndarray, histories: list[np.ndarray], n: int = TOPN) -> np.ndarray:
    """First ``n`` ranked items of each row of ``I`` not in the user's history, (n_users, n).

    Rows are padded with -1 when fewer than ``n`` items remain (tiny catalogues).
    """
    out = np.full((len(histories), n), -1, dtype=np.int64)
    for r, h in enumerate(histories):
        row = I[r][~np.isin(I[r], h)][:n]
        out[r, :len(row)] = row
    return out


def evaluate_split(split: RecsysSplit, item_vecs: np.ndarray, model: Any = None, codes: Any = None,
                   mode: str = "asymmetric", users: str = "uncompressed") -> dict[str, float]:
    """Metrics of one method on one split with cosine users (the title-embedding control).

    Parameters
    ----------
    split : RecsysSplit
    item_vecs : ndarray (n_items, d)
        Uncompressed item embeddings.
    model, codes : fitted compressor and its codes of ``item_vecs``; None = uncompressed exact search.
    mode : str
        Search mode of ``model``.
    users : {"uncompressed", "decoded"}
        Build user vectors from uncompressed or decoded history items (symmetric variant).
    """
    from ...search import exact_search, search

    k = min(split.n_items, TOPN + split.max_history)
    if model is None:
        U = user_vectors(item_vecs, split.histories)
        _, I = exact_search(U, item_vecs, k)
    else:
        src = item_vecs if users == "uncompressed" else model.decode(codes)
        U = user_vectors(src, split.histories)
        _, I = search(model, U, codes, k, mode)
    return split_metrics(topn_excluding(I, split.histories), split)
