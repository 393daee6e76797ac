"""Evaluation metrics as pure functions (baselines_and_eval.md section 2).

Arrays in, floats (or small dicts of floats) out; no state, no I/O. Each function has a
known-answer test in ``tests/test_metrics.py``.

kNN fidelity (section 2.1)
    :func:`knn_recall`       Recall@k of a compressed search against exact search, tie-tolerant
    :func:`r_at_k_of_true`   R10@100: share of the true top-10 found in a longer shortlist
    :func:`exact_scores`     exact scores of retrieved items (input of the tie-tolerant variants)
Retrieval with relevance labels (section 2.2, pytrec_eval-compatible)
    :func:`ndcg_at_k`, :func:`recall_at_k`, :func:`mrr_at_k`, :func:`mean_retrieval_scores`
STS (section 2.3)
    :func:`spearman`
Recommendation with one held-out item (section 2.5)
    :func:`hit_rate_at_k`, :func:`ndcg_single_at_k`
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np

from .._errors import DataError

#: tolerance of the tie-tolerant recall: an item counts if its exact score >= kth true score - TIE_TOL
TIE_TOL = 1e-6


# --- kNN fidelity ----------------------------------------------------------------------------

def exact_scores(xq: np.ndarray, xb: np.ndarray, I: np.ndarray) -> np.ndarray:
    """Exact inner products of each query with its retrieved items.

    Parameters
    ----------
    xq : ndarray of shape (nq, d)
        Queries (already L2-normalised for cosine).
    xb : ndarray of shape (n, d)
        Uncompressed catalogue (already L2-normalised for cosine).
    I : ndarray of shape (nq, k) int
        Retrieved item indices; ``-1`` marks an empty slot and scores ``-inf``.

    Returns
    -------
    ndarray of shape (nq, k) float64
    """
    I = np.asarray(I)
    xq = np.asarray(xq, dtype=np.float32)
    xb = np.asarray(xb, dtype=np.float32)
    valid = I >= 0
    safe = np.where(valid, I, 0)
    s = np.empty(I.shape, dtype=np.float64)
    step = 128  # bound the (step, k, d) gather to a few tens of MB
    for a in range(0, len(I), step):
        items = xb[safe[a:a + step]].astype(np.float64)    # (step, k, d)
        s[a:a + step] = np.einsum("qkd,qd->qk", items, xq[a:a + step].astype(np.float64))
    return np.where(valid, s, -np.inf)


def _check_2d(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2:
        raise DataError(f"{name} must be 2-D (n_queries, k); got shape {a.shape}.")
    return a


def knn_recall(I: np.ndarray, I_true: np.ndarray, k: int = 10, *, retrieved_scores: np.ndarray | None = None,
               true_scores: np.ndarray | None = None, tol: float = TIE_TOL) -> float:
    """Mean Recall@k = |R_k ∩ G_k| / k of a search against the exact top-k.

    Tie-tolerant when ``retrieved_scores`` and ``true_scores`` are given: a retrieved item counts
    as correct if its exact score is at least the k-th exact score minus ``tol`` (so swapping two
    items with equal exact scores is not an error). Otherwise plain set intersection.

    Parameters
    ----------
    I : ndarray of shape (nq, >= k) int
        Retrieved indices, best first; only the first ``k`` columns are used.
    I_true : ndarray of shape (nq, >= k) int
        Exact top-k indices, best first.
    k : int
    retrieved_scores : ndarray of shape (nq, >= k), optional
        Exact scores of the items in ``I`` (see :func:`exact_scores`).
    true_scores : ndarray of shape (nq, >= k), optional
        Exact scores of ``I_true`` in decreasing order.
    tol : float

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> knn_recall(np.array([[0, 1, 9]]), np.array([[0, 1, 2]]), k=3)
    0.6666666666666666
    """
    I = _check_2d("I", I)
    I_true = _check_2d("I_true", I_true)
    if I.shape[0] != I_true.shape[0]:
        raise DataError(f"I has {I.shape[0]} queries but I_true has {I_true.shape[0]}.")
    if I_true.shape[1] < k:
        raise DataError(f"I_true has {I_true.shape[1]} columns; need at least k={k}.")
    Ik = I[:, :k]
    if retrieved_scores is not None and true_scores is not None:
        rs = _check_2d("retrieved_scores", retrieved_scores)[:, :k]
        kth = _check_2d("true_scores", true_scores)[:, k - 1]
        hits = ((rs >= kth[:, None] - tol) & (Ik >= 0)).sum(axis=1)
    else:
        hits = np.array([len(set(a.tolist()) & set(b.tolist()) - {-1}) for a, b in zip(Ik, I_true[:, :k])])
    return float(np.mean(np.minimum(hits, k) / k)) if len(hits) else float("nan")


def r_at_k_of_true(I_long: np.ndarray, I_true: np.ndarray, k_true: int = 10, *,
                   retrieved_scores: np.ndarray | None = None, true_scores: np.ndarray | None = None,
                   tol: float = TIE_TOL) -> float:
    """R10@100: mean share of the true top-``k_true`` that appears in a longer shortlist.

    ``|R_K ∩ G_k| / k`` with ``K = I_long.shape[1]`` (e.g. 100). With scores given, retrieved
    items tied with the k-th true score count (capped at ``k_true``), as in :func:`knn_recall`.

    Parameters
    ----------
    I_long : ndarray of shape (nq, K) int
        Shortlist, e.g. the top-100 of a compressed search.
    I_true : ndarray of shape (nq, >= k_true) int
    k_true : int
    retrieved_scores, true_scores : ndarray, optional
        As in :func:`knn_recall` (``retrieved_scores`` of shape (nq, K)).

    Returns
    -------
    float in [0, 1]
    """
    I_long = _check_2d("I_long", I_long)
    I_true = _check_2d("I_true", I_true)
    if I_long.shape[0] != I_true.shape[0]:
        raise DataError(f"I_long has {I_long.shape[0]} queries but I_true has {I_true.shape[0]}.")
    if retrieved_scores is not None and true_scores is not None:
        kth = _check_2d("true_scores", true_scores)[:, k_true - 1]
        hits = ((_check_2d("retrieved_scores", retrieved_scores) >= kth[:, None] - tol) & (I_long >= 0)).sum(axis=1)
    else:
        hits = np.array([len(set(a.tolist()) & set(b.tolist()) - {-1})
                         for a, b in zip(I_long, I_true[:, :k_true])])
    return float(np.mean(np.minimum(hits, k_true) / k_true)) if len(hits) else float("nan")


# --- retrieval with qrels ------------------------------------------------------------------------

#: nDCG gain conventions: ``linear`` (gain = relevance, as pytrec_eval / trec_eval and BEIR) and
#: ``exp`` (gain = 2**relevance - 1, Burges et al. 2005, common in learning-to-rank work). They
#: agree when every relevance is 0 or 1.
GAINS = ("linear", "exp")


def _gain(rel: float, gain: str) -> float:
    return float(rel) if gain == "linear" else 2.0 ** rel - 1.0


def ndcg_at_k(ranked_ids: Sequence[str], qrels: Mapping[str, int], k: int = 10, *, gain: str = "linear") -> float:
    """nDCG@k of one ranked list, as pytrec_eval's ``ndcg_cut_k`` computes it (``gain="linear"``).

    DCG@k = sum_{r<=k} g(rel_r) / log2(r + 1), with g(rel) = rel (``linear``, the default) or
    2**rel - 1 (``exp``); IDCG@k from the qrels sorted by relevance. Documents with relevance
    <= 0 contribute nothing.

    Parameters
    ----------
    ranked_ids : sequence of str
        Document ids, best first (ties already broken by the caller).
    qrels : mapping of str -> int
        Relevance of judged documents for this query (graded).
    k : int
    gain : {"linear", "exp"}

    Returns
    -------
    float in [0, 1]; 0 when the query has no relevant document.

    Examples
    --------
    >>> round(ndcg_at_k(["a", "b"], {"b": 1}, k=10), 4)
    0.6309
    >>> round(ndcg_at_k(["a", "b"], {"a": 1, "b": 2}, k=10, gain="exp"), 4)
    0.7967
    """
    if gain not in GAINS:
        raise DataError(f"gain={gain!r}; choose 'linear' (pytrec_eval) or 'exp' (2**rel - 1).")
    dcg = 0.0
    for r, doc in enumerate(list(ranked_ids)[:k], start=1):
        rel = qrels.get(doc, 0)
        if rel > 0:
            dcg += _gain(rel, gain) / math.log2(r + 1)
    ideal = sorted((v for v in qrels.values() if v > 0), reverse=True)[:k]
    idcg = sum(_gain(rel, gain) / math.log2(r + 1) for r, rel in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked_ids: Sequence[str], qrels: Mapping[str, int], k: int = 100) -> float:
    """Recall@k = |top-k ∩ relevant| / |relevant| for one query (relevant: relevance > 0).

    Returns 0 when the query has no relevant document.

    Examples
    --------
    >>> recall_at_k(["a", "b", "c"], {"c": 1, "z": 1}, k=3)
    0.5
    """
    relevant = {d for d, v in qrels.items() if v > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(list(ranked_ids)[:k])) / len(relevant)


def mrr_at_k(ranked_ids: Sequence[str], qrels: Mapping[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document (relevance > 0) in the top k, else 0.

    Examples
    --------
    >>> mrr_at_k(["a", "b", "c"], {"c": 1, "b": 2}, k=10)
    0.5
    >>> mrr_at_k(["a", "b", "c"], {"c": 1}, k=2)
    0.0
    """
    for r, doc in enumerate(list(ranked_ids)[:k], start=1):
        if qrels.get(doc, 0) > 0:
            return 1.0 / r
    return 0.0


