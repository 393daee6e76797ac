"""Undercomplete autoencoder of Drinkall et al. 2025 (intrinsic_dimension.md section 2).

Spec: ``ae:dim=8[,hidden=192][,alpha=0.1][,store=f16]``.

Architecture (authors' code): encoder ``Linear(d_in, h) -> ReLU -> Linear(h, dim)`` with a
**linear** bottleneck, mirrored decoder ``Linear(dim, h) -> ReLU -> Linear(h, d_in)``, MSE
reconstruction, AdamW (lr 1e-4, weight decay 0.01), batch 32, at most 25 epochs, early stopping
with patience 5 on the validation loss.

* ``hidden=None`` means ``h = d_in // 2``: 384 for 768-d mpnet (the paper), 192 for MiniLM.
* ``restore_best=True`` keeps the best validation epoch; the reference keeps the last epoch
  (``restore_best=False`` reproduces it). Documented deviation.
* The reference uses 8 x 4 gradient accumulation; we use the effective batch 32 directly.
* **Minimal supervision** (``alpha > 0``): ``L = L_rec + alpha * MSE(head(z), y_std)`` with one
  ``Linear(dim, 1)`` head and targets standardised with training statistics. The compressor
  contract's ``fit(X, X_val)`` has no targets, so this class's :meth:`AutoencoderCompressor.fit`
  takes extra keywords ``y`` / ``y_val``; ``alpha = 0`` (default, the authors' public code) ignores
  them. Early stopping then watches the total validation loss (reconstruction + alpha * head).

Codes are the float bottleneck, stored as float32 (``store="f32"``, default) or float16, so
``bytes_per_vector = dim * 4`` (or ``dim * 2``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .._errors import DataError, InvalidParameterError
from .._validation import Interval, Options, Predicate
from ..base import BaseCompressor
from ..codes import Codes
from ..registry import register

_LAYERS = ("enc1", "enc2", "dec1", "dec2")


def _build(torch, d_in: int, h: int, d: int, with_head: bool):
    nn = torch.nn

    class _AE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc1, self.enc2 = nn.Linear(d_in, h), nn.Linear(h, d)
            self.dec1, self.dec2 = nn.Linear(d, h), nn.Linear(h, d_in)
            self.head = nn.Linear(d, 1) if with_head else None

        def encode(self, x):
            return self.enc2(torch.relu(self.enc1(x)))  # linear bottleneck, as in the reference

        def decode(self, z):
            return self.dec2(torch.relu(self.dec1(z)))

    return _AE()


@register("ae")
class AutoencoderCompressor(BaseCompressor):
    """Two-layer undercomplete autoencoder with an optional supervised head.

    Parameters
    ----------
    dim : int
        Bottleneck width d.
    hidden : int or None
        Hidden width h; None means ``d_in // 2``.
    alpha : float
        Weight of the auxiliary regression loss (0 = unsupervised, the paper's public code).
    lr, weight_decay : float
        AdamW settings.
    batch_size, epochs, patience : int
    restore_best : bool
        Restore the best validation epoch (True) or keep the last (reference behaviour).
    val_fraction : float
        Share of training rows held out for early stopping when no ``X_val`` is passed.
    store : {"f32", "f16"}
        Storage type of the bottleneck codes.
    random_state : int
    device : str
        ``"auto"`` = CUDA when available, else CPU.

    Attributes
    ----------
    module_ : torch.nn.Module
    history_ : dict
        Per-epoch train/validation losses, best epoch.
    y_mean_, y_std_ : float
        Target standardisation (``alpha > 0`` only).

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.random.default_rng(0).normal(size=(256, 16)).astype("float32")
    >>> m = emblab.build("ae:dim=4,epochs=2").fit(X)
    >>> m.encode(X).data.shape, m.bytes_per_vector
    ((256, 4), 16.0)
    """

    _parameter_constraints = {
        "dim": [Interval(int, 1, None)],
        "hidden": [Interval(int, 1, None), None],
        "alpha": [Interval(float, 0, None), Interval(int, 0, None)],
        "lr": [Interval(float, 0, None, closed="neither")],
        "weight_decay": [Interval(float, 0, None), Interval(int, 0, None)],
        "batch_size": [Interval(int, 1, None)],
        "epochs": [Interval(int, 1, None)],
        "patience": [Interval(int, 0, None)],
        "restore_best": [bool],
        "val_fraction": [Interval(float, 0, 1, closed="left")],
        "store": [Options("f32", "f16")],
        "random_state": [Interval(int, 0, None)],
        "device": [Predicate(lambda v: isinstance(v, str) and re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v) is not None,
                             "'auto', 'cpu', 'mps' or 'cuda[:N]'")],
    }
    test_spec = "ae:dim=4,hidden=16,epochs=2,batch_size=64"

    def __init__(self, dim: int = 32, hidden: int | None = None, alpha: float = 0.0, lr: float = 1e-4,
                 weight_decay: float = 0.01, batch_size: int = 32, epochs: int = 25, patience: int = 5,
                 restore_best: bool = True, val_fraction: float = 0.1, store: str = "f32",
                 random_state: int = 0, device: str = "auto"):
        self.dim = dim
        self.hidden = hidden
        self.alpha = alpha
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.restore_best = restore_best
        self.val_fraction = val_fraction
        self.store = store
        self.random_state = random_state
        self.device = device

    # --- fit -------------------------------------------------------------------------------------
    def fit(self, X: Any, *, X_val: Any = None, y: Any = None, y_val: Any = None):
        """Fit on ``X`` (n, d_in); ``y`` (n,) and ``y_val`` (m,) feed the head when ``alpha > 0``.

        ``X_val`` (m, d_in) drives early stopping; without it ``val_fraction`` of ``X`` is held out.
        """
        self._validate_params()  # before reading alpha below
        self._y_fit = self._y_val_fit = None
        if self.alpha > 0:
            if y is None:
                raise InvalidParameterError(
                    f"AutoencoderCompressor with alpha={self.alpha} needs targets: fit(X, y=...) "
                    "(or set alpha=0 for the unsupervised autoencoder).")
            self._y_fit = self._check_y(y, len(X), "y")
            if X_val is not None:
                if y_val is None:
                    raise InvalidParameterError("alpha > 0 with X_val needs y_val too: fit(X, X_val=..., y=..., y_val=...).")
                self._y_val_fit = self._check_y(y_val, len(X_val), "y_val")
        try:
            return super().fit(X, X_val=X_val)
        finally:
            self._y_fit = self._y_val_fit = None

    @staticmethod
    def _check_y(y: Any, n: int, name: str) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if len(y) != n:
            raise DataError(f"{name} has {len(y)} targets but X has {n} rows; they must be row-aligned.")
        if not np.all(np.isfinite(y)):
            raise DataError(f"{name} contains {int((~np.isfinite(y)).sum())} NaN/inf targets; drop or impute them.")
        return y

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        from .._deps import require
        from ..nn.train_loop import TrainConfig, fit_module

        torch = require("torch", "AutoencoderCompressor")
        d_in = X.shape[1]
        h = self.hidden or max(1, d_in // 2)
        sup = bool(self.alpha and self.alpha > 0)
        torch.manual_seed(self.random_state)
        mod = _build(torch, d_in, h, self.dim, sup)
        arrays, val_arrays = [X], None if X_val is None else [X_val]
        if sup:
            mu, sd = float(self._y_fit.mean()), float(self._y_fit.std())
            sd = sd if sd > 0 else 1.0  # constant target: the head learns 0
            self.y_mean_, self.y_std_ = mu, sd
            arrays = [X, ((self._y_fit - mu) / sd).astype(np.float32)[:, None]]
            if X_val is not None:
                val_arrays = [X_val, ((self._y_val_fit - mu) / sd).astype(np.float32)[:, None]]
        alpha = float(self.alpha)
        mse = torch.nn.functional.mse_loss

        def loss_fn(m, batch):
            z = m.encode(batch[0])
            loss = mse(m.decode(z), batch[0])  # ||v - v_hat||^2 / d_in, batch mean
            if sup:
                loss = loss + alpha * mse(m.head(z), batch[1])
            return loss

        cfg = TrainConfig(lr=self.lr, weight_decay=float(self.weight_decay), batch_size=self.batch_size,
                          epochs=self.epochs, seed=self.random_state, device=self.device,
                          val_fraction=self.val_fraction, patience=self.patience, progress=False)
        # restore_best=False (reference): the same early stopping, then keep the last epoch's weights
        hist = fit_module(mod, loss_fn, arrays, cfg, val_arrays=val_arrays, restore_best=self.restore_best,
                          description=f"ae dim={self.dim}")
        mod.to("cpu")
        self.module_ = mod
        kept = hist.best_epoch if self.restore_best else len(hist.val_loss) - 1
        self.history_ = {"train_loss": hist.train_loss, "val_loss": hist.val_loss, "best_epoch": hist.best_epoch,
                         "kept_epoch": kept, "stopped_early": hist.stopped_early, "seconds": hist.seconds}

    # --- encode / decode -----------------------------------------------------------------------
    def _run(self, fn, A: np.ndarray, chunk: int = 8192) -> np.ndarray:
        from .._deps import require

        torch = require("torch", "AutoencoderCompressor")
        out = []
        with torch.no_grad():
            for s in range(0, len(A), chunk):
                out.append(fn(torch.from_numpy(np.array(A[s:s + chunk], np.float32))).numpy())  # writable copy
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def transform(self, X: Any) -> np.ndarray:
        """Float32 bottleneck z (n, dim) without storage rounding."""
        X = self._check_X(X)
        return self._run(self.module_.encode, X).astype(np.float32)

    def predict_head(self, X: Any) -> np.ndarray:
        """Head prediction in target units (n,) (``alpha > 0`` only)."""
        if self.module_.head is None:
            raise InvalidParameterError("predict_head needs a model fitted with alpha > 0.")
        X = self._check_X(X)
        zs = self._run(lambda t: self.module_.head(self.module_.encode(t)), X)[:, 0]
        return zs * self.y_std_ + self.y_mean_

    def _encode(self, X: np.ndarray) -> Codes:
        Z = self._run(self.module_.encode, X)
        return Codes({"codes": Z.astype(np.float16 if self.store == "f16" else np.float32)}, "float")

    def _decode(self, codes: Codes) -> np.ndarray:
        return self._run(self.module_.decode, codes.as_float())

    def _bytes_per_vector(self) -> float:
        return float(self.dim * (2 if self.store == "f16" else 4))

    # --- persistence ---------------------------------------------------------------------------
    def _state_tensors(self) -> dict[str, np.ndarray]:
        names = _LAYERS + (("head",) if self.module_.head is not None else ())
        out = {}
        for nm in names:
            layer = getattr(self.module_, nm)
            out[f"{nm}.weight"] = layer.weight.detach().cpu().numpy().astype(np.float32)
            out[f"{nm}.bias"] = layer.bias.detach().cpu().numpy().astype(np.float32)
        return out

    def _set_state(self, tensors: dict[str, np.ndarray], fitted: dict[str, Any]) -> None:
        from .._deps import require

        torch = require("torch", "AutoencoderCompressor")
        d_in = int(fitted["n_features_in_"])
        h = int(tensors["enc1.weight"].shape[0])
        with_head = "head.weight" in tensors
        mod = _build(torch, d_in, h, self.dim, with_head)
        mod.load_state_dict({k: torch.from_numpy(np.array(v, np.float32)) for k, v in tensors.items()})
        mod.eval()
        self.module_ = mod
        self.history_ = fitted.get("history", {})
        if with_head:
            self.y_mean_, self.y_std_ = float(fitted["y_mean_"]), float(fitted["y_std_"])

    def _fitted_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"hidden_": int(self.module_.enc1.out_features),
                                "history": getattr(self, "history_", {})}
        if self.module_.head is not None:
            meta.update(y_mean_=self.y_mean_, y_std_=self.y_std_)
        return meta
