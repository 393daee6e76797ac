"""Synthetic drifting-target task (spec section 6.1).

- N targets with features ``u_y`` in R^dim from ``n_clusters`` Gaussian clusters: unit-vector
  centres, within-cluster std 0.3 (close clusters make hard negatives).
- The query for y is ``x = A u_y + 0.5 xi`` with A a fixed random orthogonal matrix, xi ~ N(0, I).
- Pairs: a random permutation of the N targets split into train/val/test pairs (40k/5k/5k at
  full size), so every target is the positive of exactly one query and all N are candidates in
  every split. f and g are 32 -> 256 -> 64 MLPs (separate weights); the data seed is fixed and
  independent of the training seed.
"""

from __future__ import annotations

import numpy as np

from .._errors import InvalidParameterError
from .task import RetrievalTask


def make_synthetic_task(n_targets: int = 50_000, n_clusters: int = 100, dim: int = 32,
                        splits: tuple[int, int, int] = (40_000, 5_000, 5_000), cluster_std: float = 0.3,
                        query_noise: float = 0.5, d_hidden: int = 256, d_out: int = 64,
                        seed: int = 0) -> RetrievalTask:
    """Build the task.

    Parameters
    ----------
    n_targets : int
        N.
    splits : (train, val, test) pair counts; their sum must be <= n_targets.
    seed : int
        Data seed (fixed across training seeds).

    Returns
    -------
    RetrievalTask with query_feats (sum(splits), dim) and target_feats (n_targets, dim).
    """
    if sum(splits) > n_targets or min(splits) < 1:
        raise InvalidParameterError(f"splits {splits} must be >= 1 each and sum to at most n_targets={n_targets}.")
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    assign = rng.integers(0, n_clusters, n_targets)
    U = (centres[assign] + cluster_std * rng.standard_normal((n_targets, dim))).astype(np.float32)
    A, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    targets = rng.permutation(n_targets)[:sum(splits)]
    X = (U[targets] @ A.T + query_noise * rng.standard_normal((len(targets), dim))).astype(np.float32)
    bounds = np.cumsum((0,) + tuple(splits))
    qrels = {name: {int(q): {int(targets[q]): 1} for q in range(bounds[i], bounds[i + 1])}
             for i, name in enumerate(("train", "val", "test"))}
    train_pairs = np.stack([np.arange(splits[0]), targets[:splits[0]]], axis=1)
    g_flops = 2 * (dim * d_hidden + d_hidden * d_out) + 2 * d_hidden + 3 * d_out
    info = {"name": "synthetic", "n_targets": n_targets, "n_clusters": n_clusters, "dim": dim, "splits": list(splits),
            "cluster_std": cluster_std, "query_noise": query_noise, "data_seed": seed,
            "g_flops_per_item": g_flops, "g_flops_note": "FLOPs of one forward of the toy MLP g"}
    return RetrievalTask("synthetic", X, U, train_pairs, qrels,
                         encoder={"kind": "mlp", "d_hidden": d_hidden, "d_out": d_out}, shared=False,
                         curve_split="val", final_split="test", info=info)
