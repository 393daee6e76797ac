"""The QWEM target M*, its top eigenpairs and the closed-form embeddings (qwem.md section 3).

``M*_ij = 2 (P_ij - k P_i P_j) / (P_ij + k P_i P_j)`` with ``P_ij = C_ij / sum C`` and ``P_i`` the
unigram frequency among in-vocabulary tokens. Pairs never seen are exactly -2. The loss
``1/4 ||W W^T - M*||_F^2`` is minimised (Eckart-Young) by ``W*_d = U_d Lambda_d^{1/2}`` provided
``lambda_d > 0``: only positive modes can be learned.

Also the mandatory baselines svd(PPMI) and svd(PMI) (unseen pairs -> 0 for PMI; marginals from
the co-occurrence counts, Levy & Goldberg style), embedded as ``U_d |S_d|^{1/2}``.
"""

from __future__ import annotations

import time

import numpy as np

from .._errors import FitError, InvalidParameterError
from .cooccurrence import CoocStats
from .vectors import WordVectors

__all__ = ["target_matrix", "top_eigenpairs", "closed_form_vectors", "fit_closed_form", "pmi_matrix",
           "svd_embeddings"]


def target_matrix(C: np.ndarray, unigram: np.ndarray, k: float = 1.0) -> np.ndarray:
    """QWEM target ``M*`` (float64 (V, V), entries in [-2, 2]).

    Parameters
    ----------
    C : ndarray (V, V)
        Symmetric co-occurrence counts.
    unigram : ndarray (V,)
        Unigram counts among in-vocabulary tokens (all > 0).
    k : float
        Negative-sampling ratio.
    """
    if k <= 0:
        raise InvalidParameterError(f"k (negatives per positive) must be > 0; got {k}.")
    total = float(C.sum())
    if total <= 0:
        raise FitError("the co-occurrence matrix is all zero; the corpus is too small for this window.")
    p = np.asarray(unigram, dtype=np.float64) / float(np.sum(unigram))
    if np.any(p <= 0):
        raise FitError("some vocabulary words have zero unigram count.")
    M = np.asarray(C, dtype=np.float64) / total  # P_ij (new array)
    neg = np.multiply.outer(k * p, p)  # k P_i P_j
    den = M + neg
    M -= neg
    del neg
    M /= den
    M *= 2.0
    return M