def mean_retrieval_scores(run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]],
                          ndcg_ks: Iterable[int] = (10,), recall_ks: Iterable[int] = (1, 5, 10, 100),
                          mrr_ks: Iterable[int] = (), *, gain: str = "linear") -> dict[str, float]:
    """Mean nDCG@k, Recall@k and MRR@k over the queries of ``qrels`` (pytrec_eval's averaging).

    Parameters
    ----------
    run : mapping of query id -> ranked document ids
        A query of ``qrels`` missing from ``run`` scores 0.
    qrels : mapping of query id -> {doc id: relevance}
    ndcg_ks, recall_ks, mrr_ks : iterables of int
    gain : {"linear", "exp"}
        nDCG gain convention (:data:`GAINS`).

    Returns
    -------
    dict with keys ``ndcg@k``, ``recall@k`` and ``mrr@k``.
    """
    qids = [q for q, rels in qrels.items() if any(v > 0 for v in rels.values())]
    if not qids:
        raise DataError("qrels hold no query with a relevant document.")
    out: dict[str, float] = {}
    for k in ndcg_ks:
        out[f"ndcg@{k}"] = float(np.mean([ndcg_at_k(run.get(q, []), qrels[q], k, gain=gain) for q in qids]))
    for k in recall_ks:
        out[f"recall@{k}"] = float(np.mean([recall_at_k(run.get(q, []), qrels[q], k) for q in qids]))
    for k in mrr_ks:
        out[f"mrr@{k}"] = float(np.mean([mrr_at_k(run.get(q, []), qrels[q], k) for q in qids]))
    return out


