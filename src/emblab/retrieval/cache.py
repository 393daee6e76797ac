"""Cache of target embeddings with staleness tracking, and the target-encoder pass counter.

Cost accounting follows spec section 4: we count **target-encoder forward passes** (one per
target row pushed through g), never wall time, in two counters:

- ``loss``: positives and negatives re-encoded with gradient in the training step;
- ``refresh``: cache maintenance without gradient (initial build, periodic refresh, oracle).

The corrector h counts its own rows (:class:`emblab.retrieval.corrector.CorrectorTrainer`); the
training loop puts both in one unit, target-encoder forward equivalents.

Monitoring and evaluation encodes (drift, top-k overlap, test metrics) go through
:func:`encode_all` with ``counter=None`` and are not counted (spec section 5).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .._deps import require

torch = require("torch", "emblab.retrieval.cache")


@dataclass
class EncodeCounter:
    """Exact counts of target-encoder forward passes (rows through g)."""

    loss: int = 0
    refresh: int = 0

    @property
    def total(self) -> int:
        return self.loss + self.refresh

    def to_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


def encode_all(g, feats, *, batch: int = 16384, counter: EncodeCounter | None = None, kind: str = "refresh"):
    """g(feats) without gradient, in chunks. feats: (N, d) tensor -> (N, D) tensor.

    ``counter``, when given, is incremented by N in the field ``kind``.
    """
    was_training = g.training
    g.eval()
    with torch.no_grad():
        out = torch.cat([g(feats[i:i + batch]) for i in range(0, feats.shape[0], batch)])
    g.train(was_training)
    if counter is not None:
        setattr(counter, kind, getattr(counter, kind) + int(feats.shape[0]))
    return out


class EmbeddingCache:
    """C[y] = g'(y) for every target, with the step at which it was computed.

    Parameters
    ----------
    feats : (N, d) tensor
        Target inputs to g (features or token ids).
    counter : EncodeCounter
        Incremented by N at every build/refresh.
    """

    def __init__(self, feats, counter: EncodeCounter):
        self.feats = feats
        self.counter = counter
        self.C = None
        self.built_step: int | None = None
        self.n_refreshes = 0

    @property
    def n(self) -> int:
        return int(self.feats.shape[0])

    def refresh(self, g, step: int) -> None:
        """Re-encode all N targets with the current g (counted as N refresh encodes)."""
        self.C = encode_all(g, self.feats, counter=self.counter, kind="refresh")
        self.built_step = int(step)
        self.n_refreshes += 1

    def staleness(self, step: int) -> int:
        """Training steps since the cache was computed."""
        return int(step - (self.built_step if self.built_step is not None else step))

    @staticmethod
    def mean_cos(a, b) -> float:
        """Mean cosine of matching rows of two (N, D) unit-row tensors."""
        return float((a * b).sum(-1).mean())