def top_eigenpairs(M: np.ndarray, d: int, *, method: str = "auto", device: str = "auto",
                   dtype=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Top ``d`` eigenpairs of symmetric ``M`` (largest algebraic eigenvalues first).

    Parameters
    ----------
    M : ndarray, float64 (V, V)
    d : int
    method : {"auto", "dense", "eigsh", "torch"}
        ``dense``: ``scipy.linalg.eigh(subset_by_index, driver="evr")``; ``eigsh``: Lanczos (large V,
        small d); ``torch``: full ``torch.linalg.eigh`` (used on GPU). ``auto`` picks torch when CUDA
        is available, else dense for V <= 12,000, else eigsh.
    dtype : numpy dtype, optional
        Solve in this precision (default: M's own; float32 roughly halves CPU time of ``dense``).

    Returns
    -------
    lam : ndarray (d,) descending
    U : ndarray (V, d)
    info : dict with ``method`` and ``seconds``.
    """
    V = M.shape[0]
    if not 1 <= d <= V:
        raise InvalidParameterError(f"d must be in [1, V={V}]; got {d}.")
    if method == "auto":
        method = "dense" if V <= 12000 else "eigsh"
        # the GPU pays off only for large V; skip the (slow) torch import for small problems
        if V >= 3000 and device != "cpu":
            import importlib.util

            if importlib.util.find_spec("torch") is not None:
                import torch

                if torch.cuda.is_available():
                    method = "torch"
    t0 = time.perf_counter()
    if dtype is not None:
        M = np.asarray(M, dtype=dtype)
    if method == "dense":
        import scipy.linalg

        lam, U = scipy.linalg.eigh(M, subset_by_index=[V - d, V - 1], driver="evr", check_finite=False)
    elif method == "eigsh":
        import scipy.sparse.linalg

        lam, U = scipy.sparse.linalg.eigsh(M, k=d, which="LA", tol=1e-10)
    elif method == "torch":
        from .._deps import require, torch_device

        torch = require("torch", "GPU eigendecomposition")
        dev = torch_device(device)
        Mt = torch.as_tensor(M, dtype=torch.float64, device=dev)
        lam_t, U_t = torch.linalg.eigh(Mt)
        lam, U = lam_t[-d:].cpu().numpy(), U_t[:, -d:].cpu().numpy()
        del Mt, lam_t, U_t
    else:
        raise InvalidParameterError(f"method must be auto, dense, eigsh or torch; got {method!r}.")
    order = np.argsort(-lam, kind="stable")
    lam, U = lam[order], U[:, order]
    # fix the sign of each eigenvector (largest-|.| entry positive) so results are reproducible
    sgn = np.sign(U[np.abs(U).argmax(axis=0), np.arange(U.shape[1])])
    U = U * np.where(sgn == 0, 1, sgn)
    lam, U = lam.astype(np.float64), U.astype(np.float64)
    return lam, U, {"method": method, "dtype": M.dtype.name, "seconds": time.perf_counter() - t0}


def closed_form_vectors(lam: np.ndarray, U: np.ndarray, d: int) -> np.ndarray:
    """``W*_d = U_d Lambda_d^{1/2}`` (float64 (V, d)); requires ``lam[d-1] > 0``."""
    if d > lam.size:
        raise InvalidParameterError(f"d={d} exceeds the {lam.size} computed eigenpairs.")
    if lam[d - 1] <= 0:
        npos = int((lam > 0).sum())
        raise InvalidParameterError(f"d={d} but only {npos} eigenvalues of M* are positive; "
                                    f"use d <= {npos} (only positive modes can be learned).")
    return U[:, :d] * np.sqrt(lam[:d])


def fit_closed_form(stats: CoocStats, d: int, *, k: float = 1.0, method: str = "auto",
                    device: str = "auto", return_eig: bool = False):
    """Closed-form QWEM vectors of a corpus.

    Returns
    -------
    WordVectors, or ``(WordVectors, lam, U)`` when ``return_eig``.
    """
    t0 = time.perf_counter()
    M = target_matrix(stats.C, stats.unigram, k)
    t_m = time.perf_counter() - t0
    lam, U, info = top_eigenpairs(M, d, method=method, device=device)
    del M
    W = closed_form_vectors(lam, U, d)
    meta = {"method": "qwem_closed_form", "d": d, "k": k, "V": stats.V, "eig_method": info["method"],
            "target_seconds": t_m, "eig_seconds": info["seconds"], "seconds": time.perf_counter() - t0,
            "corpus": stats.meta.get("corpus"), "window": stats.meta.get("window")}
    wv = WordVectors(stats.words, W.astype(np.float32), meta)
    return (wv, lam, U) if return_eig else wv


def pmi_matrix(C: np.ndarray, *, positive: bool = True) -> np.ndarray:
    """PMI from co-occurrence counts; unseen pairs -> 0; ``positive`` clips at 0 (PPMI)."""
    total = float(C.sum())
    m = C.sum(axis=1)
    with np.errstate(divide="ignore"):
        X = np.log(np.asarray(C, dtype=np.float64) * total)
        X -= np.log(np.maximum(m, 1e-300))[:, None]
        X -= np.log(np.maximum(m, 1e-300))[None, :]
    X[C <= 0] = 0.0
    if positive:
        np.maximum(X, 0.0, out=X)
    return X


def svd_embeddings(stats: CoocStats, d: int, *, kind: str = "ppmi", method: str = "randomized",
                   seed: int = 0, dtype=np.float64) -> WordVectors:
    """svd(PPMI) or svd(PMI) baseline: ``U_d |S_d|^{1/2}`` of the symmetric (P)PMI matrix.

    Parameters
    ----------
    method : {"randomized", "eigsh"}
        ``randomized``: scikit-learn's randomized SVD (7 power iterations, 30 oversamples; BLAS3,
        fast on CPU); ``eigsh``: Lanczos for the ``d`` eigenpairs of largest magnitude (exact, slow
        for dense V >= 5k on few cores).
    dtype : numpy dtype
        Precision of the factorisation (float32 halves time and memory at V = 10k).
    """
    if kind not in ("ppmi", "pmi"):
        raise InvalidParameterError(f"kind must be 'ppmi' or 'pmi'; got {kind!r}.")
    t0 = time.perf_counter()
    X = pmi_matrix(stats.C, positive=(kind == "ppmi")).astype(dtype, copy=False)
    if method == "randomized":
        from sklearn.utils.extmath import randomized_svd

        U, S, _ = randomized_svd(X, d, n_oversamples=30, n_iter=7, random_state=seed)
        W = U * np.sqrt(S)
    elif method == "eigsh":
        import scipy.sparse.linalg

        lam, U = scipy.sparse.linalg.eigsh(X, k=d, which="LM", tol=1e-8)
        order = np.argsort(-np.abs(lam), kind="stable")
        W = U[:, order] * np.sqrt(np.abs(lam[order]))
    else:
        raise InvalidParameterError(f"method must be 'randomized' or 'eigsh'; got {method!r}.")
    del X
    meta = {"method": f"svd_{kind}", "d": d, "V": stats.V, "seconds": time.perf_counter() - t0,
            "svd_method": method, "dtype": np.dtype(dtype).name, "corpus": stats.meta.get("corpus")}
    return WordVectors(stats.words, W.astype(np.float32), meta)
