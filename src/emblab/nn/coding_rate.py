"""Coding rates and the MCR² rate reduction (Yu et al., NeurIPS 2020; spec mcr2.md section 2).

Samples are **rows** here (``Z`` has shape (m, p)); the paper writes them as columns. Rows should be
unit L2 norm (the rates grow without bound otherwise; the caller normalises).

::

    R(Z)     = ½ logdet(I_p + α ZᵀZ),                         α   = p / (m ε²)
    R_c(Z|Π) = Σ_j (tr Π_j / 2m) logdet(I_p + α_j Zᵀ Π_j Z),   α_j = p / (tr Π_j ε²)
    ΔR       = R − R_c
    loss     = −γ₂ R(Z; α γ₁) + R_c          (γ₁ = γ₂ = 1 gives −ΔR)

**ε convention.** Every function takes ``eps_sq`` = **ε², not ε** (default 0.5). This matches
``ryanchankh/mcr2`` (whose argument called ``eps`` is really ε²) and differs from the pip package
``mcr2`` (DruvPai/MCR2), which takes ε and squares it.

**Small Gram.** By Sylvester's identity logdet(I_p + α AᵀA) = logdet(I_n + α AAᵀ) for A (n, p), so
each logdet is evaluated on the smaller of the p×p and n×n Gram matrices. Classes of equal size are
batched into one batched Cholesky (pairs of paraphrases become a stack of 2×2 matrices), and no dense
K×m×m membership tensor is ever built.

**Numerics.** Rates are computed in float32 (float64 if ``Z`` is float64) with autocast disabled, so
a bf16/fp16 forward pass still gets an fp32 logdet. logdet = 2 Σ log diag(chol); if Cholesky fails
(only possible with NaN/inf or extreme values, since every eigenvalue is >= 1) it is retried once in
float64 with ``slogdet``; a non-finite result raises :class:`~emblab.FitError`. No jitter is added.

NumPy references (``*_np``) evaluate the textbook p×p formula with dense diagonal Π in float64;
the tests compare both.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._deps import require
from .._errors import FitError, InvalidParameterError

__all__ = ["logdet_spd", "coding_rate", "compression_rate", "rate_reduction", "RateReduction",
           "coding_rate_np", "compression_rate_np", "rate_reduction_np"]


class RateReduction(NamedTuple):
    """Outputs of :func:`rate_reduction` (0-d tensors)."""

    loss: Any
    R: Any
    Rc: Any
    delta_R: Any


def _torch():
    return require("torch", "The MCR² coding rate")


def _check_eps(eps_sq: float) -> None:
    if not (eps_sq > 0):
        raise InvalidParameterError(f"eps_sq (ε², not ε) must be > 0; got {eps_sq}.")


def logdet_spd(M):
    """log det of a (batch of) symmetric positive-definite matrices, shape (..., n, n) -> (...).

    Cholesky first; on failure one float64 ``slogdet`` retry; raises :class:`FitError` if the result
    is still not finite.
    """
    torch = _torch()
    L, info = torch.linalg.cholesky_ex(M)
    if not bool((info != 0).any()):
        return 2.0 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    sign, ld = torch.linalg.slogdet(M.double())
    if not bool(torch.isfinite(ld).all()) or bool((sign <= 0).any()):
        raise FitError("MCR² logdet failed: the Gram matrix is not positive definite even in float64; "
                       "check the head outputs for NaN/inf or lower the learning rate.")
    return ld.to(M.dtype)


def _logdet_I_plus(A, alpha):
    """logdet(I + alpha AᵀA) for A (..., n, p) on the smaller Gram side, shape (...)."""
    torch = _torch()
    n, p = A.shape[-2], A.shape[-1]
    G = A @ A.transpose(-1, -2) if n < p else A.transpose(-1, -2) @ A
    k = G.shape[-1]
    eye = torch.eye(k, dtype=G.dtype, device=G.device)
    if not torch.is_tensor(alpha):
        alpha = torch.as_tensor(alpha, dtype=G.dtype, device=G.device)
    alpha = alpha.to(G.dtype).reshape(alpha.shape + (1, 1))
    return logdet_spd(eye + alpha * G)


def _as_rate_dtype(Z):
    torch = _torch()
    return Z if Z.dtype == torch.float64 else Z.float()


def coding_rate(Z, eps_sq: float = 0.5, gam1: float = 1.0):
    """Expansion term R(Z) = ½ logdet(I + γ₁ p/(m ε²) ZᵀZ).

    Parameters
    ----------
    Z : torch.Tensor of shape (m, p)
        Unit-norm rows.
    eps_sq : float
        ε² (not ε).
    gam1 : float
        Scales α (γ₁ of the reference code).

    Returns
    -------
    torch.Tensor, 0-d, float32 or float64
    """
    torch = _torch()
    _check_eps(eps_sq)
    with torch.autocast(device_type=Z.device.type, enabled=False):
        Z = _as_rate_dtype(Z)
        m, p = Z.shape
        return 0.5 * _logdet_I_plus(Z, gam1 * p / (m * eps_sq))


def _group_by_size(labels):
    """Yield (size, member index matrix (K_s, size)) for hard labels, grouping equal-sized classes."""
    torch = _torch()
    order = torch.argsort(labels, stable=True)
    _, counts = torch.unique_consecutive(labels[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    for size in torch.unique(counts).tolist():
        sel = starts[counts == size]
        idx = order[sel[:, None] + torch.arange(size, device=labels.device)[None, :]]
        yield size, idx


def compression_rate(Z, labels=None, *, weights=None, eps_sq: float = 0.5):
    """Compression term R_c(Z | Π) for hard labels or soft memberships.

    Parameters
    ----------
    Z : torch.Tensor of shape (m, p)
    labels : torch.Tensor of shape (m,) int, optional
        Hard class ids (any integers). Classes of equal size share one batched logdet.
    weights : torch.Tensor of shape (m, K), optional
        Soft memberships π_ij >= 0 with rows summing to 1 (Π_j = diag(π_·j)). Exactly one of
        ``labels`` / ``weights``.
    eps_sq : float
        ε² (not ε).

    Returns
    -------
    torch.Tensor, 0-d
    """
    torch = _torch()
    _check_eps(eps_sq)
    if (labels is None) == (weights is None):
        raise InvalidParameterError("compression_rate needs exactly one of labels= or weights=.")
    with torch.autocast(device_type=Z.device.type, enabled=False):
        Z = _as_rate_dtype(Z)
        m, p = Z.shape
        total = Z.new_zeros(())
        if labels is not None:
            if labels.shape != (m,):
                raise InvalidParameterError(f"labels must have shape ({m},); got {tuple(labels.shape)}.")
            for size, idx in _group_by_size(labels.to(Z.device)):
                A = Z[idx]                                   # (K_s, size, p)
                ld = _logdet_I_plus(A, p / (size * eps_sq))  # (K_s,)
                total = total + (size / (2.0 * m)) * ld.sum()
            return total
        W = weights.to(Z.dtype)
        if W.ndim != 2 or W.shape[0] != m:
            raise InvalidParameterError(f"weights must have shape ({m}, K); got {tuple(W.shape)}.")
        tr = W.sum(0)                                        # (K,) = tr Π_j
        keep = tr > 1e-8                                     # empty classes contribute 0
        W, tr = W[:, keep], tr[keep]
        A = (W.T.sqrt()[:, :, None]) * Z[None]               # (K, m, p) = diag(π_j)^½ Z
        ld = _logdet_I_plus(A, p / (tr * eps_sq))
        return (tr / (2.0 * m) * ld).sum()


def rate_reduction(Z, labels=None, *, weights=None, eps_sq: float = 0.5, gam1: float = 1.0,
                   gam2: float = 1.0) -> RateReduction:
    """MCR² objective terms; minimise ``.loss`` (= −ΔR when γ₁ = γ₂ = 1).

    Parameters
    ----------
    Z : torch.Tensor of shape (m, p)
        Unit-norm rows (normalise before calling).
    labels, weights : see :func:`compression_rate`
    eps_sq : float
        ε² (not ε), default 0.5.
    gam1, gam2 : float
        loss = −γ₂ R(Z; α γ₁) + R_c.

    Returns
    -------
    RateReduction(loss, R, Rc, delta_R)
        ``R`` is evaluated with γ₁ = 1 so ``delta_R`` is always the plain ΔR.
    """
    R1 = coding_rate(Z, eps_sq, 1.0)
    Rg = R1 if gam1 == 1.0 else coding_rate(Z, eps_sq, gam1)
    Rc = compression_rate(Z, labels, weights=weights, eps_sq=eps_sq)
    return RateReduction(-gam2 * Rg + Rc, R1, Rc, R1 - Rc)


# --- NumPy references (textbook p×p form, float64) -------------------------------------------

def coding_rate_np(Z: np.ndarray, eps_sq: float = 0.5) -> float:
    """R(Z) for Z (m, p) via the p×p matrix, float64."""
    Z = np.asarray(Z, np.float64)
    m, p = Z.shape
    return 0.5 * float(np.linalg.slogdet(np.eye(p) + p / (m * eps_sq) * Z.T @ Z)[1])


def compression_rate_np(Z: np.ndarray, Pi: np.ndarray, eps_sq: float = 0.5) -> float:
    """R_c(Z|Π) with Π given as (m, K) memberships (hard one-hot or soft), dense diagonal Π_j."""
    Z = np.asarray(Z, np.float64)
    Pi = np.asarray(Pi, np.float64)
    m, p = Z.shape
    total = 0.0
    for j in range(Pi.shape[1]):
        tr = Pi[:, j].sum()
        if tr <= 0:
            continue
        P = np.diag(Pi[:, j])
        total += tr / (2 * m) * np.linalg.slogdet(np.eye(p) + p / (tr * eps_sq) * Z.T @ P @ Z)[1]
    return float(total)


def rate_reduction_np(Z: np.ndarray, Pi: np.ndarray, eps_sq: float = 0.5) -> tuple[float, float, float]:
    """(R, R_c, ΔR) reference values."""
    R = coding_rate_np(Z, eps_sq)
    Rc = compression_rate_np(Z, Pi, eps_sq)
    return R, Rc, R - Rc
