"""CompresSAE: sparse top-k autoencoder codes (specs/sae.md; Kasalický et al., RecSys 2025).

Spec: ``sae:h=4096[,k=32|budget=64][,value_bits=16|8|4][,value_scale=row|latent][,pack=true]
[,encoder=topk|omp][,value_fit=refit|round][,train_k=16][,activation=topk|relu_topk][,center=..]
[,k_schedule=anneal|none][,init=kaiming|tied][,auxk=..][,epochs=10,lr=0.001,batch_size=..,...]``.

Model (inputs are L2-normalised by the model itself; with ``center=True`` also centred by the
training mean μ and re-normalised): ``pre = x̃ W_enc + b_enc``, ``z = signed_topk(pre, k)`` (largest
|pre|, sign kept, ties by lower latent index), ``x̂ = z W_dec`` with unit-norm decoder rows. Trained
with the Multi-TopK cosine loss ``Lcos(k) + Lcos(min(4k, h)) / 8`` (see :mod:`emblab.nn.sae_module`)
through the shared loop :func:`emblab.nn.train_loop.fit_module` (mini-batches gathered by index, so
``np.memmap`` inputs stream; validation = mean reconstruction cosine at the *final* k, selected only
among epochs that already run at the final k; resumable checkpoints under ``checkpoint_dir``).

Codes (layout ``sparse``; issue 16). A code keeps k (latent, value) slots, k fixed by ``k`` or by
the byte ``budget`` (``sae:budget=64`` takes the largest k whose payload fits):

``pack=true``   one uint8 row per item (:mod:`~emblab.compressors.sparse_layout`): indices at
                ceil(log2 h) bits (``index_coding=fixed``) or Elias-Fano coded (``ef``), values at
                ``value_bits`` (16 = float16; 8 or 4 = quantised,
                :mod:`~emblab.compressors.sparse_values`): ``value_scale=row`` uniform levels up to
                the row's largest |value| (the scale is implicit: every score normalises), or
                ``latent`` a learned codebook per latent. h = 4096, 8-bit values: 20 bits per slot,
                k = 25 in 64 B. Default: Elias-Fano indices, 4-bit row-scaled values (k = 40 in
                64 B), the best layout measured at every budget from 32 to 128 B
                (``benchmarks/results/sae_codes.md``).
``pack=false``  ``indices`` (n, k) uint16 + ``values`` (n, k) float16: 4 B per slot (specs/sae.md §7).

``value_fit=refit`` re-solves the values by least squares on the code's support and quantises them
with error feedback (OBQ/GPTQ); ``round`` rounds the encoder's values one by one. Padding slots
(ReLU rows with fewer than k positives) have value 0 and repeat the row's last index.
``bytes_per_vector`` is the measured payload (+2 B with ``store_norm``).

Search modes (all keep only the codes of the catalogue; nothing decodes the whole catalogue):

``sparse``         code-space cosine z_q . z_d / (||z_q|| ||z_d||), query encoded at ``k_query``
                   (default k, values not quantised: queries are not stored); posting lists
                   over latents (``sparse_search="inverted"``) or a brute-force scan
                   (``"brute"``), identical rankings.
``reconstructed``  cos(q', x̂_d) with q' = q (or q - μ when centred), from u = W_dec q' in O(k)
                   per item; ||x̂_d|| from stored ``recon_norm`` or sqrt(z_d^T G z_d), G = W_dec W_dec^T.
``asymmetric``     cos(q, decode(z_d)); decode maps x̂ back to the unit sphere (with centring:
                   μ + t e, e = x̂/||x̂||, t > 0 such that ||μ + t e|| = 1), again O(k) per item.
``symmetric``      the same with decode(encode(q)) as the query.

Every mode reads packed catalogues one chunk at a time (:class:`~emblab.sparse_search.SparseIndex`
with a row reader); per-item norms and, for the sparse mode, posting lists are cached per catalogue.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import DataError, InvalidParameterError, NotFittedError
from .._validation import Interval, Options, l2_normalize
from ..base import BaseCompressor
from ..codes import Codes
from ..registry import register
from .sae_search import SparseCodeSearch
from .sparse_layout import PackedLayout, code_bytes, k_for_budget

_CHUNK = 8192
_CODE_CHUNK = 2048  # rows quantised together: the k x k Gram matrices take chunk * k^2 * 8 B (33 MB at k = 64)
_PATH_CACHE, _PATH_CACHE_ROWS = 4, 200_000
_DEFAULT_K = 32
#: rows of the fit set coded to learn ``value_scale="latent"`` codebooks (evenly spaced)
CODEBOOK_ROWS = 10_000
#: parameters that only change how a trained model codes items (not the training)
CODING_PARAMS = ("k", "budget", "encoder", "pack", "index_coding", "value_bits", "value_scale", "value_fit",
                 "k_query", "store_norm", "sparse_search")
#: values of parameters added after artifacts were first saved: what those artifacts did
_LEGACY_PARAMS = {"pack": False, "index_coding": "fixed", "value_bits": 16, "value_scale": "row",
                  "value_fit": "round", "budget": None, "train_k": None}


@register("sae")
class SparseAutoencoder(SparseCodeSearch, BaseCompressor):
    """Top-k sparse autoencoder compressor (CompresSAE) with packed, quantised codes.

    Parameters
    ----------
    h : int
        Latent width (number of latents, <= 65536).
    k : int or None
        Non-zeros per item (<= h). None: the largest k that fits ``budget``, or 32 without one.
    budget : int or None
        Bytes per item the code must fit; with ``k`` given, k must fit it.
    activation : {"topk", "relu_topk"}
        Signed top-k by magnitude, or ReLU of the top-k by value (non-negative codes).
    encoder : {"topk", "omp"}
        How items are coded once the model is trained (training always uses the top-k encoder).
        ``topk``: the learned encoder, one matrix product (the paper's). ``omp``: Orthogonal
        Matching Pursuit over the learned decoder rows
        (:func:`~emblab.compressors.sparse_coding.batch_omp`), about k times the encoding cost.
        Signed codes only (``activation="topk"``).
    pack : bool
        Bit-packed rows instead of uint16 indices + float16 values.
    index_coding : {"fixed", "ef"}
        Packed indices at ceil(log2 h) bits each, or Elias-Fano over the sorted indices (about
        2 + log2(h/k) bits each; :mod:`~emblab.compressors.sparse_layout`).
    value_bits : {16, 8, 4}
        Bits per stored value (16 = float16; 8 and 4 need ``pack``).
    value_scale : {"row", "latent"}
        Quantiser of 8/4-bit values: uniform levels scaled to each row's largest |value| (scale
        implicit), or a learned codebook per latent (fitted on ``CODEBOOK_ROWS`` rows of the fit set).
    value_fit : {"refit", "round"}
        ``refit``: least-squares values on the support, quantised with error feedback; ``round``:
        the encoder's values rounded one by one.
    train_k : int or None
        k used for training (default: the coding k). Lets one trained model code at other k.
    center : bool
        Subtract the training mean μ of the normalised inputs (changes the similarity the codes
        model to cos(q - μ, x - μ); the asymmetric mode maps back to the original cosine).
    k_schedule : {"anneal", None}
        ``anneal``: for the first ceil(E/2) epochs k_e = round(k 4^(1-(e-1)/E_a)), then k.
    init : {"kaiming", "tied"}
        ``kaiming``: the reference's independent ``kaiming_uniform_`` inits (encoder bound
        sqrt(6/h)); ``tied``: decoder = normalised encoder transpose.
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
        Resumable checkpoints go to ``<checkpoint_dir>/sae-<hash of training params and data>/``;
        models that differ only in coding parameters share one training.
    progress : bool
        Show a progress bar while training.

    Attributes
    ----------
    W_enc_ : ndarray (d, h)
    b_enc_ : ndarray (h,)
    W_dec_ : ndarray (h, d), unit rows
    mu_ : ndarray (d,), zeros unless ``center``
    value_codebook_ : ndarray (h, 2**value_bits) or None
        Per-latent levels (``value_scale="latent"``); column 0 is the reserved 0.
    history_ : dict
        Training history (losses, best epoch, seconds, device).
    train_usage_ : dict
        Latent usage statistics of the training codes (dead fraction, effective latents).

    Examples
    --------
    >>> import numpy as np, emblab
    >>> X = np.random.default_rng(0).normal(size=(300, 16)).astype("float32")
    >>> m = emblab.build("sae:h=32,budget=8,value_bits=4,epochs=2,batch_size=64,progress=false").fit(X)
    >>> m.coding_k(), m.bytes_per_vector, m.encode(X[:2]).arrays["packed"].shape
    (7, 7.0, (2, 7))
    """

    search_modes = ("asymmetric", "symmetric", "sparse", "reconstructed")
    codes_layout = "sparse"
    test_spec = "sae:h=64,k=4,epochs=2,batch_size=64,progress=false"
    _parameter_constraints = {
        "h": [Interval(int, 1, 65536)],
        "k": [None, Interval(int, 1, None)],
        "budget": [None, Interval(int, 1, None)],
        "activation": [Options("topk", "relu_topk")],
        "encoder": [Options("topk", "omp")],
        "pack": [bool],
        "index_coding": [Options("fixed", "ef")],
        "value_bits": [Options(16, 8, 4)],
        "value_scale": [Options("row", "latent")],
        "value_fit": [Options("refit", "round")],
        "train_k": [None, Interval(int, 1, None)],
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

    # every coding parameter uses the same trained dictionary: a benchmark fits once per training spec
    inference_params = CODING_PARAMS

    def __init__(self, h: int = 4096, k: int | None = None, budget: int | None = None, activation: str = "topk",
                 encoder: str = "omp", pack: bool = True, index_coding: str = "ef", value_bits: int = 4,
                 value_scale: str = "row",
                 value_fit: str = "refit", train_k: int | None = None, center: bool = True,
                 k_schedule: str = "anneal", init: str = "kaiming", auxk: bool = True, aux_k: int = 256,
                 dead_window: int = 1_000_000, k_query: int | None = None, store_norm: bool = False,
                 sparse_search: str = "inverted", epochs: int = 10, lr: float = 1e-3,
                 batch_size: int = 256, seed: int = 0, device: str = "auto", patience: int = 3,
                 checkpoint_dir: str | None = None, progress: bool = True):
        self.h = h
        self.k = k
        self.budget = budget
        self.activation = activation
        self.encoder = encoder
        self.pack = pack
        self.index_coding = index_coding
        self.value_bits = value_bits
        self.value_scale = value_scale
        self.value_fit = value_fit
        self.train_k = train_k
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
        name = "SparseAutoencoder"
        for key in ("k", "train_k", "k_query"):
            v = getattr(self, key)
            if v is not None and v > self.h:
                raise InvalidParameterError(f"The '{key}' parameter of {name} must be an int in [1, h={self.h}]; got {v}.")
        if self.encoder == "omp" and self.activation != "topk":
            raise InvalidParameterError("encoder='omp' gives signed codes; it needs activation='topk' "
                                        f"(got activation={self.activation!r}).")
        if not self.pack and (self.value_bits != 16 or self.index_coding != "fixed"):
            raise InvalidParameterError(f"pack=false stores uint16 indices and float16 values: {name} needs "
                                        f"value_bits=16,index_coding=fixed with it (got value_bits={self.value_bits}, "
                                        f"index_coding={self.index_coding!r}); add both to the spec.")
        if self.value_scale == "latent" and self.value_bits == 16:
            raise InvalidParameterError(f"The 'value_scale' parameter of {name} must be 'row' with value_bits=16 "
                                        "(float16 values are not quantised); use value_bits=8 or 4 for 'latent'.")
        if self.budget is not None:
            fit = self._k_for_budget()
            if self.k is not None and self.k > fit:
                raise InvalidParameterError(
                    f"The 'k' parameter of {name} must fit budget={self.budget} B: k={self.k} takes "
                    f"{self._bytes_for(self.k)} B with this layout (k <= {fit} fits); drop k or raise the budget.")

    # --- sizes of the code ----------------------------------------------------------------------
    def _norm_bytes(self) -> int:
        return 2 if self.store_norm else 0

    def _bytes_for(self, k: int) -> int:
        return code_bytes(self.h, k, self.value_bits, packed=self.pack, norm_bytes=self._norm_bytes(),
                          index_coding=self.index_coding)

    def _k_for_budget(self) -> int:
        return k_for_budget(self.budget, self.h, self.value_bits, packed=self.pack, norm_bytes=self._norm_bytes(),
                            index_coding=self.index_coding)

    def coding_k(self) -> int:
        """Non-zeros per stored code: ``k``, else the largest k fitting ``budget``, else 32."""
        if self.k is not None:
            return int(self.k)
        if self.budget is not None:
            return self._k_for_budget()
        return min(_DEFAULT_K, self.h)

    def training_k(self) -> int:
        """k of the training loss (``train_k``, else the coding k)."""
        return int(self.train_k) if self.train_k is not None else self.coding_k()

    def layout(self) -> PackedLayout:
        """Bit layout of packed codes (h, coding k, value_bits)."""
        return PackedLayout(self.h, self.coding_k(), self.value_bits, self.index_coding)

    # --- training -------------------------------------------------------------------------------
    def k_at_epoch(self, epoch: int) -> int:
        """k used in (0-based) ``epoch`` by the k schedule (spec §5)."""
        e_a = self._anneal_epochs()
        k = self.training_k()
        if epoch >= e_a:
            return k
        return min(self.h, int(round(k * 4 ** (1 - epoch / e_a))))

    def _anneal_epochs(self) -> int:
        # one epoch cannot both anneal and end at the final k: no annealing then
        return math.ceil(self.epochs / 2) if (self.k_schedule == "anneal" and self.epochs >= 2) else 0

    def _checkpoint_path(self, X: np.ndarray) -> str | None:
        if self.checkpoint_dir is None:
            return None
        from ..io import fingerprint_array, stable_json

        skip = set(CODING_PARAMS) | {"train_k", "checkpoint_dir", "progress", "device"}
        params = {k: v for k, v in self.get_params().items() if k not in skip}
        params["training_k"] = self.training_k()
        key = stable_json({"params": params, "data": fingerprint_array(X)})
        return str(Path(self.checkpoint_dir) / f"sae-{hashlib.sha256(key.encode()).hexdigest()[:16]}")

    def _fit(self, X: np.ndarray, X_val: np.ndarray | None) -> None:
        from .._deps import require

        torch = require("torch", "SparseAutoencoder")
        from ..nn.sae_module import SAEModule, decoder_hooks, recon_cosine, sae_loss
        from ..nn.train_loop import TrainConfig, fit_module, split_train_val

        n, d = X.shape
        self._gram = self._index_cache = None  # derived caches of a previous fit
        self._path_cache = {}
        mu = np.zeros(d, np.float64)
        if self.center:
            for s in range(0, n, 65536):  # chunked so memmaps stream
                mu += l2_normalize(X[s:s + 65536]).sum(0, dtype=np.float64)
            mu /= n
        k_train = self.training_k()
        torch.manual_seed(self.seed)
        module = SAEModule(d, self.h, k_train, self.activation, self.init)
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
                          val_fn=lambda mod, va: 1.0 - recon_cosine(mod, va[0], k_train),
                          before_step=before, after_step=after, on_epoch_start=on_epoch_start,
                          select_from_epoch=self._anneal_epochs(), description=f"sae h={self.h} k={k_train}")
        module.k_current = k_train
        module.cpu()
        self.W_enc_ = module.W_enc.detach().numpy().astype(np.float32).copy()
        self.b_enc_ = module.b_enc.detach().numpy().astype(np.float32).copy()
        self.W_dec_ = module.W_dec.detach().numpy().astype(np.float32).copy()
        self.mu_ = module.mu.detach().numpy().astype(np.float32).copy()
        self.history_ = {**hist.to_dict(), "val_recon_cos": [1.0 - v for v in hist.val_loss],
                         "k_per_epoch": [self.k_at_epoch(e) for e in range(len(hist.train_loss))]}
        # the trained encoder's usage (a training statistic; an OMP pass here would cost k times more)
        from ..sparse_search import latent_usage
        from .sae_coding import select_support

        sub = self._prepare(X[: min(n, 200_000)])
        idx = np.concatenate([select_support(sub[s:s + _CHUNK], self, k_train, "topk")[0]
                              for s in range(0, len(sub), _CHUNK)])
        self.train_usage_ = latent_usage(idx, np.ones(idx.shape, np.float32), self.h)
        self._fit_values(X)

    def fit_values(self, X: Any) -> "SparseAutoencoder":
        """(Re)fit the value quantiser for the current coding parameters on ``X`` (n, d).

        Needed after ``set_params`` changes k, budget, encoder or the value layout of a model with
        ``value_scale="latent"``; the trained SAE itself is unchanged.
        """
        X = self._check_X(X)
        self._fit_values(X)
        self._fingerprint_cache = None
        self._index_cache = None
        return self

    def with_coding(self, X: Any = None, **params: Any) -> "SparseAutoencoder":
        """This trained model coding items another way: a copy with other coding parameters.

        Parameters
        ----------
        X : array-like (n, d), optional
            The fit set; needed when the copy uses ``value_scale="latent"`` (its codebooks are
            fitted on ``CODEBOOK_ROWS`` of these rows).
        **params
            Any of ``CODING_PARAMS`` (k, budget, encoder, pack, value_bits, value_scale,
            value_fit, k_query, store_norm, sparse_search).

        Returns
        -------
        SparseAutoencoder
            Shares the trained arrays and the OMP path cache; ``train_k`` records the training k,
            so the copy's spec rebuilds the same model.
        """
        import copy

        bad = sorted(set(params) - set(CODING_PARAMS))
        if bad:
            raise InvalidParameterError(f"with_coding changes coding parameters only ({', '.join(CODING_PARAMS)}); "
                                        f"got {', '.join(bad)}: refit for those.")
        self._check_X(np.zeros((1, self.n_features_in_), np.float32))  # fitted
        if "budget" in params and "k" not in params:
            params["k"] = None  # a new budget picks its own k
        new = copy.copy(self)
        new.history_ = dict(self.history_)
        k_train = self.training_k()
        new.set_params(**params)
        if new.training_k() != k_train:
            new.set_params(train_k=k_train)
        new._index_cache = None
        if new.value_scale == "latent" and new.value_bits != 16:
            if X is None:
                raise InvalidParameterError("value_scale='latent' learns codebooks: pass the fit set, "
                                            "with_coding(X, ...).")
            new.fit_values(X)
        else:
            new.value_codebook_ = new.codebook_for_ = None
        new._fingerprint_cache = None
        return new

    def _coding_key(self) -> dict[str, Any]:
        return {"k": self.coding_k(), "encoder": self.encoder, "value_bits": self.value_bits,
                "value_fit": self.value_fit, "activation": self.activation}

    def _fit_values(self, X: np.ndarray) -> None:
        self.value_codebook_ = None
        self.codebook_for_ = None
        if self.value_scale != "latent" or self.value_bits == 16:
            return
        from .sae_coding import support_values
        from .sparse_values import fit_latent_codebook

        rows = X[np.linspace(0, len(X) - 1, min(len(X), CODEBOOK_ROWS)).astype(np.int64)]
        k = self.coding_k()
        picks = self._omp_picks(rows, k) if self.encoder == "omp" else None
        parts = [support_values(self._prepare(rows[s:s + _CHUNK]), self, k, self.encoder, self.value_fit,
                                None if picks is None else picks[s:s + _CHUNK])[:2]
                 for s in range(0, len(rows), _CHUNK)]
        idx = np.concatenate([p[0] for p in parts])
        val = np.concatenate([p[1] for p in parts])
        self.value_codebook_ = fit_latent_codebook(idx, val, self.h, self.value_bits)
        self.codebook_for_ = self._coding_key()

    # --- encoding -------------------------------------------------------------------------------
    def _prepare(self, X: np.ndarray) -> np.ndarray:
        x = l2_normalize(X)
        return l2_normalize(x - self.mu_) if self.center else x

    def _quantizer(self):
        from .sae_coding import make_quantizer

        if self.value_scale == "latent" and self.value_bits != 16:
            if getattr(self, "value_codebook_", None) is None or self.codebook_for_ != self._coding_key():
                raise NotFittedError(f"the per-latent value codebook was fitted for {getattr(self, 'codebook_for_', None)}, "
                                     f"not {self._coding_key()}; call fit_values(X) after changing coding parameters.")
        return make_quantizer(self.value_bits, self.value_scale, self.activation == "topk",
                              getattr(self, "value_codebook_", None))

    def _code(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indices (n, k) int64, fields (n, k) uint32, dequantised values (n, k) float32)."""
        from .sae_coding import code_chunk

        k, q = self.coding_k(), self._quantizer()
        n = X.shape[0]
        picks = self._omp_picks(X, k) if self.encoder == "omp" else None
        out_i = np.empty((n, k), np.int64)
        out_f = np.empty((n, k), np.uint32)
        out_v = np.empty((n, k), np.float32)
        c = _CODE_CHUNK
        for s in range(0, n, c):
            out_i[s:s + c], out_f[s:s + c], out_v[s:s + c] = code_chunk(
                self._prepare(X[s:s + c]), self, k, self.encoder, self.value_fit, q,
                None if picks is None else picks[s:s + c])
        if not np.isfinite(out_v).all():
            raise DataError("SAE code values overflow float16; the input or model is badly scaled.")
        return out_i, out_f, out_v

    def _omp_picks(self, X: np.ndarray, k: int) -> np.ndarray:
        """OMP pick order of every row of X (n, >= k), cached for the last ``_PATH_CACHE`` inputs of at
        most ``_PATH_CACHE_ROWS`` rows: coding the same rows at a smaller k (another budget or value
        layout) reuses the prefix, and the codes are identical to a fresh encode (values always
        come from :func:`~emblab.compressors.sparse_coding.support_lsq`)."""
        from .sparse_coding import omp_path

        cache = self.__dict__.setdefault("_path_cache", {})
        key = None
        if X.shape[0] <= _PATH_CACHE_ROWS:
            key = (X.shape, hashlib.sha1(np.ascontiguousarray(X).data).hexdigest())
            hit = cache.get(key)
            if hit is not None and hit.shape[1] >= k:
                return hit
        picks = np.concatenate([omp_path(self._prepare(X[s:s + _CHUNK]), self.W_dec_, k)
                                for s in range(0, X.shape[0], _CHUNK)]).astype(np.int32)
        if key is not None:
            cache.pop(key, None)
            while len(cache) >= _PATH_CACHE:
                cache.pop(next(iter(cache)))
            cache[key] = picks
        return picks

    def _encode(self, X: np.ndarray) -> Codes:
        idx, fields, val = self._code(X)
        if self.pack:
            arrays = {"packed": self.layout().pack(idx, fields)}
        else:
            arrays = {"indices": idx.astype(np.uint16), "values": val.astype(np.float16)}
        if self.store_norm:
            arrays["recon_norm"] = self._recon_norm(idx, val).astype(np.float16)
        return Codes(arrays, "sparse", meta={"n_latents": self.h, "k": idx.shape[1], "packed": self.pack,
                                             "value_bits": self.value_bits})

    def encode_query(self, X: Any, k: int | None = None) -> Codes:
        """Encode queries with ``k`` (default ``k_query`` or the coding k) active latents (sparse mode).

        Queries are not stored: their codes keep unquantised float16 values, unpacked.
        """
        from .sae_coding import select_support, sort_and_pad

        X = self._check_X(X)
        kq = k or self.k_query or self.coding_k()
        parts = []
        for s in range(0, len(X), _CHUNK):
            i, v, _ = select_support(self._prepare(X[s:s + _CHUNK]), self, kq, self.encoder)
            v16 = v.astype(np.float16)
            parts.append(sort_and_pad(i, (v16 != 0).astype(np.uint32), v16.astype(np.float32), self.h))
        idx = np.concatenate([p[0] for p in parts]).astype(np.uint16)
        val = np.concatenate([p[2] for p in parts]).astype(np.float16)
        return Codes({"indices": idx, "values": val}, "sparse", self.to_spec(), self.fingerprint,
                     {"n_latents": self.h, "k": idx.shape[1]})

    # --- sizes and state ------------------------------------------------------------------------
    def _bytes_per_vector(self) -> float:
        return float(self._bytes_for(self.coding_k()))

    def _state_tensors(self) -> dict[str, np.ndarray]:
        out = {"W_enc": self.W_enc_, "b_enc": self.b_enc_, "W_dec": self.W_dec_, "mu": self.mu_}
        if getattr(self, "value_codebook_", None) is not None:
            out["value_codebook"] = self.value_codebook_
        return out

    def _set_state(self, tensors: dict[str, np.ndarray], fitted: dict[str, Any]) -> None:
        self.W_enc_ = np.asarray(tensors["W_enc"], np.float32)
        self.b_enc_ = np.asarray(tensors["b_enc"], np.float32)
        self.W_dec_ = np.asarray(tensors["W_dec"], np.float32)
        self.mu_ = np.asarray(tensors["mu"], np.float32)
        cb = tensors.get("value_codebook")
        self.value_codebook_ = None if cb is None else np.asarray(cb, np.float32)
        self.codebook_for_ = fitted.get("codebook_for")
        self._gram = self._index_cache = None
        self._path_cache = {}
        if self.W_enc_.shape[1] != self.h or self.W_dec_.shape != (self.h, self.W_enc_.shape[0]):
            raise ValueError(f"W_enc {self.W_enc_.shape} / W_dec {self.W_dec_.shape} do not match h={self.h}")
        self.history_ = fitted.get("history", {})
        self.train_usage_ = fitted.get("train_usage", {})

    def _fitted_meta(self) -> dict[str, Any]:
        return {"n_latents": self.h, "k": self.coding_k(), "training_k": self.training_k(),
                "history": getattr(self, "history_", {}), "train_usage": getattr(self, "train_usage_", {}),
                "codebook_for": getattr(self, "codebook_for_", None)}

    @classmethod
    def _from_config(cls, path: Path, cfg: dict[str, Any]):
        params = cfg.get("params")
        if isinstance(params, dict) and "pack" not in params:  # saved before packed codes existed
            cfg = {**cfg, "params": {**_LEGACY_PARAMS, **params}}
        return super()._from_config(path, cfg)
