"""Sampled SGD for the QWEM loss and, on the same sampler, the SGNS (word2vec) loss (qwem.md section 5).

Sampler
-------
* Positives: a uniformly random in-vocabulary token position p, an offset j in {1..L} drawn with
  probability proportional to ``L + 1 - j`` and a random direction; pairs leaving the document are
  redrawn. This samples pairs with probability P_ij of :mod:`cooccurrence` (the authors stride
  over centres and offsets instead; same distribution).
* QWEM negatives: both words from the unigram distribution (P_i P_j), k per positive.
* SGNS negatives: centre word of a positive, context drawn from f^0.75; word2vec's frequent-word
  subsampling (keep prob ``min(1, sqrt(t/f) + t/f)``) is applied to positive *pairs* (each word
  kept independently) rather than to the token stream before windowing -- a deviation that keeps
  one sampler for both losses.

Scale
-----
The QWEM batch loss is ``V^2 * mean(Psi_norm * l)`` with per-pair losses ``Psi(-x + x^2/4)``
(positives) and ``Psi(x + x^2/4)`` (negatives), ``Psi_ij = 1/(P_ij + k P_i P_j)`` normalised to mean 1
in the batch. Its expectation is ``1/4 ||W W^T - M*||^2`` + const, so ``lr`` is in full-batch GD
units and ``t = 2 lr n`` is comparable with :mod:`dynamics`. The SGNS loss uses the same ``V^2``
multiplier on ``mean(log(1 + e^{-x}))`` / ``mean(log(1 + e^{x}))``. Weights are tied (W = C).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from .._errors import FitError, InvalidParameterError

__all__ = ["PairSampler", "train_sgd"]


class PairSampler:
    """Draws positive and negative (i, j) pairs from a token stream.

    Parameters
    ----------
    ids : ndarray, int (n,)
        In-vocabulary token ids (OOV deleted).
    doc_offsets : ndarray, int64 (n_docs + 1,)
    V, window : int
    seed : int
    subsample_t : float or None
        word2vec subsampling threshold for SGNS positives (None: off).
    """

    def __init__(self, ids: np.ndarray, doc_offsets: np.ndarray, V: int, window: int = 16, *,
                 seed: int = 0, subsample_t: float | None = None) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.doc = np.repeat(np.arange(doc_offsets.size - 1, dtype=np.int32), np.diff(doc_offsets))
        self.V, self.L = V, window
        self.rng = np.random.default_rng(seed)
        f = np.bincount(self.ids, minlength=V).astype(np.float64)
        self.p_uni = f / f.sum()
        p75 = f ** 0.75
        self.p_neg75 = p75 / p75.sum()
        w = np.arange(window, 0, -1, dtype=np.float64)
        self.p_off = w / w.sum()
        self.keep = None
        if subsample_t:
            freq = np.maximum(self.p_uni, 1e-300)
            self.keep = np.minimum(1.0, np.sqrt(subsample_t / freq) + subsample_t / freq)

    def positives(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` positive pairs (int64 (n,), int64 (n,))."""
        out_i, out_j, got = [], [], 0
        N = self.ids.size
        while got < n:
            m = int((n - got) * 1.3) + 16
            p = self.rng.integers(0, N, m)
            j = self.rng.choice(np.arange(1, self.L + 1), size=m, p=self.p_off)
            q = p + np.where(self.rng.random(m) < 0.5, j, -j)
            ok = (q >= 0) & (q < N)
            p, q = p[ok], q[ok]
            ok = self.doc[p] == self.doc[q]
            a, b = self.ids[p[ok]], self.ids[q[ok]]
            if self.keep is not None:
                k = (self.rng.random(a.size) < self.keep[a]) & (self.rng.random(a.size) < self.keep[b])
                a, b = a[k], b[k]
            out_i.append(a)
            out_j.append(b)
            got += a.size
        return np.concatenate(out_i)[:n], np.concatenate(out_j)[:n]

    def negatives(self, n: int, centres: np.ndarray | None = None, power75: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``n`` negative pairs: i from unigram (or the given centres), j from unigram or f^0.75."""
        i = centres if centres is not None else self.rng.choice(self.V, size=n, p=self.p_uni)
        j = self.rng.choice(self.V, size=n, p=self.p_neg75 if power75 else self.p_uni)
        return np.asarray(i, np.int64), j


def train_sgd(sampler: PairSampler, d: int, n_steps: int, *, loss: str = "qwem", psi: np.ndarray | None = None,
              k: int = 1, batch: int = 50_000, lr: float = 1e-3, init_scale: float = 1e-3,
              lr_schedule: Callable[[int], float] | None = None, dtype: str = "float64", device: str = "auto",
              seed: int = 0, record_every: int = 100, callback: Callable[[int, np.ndarray], None] | None = None,
              callback_every: int | None = None) -> dict:
    """Plain SGD (no momentum, no weight decay) on the QWEM or SGNS loss with tied weights.

    Parameters
    ----------
    sampler : PairSampler
    d : int
    n_steps : int
    loss : {"qwem", "sgns"}
    psi : ndarray (V, V), optional
        ``1/(P_ij + k P_i P_j)`` table for the QWEM loss (required for ``qwem``).
    batch : int
        Positives per step (``k * batch`` negatives).
    lr : float
        Step size in full-batch GD units (see module docstring).
    init_scale : float
        W_ij ~ N(0, (init_scale / sqrt(d))^2) (the authors' convention).
    lr_schedule : callable(step) -> multiplier, optional
    record_every : int
        Record the singular values of W every this many steps.

    Returns
    -------
    dict with ``steps`` (T,), ``singular_values`` (T, d), ``W`` (V, d) float64 numpy, ``seconds``,
    ``loss`` (T,) batch losses at the recorded steps.
    """
    from .._deps import require, torch_device

    torch = require("torch", "QWEM SGD training")
    if loss not in ("qwem", "sgns"):
        raise InvalidParameterError(f"loss must be 'qwem' or 'sgns'; got {loss!r}.")
    if loss == "qwem" and psi is None:
        raise InvalidParameterError("the qwem loss needs the psi table 1/(P_ij + k P_i P_j).")
    dev = torch_device(device)
    tdt = {"float64": torch.float64, "float32": torch.float32}[dtype]
    V = sampler.V
    gen = torch.Generator().manual_seed(seed)
    W = (torch.randn(V, d, generator=gen, dtype=torch.float64) * (init_scale / np.sqrt(d))).to(dev, tdt)
    psi_t = torch.as_tensor(psi, dtype=tdt, device=dev) if psi is not None else None
    scale = float(V) ** 2
    steps, svals, losses = [], [], []

    def record(n: int, lval: float) -> None:
        steps.append(n)
        svals.append(torch.linalg.svdvals(W).double().cpu().numpy())
        losses.append(lval)

    record(0, float("nan"))
    t0 = time.perf_counter()
    for n in range(1, n_steps + 1):
        pi, pj = sampler.positives(batch)
        if loss == "qwem":
            ni, nj = sampler.negatives(k * batch)
        else:
            ni, nj = sampler.negatives(k * batch, centres=np.repeat(pi, k), power75=True)
        I = torch.as_tensor(np.concatenate([pi, ni]), device=dev)
        J = torch.as_tensor(np.concatenate([pj, nj]), device=dev)
        sign = torch.cat([-torch.ones(batch, dtype=tdt, device=dev), torch.ones(k * batch, dtype=tdt, device=dev)])
        Wr = W.detach().requires_grad_(True)
        x = (Wr[I] * Wr[J]).sum(1)
        if loss == "qwem":
            ps = psi_t[I, J]
            ps = ps / ps.mean()
            lval = scale * (ps * (sign * x + x * x / 4)).mean()
        else:
            lval = scale * torch.nn.functional.softplus(sign * x).mean()
        (g,) = torch.autograd.grad(lval, Wr)
        eta = lr * (lr_schedule(n) if lr_schedule else 1.0)
        W = W - eta * g
        if n % record_every == 0 or n == n_steps:
            if not torch.isfinite(W).all():
                raise FitError(f"SGD diverged at step {n}; lower lr (now {eta:.3g}).")
            record(n, float(lval.detach()))
        if callback is not None and callback_every and n % callback_every == 0:
            callback(n, W.double().cpu().numpy())
    return {"steps": np.asarray(steps, dtype=np.float64), "singular_values": np.asarray(svals),
            "loss": np.asarray(losses), "W": W.double().cpu().numpy(), "seconds": time.perf_counter() - t0,
            "lr": lr, "loss_kind": loss, "batch": batch, "k": k, "init_scale": init_scale, "dtype": dtype}
