"""``recsys_movielens``: recommendation with compressed item embeddings (baselines_and_eval.md §2.5).

Protocol
--------
* Interactions: every rating (``min_rating=None``), per user sorted by (timestamp, item id).
* Leave-last-out: hold out the last item; the history is everything before it. Leave-last-5: hold
  out the last 5 (Recall@10 = |top-10 ∩ held-out| / 5).
* User vector: u = normalize(mean of the L2-normalised **uncompressed** history embeddings)
  (``users="uncompressed"``, the asymmetric setting), or of the *decoded* history items
  (``users="decoded"``, the symmetric variant).
* Scoring: every item not in the user's history, ranked by (-score, item index), with the method's
  search mode (``asymmetric`` = cos(u, decode(item)); native modes such as ``sparse`` also work).
* Metrics: HitRate@10 and NDCG@10 = 1/log2(rank + 1) of the held-out item (leave-last-out),
  Recall@10 (leave-last-5). Baselines: popularity (most-interacted items in the training
  histories, excluding the user's own history) and random (seeded uniform scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._errors import DataError
from ..._validation import l2_normalize
from ..metrics import hit_rate_at_k, ndcg_single_at_k

__all__ = ["RecsysSplit", "leave_last_out", "user_vectors", "topn_excluding", "split_metrics",
           "evaluate_split", "popularity_topn", "random_topn"]

TOPN = 10


@dataclass
class RecsysSplit:
    """Histories and held-out items of every user with at least one history item."""

    histories: list[np.ndarray]
    heldout: list[np.ndarray]
    n_items: int
    n_holdout: int

    @property
    def max_history(self) -> int:
        return max(len(h) for h in self.histories)


def leave_last_out(histories: list[np.ndarray], n_items: int, n_holdout: int = 1) -> RecsysSplit:
    """Split ordered per-user interactions (see ``MovieLens.histories``) into history and held-out."""
    if n_holdout < 1:
        raise DataError(f"n_holdout must be >= 1; got {n_holdout}.")
    hist, held = [], []
    for h in histories:
        if len(h) > n_holdout:  # users need at least one history item
            hist.append(np.asarray(h[:-n_holdout], dtype=np.int64))
            held.append(np.asarray(h[-n_holdout:], dtype=np.int64))
    if not hist:
        raise DataError(f"no user has more than {n_holdout} interactions.")
    return RecsysSplit(hist, held, int(n_items), int(n_holdout))


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


def split_metrics(top: np.ndarray, split: RecsysSplit) -> dict[str, float]:
    """HitRate@10 / NDCG@10 (one held-out item) or Recall@10 (several) from top-10 lists."""
    if split.n_holdout == 1:
        ranks = np.array([int(np.flatnonzero(t == h[0])[0]) + 1 if h[0] in t else TOPN + 1
                          for t, h in zip(top, split.heldout)])
        return {"hitrate@10": hit_rate_at_k(ranks, TOPN), "ndcg@10": ndcg_single_at_k(ranks, TOPN)}
    rec = [len(set(t.tolist()) & set(h.tolist())) / split.n_holdout for t, h in zip(top, split.heldout)]
    return {f"recall@10_last{split.n_holdout}": float(np.mean(rec))}


def evaluate_split(split: RecsysSplit, item_vecs: np.ndarray, model: Any = None, codes: Any = None,
                   mode: str = "asymmetric", users: str = "uncompressed") -> dict[str, float]:
    """Metrics of one method on one split.

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


def popularity_topn(split: RecsysSplit) -> np.ndarray:
    """Most-interacted items over all training histories, excluding each user's own, (n_users, 10)."""
    counts = np.bincount(np.concatenate(split.histories), minlength=split.n_items)
    order = np.lexsort((np.arange(split.n_items), -counts))  # ties by item index
    k = min(split.n_items, TOPN + split.max_history)
    return topn_excluding(np.broadcast_to(order[:k], (len(split.histories), k)), split.histories)


def random_topn(split: RecsysSplit, seed: int = 0) -> np.ndarray:
    """Uniformly random rankings (seeded), excluding each user's history, (n_users, 10)."""
    rng = np.random.default_rng(seed)
    k = min(split.n_items, TOPN + split.max_history)
    I = np.stack([rng.permutation(split.n_items)[:k] for _ in split.histories])
    return topn_excluding(I, split.histories)
