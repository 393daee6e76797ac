"""Hard-negative selection from (corrected) cached scores (spec section 3, step 2).

Top-k per query over all N candidates, excluding every known positive of the query (pitfall
"False negatives"), optionally with Gumbel top-k sampling at temperature 1 (scores are logits).
"""

from __future__ import annotations

from .._deps import require

torch = require("torch", "emblab.retrieval.negatives")


def exclusion_mask(pos_lists: list, n_targets: int, device="cpu"):
    """Boolean (B, N) mask, True at each query's known positives.

    Parameters
    ----------
    pos_lists : list of B integer arrays (the positives of each query)
    """
    rows = [torch.full((len(p),), i, dtype=torch.long) for i, p in enumerate(pos_lists)]
    cols = [torch.as_tensor(p, dtype=torch.long) for p in pos_lists]
    mask = torch.zeros(len(pos_lists), n_targets, dtype=torch.bool)
    if rows:
        mask[torch.cat(rows), torch.cat(cols)] = True
    return mask.to(device)


@torch.no_grad()
def select_negatives(logits, exclude, k: int, *, gumbel: bool = False, generator=None, extra: int = 0):
    """Indices of the top-k (or Gumbel top-k) candidates per query, positives excluded.

    Parameters
    ----------
    logits : (B, N) float tensor, beta * <q, h(C)> (or raw cache scores)
    exclude : (B, N) bool tensor, True where the candidate must not be chosen
    k : int
        Negatives per query.
    gumbel : bool
        Sample without replacement via Gumbel top-k: ``topk(logits + G)``, G ~ Gumbel(0, 1).
    generator : torch.Generator, optional
        Source of the Gumbel noise (for determinism; must live on logits' device).
    extra : int
        Also return the next ``extra`` candidates (for the corrected normaliser).

    Returns
    -------
    idx : (B, k + extra) long tensor, ranked by the (perturbed) score.
    """
    s = logits.float().masked_fill(exclude, float("-inf"))
    if gumbel:
        u = torch.rand(s.shape, generator=generator, device=s.device).clamp_(1e-10, 1 - 1e-10)
        s = s - torch.log(-torch.log(u))
    kk = min(k + extra, s.shape[1])
    return torch.topk(s, kk, dim=1).indices
