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


def planted_interactions(n_groups: int = 6, items_per_group: int = 10, users_per_group: int = 8, seed: int = 0,
                         timestamps: bool = True):
    """Interactions with a known best item per user: block structure plus one stray interaction.

    Users of group g interact with every item of block g (``items_per_group`` items) at times
    1, 2, ... in a seeded random order, after one stray item of another block at time 0. Under
    leave-last-out the held-out item is the one block item missing from the user's history, which
    a collaborative model must rank first (HR@10 = NDCG@10 = 1); under leave-last-5 the five
    held-out items are the block items left (Recall@10 = 1). Popularity cannot tell the blocks
    apart.

    Returns
    -------
    Interactions
        ``timestamps=False`` drops the time column (random leave-one-out; the block structure
        still makes any held-out block item the best unseen one).
    """
    from ...data.interactions import Interactions

    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    n_items = n_groups * items_per_group
    for g in range(n_groups):
        block = np.arange(g * items_per_group, (g + 1) * items_per_group)
        for j in range(users_per_group):
            u = g * users_per_group + j
            stray = int(rng.choice(np.setdiff1d(np.arange(n_items), block)))
            order = rng.permutation(block)
            users += [u] * (len(order) + 1)
            items += [stray] + order.tolist()
            times += list(range(len(order) + 1))
    n_users = n_groups * users_per_group
    return Interactions("planted", [f"u{u}" for u in range(n_users)], [f"i{i}" for i in range(n_items)],
                        np.asarray(users, np.int64), np.asarray(items, np.int64),
                        timestamps=np.asarray(times, np.float64) if timestamps else None,
                        source={"source": f"planted blocks ({n_groups} x {items_per_group} items), seed {seed}"})


def mock_recsys(**options):
    """``mock/recsys``: :func:`planted_interactions` with fixed ALS settings (no tuning; needs implicit)."""
    from .recsys_task import RecsysTask, recsys_metadata

    options.setdefault("cf", "als:factors=8,regularization=0.1,alpha=1.0,weighting=none")
    inter = planted_interactions()
    return RecsysTask(recsys_metadata("mock/recsys", "", "planted block interactions; known best item per user"),
                      lambda: (inter, None, {"source": "planted"}), **options)
