"""Tiny mock tasks with known answers (mteb-style), used by tests and ``emblab list tasks``.

``mock/knn``        planted rank-4 data in 16-D (fit 400, catalogue 300, queries 20). Known:
                    uncompressed and ``pca:dim=4,store=f32`` (exact on rank-4 data) give
                    Recall@10 = R10@100 = 1.
``mock/retrieval``  3 documents, 2 queries in 2-D. Known uncompressed nDCG@10 =
                    (1/log2(3) + 1) / 2 = 0.815465, Recall@1 = 0.5, Recall@100 = 1.
``mock/sts``        8 pairs whose cosine increases with the gold score: Spearman×100 = 100.
"""

from __future__ import annotations

import numpy as np

from .beir import BeirTask
from .knn_fidelity import KnnFidelityTask
from .sts import StsTask

MOCK_RETRIEVAL_NDCG10 = (1 / np.log2(3) + 1) / 2


def planted(n: int, d: int = 16, rank: int = 4, seed: int = 0) -> np.ndarray:
    """Rows of rank ``rank`` in ``d`` dimensions (FAISS-style planted structure), float32 (n, d)."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(rank, d))
    return (rng.normal(size=(n, rank)) @ basis).astype(np.float32)


def mock_knn() -> KnnFidelityTask:
    rng_data = planted(720, seed=0)
    return KnnFidelityTask.from_arrays("mock/knn", rng_data[:400], rng_data[400:700], rng_data[700:720],
                                       dataset={"source": "planted rank-4, seed 0"},
                                       description="planted rank-4 data; lossless methods give recall 1")


def mock_retrieval() -> BeirTask:
    s = np.sqrt(0.5)
    corpus = np.array([[1, 0], [0, 1], [s, s]], np.float32)
    queries = np.array([[1, 0], [0, 1]], np.float32)
    # q1 ranks d0, d2, d1 with d2 relevant (rank 2); q2 ranks d1 first, relevant
    qrels = {"q1": {"d2": 1}, "q2": {"d1": 1}}
    return BeirTask.from_arrays("mock/retrieval", corpus, queries, ["d0", "d1", "d2"], ["q1", "q2"], qrels,
                                dataset={"source": "hand-made"})


def mock_sts() -> StsTask:
    gold = np.arange(8, dtype=np.float64)
    angles = (7 - gold) / 7 * (np.pi / 2)        # gold 7 -> same direction, gold 0 -> orthogonal
    u = np.tile(np.array([[1.0, 0.0, 0.0]], np.float32), (8, 1))
    v = np.stack([np.cos(angles), np.sin(angles), np.zeros(8)], axis=1).astype(np.float32)
    return StsTask.from_arrays("mock/sts", u, v, gold, X_fit=np.concatenate([u, v]),
                               dataset={"source": "hand-made"})
