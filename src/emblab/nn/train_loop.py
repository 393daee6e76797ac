"""A plain, readable training loop for the torch-trained compressors (design.md section 8).

``fit_module`` runs explicit epochs over row-aligned NumPy arrays (in memory or memory-mapped from
disk: batches are gathered by index, so a 10^7-row ``np.memmap`` streams without loading), with

- a seeded shuffle per epoch (same seed -> same batches -> same weights on CPU),
- gradient clipping, NaN detection (``FitError``),
- hooks: ``before_step`` (e.g. project decoder gradients), ``after_step`` (e.g. renormalise decoder
  rows), ``on_epoch_start`` (e.g. anneal k),
- validation every epoch, early stopping on ``patience``, restoring the best state,
- a checkpoint after every epoch (unwrapped module state, optimiser state, epoch, best state, RNG
  states and the config) from which an interrupted fit resumes,
- a rich progress bar.

Checkpoints are folders of ``state.safetensors`` + ``state.json`` (:mod:`emblab.nn.checkpoint`, the
format every training loop uses): no pickle is written or read, and the folder is swapped in
atomically, so a kill leaves the previous epoch's checkpoint intact.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .._deps import require, torch_device
from .._errors import FitError, InvalidParameterError

CHECKPOINT_NAME = "checkpoint"


@dataclass
class TrainConfig:
    """Optimisation settings shared by every torch-trained method.

    Method hyperparameters (widths, k, ...) stay constructor arguments of the compressor.

    Attributes
    ----------
    lr, weight_decay : float
        AdamW (Adam when ``weight_decay == 0``) settings.
    batch_size, epochs : int
    seed : int
        Seeds torch and the shuffle.
    device : str
        ``"auto"`` = CUDA when available, else CPU.
    val_fraction : float
        Share of rows held out for validation when no ``X_val`` is given.
    min_val : int
        At least this many validation rows (capped at half the data).
    patience : int
        Epochs without improvement before stopping (0 disables early stopping).
    grad_clip : float or None
        Max gradient norm.
    checkpoint_dir : str or None
        Where to write the ``checkpoint/`` folder after every epoch; an existing compatible checkpoint is
        resumed.
    progress : bool
        Show a rich progress bar.
    """

    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 1024
    epochs: int = 10
    seed: int = 0
    device: str = "auto"
    val_fraction: float = 0.05
    min_val: int = 0
    patience: int = 3
    grad_clip: float | None = None
    checkpoint_dir: str | None = None
    progress: bool = True

    def validate(self) -> None:
        if not (self.lr > 0):
            raise InvalidParameterError(f"TrainConfig.lr must be > 0; got {self.lr}.")
        if self.batch_size < 1 or self.epochs < 1:
            raise InvalidParameterError("TrainConfig.batch_size and epochs must be >= 1.")
        if not (0.0 <= self.val_fraction < 1.0):
            raise InvalidParameterError(f"TrainConfig.val_fraction must be in [0, 1); got {self.val_fraction}.")

    def fingerprint(self) -> str:
        d = dataclasses.asdict(self)
        for k in ("checkpoint_dir", "progress", "device"):
            d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrainHistory:
    """What happened during ``fit_module``: per-epoch losses, best epoch, timing."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    best_val: float = math.inf
    stopped_early: bool = False
    resumed_from_epoch: int | None = None
    seconds: float = 0.0
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def split_train_val(n: int, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into train and validation indices."""
    n_val = int(round(n * cfg.val_fraction))
    n_val = max(n_val, min(cfg.min_val, n // 2)) if cfg.val_fraction > 0 else 0
    perm = np.random.default_rng(cfg.seed + 7919).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def fit_module(
    module: Any,
    loss_fn: Callable[[Any, Sequence[Any]], Any],
    arrays: Sequence[np.ndarray],
    cfg: TrainConfig,
    *,
    val_arrays: Sequence[np.ndarray] | None = None,
    val_fn: Callable[[Any, Sequence[np.ndarray]], float] | None = None,
    before_step: Callable[[Any], None] | None = None,
    after_step: Callable[[Any], None] | None = None,
    on_epoch_start: Callable[[int], None] | None = None,
    select_from_epoch: int = 0,
    restore_best: bool = True,
    extra_state: Callable[[], dict[str, Any]] | None = None,
    restore_extra_state: Callable[[dict[str, Any]], None] | None = None,
    optimizer: Any = None,
    description: str = "training",
) -> TrainHistory:
    """Train ``module`` in place and return its history.

    Parameters
    ----------
    module : torch.nn.Module
        Moved to ``cfg.device``.
    loss_fn : callable(module, batch) -> scalar tensor
        ``batch`` is a list of float32 tensors on the device, one per array in ``arrays``.
    arrays : sequence of ndarray, each (n, ...)
        Row-aligned training data (``np.memmap`` is streamed batch by batch).
    cfg : TrainConfig
    val_arrays : sequence of ndarray, optional
        Validation data; if None, ``cfg.val_fraction`` of ``arrays`` is held out.
    val_fn : callable(module, val_arrays) -> float, optional
        Validation loss (lower is better); default: mean ``loss_fn`` over validation batches.
    before_step, after_step : callable(module), optional
        Called after ``backward`` (before the optimiser step) and after the step.
    on_epoch_start : callable(epoch), optional
        E.g. k annealing; must be a pure function of the epoch so resumed runs match.
    select_from_epoch : int
        Only epochs >= this may become the best state; early stopping counts patience from there.
    restore_best : bool
        Load the best state at the end (True) or keep the last epoch's weights (False). Early
        stopping works the same either way.
    extra_state, restore_extra_state : callables, optional
        Extra JSON-able state to keep in checkpoints (e.g. dead-latent counters).
    optimizer : torch.optim.Optimizer, optional
        Default: Adam (AdamW if weight decay) over ``module.parameters()``.

    Returns
    -------
    TrainHistory

    Raises
    ------
    FitError
        The loss became NaN or inf.
    """
    torch = require("torch", "Training")
    from . import distributed as _dist

    cfg.validate()
    device = _dist.local_device(torch_device(cfg.device))
    world, rank = _dist.maybe_init(device)
    torch.manual_seed(cfg.seed)
    module.to(device)
    if world > 1:
        _dist.broadcast_parameters(module)
    n = arrays[0].shape[0]
    if val_arrays is None and cfg.val_fraction > 0 and n >= 4:
        tr_idx, va_idx = split_train_val(n, cfg)
        val_arrays = [np.asarray(a[va_idx]) for a in arrays]
    else:
        tr_idx = np.arange(n)
    if optimizer is None:
        params = [p for p in module.parameters() if p.requires_grad]
        optimizer = (torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
                     if cfg.weight_decay > 0 else torch.optim.Adam(params, lr=cfg.lr))

    def to_dev(batch_np: Sequence[np.ndarray]) -> list[Any]:
        return [torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)).to(device) for b in batch_np]

    def default_val(mod: Any, va: Sequence[np.ndarray]) -> float:
        total, count = 0.0, 0
        with torch.no_grad():
            for s in range(0, va[0].shape[0], cfg.batch_size):
                b = to_dev([a[s:s + cfg.batch_size] for a in va])
                total += float(loss_fn(mod, b)) * b[0].shape[0]
                count += b[0].shape[0]
        return total / max(count, 1)

    hist = TrainHistory(device=device)
    best_state = None
    start_epoch = 0
    ckpt_path = Path(cfg.checkpoint_dir) / CHECKPOINT_NAME if cfg.checkpoint_dir else None
    if ckpt_path is not None and ckpt_path.exists():
        from .checkpoint import load_checkpoint, restore_rng, unflatten_optimizer, unprefixed

        tensors, ck = load_checkpoint(ckpt_path, device="cpu", hint="delete it to start the fit over")
        if ck.get("config_fingerprint") == cfg.fingerprint() and ck.get("n") == int(n):
            module.load_state_dict(unprefixed("module", tensors))
            unflatten_optimizer(optimizer, "optimizer", tensors, ck["optimizer"])
            restore_rng(tensors)
            best_state = ({k: v.to(device) for k, v in unprefixed("best", tensors).items()}
                          if ck.get("has_best") else None)
            h = ck["history"]
            hist.train_loss, hist.val_loss = list(h["train_loss"]), list(h["val_loss"])
            hist.best_epoch, hist.best_val = int(h["best_epoch"]), float(h["best_val"])
            start_epoch = int(ck["epoch"]) + 1
            hist.resumed_from_epoch = start_epoch
            if restore_extra_state is not None and "extra" in ck:
                restore_extra_state(ck["extra"])
            if ck.get("stopped"):
                start_epoch = cfg.epochs

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    t0 = time.perf_counter()
    n_batches = max(1, math.ceil(len(tr_idx) / cfg.batch_size))
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[info]}"), TimeRemainingColumn(), transient=True,
                        disable=not cfg.progress or rank != 0)
    stopped = False
    with progress:
        task = progress.add_task(description, total=n_batches * (cfg.epochs - start_epoch), info="")
        for epoch in range(start_epoch, cfg.epochs):
            if on_epoch_start is not None:
                on_epoch_start(epoch)
            module.train()
            order = tr_idx[np.random.default_rng(cfg.seed * 1_000_003 + epoch).permutation(len(tr_idx))]
            total, count = 0.0, 0
            for s in range(0, len(order), cfg.batch_size):
                # sorted indices read memmaps sequentially; batch composition is unchanged
                idx = np.sort(order[s:s + cfg.batch_size])
                n_global, share = len(idx), 1.0
                if world > 1:  # this rank's interleaved share of the global batch
                    local = idx[rank::world]
                    share = len(local) / n_global
                    # a rank with no rows still joins the all-reduce, contributing zero weight
                    idx = local if len(local) else idx[:1]
                batch = to_dev([a[idx] for a in arrays])
                loss = loss_fn(module, batch)
                if not torch.isfinite(loss):
                    raise FitError(f"{description}: loss became {float(loss)} at epoch {epoch + 1}; "
                                   "lower the learning rate or check the input.")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if world > 1:
                    _dist.allreduce_gradients(module, share)
                if before_step is not None:
                    before_step(module)
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip)
                optimizer.step()
                if after_step is not None:
                    after_step(module)
                total += float(loss.detach()) * len(idx)
                count += len(idx)
                progress.update(task, advance=1, info=f"epoch {epoch + 1}/{cfg.epochs} loss {total / count:.4f}")
            hist.train_loss.append(total / max(count, 1))
            module.eval()
            if val_arrays is not None and len(val_arrays[0]):
                vl = float((val_fn or default_val)(module, val_arrays))
            else:
                vl = hist.train_loss[-1]
            hist.val_loss.append(vl)
            if epoch >= select_from_epoch and vl < hist.best_val:
                hist.best_val, hist.best_epoch = vl, epoch
                if restore_best:
                    best_state = copy.deepcopy({k: v.detach().clone() for k, v in module.state_dict().items()})
            elif (cfg.patience and epoch >= select_from_epoch
                  and epoch - max(hist.best_epoch, select_from_epoch - 1) >= cfg.patience):
                stopped = True
            if ckpt_path is not None and rank == 0:
                from .checkpoint import flatten_optimizer, prefixed, rng_tensors, save_checkpoint

                opt_tensors, opt_structure = flatten_optimizer(optimizer, "optimizer")
                tensors = {**prefixed("module", module.state_dict()), **prefixed("best", best_state),
                           **opt_tensors, **rng_tensors()}
                ckpt_path.parent.mkdir(parents=True, exist_ok=True)
                save_checkpoint(ckpt_path, tensors, {
                    "epoch": epoch, "has_best": best_state is not None, "optimizer": opt_structure,
                    "history": {"train_loss": hist.train_loss, "val_loss": hist.val_loss,
                                "best_epoch": hist.best_epoch, "best_val": hist.best_val},
                    "config_fingerprint": cfg.fingerprint(), "config": dataclasses.asdict(cfg),
                    "n": int(n), "stopped": stopped,
                    "extra": extra_state() if extra_state is not None else {}})
            if stopped:
                hist.stopped_early = True
                break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    hist.seconds = time.perf_counter() - t0
    return hist
