"""CompresSAE: sparse top-k autoencoder codes (specs/sae.md; Kasalický et al., RecSys 2025).

Spec: ``sae:h=4096,k=32[,activation=topk|relu_topk][,encoder=topk|omp][,center=false][,k_schedule=anneal|none]
[,init=kaiming|tied][,auxk=false][,epochs=10,lr=0.001,batch_size=1024,...]``.

Model (inputs are L2-normalised by the model itself; with ``center=True`` also centred by the
training mean μ and re-normalised): ``pre = x̃ W_enc + b_enc``, ``z = signed_topk(pre, k)`` (largest
|pre|, sign kept, ties by lower latent index), ``x̂ = z W_dec`` with unit-norm decoder rows. Trained
with the Multi-TopK cosine loss ``Lcos(k) + Lcos(min(4k, h)) / 8`` (see :mod:`emblab.nn.sae_module`)
through the shared loop :func:`emblab.nn.train_loop.fit_module` (mini-batches gathered by index, so
``np.memmap`` inputs stream; validation = mean reconstruction cosine at the *final* k, selected only
among epochs that already run at the final k; resumable checkpoints under ``checkpoint_dir``).

Codes layout ``sparse``: ``indices`` (n, k) uint16 sorted ascending + ``values`` (n, k) float16 =
**4 B per non-zero** (k = 32 -> 128 B/vector), plus 2 B when ``store_norm=True`` (``recon_norm``
fp16). ReLU rows with fewer than k non-zeros are padded with value 0, repeating the last index.
Other packings (not implemented, for comparison, h = 4096, k = 32): uint32 idx + fp32 val 256 B;
uint16 + fp32 192 B; 12-bit packed idx + fp16 112 B; uint16 + int8 val + fp16 scale 98 B; entropy
bound log2 C(4096, 32) = 266 bits + fp16 values ≈ 97 B. A CSR ``indptr`` would add 8 B/item; the
fixed-k layout avoids it.

Search modes (all keep only the codes of the catalogue; nothing decodes the whole catalogue):

``sparse``         code-space cosine z_q . z_d / (||z_q|| ||z_d||), query encoded at ``k_query``
                   (default k); inverted index over latents (``sparse_search="inverted"``) or a
                   brute-force scan (``"brute"``), identical rankings.
``reconstructed``  cos(q', x̂_d) with q' = q (or q - μ when centred), from u = W_dec q' in O(k)
                   per item; ||x̂_d|| from stored ``recon_norm`` or sqrt(z_d^T G z_d), G = W_dec W_dec^T.
``asymmetric``     cos(q, decode(z_d)); decode maps x̂ back to the unit sphere (with centring:
                   μ + t e, e = x̂/||x̂||, t > 0 such that ||μ + t e|| = 1), again O(k) per item.
``symmetric``      the same with decode(encode(q)) as the query.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import DataError, InvalidParameterError
from .._validation import Interval, Options, l2_normalize
from ..base import BaseCompressor
from ..codes import Codes
from ..registry import register
from ..search import topk_stable

_CHUNK = 8192


@register("sae")
class SparseAutoencoder(BaseCompressor):
    """Top-k sparse autoencoder compressor (CompresSAE).

    Parameters
    ----------
    h : int
        Latent width (number of latents, <= 65536 so indices fit uint16).
    k : int
        Non-zeros per item (<= h).
    activation : {"topk", "relu_topk"}
        Signed top-k by magnitude, or ReLU of the top-k by value (non-negative codes).
    encoder : {"topk", "omp"}
        How items are coded once the model is trained (training always uses the top-k encoder).
        ``topk``: the learned encoder, one matrix product (the paper's). ``omp``: Orthogonal
        Matching Pursuit over the learned decoder rows (:func:`~emblab.compressors.sparse_coding.batch_omp`):
        same layout and bytes, better reconstructions, about k times the encoding cost.
        Signed codes only (``activation="topk"``).
    center : bool
        Subtract the training mean μ of the normalised inputs (changes the similarity the codes
        model to cos(q - μ, x - μ); the asymmetric mode maps back to the original cosine).
    k_schedule : {"anneal", None}
        ``anneal``: for the first ceil(E/2) epochs k_e = round(k 4^(1-(e-1)/E_a)), then k.
    init : {"kaiming", "tied"}
        Independent Kaiming-uniform inits (reference) or decoder = normalised encoder transpose.
    auxk : bool
        AuxK dead-latent revival (weight 1/32, ``aux_k`` dead latents).
    aux_k : int
    dead_window : int
        A latent is dead after this many training samples without firing (capped at n_train).
    k_query : int or None
        Active latents of a *query* code in the ``sparse`` mode (default k; up to 4k is trained).
    store_norm : bool
        Store ||x̂|| as fp16 per item (+2 B) instead of computing it from G at search time.
    sparse_search : {"inverted", "brute"}
        Algorithm of the ``sparse`` mode.
    epochs, lr, batch_size, seed, device, patience : training settings (``TrainConfig``).
    checkpoint_dir : str or None
        Resumable checkpoints go to ``<checkpoint_dir>/sae-<hash of params and data>/``.
    progress : bool
        Show a progress bar while training.

    Attributes
    ----------
    W_enc_ : ndarray (d, h)
    b_enc_ : ndarray (h,)
    W_dec_ : ndarray (h, d), unit rows
    mu_ : ndarray (d,), zeros unless ``center``
    history_ : dict
        Training history (losses, best epoch, seconds, device).
    train_usage_ : dict
        Latent usage statistics of the training codes (dead fraction, effective latents).

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.random.default_rng(0).normal(size=(300, 16)).astype("float32")
    >>> m = emblab.build("sae:h=32,k=4,epochs=2,batch_size=64,progress=false").fit(X)
    >>> m.encode(X[:2]).arrays["indices"].shape, m.bytes_per_vector
    ((2, 4), 16.0)
    """

    search_modes = ("asymmetric", "symmetric", "sparse", "reconstructed")
    codes_layout = "sparse"
    test_spec = "sae:h=64,k=4,epochs=2,batch_size=64,progress=false"
    _parameter_constraints = {
        "h": [Interval(int, 1, 65536)],
        "k": [Interval(int, 1, None)],
        "activation": [Options("topk", "relu_topk")],
        "encoder": [Options("topk", "omp")],
        "center": [bool],
        "k_schedule": [Options("anneal"), None],  # write k_schedule=none in a spec: it parses as None
        "init": [Options("kaiming", "tied")],
        "auxk": [bool],
        "aux_k": [Interval(int, 1, None)],
        "dead_window": [Interval(int, 1, None)],
        "k_query": [None, Interval(int, 1, None)],
        "store_norm": [bool],
        "sparse_search": [Options("inverted", "brute")],
        "epochs": [Interval(int, 1, None)],
        "lr": [Interval(float, 0, None, closed="neither")],
        "batch_size": [Interval(int, 1, None)],
        "seed": [Interval(int, 0, None)],
        "device": [str],
        "patience": [Interval(int, 0, None)],
        "checkpoint_dir": [None, str],
        "progress": [bool],
    }

    # top-k and OMP coding, the query k and the sparse scorer all use the same trained dictionary
    inference_params = ("encoder", "k_query", "sparse_search")

    def __init__(self, h: int = 4096, k: int = 32, activation: str = "topk", encoder: str = "topk",
                 center: bool = False,
                 k_schedule: str = "anneal", init: str = "kaiming", auxk: bool = False, aux_k: int = 256,
                 dead_window: int = 1_000_000, k_query: int | None = None, store_norm: bool = False,
                 sparse_search: str = "inverted", epochs: int = 10, lr: float = 1e-3,
                 batch_size: int = 1024, seed: int = 0, device: str = "auto", patience: int = 3,
                 checkpoint_dir: str | None = None, progress: bool = True):
        self.h = h
        self.k = k
        self.activation = activation
        self.encoder = encoder
        self.center = center
        self.k_schedule = k_schedule
        self.init = init
        self.auxk = auxk
        self.aux_k = aux_k
        self.dead_window = dead_window
        self.k_query = k_query
        self.store_norm = store_norm
        self.sparse_search = sparse_search
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.patience = patience
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress

    def _validate_params(self) -> None:
        if isinstance(self.lr, int) and not isinstance(self.lr, bool):
            self.lr = float(self.lr)  # "lr=1" in a spec parses as int
        super()._validate_params()
        if self.k > self.h:
            raise InvalidParameterError(f"The 'k' parameter of SparseAutoencoder must be an int in [1, h={self.h}]; "
                                        f"got {self.k}.")
        if self.encoder == "omp" and self.activation != "topk":
            raise InvalidParameterError("encoder='omp' gives signed codes; it needs activation='topk' "
                                        f"(got activation={self.activation!r}).")
        if self.k_query is not None and self.k_query > self.h:
            raise InvalidParameterError(f"The 'k_query' parameter of SparseAutoencoder must be <= h={self.h}; "
                                        f"got {self.k_query}.")

    # --- training -------------------------------------------------------------------------------
    def k_at_epoch(self, epoch: int) -> int:
        """k used in (0-based) ``epoch`` by the k schedule (spec §5)."""
        e_a = self._anneal_epochs()
        if epoch >= e_a:
            return self.k
        return min(self.h, int(round(self.k * 4 ** (1 - epoch / e_a))))

    def _anneal_epochs(self) -> int:
        # one epoch cannot both anneal and end at the final k: no annealing then
        return math.ceil(self.epochs / 2) if (self.k_schedule == "anneal" and self.epochs >= 2) else 0

    def _checkpoint_path(self, X: np.ndarray) -> str | None:
        if self.checkpoint_dir is None:
            return None
        from ..io import fingerprint_array

        params = {k: v for k, v in self.get_params().items() if k not in ("checkpoint_dir", "progress", "device", "encoder")}
        key = json.dumps({"params": params, "data": fingerprint_array(X)}, sort_keys=True, default=str)
        return str(Path(self.checkpoint_dir) / f"sae-{hashlib.sha256(key.encode()).hexdigest()[:16]}")

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        from .._deps import require

        torch = require("torch", "SparseAutoencoder")
        from ..nn.sae_module import SAEModule, decoder_hooks, recon_cosine, sae_loss
        from ..nn.train_loop import TrainConfig, fit_module, split_train_val

        n, d = X.shape
        self._gram = self._index_cache = None  # derived caches of a previous fit
        mu = np.zeros(d, np.float64)
        if self.center:
            for s in range(0, n, 65536):  # chunked so memmaps stream
                mu += l2_normalize(X[s:s + 65536]).sum(0, dtype=np.float64)
            mu /= n
        torch.manual_seed(self.seed)
        module = SAEModule(d, self.h, self.k, self.activation, self.init)
        module.mu.copy_(torch.from_numpy(mu.astype(np.float32)))
        cfg = TrainConfig(lr=float(self.lr), batch_size=self.batch_size, epochs=self.epochs, seed=self.seed,
                          device=self.device, val_fraction=0.05, min_val=1000, patience=self.patience,
                          checkpoint_dir=self._checkpoint_path(X), progress=self.progress)
        n_train = n if X_val is not None else len(split_train_val(n, cfg)[0])
        dead_window = min(self.dead_window, max(n_train, 1))

        def loss_fn(mod, batch):
            return sae_loss(mod, batch, auxk=self.auxk, aux_k=self.aux_k, dead_window=dead_window)

        def on_epoch_start(epoch: int) -> None:
            module.k_current = self.k_at_epoch(epoch)

        before, after = decoder_hooks(module)
        hist = fit_module(module, loss_fn, [X], cfg, val_arrays=None if X_val is None else [X_val],
                          val_fn=lambda mod, va: 1.0 - recon_cosine(mod, va[0], self.k),
                          before_step=before, after_step=after, on_epoch_start=on_epoch_start,
                          select_from_epoch=self._anneal_epochs(), description=f"sae h={self.h} k={self.k}")
        module.k_current = self.k
        module.cpu()
        self.W_enc_ = module.W_enc.detach().numpy().astype(np.float32).copy()
        self.b_enc_ = module.b_enc.detach().numpy().astype(np.float32).copy()
        self.W_dec_ = module.W_dec.detach().numpy().astype(np.float32).copy()
        self.mu_ = module.mu.detach().numpy().astype(np.float32).copy()
        self.history_ = {**hist.to_dict(), "val_recon_cos": [1.0 - v for v in hist.val_loss],
                         "k_per_epoch": [self.k_at_epoch(e) for e in range(len(hist.train_loss))]}
        # the trained encoder's usage (a training statistic; an OMP pass here would cost k times more)
        idx, val, _ = self._encode_arrays(X[: min(n, 200_000)], encoder="topk")
        from ..retrieval.sparse_search import latent_usage

        self.train_usage_ = latent_usage(idx, val, self.h)

    # --- encoding -------------------------------------------------------------------------------
    def _prepare(self, X: np.ndarray) -> np.ndarray:
        x = l2_normalize(X)
        return l2_normalize(x - self.mu_) if self.center else x

    def _encode_arrays(self, X: np.ndarray, k: int | None = None, encoder: str | None = None):
        """(indices uint16 (n, k) ascending, values float16 (n, k), pre-rounding float32 values)."""
        k = self.k if k is None else k
        encoder = encoder or self.encoder
        n = X.shape[0]
        out_i = np.empty((n, k), np.uint16 if self.h <= 65536 else np.int32)
        out_v = np.empty((n, k), np.float16)
        out_f = np.empty((n, k), np.float32)
        for s in range(0, n, _CHUNK):
            xt = self._prepare(X[s:s + _CHUNK])
            if encoder == "omp":
                from .sparse_coding import batch_omp

                I, V = batch_omp(xt, self.W_dec_, k)
            else:
                pre = xt @ self.W_enc_ + self.b_enc_
                key = np.abs(pre) if self.activation == "topk" else pre
                _, I = topk_stable(key, k)  # ties by lower latent index
                V = np.take_along_axis(pre, I, axis=1)
            if self.activation == "relu_topk":
                V = np.maximum(V, 0)
            valid = V != 0
            # sort by (padding last, index); then pads repeat the row's last valid index
            order = np.argsort(I + (~valid) * (self.h + 1), axis=1, kind="stable")
            I = np.take_along_axis(I, order, axis=1)
            V = np.take_along_axis(V, order, axis=1)
            nvalid = valid.sum(1)
            if (nvalid < k).any():
                last = np.where(nvalid > 0, I[np.arange(len(I)), np.maximum(nvalid - 1, 0)], 0)
                pad = np.arange(k)[None, :] >= nvalid[:, None]
                I = np.where(pad, last[:, None], I)
                V = np.where(pad, 0, V)
            out_i[s:s + _CHUNK] = I
            out_f[s:s + _CHUNK] = V
            out_v[s:s + _CHUNK] = V.astype(np.float16)
        if not np.isfinite(out_v).all():
            raise DataError("SAE code values overflow float16; the input or model is badly scaled.")
        return out_i, out_v, out_f

    def _encode(self, X: np.ndarray) -> Codes:
        idx, val, _ = self._encode_arrays(X)
        arrays = {"indices": idx, "values": val}
        if self.store_norm:
            arrays["recon_norm"] = self._recon_norm(idx, val).astype(np.float16)
        return Codes(arrays, "sparse", meta={"n_latents": self.h, "k": self.k})

    def encode_query(self, X: Any, k: int | None = None) -> Codes:
        """Encode queries with ``k`` (default ``k_query`` or k) active latents (sparse mode)."""
        X = self._check_X(X)
        idx, val, _ = self._encode_arrays(X, k or self.k_query or self.k)
        return Codes({"indices": idx, "values": val}, "sparse", self.to_spec(), self.fingerprint,
                     {"n_latents": self.h, "k": idx.shape[1]})

    # --- decoding -------------------------------------------------------------------------------
    def _raw_decode(self, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
        from ..retrieval.sparse_search import codes_to_csr

        return np.asarray(codes_to_csr(idx, val, self.h) @ self.W_dec_, dtype=np.float32)

    def _to_sphere(self, xh: np.ndarray) -> np.ndarray:
        """Map raw reconstructions (n, d) to unit vectors in the input space."""
        e = l2_normalize(xh)
        if not self.center:
            return e
        m = e @ self.mu_
        t = -m + np.sqrt(np.maximum(m * m + 1.0 - float(self.mu_ @ self.mu_), 0.0))
        return (self.mu_[None, :] + t[:, None] * e).astype(np.float32)

    def _decode(self, codes: Codes) -> np.ndarray:
        a = codes.arrays
        return self._to_sphere(self._raw_decode(a["indices"], a["values"]))

    def _recon_norm(self, idx: np.ndarray, val: np.ndarray) -> np.ndarray:
        """||x̂|| per item (n,) float32 without keeping decoded rows: sqrt(z^T G z) over the k actives."""
        n, k = idx.shape
        out = np.empty(n, np.float32)
        if self.h <= 8192:
            G = getattr(self, "_gram", None)
            if G is None:
                G = self._gram = (self.W_dec_ @ self.W_dec_.T).astype(np.float32)
            step = max(1, 4_000_000 // max(k * k, 1))
            for s in range(0, n, step):
                I = idx[s:s + step].astype(np.int64)
                V = val[s:s + step].astype(np.float32)
                Gs = G[I[:, :, None], I[:, None, :]]
                out[s:s + step] = np.sqrt(np.maximum(np.einsum("ni,nij,nj->n", V, Gs, V), 0))
        else:  # G would be h^2 floats; reconstruct chunk by chunk and keep only the norm
            for s in range(0, n, 65536):
                out[s:s + 65536] = np.linalg.norm(self._raw_decode(idx[s:s + 65536], val[s:s + 65536]), axis=1)
        return out

    # --- search ---------------------------------------------------------------------------------
    def sparse_index(self, codes: Codes):
        """:class:`~emblab.retrieval.sparse_search.SparseIndex` of ``codes`` with per-item norms (cached)."""
        from ..retrieval.sparse_search import SparseIndex

        a = codes.arrays
        key = (id(a["indices"]), id(a["values"]), len(codes), self.fingerprint)
        cached = getattr(self, "_index_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        index = SparseIndex(a["indices"], a["values"], self.h)
        rn = a["recon_norm"].astype(np.float32) if "recon_norm" in a else self._recon_norm(a["indices"], a["values"])
        index.recon_norm = rn
        if self.center:  # t_d of _to_sphere, from mu . e_d = z_d . (W_dec mu) / ||x̂_d||
            m = index.dot((self.W_dec_ @ self.mu_)[:, None])[:, 0] / np.maximum(rn, 1e-30)
            index.sphere_t = (-m + np.sqrt(np.maximum(m * m + 1.0 - float(self.mu_ @ self.mu_), 0))).astype(np.float32)
        self._index_cache = (key, index)
        return index

    def _search(self, xq: np.ndarray, codes: Codes, k: int, mode: str):
        index = self.sparse_index(codes)
        if mode == "sparse":
            qc = self.encode_query(xq)
            return index.search_sparse(qc.arrays["indices"], qc.arrays["values"], k, method=self.sparse_search)
        inv_rn = 1.0 / np.maximum(index.recon_norm, 1e-30)
        if mode == "reconstructed" or (mode == "asymmetric" and not self.center):
            q = self._prepare(xq)  # normalize(q - mu) when centred: cos(q - mu, x̂)
            return index.topk_dense(self.W_dec_ @ q.T, k, item_scale=inv_rn)
        v = l2_normalize(xq) if mode == "asymmetric" else self._decode(self.encode(xq))
        if not self.center:
            return index.topk_dense(self.W_dec_ @ v.T, k, item_scale=inv_rn)
        bias = (v @ self.mu_)[None, :].astype(np.float32)  # cos(v, mu + t e_d) = v.mu + t_d v.e_d
        return index.topk_dense(self.W_dec_ @ v.T, k, item_scale=index.sphere_t * inv_rn,
                                item_bias=lambda s, e: bias)

    def latent_stats(self, codes: Codes) -> dict[str, float]:
        """Dead-latent fraction and usage skew of ``codes`` (see :func:`latent_usage`)."""
        from ..retrieval.sparse_search import latent_usage

        self.check_codes(codes)
        return latent_usage(codes.arrays["indices"], codes.arrays["values"], self.h)

    # --- sizes and state ------------------------------------------------------------------------
    def _bytes_per_vector(self) -> float:
        return float(self.k * 4 + (2 if self.store_norm else 0))

    def _state_tensors(self) -> dict[str, np.ndarray]:
        return {"W_enc": self.W_enc_, "b_enc": self.b_enc_, "W_dec": self.W_dec_, "mu": self.mu_}

    def _set_state(self, tensors: dict[str, np.ndarray], fitted: dict[str, Any]) -> None:
        self.W_enc_ = np.asarray(tensors["W_enc"], np.float32)
        self.b_enc_ = np.asarray(tensors["b_enc"], np.float32)
        self.W_dec_ = np.asarray(tensors["W_dec"], np.float32)
        self.mu_ = np.asarray(tensors["mu"], np.float32)
        self._gram = self._index_cache = None
        if self.W_enc_.shape[1] != self.h or self.W_dec_.shape != (self.h, self.W_enc_.shape[0]):
            raise ValueError(f"W_enc {self.W_enc_.shape} / W_dec {self.W_dec_.shape} do not match h={self.h}")
        self.history_ = fitted.get("history", {})
        self.train_usage_ = fitted.get("train_usage", {})

    def _fitted_meta(self) -> dict[str, Any]:
        return {"n_latents": self.h, "k": self.k, "history": getattr(self, "history_", {}),
                "train_usage": getattr(self, "train_usage_", {})}
