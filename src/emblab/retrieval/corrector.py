"""The corrector h: maps stale cached target embeddings C[y] = g'(y) towards the current g(y).

Spec section 3 (our default design; the paper publishes no architecture):

- ``h="mlp"``: ``h(c) = normalize(c + W2 GELU(W1 LN(c) + b1) + b2)`` with W2, b2 zero-initialised,
  so h starts as the identity (after normalisation). Hidden width ``hidden_mult * D`` (spec: 4).
- ``h="linear"``: ``h(c) = normalize(c + A c)``, A zero-initialised.

:class:`CorrectorTrainer` owns h, its Adam optimiser (lr 1e-3) and a replay buffer of the last
``replay_size`` re-encoded ``(C[y], g(y))`` pairs (spec section 3, step 5 and pitfall "h must
generalise"). The loss is regression ``mean(1 - cos(h(C[y]), sg(g(y))))`` plus an optional
logit-matching KL term (:func:`logit_matching_kl`).

Cost (spec section 4, B4): the trainer counts **every row that passes through h**, by a forward
hook on h, so no caller can forget one: ``rows_scored`` (forwards without gradient: scoring the
cache to select negatives) and ``rows_trained`` (forwards with gradient, each followed by a
backward: the current rows, the replay rows and the rows of the logit-matching term). Monitoring
forwards run inside :meth:`CorrectorTrainer.uncounted`.
"""

from __future__ import annotations

import contextlib

from .._deps import require
from .._errors import InvalidParameterError

torch = require("torch", "emblab.retrieval.corrector")
nn = torch.nn
F = torch.nn.functional


class ResidualMLPCorrector(nn.Module):
    """Identity-initialised residual MLP on unit vectors. Input/output: (n, dim)."""

    def __init__(self, dim: int, hidden_mult: float = 4.0):
        super().__init__()
        hidden = max(1, int(round(hidden_mult * dim)))
        self.ln = nn.LayerNorm(dim)
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(hidden, dim)
        nn.init.zeros_(self.w2.weight)
        nn.init.zeros_(self.w2.bias)
        self.dim, self.hidden = dim, hidden

    def forward(self, c):
        return F.normalize(c + self.w2(F.gelu(self.w1(self.ln(c)))), dim=-1)

    def flops_per_item(self) -> int:
        """Multiply-adds x2 of one forward (LayerNorm and GELU counted as ~10 flops/element)."""
        return 2 * 2 * self.dim * self.hidden + 10 * (self.dim + self.hidden) + 3 * self.dim


class LinearCorrector(nn.Module):
    """``normalize(c + A c)`` with A zero-initialised. Input/output: (n, dim)."""

    def __init__(self, dim: int):
        super().__init__()
        self.a = nn.Linear(dim, dim, bias=False)
        nn.init.zeros_(self.a.weight)
        self.dim = dim

    def forward(self, c):
        return F.normalize(c + self.a(c), dim=-1)

    def flops_per_item(self) -> int:
        return 2 * self.dim * self.dim + 3 * self.dim


def build_corrector(kind: str, dim: int, hidden_mult: float = 4.0) -> nn.Module:
    """Build h by name (``"mlp"`` or ``"linear"``)."""
    if kind == "mlp":
        return ResidualMLPCorrector(dim, hidden_mult)
    if kind == "linear":
        return LinearCorrector(dim)
    raise InvalidParameterError(f"The 'h' parameter must be 'mlp' or 'linear'; got {kind!r}.")


def regression_loss(pred, target):
    """``mean(1 - cos(pred, target))``; target is detached. Shapes (n, D)."""
    return (1.0 - F.cosine_similarity(pred, target.detach(), dim=-1)).mean()


def logit_matching_kl(q, e_fresh, h_cached, beta: float, mask=None):
    """KL(softmax(beta <sg q, sg e>) || softmax(beta <sg q, h(C)>)) over each query's candidates.

    Parameters
    ----------
    q : (B, D) queries; e_fresh, h_cached : (B, S, D) candidate embeddings per query
    mask : (B, S) bool, True where the candidate is valid.
    """
    q = q.detach()
    lf = beta * torch.einsum("bd,bsd->bs", q, e_fresh.detach())
    lh = beta * torch.einsum("bd,bsd->bs", q, h_cached)
    if mask is not None:
        lf = lf.masked_fill(~mask, -1e4)
        lh = lh.masked_fill(~mask, -1e4)
    p = F.log_softmax(lf, dim=-1)
    return F.kl_div(F.log_softmax(lh, dim=-1), p, log_target=True, reduction="batchmean")


