"""Sparse coding of vectors over a fixed dictionary: batched Orthogonal Matching Pursuit.

The SAE encoder picks k atoms with one matrix product and a top-k. That is fast, but an amortised
guess: given the same learned decoder ``D`` (h, d), choosing the atoms greedily against the residual
and re-fitting all values by least squares after every pick (OMP, Pati et al. 1993) reconstructs
much better at the same k, i.e. at the same bytes per vector. This is "inference-time optimisation"
of SAE codes (used for LLM SAEs by Smith 2024); the codes keep the SAE's layout, so every search
mode works unchanged.

scikit-learn's ``orthogonal_mp_gram`` solves one sample at a time in a Python loop; here all rows of
a chunk advance together, so each step is one GEMM ``R D^T`` plus batched k x k solves on Gram
sub-matrices grown by one row per step.

Cost per item: k GEMM rows of h d multiply-adds (k times the top-k encoder) + O(k^4 / 4) for the
solves; memory per chunk: chunk x h floats.
"""

from __future__ import annotations

import numpy as np

_RIDGE = 1e-6  # keeps the k x k normal equations solvable when two picked atoms are nearly parallel


def batch_omp(X: np.ndarray, D: np.ndarray, k: int, *, chunk: int = 2048, return_gram: bool = False):
    """k-sparse codes of the rows of ``X`` over the unit-norm atoms (rows) of ``D`` by OMP.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Vectors to code (already prepared: normalised / centred as the model expects).
    D : ndarray of shape (h, d)
        Dictionary with unit-norm rows.
    k : int
        Atoms per row, ``1 <= k <= h``.
    chunk : int
        Rows coded together (memory ~ chunk x h x 4 bytes per buffer).
    return_gram : bool
        Also return the supports' Gram matrices.

    Returns
    -------
    indices : ndarray of shape (n, k), int64
        Chosen atoms in pick order (distinct within a row).
    values : ndarray of shape (n, k), float32
        Least-squares coefficients on the chosen atoms: ``X ~ values @ D[indices]`` row-wise
        (:func:`support_lsq`, so codes of a pick-order prefix are the OMP codes of a smaller k).
    gram : ndarray of shape (n, k, k), float64
        Only with ``return_gram``: ``D[indices] D[indices]^T`` per row (the quantisation-aware
        refit of :mod:`emblab.compressors.sparse_values` needs it).
    """
    picked = omp_path(X, D, k, chunk=chunk)
    values, gram = support_lsq(X, D, picked)
    values = values.astype(np.float32)
    return (picked, values, gram) if return_gram else (picked, values)


def omp_path(X: np.ndarray, D: np.ndarray, k: int, *, chunk: int = 2048) -> np.ndarray:
    """The atoms OMP picks for each row of ``X``, in pick order: (n, k) int64.

    OMP is greedy, so the first j picks of a k-atom path are the j-atom path: one run at the
    largest k serves every smaller k (values then come from :func:`support_lsq` on the prefix).
    """
    X = np.asarray(X, np.float32)
    D = np.asarray(D, np.float32)
    n, h = X.shape[0], D.shape[0]
    if not 1 <= k <= h:
        raise ValueError(f"k must be in [1, h={h}], got {k}")
    out = np.empty((n, k), np.int64)
    for s in range(0, n, chunk):
        out[s:s + chunk] = _omp_chunk(X[s:s + chunk], D, k)
    return out


def support_lsq(X: np.ndarray, D: np.ndarray, indices: np.ndarray, *, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares values of the rows of ``X`` on given supports, and the supports' Gram matrices.

    Parameters
    ----------
    X : ndarray (m, d)
    D : ndarray (h, d), unit-norm rows
    indices : ndarray (m, k)
        Atoms of each row (an OMP path, or the top-k encoder's choice).

    Returns
    -------
    values : ndarray (m, k) float64, argmin ||x - v D[indices]|| (ridge 1e-6)
    gram : ndarray (m, k, k) float64
    """
    X = np.asarray(X, np.float32)
    D = np.asarray(D, np.float32)
    indices = np.asarray(indices, np.int64)
    m, k = indices.shape
    values = np.empty((m, k))
    gram = np.empty((m, k, k))
    for s in range(0, m, chunk):
        atoms = D[indices[s:s + chunk]]  # (c, k, d)
        g = np.matmul(atoms, np.swapaxes(atoms, 1, 2)).astype(np.float64)
        rhs = np.matmul(atoms, X[s:s + chunk, :, None])[..., 0].astype(np.float64)
        values[s:s + chunk] = np.linalg.solve(g + _RIDGE * np.eye(k), rhs[..., None])[..., 0]
        gram[s:s + chunk] = g
    return values, gram


def _omp_chunk(X: np.ndarray, D: np.ndarray, k: int) -> np.ndarray:
    m = X.shape[0]
    rows = np.arange(m)
    alpha0 = X @ D.T  # (m, h) correlations of the input with every atom: also the LSQ right-hand side
    corr = alpha0
    picked = np.zeros((m, k), np.int64)
    atoms = np.zeros((m, k, X.shape[1]), np.float32)  # grown by one atom per step (no re-gather)
    Gs = np.zeros((m, k, k))  # Gram sub-matrix of the support, grown by one row/column per step
    for j in range(k):
        c = np.abs(corr)
        c[rows[:, None], picked[:, :j]] = -1.0  # an atom already in the support is never picked again
        new = c.argmax(1)
        picked[:, j] = new
        if j + 1 == k:
            break
        atoms[:, j] = D[new]
        # new Gram row from the atoms themselves: an (h, h) Gram would be 2 GB at h = 16384
        Gs[:, j, :j + 1] = np.matmul(atoms[:, :j + 1], atoms[:, j, :, None])[..., 0]
        Gs[:, :j, j] = Gs[:, j, :j]
        rhs = alpha0[rows[:, None], picked[:, :j + 1]].astype(np.float64)
        A = Gs[:, :j + 1, :j + 1] + _RIDGE * np.eye(j + 1)
        vals = np.linalg.solve(A, rhs[..., None])[..., 0]  # (m, j+1) batched normal equations
        recon = np.matmul(vals.astype(np.float32)[:, None, :], atoms[:, :j + 1])[:, 0]  # (m, d)
        corr = (X - recon) @ D.T
    return picked