# --- STS ---------------------------------------------------------------------------------------

def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (scipy, average ranks for ties).

    Parameters
    ----------
    a, b : array-like of shape (n,)

    Returns
    -------
    float in [-1, 1]

    Examples
    --------
    >>> spearman([1, 2, 3], [10, 20, 25])
    1.0
    """
    from scipy.stats import spearmanr

    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise DataError(f"spearman needs equal lengths; got {a.shape[0]} and {b.shape[0]}.")
    if a.size < 2:
        raise DataError("spearman needs at least two pairs.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DataError("spearman inputs contain NaN or inf.")
    return float(spearmanr(a, b).statistic)


# --- recommendation with one held-out item ---------------------------------------------------------

def _ranks(ranks: np.ndarray) -> np.ndarray:
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0:
        raise DataError(f"ranks must be a non-empty 1-D array of 1-based ranks; got shape {ranks.shape}.")
    if (ranks < 1).any():
        raise DataError("ranks are 1-based; got a rank < 1.")
    return ranks


def hit_rate_at_k(ranks: np.ndarray, k: int = 10) -> float:
    """HitRate@k: share of users whose held-out item has 1-based rank <= k.

    Parameters
    ----------
    ranks : ndarray of shape (n_users,)
        1-based rank of each user's held-out item.

    Examples
    --------
    >>> hit_rate_at_k(np.array([1, 11, 3, 50]), k=10)
    0.5
    """
    return float(np.mean(_ranks(ranks) <= k))


def ndcg_single_at_k(ranks: np.ndarray, k: int = 10) -> float:
    """NDCG@k with one relevant item: mean of 1/log2(rank + 1) if rank <= k else 0.

    Examples
    --------
    >>> ndcg_single_at_k(np.array([1, 3]), k=10)
    0.75
    """
    r = _ranks(ranks).astype(np.float64)
    return float(np.mean(np.where(r <= k, 1.0 / np.log2(r + 1.0), 0.0)))
