"""Torch module and Multi-TopK cosine loss of the CompresSAE sparse autoencoder (specs/sae.md §2-§3).

Only imported when a SAE is trained (torch is an optional dependency). Shapes: input (B, d),
latents (B, h), k non-zeros per row.

Pieces
------
``SAEModule``        encoder ``W_enc`` (d, h) + ``b_enc`` (h,), decoder ``W_dec`` (h, d) with unit rows,
                     optional fixed mean ``mu`` (d,) for centring, dead-latent counter buffer.
``sae_loss``         L = Lcos(k) + Lcos(min(4k, h)) / 8 (+ AuxK / 32 when enabled).
``decoder_hooks``    (before_step, after_step): project each decoder row's gradient onto the row's
                     orthogonal complement before the optimiser step, renormalise rows after it.

The decoder is evaluated *sparsely* (``embedding_bag`` gathers the k active rows), which cuts decoder
FLOPs by h/k on the CPU path (spec §5).
"""

from __future__ import annotations

from typing import Any

from .._deps import require

torch = require("torch", "SparseAutoencoder")
F = torch.nn.functional


class SAEModule(torch.nn.Module):
    """Top-k sparse autoencoder (CompresSAE).

    Parameters
    ----------
    d, h, k : int
        Input width, latent width, active latents per item (training target k).
    activation : {"topk", "relu_topk"}
        Signed top-k by magnitude (reference) or ReLU(top-k of pre) (non-negative codes).
    init : {"kaiming", "tied"}
        Independent ``kaiming_uniform_`` inits as in the reference (encoder bound sqrt(6/h)) or
        ``W_dec = normalize_rows(W_enc^T)``.
    """

    def __init__(self, d: int, h: int, k: int, activation: str = "topk", init: str = "kaiming"):
        super().__init__()
        self.d, self.h, self.k, self.activation = d, h, k, activation
        self.k_current = k  # changed by the k schedule at the start of an epoch
        # the reference (recombee/CompresSAE model.py): kaiming_uniform_ with its defaults on the
        # (d, h) encoder weight, i.e. U(-sqrt(6/h), sqrt(6/h)) (fan_in = h), then on the (h, d)
        # decoder weight before row normalisation; same order, so the same seed gives its init
        w_enc = torch.nn.init.kaiming_uniform_(torch.empty(d, h))
        if init == "tied":
            w_dec = w_enc.T.clone()
        else:
            w_dec = torch.nn.init.kaiming_uniform_(torch.empty(h, d))
        self.W_enc = torch.nn.Parameter(w_enc)
        self.b_enc = torch.nn.Parameter(torch.zeros(h))
        self.W_dec = torch.nn.Parameter(F.normalize(w_dec, dim=1))
        self.register_buffer("mu", torch.zeros(d))
        # samples seen since each latent was last in some row's top-k (AuxK dead detection)
        self.register_buffer("since_fired", torch.zeros(h, dtype=torch.float64))

    def prepare(self, x: Any) -> Any:
        """normalize(normalize(x) - mu): the vector the SAE reconstructs, (B, d)."""
        x = F.normalize(x, dim=1)
        return F.normalize(x - self.mu, dim=1)

    def preact(self, xt: Any) -> Any:
        """Pre-activations (B, h) from prepared inputs (B, d)."""
        return xt @ self.W_enc + self.b_enc

    def select(self, pre: Any, k: int) -> tuple[Any, Any]:
        """Top-k (B, k) indices and values, sorted by decreasing selection key."""
        key = pre.abs() if self.activation == "topk" else pre
        _, idx = torch.topk(key, k, dim=1)
        vals = pre.gather(1, idx)
        if self.activation == "relu_topk":
            vals = F.relu(vals)
        return idx, vals

    def encode_topk(self, xt: Any, k: int) -> tuple[Any, Any, Any]:
        """Training path: (pre without grad, idx (B, k), vals (B, k) with grad to W_enc, b_enc).

        The encoder gradient only flows through the k selected pre-activations, so it is computed
        sparsely (B k d multiply-adds instead of the dense B h d of autograd's matmul backward).
        """
        with torch.no_grad():
            pre = torch.addmm(self.b_enc, xt, self.W_enc)
            _, idx = torch.topk(pre.abs() if self.activation == "topk" else pre, k, dim=1)
        return pre, idx, gather_pre(self, xt, idx, pre)

    def decode_sparse(self, idx: Any, vals: Any) -> Any:
        """Sum of the selected decoder rows weighted by their values, (B, d)."""
        if idx.shape[1] == 0:
            return torch.zeros(idx.shape[0], self.d, device=idx.device)
        return F.embedding_bag(idx, self.W_dec, per_sample_weights=vals, mode="sum")


class _GatherPre(torch.autograd.Function):
    """vals[b, j] = pre[b, idx[b, j]] with pre = x W + b given precomputed; sparse backward."""

    @staticmethod
    def forward(ctx, x, W, b, idx, pre):
        ctx.save_for_backward(x, idx)
        ctx.h = W.shape[1]
        return pre.gather(1, idx)

    @staticmethod
    def backward(ctx, g_vals):
        x, idx = ctx.saved_tensors
        B, k = idx.shape
        rows = torch.arange(B, device=x.device).repeat_interleave(k)
        G = torch.sparse_coo_tensor(torch.stack([idx.reshape(-1), rows]), g_vals.reshape(-1), (ctx.h, B),
                                    check_invariants=False)
        g_W = torch.sparse.mm(G, x).T  # (h, B) @ (B, d) -> (h, d), transposed to W's (d, h)
        g_b = torch.zeros(ctx.h, dtype=g_vals.dtype, device=g_vals.device).index_add_(
            0, idx.reshape(-1), g_vals.reshape(-1))
        return None, g_W, g_b, None, None


