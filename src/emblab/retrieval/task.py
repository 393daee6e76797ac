"""Task container for retriever training and the retrieval metrics (spec section 5).

A :class:`RetrievalTask` is index-based: queries and targets are rows of feature matrices,
training pairs are ``(query_row, target_row)`` and qrels map query rows to ``{target_row: rel}``.
Metrics use **fresh** embeddings of all N targets (exhaustive search); that encode is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._deps import require
from .._errors import DataError


@dataclass
class RetrievalTask:
    """Everything the training loop needs.

    Attributes
    ----------
    name : str
    query_feats : (nq, dq) float32 array, inputs of f
    target_feats : (N, dt) float32 array, inputs of g
    train_pairs : (m, 2) int64 array of (query row, target row)
    qrels : dict split -> {query row: {target row: relevance}}; must hold "train"
    encoder : dict, e.g. ``{"kind": "mlp", "d_hidden": 256, "d_out": 64}``
    shared : bool, f and g share weights
    curve_split, final_split : str, splits used for curves over training and final metrics
    info : dict, dataset description written into results
    """

    name: str
    query_feats: np.ndarray
    target_feats: np.ndarray
    train_pairs: np.ndarray
    qrels: dict
    encoder: dict
    shared: bool = False
    curve_split: str = "val"
    final_split: str = "test"
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        tp = np.asarray(self.train_pairs, dtype=np.int64)
        if tp.ndim != 2 or tp.shape[1] != 2 or len(tp) == 0:
            raise DataError(f"{self.name}: train_pairs must be a non-empty (m, 2) array; got shape {tp.shape}.")
        if tp[:, 0].max() >= len(self.query_feats) or tp[:, 1].max() >= len(self.target_feats):
            raise DataError(f"{self.name}: train_pairs index a query or target row that does not exist.")
        self.train_pairs = tp
        for split in {"train", self.curve_split, self.final_split}:
            if split not in self.qrels:
                raise DataError(f"{self.name}: qrels has no split {split!r}; have {sorted(self.qrels)}.")

    @property
    def n_targets(self) -> int:
        return int(self.target_feats.shape[0])

    def positives(self, split: str = "train") -> dict[int, np.ndarray]:
        """Query row -> int64 array of its relevant target rows."""
        return {q: np.fromiter(d.keys(), dtype=np.int64) for q, d in self.qrels[split].items()}


def rank_targets(Q, T, k: int, chunk: int = 1024):
    """Exhaustive top-k by inner product. Q: (nq, D), T: (N, D) torch tensors -> (nq, k) int64 numpy."""
    torch = require("torch", "rank_targets")
    out = []
    with torch.no_grad():
        for i in range(0, Q.shape[0], chunk):
            s = Q[i:i + chunk] @ T.T
            out.append(torch.topk(s, min(k, T.shape[0]), dim=1).indices.cpu())
    return torch.cat(out).numpy()


def retrieval_metrics(ranked: np.ndarray, q_rows: np.ndarray, qrels: dict, ks=(1, 5, 10, 20, 100)) -> dict[str, Any]:
    """Mean Recall@k for each k and nDCG@10 over the queries ``q_rows`` (rows of ``ranked``).

    The metrics are :func:`emblab.evaluation.metrics.mean_retrieval_scores` (pytrec_eval
    conventions: judgements <= 0 count as not relevant, queries without a relevant target are
    left out of the mean), applied to target rows instead of document ids.

    Parameters
    ----------
    ranked : (nq, >= max(ks)) int array, target rows best first
    q_rows : (nq,) int array, the query row of each row of ``ranked``
    qrels : dict query row -> {target row: relevance}
    """
    from ..evaluation.metrics import mean_retrieval_scores

    run = {int(q): ranked[i].tolist() for i, q in enumerate(q_rows)}
    return mean_retrieval_scores(run, {int(q): qrels[q] for q in q_rows}, ndcg_ks=(10,), recall_ks=ks)


def topk_overlap(I_a: np.ndarray, I_b: np.ndarray, k: int) -> float:
    """Mean |top-k(a) ∩ top-k(b)| / k over rows. I_a, I_b: (n, >=k)."""
    return float(np.mean([len(set(a[:k].tolist()) & set(b[:k].tolist())) / k for a, b in zip(I_a, I_b)]))