class CorrectorTrainer:
    """h + Adam + replay buffer, trained online on freshly re-encoded targets.

    Parameters
    ----------
    dim : int
    kind : {"mlp", "linear"}
    hidden_mult : float
    lr : float
        Adam learning rate of h (spec: 1e-3).
    replay_size : int
        Number of most recent ``(C[y], g(y))`` pairs kept (spec: 2048); 0 disables replay.
    device : str
    """

    def __init__(self, dim: int, kind: str = "mlp", hidden_mult: float = 4.0, lr: float = 1e-3,
                 replay_size: int = 2048, device: str = "cpu"):
        self.h = build_corrector(kind, dim, hidden_mult).to(device)
        self.opt = torch.optim.Adam(self.h.parameters(), lr=lr)
        self.replay_size = int(replay_size)
        self.buf_c = torch.zeros(self.replay_size, dim, device=device)
        self.buf_e = torch.zeros(self.replay_size, dim, device=device)
        self.buf_n = 0      # number of valid rows
        self.buf_pos = 0    # ring-buffer write position
        self.rows_scored = 0   # rows through h without gradient
        self.rows_trained = 0  # rows through h with gradient (forward + backward)
        self._counting = True
        self.h.register_forward_hook(self._count_rows)

    def _count_rows(self, _module, inputs, _output) -> None:
        if not self._counting:
            return
        x = inputs[0]
        n = int(x.reshape(-1, x.shape[-1]).shape[0])
        if torch.is_grad_enabled():
            self.rows_trained += n
        else:
            self.rows_scored += n

    @contextlib.contextmanager
    def uncounted(self):
        """Forwards inside this block are not counted (monitoring: drift, overlap)."""
        prev, self._counting = self._counting, False
        try:
            yield
        finally:
            self._counting = prev

    def flops(self) -> float:
        """FLOPs of every counted row: scoring rows 1 forward, training rows ~3 (forward + backward)."""
        return float(self.h.flops_per_item()) * (self.rows_scored + 3 * self.rows_trained)

    def push(self, c, e) -> None:
        """Add re-encoded pairs (n, D) to the ring buffer (detached copies)."""
        if self.replay_size == 0:
            return
        c, e = c.detach()[-self.replay_size:], e.detach()[-self.replay_size:]
        n = c.shape[0]
        idx = (self.buf_pos + torch.arange(n, device=c.device)) % self.replay_size
        self.buf_c[idx] = c
        self.buf_e[idx] = e
        self.buf_pos = int((self.buf_pos + n) % self.replay_size)
        self.buf_n = min(self.replay_size, self.buf_n + n)

    def step(self, c, e, extra_loss=None) -> float:
        """One optimiser step of h on the current pairs plus the replay buffer.

        Parameters
        ----------
        c : (n, D) cached vectors of the items re-encoded this step
        e : (n, D) their fresh embeddings (detached here)
        extra_loss : tensor, optional
            Added to the regression loss (e.g. the weighted logit-matching KL).
        """
        loss = regression_loss(self.h(c), e)
        if self.buf_n:
            loss = loss + regression_loss(self.h(self.buf_c[:self.buf_n]), self.buf_e[:self.buf_n])
        if extra_loss is not None:
            loss = loss + extra_loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.push(c, e)
        return float(loss.detach())

    @torch.no_grad()
    def apply(self, C, chunk: int = 65536):
        """h(C) in chunks without gradient. C: (N, D) -> (N, D)."""
        return torch.cat([self.h(C[i:i + chunk]) for i in range(0, C.shape[0], chunk)])

    def state(self) -> dict:
        """Tensors for checkpoints (module, buffer); the optimiser is saved by the caller."""
        return {"buf_c": self.buf_c, "buf_e": self.buf_e}

    def load_state(self, tensors: dict, buf_n: int, buf_pos: int) -> None:
        self.buf_c.copy_(tensors["buf_c"])
        self.buf_e.copy_(tensors["buf_e"])
        self.buf_n, self.buf_pos = int(buf_n), int(buf_pos)


def fit_corrector(C, E, *, kind: str = "mlp", steps: int = 300, batch_size: int = 128, lr: float = 1e-3,
                  hidden_mult: float = 4.0, seed: int = 0):
    """Fit h offline by regression on pairs ``(C[i], E[i])`` (used by the known-answer test).

    Parameters
    ----------
    C, E : (n, D) float tensors (stale and fresh unit vectors)

    Returns
    -------
    The trained h module (eval mode).
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    tr = CorrectorTrainer(C.shape[1], kind, hidden_mult, lr, replay_size=0)
    for _ in range(steps):
        idx = torch.randint(0, C.shape[0], (min(batch_size, C.shape[0]),), generator=gen)
        tr.step(C[idx], E[idx])
    return tr.h.eval()