def gather_pre(module: "SAEModule", x: Any, idx: Any, pre: Any) -> Any:
    """Selected pre-activations (B, k) with gradients to the encoder (and ReLU for relu_topk)."""
    vals = _GatherPre.apply(x, module.W_enc, module.b_enc, idx, pre)
    return F.relu(vals) if module.activation == "relu_topk" else vals


def _cos_loss(x: Any, xh: Any) -> Any:
    return (1.0 - F.cosine_similarity(x, xh, dim=1, eps=1e-8)).mean()


def sae_loss(module: SAEModule, batch: list[Any], *, auxk: bool = False, aux_k: int = 256,
             aux_coef: float = 1 / 32, dead_window: int = 1_000_000) -> Any:
    """Multi-TopK cosine loss for one batch (spec §3), optionally with AuxK.

    ``L = Lcos(k) + Lcos(min(4k, h)) / 8``; both terms reuse the same pre-activations (one
    ``topk`` of width 4k whose first k entries are the top-k). In training mode the dead-latent
    counter is updated with the top-k latents of the batch.
    """
    x = module.prepare(batch[0])
    k = min(module.k_current, module.h)
    k4 = min(4 * k, module.h)  # cap at h (a public fork wrongly used min(k, 4k))
    pre, idx, vals = module.encode_topk(x, k4)
    xh_k = module.decode_sparse(idx[:, :k], vals[:, :k])
    loss = _cos_loss(x, xh_k)
    if k4 > k:
        xh_4k = xh_k + module.decode_sparse(idx[:, k:], vals[:, k:])
        loss = loss + _cos_loss(x, xh_4k) / 8.0
    if module.training:
        with torch.no_grad():
            fired = torch.zeros(module.h, dtype=torch.bool, device=pre.device)
            fired[idx[:, :k][vals[:, :k] != 0].unique()] = True
            module.since_fired += x.shape[0]
            module.since_fired[fired] = 0
        if auxk:
            loss = loss + aux_coef * _auxk_loss(module, x, pre, xh_k, aux_k, dead_window)
    return loss


def _auxk_loss(module: SAEModule, x: Any, pre: Any, xh_k: Any, aux_k: int, dead_window: int) -> Any:
    """OpenAI top-k SAE AuxK term adapted to a scale-free main loss (spec §3).

    r = x - c x̂_k with the per-sample least-squares scale c (no gradient), r̂ = decode(top-k_aux over
    dead latents), L_aux = ||r - r̂||^2 / ||r - mean(r)||^2.
    """
    dead = module.since_fired > dead_window
    n_dead = int(dead.sum())
    if n_dead == 0:
        return pre.new_zeros(())
    ka = min(aux_k, n_dead)
    with torch.no_grad():
        c = (x * xh_k).sum(1, keepdim=True) / (xh_k * xh_k).sum(1, keepdim=True).clamp_min(1e-12)
        r = x - c * xh_k
    key = pre.abs() if module.activation == "topk" else pre
    key = key.masked_fill(~dead[None, :], float("-inf"))
    _, idx = torch.topk(key, ka, dim=1)
    vals = gather_pre(module, x, idx, pre)
    r_hat = module.decode_sparse(idx, vals)
    denom = (r - r.mean(0, keepdim=True)).pow(2).sum().clamp_min(1e-12)
    return (r - r_hat).pow(2).sum() / denom


def decoder_hooks(module: SAEModule) -> tuple[Any, Any]:
    """Hooks keeping decoder rows on the unit sphere (spec §2, OpenAI top-k SAE).

    Returns
    -------
    before_step : callable(module)
        Removes the radial component of each row's gradient: g_j <- g_j - (g_j . w_j) w_j.
    after_step : callable(module)
        Renormalises every row: w_j <- w_j / ||w_j||.
    """

    def before_step(m: SAEModule) -> None:
        g = m.W_dec.grad
        if g is not None:
            w = m.W_dec.data
            g.sub_((g * w).sum(1, keepdim=True) * w)

    def after_step(m: SAEModule) -> None:
        with torch.no_grad():
            w = m.W_dec.data
            w.div_(w.norm(dim=1, keepdim=True).clamp_min(1e-12))

    return before_step, after_step


def recon_cosine(module: SAEModule, X: Any, k: int, batch_size: int = 4096) -> float:
    """Mean cos(x̃, x̂) at ``k`` over ``X`` (numpy (n, d)); the validation metric (spec §5)."""
    device = module.W_dec.device
    total, n = 0.0, 0
    module.eval()
    with torch.no_grad():
        for s in range(0, X.shape[0], batch_size):
            xb = torch.as_tensor(X[s:s + batch_size], dtype=torch.float32, device=device)
            x = module.prepare(xb)
            idx, vals = module.select(module.preact(x), min(k, module.h))
            cos = F.cosine_similarity(x, module.decode_sparse(idx, vals), dim=1, eps=1e-8)
            total += float(cos.sum())
            n += xb.shape[0]
    return total / max(n, 1)
