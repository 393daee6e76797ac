"""MCR² projection head on frozen sentence embeddings (spec mcr2.md; Ševerdija et al. 2023).

Spec: ``mcr2:dim=64[,objective=mcr2|mcr2+distill|distill][,head=auto|mlp|linear|hpd|residual]
[,memberships=kmeans|pairs][,n_clusters=none][,store=f16|f32|int8]...``

A small head maps an L2-normalised input x (d_in) to s (p); the code is normalize(s). Training
maximises the rate reduction ΔR (:mod:`emblab.nn.coding_rate`) of normalised outputs:

``mcr2``          loss = −ΔR(normalize(s))
``mcr2+distill``  loss = −ΔR(normalize(s)) + λ_d · mean(1 − cos(s, t))
``distill``       loss = MSE(s, t), the HPD baseline (head Linear + Tanh)

with t = x P_Tᵀ, P_T the top-p PCA components of the fit set applied *without* centring (HPD).

Memberships Π (spec section 3): ``kmeans`` (default) = spherical k-means of the inputs
(``faiss.Kmeans``: 50 iterations, best of 3 restarts by objective, seeded; faiss initialises from
random points, not k-means++ as the spec says; K = max(8, p/4) unless
``n_clusters`` is given), fitted once before training and kept in the artifact; ``soft=true`` gives
π = softmax(cos(x, c)/0.05). ``pairs``: call :meth:`MCR2.fit_pairs` with paraphrase pairs; each pair
is a class of two (the R_c term becomes an invariance term over 2×2 Grams).

Heads (``head=auto`` = the spec's choice: ``mlp`` for the MCR² objectives, ``hpd`` for ``distill``):
``mlp``       Linear(d, 2d) → LayerNorm → GELU → Linear(2d, p)   (spec default)
``linear``    Linear(d, p)                                         (fair against PCA; emblab default)
``hpd``       Linear(d, p) → Tanh                                  (HPD)
``residual``  PCA-initialised Linear(d, p) + the mlp with its last layer zero-initialised, so
              training starts exactly at centred PCA (*our design*, not in the paper)

Validation: ``X_val`` (or ``val_fraction`` of the fit set) gives the validation loss for early
stopping. If :meth:`set_validation_pairs` was called (e.g. STS-B **dev**), the epoch with the best
dev Spearman is kept instead (spec section 5, model selection).

Scores: codes are cosine-compared in code space; the native search mode ``code`` does this.
``decode`` maps codes back to the input space with a least-squares linear decoder fitted on the fit
set, so the shared ``asymmetric``/``symmetric`` modes also work (approximately).

``store=int8`` calibrates a per-dimension affine map on the fit set outputs (guarding hi == lo).
Inputs are L2-normalised inside ``fit``/``encode``.

Defaults are the best configuration measured, not the spec's (mcr2.md section 5 proposes the MLP
head from random init, lr 1e-3, 20 epochs): a linear head started at centred PCA
(``head=linear,init=pca``), fine-tuned by MCR² at lr 1e-4 for 3 epochs. On the dev splits with a
plain ``fit(X)`` (no dev pairs; ``benchmarks/results/mcr2_select_defaults.md`` and
``mcr2_select_epochs.md``) it scores STS-B/SICK-R 0.8403/0.7893 at p = 64 and 0.8587/0.8050 at
p = 128, level with PCA (0.8398/0.7885, 0.8584/0.8052), where the spec's head scores
0.6401/0.5456 and 0.7260/0.6395; 6 or 20 epochs drift further from what STS rewards (20 epochs:
0.8385/0.7908, 0.8570/0.7948). The spec's configuration is ``head=mlp,init=random,lr=0.001,epochs=20``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._deps import require, torch_device
from .._errors import DataError, InvalidParameterError
from .._validation import Interval, Options, Predicate, l2_normalize
from ..base import BaseCompressor
from ..faiss_log import quiet_clustering_warnings
from ..codes import Codes
from ..registry import register

_STORE_BYTES = {"f16": 2, "f32": 4, "int8": 1}
_SOFT_T = 0.05


def _build_head(torch, kind: str, d: int, p: int):
    nn = torch.nn
    if kind == "linear":
        return nn.Sequential(nn.Linear(d, p))
    if kind == "hpd":
        return nn.Sequential(nn.Linear(d, p), nn.Tanh())
    mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.LayerNorm(2 * d), nn.GELU(), nn.Linear(2 * d, p))
    if kind == "mlp":
        return mlp

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(d, p)
            self.mlp = mlp

        def forward(self, x):
            return self.lin(x) + self.mlp(x)

    return Residual()


@register("mcr2")
class MCR2(BaseCompressor):
    """MCR² (and HPD-style distillation) projection head.

    Parameters
    ----------
    dim : int
        Output dimension p (<= input width).
    objective : {"mcr2", "mcr2+distill", "distill"}
    head : {"auto", "mlp", "linear", "hpd", "residual"}
        Default ``linear`` (measured best, see the module notes); ``auto`` is the spec's choice.
    memberships : {"kmeans", "pairs"}
    n_clusters : int or None
        K for ``kmeans``; None = max(8, p // 4).
    soft : bool
        Soft k-means memberships.
    eps_sq : float
        ε² (not ε) of the coding rate, default 0.5.
    gam1, gam2 : float
        loss = −γ₂ R(α γ₁) + R_c.
    lambda_d : "auto" or float
        Weight of the distillation term in ``mcr2+distill``; "auto" = |ΔR| / L_d on the first batch.
    init : {"random", "pca"}
        ``pca`` (default) initialises linear/hpd heads with the centred PCA map.
    store : {"f16", "f32", "int8"}
    lr, weight_decay, batch_size, epochs, patience, val_fraction, grad_clip, warmup :
        AdamW with cosine decay after a linear warm-up of ``warmup`` × total steps (defaults lr 1e-4,
        3 epochs: measured best, see the module notes).
    random_state : int
    device : str
        "auto" = CUDA when available, else CPU.
    progress : bool

    Attributes
    ----------
    module_ : torch.nn.Module
    centroids_ : ndarray (K, d)   (``kmeans`` only)
    teacher_ : ndarray (p, d)     PCA components (distillation objectives)
    dec_weight_ : ndarray (p, d), dec_bias_ : ndarray (d,)   least-squares decoder
    lo_, hi_ : ndarray (p,)       int8 calibration (``store="int8"``)
    history_ : dict               per-epoch losses, best epoch, λ_d, last R and R_c
    """

    _parameter_constraints = {
        "dim": [Interval(int, 1, None)],
        "objective": [Options("mcr2", "mcr2+distill", "distill")],
        "head": [Options("auto", "mlp", "linear", "hpd", "residual")],
        "memberships": [Options("kmeans", "pairs")],
        "n_clusters": [Interval(int, 1, None), None],
        "soft": [bool],
        "eps_sq": [Interval(float, 0, None, closed="neither")],
        "gam1": [Interval(float, 0, None, closed="neither")],
        "gam2": [Interval(float, 0, None, closed="neither")],
        "lambda_d": [Options("auto"), Interval(float, 0, None)],
        "init": [Options("random", "pca")],
        "store": [Options("f16", "f32", "int8")],
        "lr": [Interval(float, 0, None, closed="neither")],
        "weight_decay": [Interval(float, 0, None)],
        "batch_size": [Interval(int, 2, None)],
        "epochs": [Interval(int, 1, None)],
        "patience": [Interval(int, 0, None)],
        "val_fraction": [Interval(float, 0, 1, closed="left")],
        "grad_clip": [Interval(float, 0, None, closed="neither"), None],
        "warmup": [Interval(float, 0, 1, closed="left")],
        "random_state": [Interval(int, 0, None)],
        "device": [Predicate(lambda v: isinstance(v, str), "a device string such as 'auto', 'cpu', 'cuda'")],
        "progress": [bool],
    }
    search_modes = ("code", "asymmetric", "symmetric")
    test_spec = "mcr2:dim=4,n_clusters=2,epochs=2,batch_size=64,progress=false"

    def __init__(self, dim: int = 64, objective: str = "mcr2", head: str = "linear", memberships: str = "kmeans",
                 n_clusters: int | None = None, soft: bool = False, eps_sq: float = 0.5, gam1: float = 1.0,
                 gam2: float = 1.0, lambda_d: Any = "auto", init: str = "pca", store: str = "f16",
                 lr: float = 1e-4, weight_decay: float = 1e-4, batch_size: int = 1024, epochs: int = 3,
                 patience: int = 5, val_fraction: float = 0.05, grad_clip: float | None = 1.0,
                 warmup: float = 0.05, random_state: int = 0, device: str = "auto", progress: bool = True):
        self.dim = dim
        self.objective = objective
        self.head = head
        self.memberships = memberships
        self.n_clusters = n_clusters
        self.soft = soft
        self.eps_sq = eps_sq
        self.gam1 = gam1
        self.gam2 = gam2
        self.lambda_d = lambda_d
        self.init = init
        self.store = store
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.grad_clip = grad_clip
        self.warmup = warmup
        self.random_state = random_state
        self.device = device
        self.progress = progress

    # --- public extras -----------------------------------------------------------------------
    @property
    def codes_layout(self) -> str:  # type: ignore[override]
        return "uint8" if self.store == "int8" else "float"

    def head_kind(self) -> str:
        """The head actually built (``auto`` resolved)."""
        if self.head != "auto":
            return self.head
        return "hpd" if self.objective == "distill" else "mlp"

    def set_validation_pairs(self, a: Any, b: Any, gold: Any):
        """Select the epoch by Spearman(cos(code(a), code(b)), gold) on these pairs (dev split only).

        Parameters
        ----------
        a, b : array-like of shape (n, d)
        gold : array-like of shape (n,)
        """
        from .._validation import check_array

        a, b = check_array(a, name="a"), check_array(b, name="b", n_features=np.shape(a)[1], who="a")
        gold = np.asarray(gold, np.float64).ravel()
        if not (len(a) == len(b) == len(gold)) or len(gold) < 3:
            raise DataError(f"validation pairs need equal lengths >= 3; got {len(a)}, {len(b)}, {len(gold)}.")
        self._val_pairs = (a, b, gold)
        return self

    def fit_pairs(self, X: Any, pairs: Any, *, X_val: Any = None, val_pairs: Any = None):
        """Fit with ``memberships="pairs"``: each row of ``pairs`` (n_pairs, 2) indexes two rows of X
        that form one class (paraphrases / duplicates, training split only).

        Parameters
        ----------
        X : array-like of shape (n, d)
        pairs : int array of shape (n_pairs, 2), rows of ``X``
        X_val : array-like of shape (m, d), optional
            Validation rows for early stopping; they need ``val_pairs`` (the pair structure cannot
            be guessed from the rows). Without ``X_val``, ``val_fraction`` of the *pairs* is held out.
        val_pairs : int array of shape (m_pairs, 2), rows of ``X_val``
        """
        if (X_val is None) != (val_pairs is None):
            raise InvalidParameterError(
                "fit_pairs needs X_val and val_pairs together: validation rows have no pair structure of their "
                "own; pass val_pairs (m_pairs, 2) indexing X_val, or neither to hold out val_fraction of the pairs.")
        self._pairs = self._check_pairs(pairs, np.shape(X)[0], "pairs", "X")
        self._pairs_val = None if X_val is None else self._check_pairs(val_pairs, np.shape(X_val)[0], "val_pairs", "X_val")
        try:
            return self.fit(X, X_val=X_val)
        finally:
            self._pairs = self._pairs_val = None

    @staticmethod
    def _check_pairs(pairs: Any, n: int, name: str, rows: str) -> np.ndarray:
        P = np.asarray(pairs)
        if P.ndim != 2 or P.shape[1] != 2 or len(P) < 2 or not np.issubdtype(P.dtype, np.integer):
            raise DataError(f"{name} must be an int array of shape (n_pairs >= 2, 2); got {P.shape} {P.dtype}.")
        if P.min() < 0 or P.max() >= n:
            raise DataError(f"{name} index rows of {rows}; values must lie in [0, {n}).")
        return P.astype(np.int64)

    def transform(self, X: Any) -> np.ndarray:
        """Unquantised unit-norm head outputs, float32 (n, p)."""
        return self._forward(l2_normalize(self._check_X(X)))

    def code_vectors(self, codes: Codes) -> np.ndarray:
        """Codes as float32 (n, p) vectors (dequantised, not re-normalised)."""
        self.check_codes(codes)
        if self.store == "int8":
            span = np.where(self.hi_ > self.lo_, self.hi_ - self.lo_, 0.0)
            return (self.lo_ + codes.data.astype(np.float32) / 255.0 * span).astype(np.float32)
        return codes.as_float()

    # --- fit ---------------------------------------------------------------------------------
    def _validate_params(self) -> None:
        super()._validate_params()
        if self.head == "residual" and self.objective == "distill":
            raise InvalidParameterError("head='residual' is for the MCR² objectives; use head='hpd' or "
                                        "'linear' with objective='distill'.")

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        torch = require("torch", "MCR2")
        from ..nn.train_loop import TrainConfig, fit_module

        n, d = X.shape
        p = self.dim
        if p > d:
            raise InvalidParameterError(f"The 'dim' parameter of MCR2 must be <= n_features={d}; got {p}.")
        pairs = getattr(self, "_pairs", None)
        if self.memberships == "pairs" and pairs is None:
            raise InvalidParameterError("memberships='pairs' needs paraphrase pairs: call fit_pairs(X, pairs).")
        X = l2_normalize(X)
        X_val = None if X_val is None else l2_normalize(X_val)
        mcr = self.objective != "distill"
        K = self.n_clusters if self.n_clusters is not None else max(8, p // 4)
        use_km = mcr and self.memberships == "kmeans"
        if use_km and n < 2 * K:
            raise DataError(f"MCR2 needs at least 2 x n_clusters = {2 * K} samples to fit {K} k-means "
                            f"clusters; got {n}. Pass more data or a smaller n_clusters.")
        if n < 2:
            raise DataError(f"MCR2 needs at least 2 samples; got {n}.")
        self.n_clusters_ = K if use_km else 0
        if use_km:
            self.centroids_ = self._kmeans(X, K)
        # PCA of the fit set: the HPD teacher map (applied without centring) and the "pca" init
        mean = X.mean(0, dtype=np.float64)
        evals, evecs = np.linalg.eigh(np.cov((X - mean).T.astype(np.float64)) if n > 1 else np.eye(d))
        comps = evecs[:, np.argsort(evals)[::-1][:p]].T.astype(np.float32)
        if self.objective != "mcr2":
            self.teacher_ = comps

        torch.manual_seed(self.random_state)
        kind = self.head_kind()
        module = _build_head(torch, kind, d, p)
        with torch.no_grad():
            lin = module.lin if kind == "residual" else (module[0] if self.init == "pca" and kind != "mlp" else None)
            if lin is not None:
                lin.weight.copy_(torch.from_numpy(comps))
                lin.bias.copy_(torch.from_numpy(-(comps @ mean.astype(np.float32))))
            if kind == "residual":
                module.mlp[-1].weight.zero_()
                module.mlp[-1].bias.zero_()

        dev = torch_device(self.device)
        cfg = TrainConfig(lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
                          epochs=self.epochs, seed=self.random_state, device=self.device,
                          val_fraction=self.val_fraction if X_val is None else 0.0, min_val=min(256, n // 10),
                          patience=self.patience, grad_clip=self.grad_clip, progress=self.progress)
        arrays, val_arrays = self._training_arrays(X, X_val, pairs, use_km)
        cent = torch.from_numpy(self.centroids_).to(dev) if use_km else None
        tea = torch.from_numpy(comps).to(dev) if self.objective != "mcr2" else None
        state = {"lambda_d": None if self.lambda_d == "auto" else float(self.lambda_d), "R": None, "Rc": None}
        loss_fn = self._make_loss(torch, cent, tea, state, pairs is not None)

        # cosine schedule with linear warm-up, stepped after every optimiser step
        params = [q for q in module.parameters() if q.requires_grad]
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        n_rows = len(arrays[0])
        n_tr = n_rows if X_val is not None or self.val_fraction == 0 else n_rows - int(round(n_rows * self.val_fraction))
        total = max(1, self.epochs * math.ceil(n_tr / self.batch_size))
        warm = max(1, int(self.warmup * total))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, total - warm)))))

        val_fn = None
        if getattr(self, "_val_pairs", None) is not None:
            val_fn = self._pairs_val_fn(torch, dev)
        hist = fit_module(module, loss_fn, arrays, cfg, val_arrays=val_arrays, val_fn=val_fn,
                          after_step=lambda _m: sched.step(), optimizer=opt, description=f"mcr2 p={p}")
        self.module_ = module.to("cpu").eval()
        Z = self._forward(X)
        # least-squares linear decoder Z -> X (for the shared asymmetric/symmetric modes)
        A = np.hstack([Z.astype(np.float64), np.ones((n, 1))])
        W = np.linalg.lstsq(A, X.astype(np.float64), rcond=None)[0]
        self.dec_weight_, self.dec_bias_ = W[:-1].astype(np.float32), W[-1].astype(np.float32)
        if self.store == "int8":
            self.lo_, self.hi_ = Z.min(axis=0), Z.max(axis=0)
        self.history_ = {"train_loss": hist.train_loss, "val_loss": hist.val_loss, "best_epoch": hist.best_epoch,
                         "stopped_early": hist.stopped_early, "seconds": hist.seconds, "device": hist.device,
                         "lambda_d": state["lambda_d"], "R_last": state["R"], "Rc_last": state["Rc"]}

    def _kmeans(self, X: np.ndarray, K: int) -> np.ndarray:
        faiss = require("faiss", "MCR2 k-means memberships")
        km = faiss.Kmeans(X.shape[1], K, niter=50, nredo=3, spherical=True, seed=self.random_state + 1,
                          verbose=False, max_points_per_centroid=100000)
        with quiet_clustering_warnings():
            km.train(np.ascontiguousarray(X, dtype=np.float32))
        C = np.asarray(km.centroids, np.float32)
        return l2_normalize(C)

    def _assign(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(X @ self.centroids_.T, axis=1).astype(np.float32)

    def _training_arrays(self, X, X_val, pairs, use_km):
        if pairs is not None:
            arrays = [X[pairs[:, 0]], X[pairs[:, 1]]]
            vp = getattr(self, "_pairs_val", None)  # fit_pairs guarantees it is given with X_val
            val = None if X_val is None else [X_val[vp[:, 0]], X_val[vp[:, 1]]]
            return arrays, val
        arrays = [X] + ([self._assign(X)[:, None]] if use_km else [])
        val = None
        if X_val is not None:
            val = [X_val] + ([self._assign(X_val)[:, None]] if use_km else [])
        return arrays, val

    def _make_loss(self, torch, cent, tea, state, paired: bool):
        F = torch.nn.functional
        from ..nn.coding_rate import rate_reduction
        from ..nn.distributed import gather_for_batch_loss

        obj, eps_sq, g1, g2 = self.objective, float(self.eps_sq), float(self.gam1), float(self.gam2)
        soft = self.soft

        def loss_fn(module, batch):
            if paired:
                x = torch.cat([batch[0], batch[1]])
                m = batch[0].shape[0]
                labels = torch.arange(m, device=x.device).repeat(2)
                weights = None
            else:
                x = batch[0]
                labels = batch[1][:, 0].long() if cent is not None and not soft else None
                weights = F.softmax((x @ cent.T) / _SOFT_T, dim=1) if cent is not None and soft else None
            s = module(x)
            if obj == "distill":
                return F.mse_loss(s, x @ tea.T)
            z = F.normalize(s, dim=1)
            # ΔR is a function of the whole batch: under torchrun, gather every rank's share first
            # (validation runs the same full split on every rank: no gathering there)
            scale = 1.0
            if module.training:
                z, labels, weights, scale = gather_for_batch_loss(z, labels, weights)
            rr = rate_reduction(z, labels, weights=weights, eps_sq=eps_sq, gam1=g1, gam2=g2)
            state["R"], state["Rc"] = float(rr.R.detach()), float(rr.Rc.detach())
            loss = rr.loss * scale
            if obj == "mcr2+distill":
                ld = (1.0 - F.cosine_similarity(s, x @ tea.T, dim=1)).mean()
                if state["lambda_d"] is None:
                    # "auto": both terms start at equal size (spec section 4); floor avoids a blow-up
                    # when the head already matches the teacher (pca init)
                    state["lambda_d"] = abs(float(rr.delta_R.detach())) / max(float(ld.detach()), 1e-2)
                loss = loss + state["lambda_d"] * ld
            return loss

        return loss_fn

    def _pairs_val_fn(self, torch, dev):
        from scipy.stats import spearmanr

        a, b, gold = self._val_pairs

        def val_fn(module, _val):
            with torch.no_grad():
                za = torch.nn.functional.normalize(module(torch.from_numpy(l2_normalize(a)).to(dev)), dim=1)
                zb = torch.nn.functional.normalize(module(torch.from_numpy(l2_normalize(b)).to(dev)), dim=1)
                cos = (za * zb).sum(1).cpu().numpy()
            return -float(spearmanr(cos, gold).statistic)

        return val_fn

    # --- encode / decode ----------------------------------------------------------------------
    def _forward(self, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
        torch = require("torch", "MCR2")
        out = []
        with torch.no_grad():
            for s in range(0, len(X), chunk):
                z = self.module_(torch.from_numpy(np.ascontiguousarray(X[s:s + chunk], np.float32)))
                out.append(torch.nn.functional.normalize(z, dim=1).numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)

    def _encode(self, X: np.ndarray) -> Codes:
        Z = self._forward(l2_normalize(X))
        if self.store == "int8":
            span = np.where(self.hi_ > self.lo_, self.hi_ - self.lo_, 1.0)
            c = np.clip(np.rint((Z - self.lo_) / span * 255.0), 0, 255).astype(np.uint8)
            return Codes({"codes": c}, "uint8")
        return Codes({"codes": Z.astype(np.float16 if self.store == "f16" else np.float32)}, "float")

    def _decode(self, codes: Codes) -> np.ndarray:
        return self.code_vectors(codes) @ self.dec_weight_ + self.dec_bias_

    def _search(self, xq: np.ndarray, codes: Codes, k: int, mode: str):
        if mode != "code":
            return NotImplemented
        from ..search import chunked_topk

        q = self._forward(l2_normalize(xq))
        return chunked_topk(q, lambda s, e: l2_normalize(self.code_vectors(codes[s:e])), len(codes), k, 16384)

    def _bytes_per_vector(self) -> float:
        return float(self.dim * _STORE_BYTES[self.store])

    # --- state ------------------------------------------------------------------------------------
    def _state_tensors(self) -> dict[str, np.ndarray]:
        out = {f"head.{k}": v.detach().cpu().numpy() for k, v in self.module_.state_dict().items()}
        out.update(dec_weight=self.dec_weight_, dec_bias=self.dec_bias_)
        for name in ("centroids_", "teacher_", "lo_", "hi_"):
            if hasattr(self, name):
                out[name[:-1]] = getattr(self, name)
        return out

    def _set_state(self, tensors: dict[str, np.ndarray], fitted: dict[str, Any]) -> None:
        torch = require("torch", "MCR2")
        d = int(fitted["n_features_in_"])
        module = _build_head(torch, self.head_kind(), d, self.dim)
        sd = {k[5:]: torch.from_numpy(np.array(v)) for k, v in tensors.items() if k.startswith("head.")}
        try:
            module.load_state_dict(sd)
        except RuntimeError as exc:
            raise ValueError(str(exc).splitlines()[0]) from exc
        self.module_ = module.eval()
        self.dec_weight_, self.dec_bias_ = tensors["dec_weight"], tensors["dec_bias"]
        for name in ("centroids", "teacher", "lo", "hi"):
            if name in tensors:
                setattr(self, name + "_", tensors[name])
        self.n_clusters_ = int(fitted.get("n_clusters_", 0))
        self.history_ = fitted.get("history_", {})

    def _fitted_meta(self) -> dict[str, Any]:
        return {"n_clusters_": int(self.n_clusters_), "head_kind": self.head_kind(), "history_": self.history_}
