"""Small query / target encoders f and g with L2-normalised outputs (spec section 2).

- :class:`MLPEncoder` is the synthetic task's 32 -> 256 -> 64 ReLU MLP (spec section 6.1).
- :class:`ResidualAdapter` is the light trainable layer put on top of *frozen* all-MiniLM-L6-v2
  features for SciFact on CPU: ``normalize(z + W2 act(W1 z))`` (or ``z + W z``) with the last
  weight zero-initialised, so that at step 0 it reproduces the frozen MiniLM embedding exactly.
  This is a deviation from the spec's fine-tuned MiniLM, forced by the 2-core CPU budget.
"""

from __future__ import annotations

from .._deps import require

torch = require("torch", "emblab.retrieval")
nn = torch.nn
F = torch.nn.functional


class MLPEncoder(nn.Module):
    """``normalize(W2 relu(W1 x + b1) + b2)``.

    Parameters
    ----------
    d_in, d_hidden, d_out : int
        Widths (spec: 32, 256, 64).
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out))

    def forward(self, x):  # x: (n, d_in) -> (n, d_out), unit rows
        return F.normalize(self.net(x), dim=-1)


class ResidualAdapter(nn.Module):
    """Identity-initialised residual adapter over frozen features.

    Parameters
    ----------
    dim : int
        Feature width (384 for MiniLM).
    hidden : int
        0 for the linear form ``z + W z``; otherwise ``z + W2 gelu(W1 z)`` with that hidden width.
    """

    def __init__(self, dim: int, hidden: int = 0):
        super().__init__()
        if hidden <= 0:
            self.net = nn.Linear(dim, dim, bias=False)
            last = self.net
        else:
            self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
            last = self.net[2]
        # Zero init of the last layer: g0 == the frozen MiniLM encoder, so the cache built from
        # g0 is the training model's own (not a foreign) cache (spec section 3, "Cache").
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)

    def forward(self, z):  # z: (n, dim) -> (n, dim), unit rows
        return F.normalize(z + self.net(z), dim=-1)


def build_encoder(kind: str, d_in: int, **kw) -> "nn.Module":
    """Build an encoder by name: ``"mlp"`` (kw: d_hidden, d_out) or ``"adapter"`` (kw: hidden)."""
    from .._errors import InvalidParameterError

    if kind == "mlp":
        return MLPEncoder(d_in, kw.get("d_hidden", 256), kw.get("d_out", 64))
    if kind == "adapter":
        return ResidualAdapter(d_in, kw.get("hidden", 0))
    raise InvalidParameterError(f"encoder kind must be 'mlp' or 'adapter'; got {kind!r}.")
