"""Data-parallel training with ``torch.distributed`` (launched by ``torchrun``): gloo on CPU, NCCL on GPU.

``fit_module`` calls :func:`maybe_init` so a script or ``emblab fit`` started under
``torchrun --nproc_per_node=N`` trains data-parallel with no code change. Each rank takes an
interleaved 1/N share of every global batch; after ``backward`` the gradients are all-reduced with
weights ``n_local / n_global``, which gives exactly the gradient of the global-batch mean, i.e. the
same update as single-process training up to floating-point summation order. This is what DDP's
gradient averaging does; the all-reduce is explicit because our loss functions call sub-modules
directly (DDP only hooks ``forward()``), and explicit weights keep uneven last batches exact.

Losses that are not means over samples (MCR²'s coding rate is a function of the whole batch)
must gather features across ranks first: :func:`all_gather_with_grad`.
"""

from __future__ import annotations

import os
from typing import Any


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def env_rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """True on rank 0 (or when not distributed); use it to guard file writes."""
    return env_rank() == 0


def maybe_init(device: str = "cpu") -> tuple[int, int]:
    """Initialise the default process group when launched by torchrun; returns (world, rank)."""
    if env_world_size() <= 1:
        return 1, 0
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if str(device).startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_world_size(), dist.get_rank()


def local_device(device: str) -> str:
    """``cuda`` -> ``cuda:<LOCAL_RANK>`` under torchrun, else unchanged."""
    if device == "cuda" and env_world_size() > 1:
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def broadcast_parameters(module: Any) -> None:
    """Make every rank start from rank 0's weights."""
    import torch.distributed as dist

    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def allreduce_gradients(module: Any, weight: float) -> None:
    """Sum ``weight * grad`` over ranks in place (weight = local share of the global batch)."""
    import torch.distributed as dist

    for p in module.parameters():
        if p.grad is not None:
            p.grad.mul_(weight)
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)


def all_reduce_sum(value: float) -> float:
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item())


def all_gather_with_grad(x: Any) -> Any:
    """Concatenate ``x`` (n_local, ...) from every rank, keeping gradients for the local part."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)


def is_distributed() -> bool:
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return False
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_gather_plain(x: Any) -> Any:
    """Concatenate a tensor without gradient (labels, weights) from every rank; sizes may differ."""
    import torch
    import torch.distributed as dist

    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, n)
    m = int(max(int(s) for s in sizes))
    pad = torch.zeros((m - x.shape[0],) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
    parts = [torch.zeros((m,) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device) for _ in sizes]
    dist.all_gather(parts, torch.cat([x, pad]))
    return torch.cat([p[: int(s)] for p, s in zip(parts, sizes)])


def gather_for_batch_loss(z: Any, *extras: Any) -> tuple[Any, ...]:
    """For losses defined on the whole batch (MCR²): gather ``z`` with gradient and ``extras``
    without, from every rank, and return the factor that makes the all-reduced gradient (weighted
    by each rank's share in ``fit_module``) equal the single-process gradient.

    Returns
    -------
    (z_all, *extras_all, scale) ; extras that are None stay None.
    """
    if not is_distributed():
        return (z, *extras, 1.0)
    import torch
    import torch.distributed as dist

    n_local = z.shape[0]
    sizes = [torch.zeros(1, dtype=torch.long, device=z.device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor([n_local], device=z.device))
    m = int(max(int(s) for s in sizes))
    # all_gather with autograd needs equal shapes: pad, gather, then drop the padding
    pad = torch.zeros((m - n_local,) + tuple(z.shape[1:]), dtype=z.dtype, device=z.device)
    from torch.distributed.nn.functional import all_gather

    parts = all_gather(torch.cat([z, pad]))
    z_all = torch.cat([p[: int(s)] for p, s in zip(parts, sizes)])
    gathered = tuple(all_gather_plain(e) if e is not None else None for e in extras)
    n_global = z_all.shape[0]
    # every rank evaluates the same global loss, and all_gather's backward sums the gradient of
    # each slot over ranks (world copies); fit_module then weights rank r by n_r / n_global
    return (z_all, *gathered, n_global / (n_local * dist.get_world_size()))
