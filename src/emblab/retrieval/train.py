"""Dual-encoder training against cached target embeddings (spec sections 2-5).

One loop, five methods (spec section 4), same model, data, k and steps:

==============  ===================================================  =========================
method          negatives                                            refresh encodes
==============  ===================================================  =========================
``inbatch``     in-batch positives only                              0
``stale``       top-k of raw cache C, never refreshed                N
``refresh``     top-k of C, C re-encoded every R steps               N * (1 + floor((T-1)/R))
``oracle``      top-k of fresh g(y) for all N, every step            N * T
``corrector``   top-k of h(C), C never refreshed, h trained online   N (+ h, see below)
==============  ===================================================  =========================

Every cost is also stated in one unit, target-encoder forward equivalents (``_costs``): h counts
the FLOPs of every row through it (scoring, training, replay, logit matching) over one forward of
g, so ``maintenance_g_equiv`` = refresh encodes + h compares the corrector with refreshing.

``T`` counts the steps after the cache is built (``steps``); ``pre_steps`` in-batch warm-start
steps come first for every method (synthetic task: 100). Loss: cross-entropy of the positive
against {positive, k negatives, other in-batch positives} with fresh logits ``beta <f(x), g(y)>``;
positives and negatives are re-encoded with gradient (counted as *loss* encodes). The corrector
warms up with in-batch negatives for ``max(warmup_min, warmup_frac*T)`` steps while h trains,
then selects negatives with h(C) (spec section 3).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require, torch_device
from .._errors import EmblabError, FitError, InvalidParameterError
from .cache import EmbeddingCache, EncodeCounter, encode_all
from .task import RetrievalTask, rank_targets, retrieval_metrics, topk_overlap

torch = require("torch", "emblab.retrieval.train")
F = torch.nn.functional

METHODS = ("inbatch", "stale", "refresh", "corrector", "oracle")


@dataclass
class RetrieverConfig:
    """Hyperparameters of one run (defaults: spec sections 3 and 6.1)."""

    method: str = "corrector"
    steps: int = 1500
    pre_steps: int = 0
    batch_size: int = 64
    k: int = 32
    beta: float = 20.0
    lr: float = 1e-3
    refresh_every: int = 50
    h: str = "mlp"
    h_hidden_mult: float = 4.0
    h_lr: float = 1e-3
    h_every: int = 1          # R_h: recompute h(C) over all N every R_h steps
    shortlist: int = 0        # > 0: apply h only to each query's raw-cache top-`shortlist`
    replay_size: int = 2048
    warmup_frac: float = 0.1
    warmup_min: int = 50
    lambda_kl: float = 0.0
    gumbel: bool = False
    corrected_normalizer: bool = False
    k_norm: int = 100
    grad_clip: float = 0.0
    log_every: int = 0        # 0: every 10% of `steps`
    probe_queries: int = 500
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 0

    def validate(self) -> None:
        if self.method not in METHODS:
            raise InvalidParameterError(f"The 'method' parameter must be one of {', '.join(METHODS)}; got {self.method!r}.")
        for name in ("steps", "batch_size", "k", "refresh_every", "h_every"):
            if int(getattr(self, name)) < 1:
                raise InvalidParameterError(f"The '{name}' parameter must be an int >= 1; got {getattr(self, name)}.")
        if self.beta <= 0 or self.lr <= 0:
            raise InvalidParameterError(f"beta and lr must be > 0; got beta={self.beta}, lr={self.lr}.")

    @property
    def label(self) -> str:
        return f"refresh-R{self.refresh_every}" if self.method == "refresh" else self.method

    @property
    def warmup(self) -> int:
        return max(self.warmup_min, int(self.warmup_frac * self.steps)) if self.method == "corrector" else 0


class _Run:
    """Mutable state of one training run (kept in one place so checkpoints are complete)."""

    def __init__(self, task: RetrievalTask, cfg: RetrieverConfig, dev: str):
        from .corrector import CorrectorTrainer
        from .encoders import build_encoder

        self.task, self.cfg, self.dev = task, cfg, dev
        torch.manual_seed(cfg.seed)
        enc = dict(task.encoder)
        kind = enc.pop("kind")
        self.f = build_encoder(kind, task.query_feats.shape[1], **enc).to(dev)
        self.g = self.f if task.shared else build_encoder(kind, task.target_feats.shape[1], **enc).to(dev)
        params = list(self.f.parameters()) + ([] if task.shared else list(self.g.parameters()))
        self.opt = torch.optim.Adam(params, lr=cfg.lr)
        self.Xq = torch.as_tensor(np.asarray(task.query_feats, dtype=np.float32), device=dev)
        self.Xt = torch.as_tensor(np.asarray(task.target_feats, dtype=np.float32), device=dev)
        self.counter = EncodeCounter()
        self.cache = EmbeddingCache(self.Xt, self.counter) if cfg.method != "inbatch" else None
        dim = int(encode_all(self.g, self.Xt[:1]).shape[1])
        self.corr = (CorrectorTrainer(dim, cfg.h, cfg.h_hidden_mult, cfg.h_lr, cfg.replay_size, dev)
                     if cfg.method == "corrector" else None)
        self.hC, self.hC_step = None, -1
        self.G0 = None                        # g0(y), monitoring only (never counted)
        self.rng = np.random.default_rng(cfg.seed)
        self.gen = torch.Generator(device=dev).manual_seed(cfg.seed + 7)
        self.step = 0
        self.curve: list[dict] = []
        self.pos = task.positives("train")
        probe_rng = np.random.default_rng(cfg.seed + 1)
        qs = np.unique(task.train_pairs[:, 0])
        self.probe = np.sort(probe_rng.choice(qs, size=min(cfg.probe_queries, len(qs)), replace=False))
        self.losses: list[float] = []


def _costs(run: _Run) -> dict:
    """Every cost of the run in one unit, target-encoder forward equivalents (spec section 4).

    - ``h_g_equiv``: FLOPs of every row through h (scoring 1 forward, training 3: forward +
      backward, replay rows included) divided by the FLOPs of one forward of g;
    - ``maintenance_g_equiv`` = refresh encodes + ``h_g_equiv``: what keeping the negatives'
      scores usable costs, the quantity the methods differ in;
    - ``loss_g_equiv`` = 3 x loss encodes (re-encoded with gradient: forward + backward);
    - ``total_g_equiv`` = both.
    """
    out = {"h_flops": 0.0, "h_g_equiv": 0.0, "h_scored_rows": 0, "h_trained_rows": 0}
    if run.corr is not None:
        g_flops = float(run.task.info.get("g_flops_per_item", 1.0))
        out = {"h_flops": run.corr.flops(), "h_flops_per_item": run.corr.h.flops_per_item(),
               "h_g_equiv": run.corr.flops() / g_flops, "h_scored_rows": run.corr.rows_scored,
               "h_trained_rows": run.corr.rows_trained}
    out["maintenance_g_equiv"] = run.counter.refresh + out["h_g_equiv"]
    out["loss_g_equiv"] = 3.0 * run.counter.loss
    out["total_g_equiv"] = out["loss_g_equiv"] + out["maintenance_g_equiv"]
    return out


def _select(run: _Run, q, qrows, s: int):
    """Negatives (B, k[+k_norm]) for this step, or None for in-batch-only steps."""
    cfg = run.cfg
    if cfg.method == "inbatch" or (cfg.method == "corrector" and s < cfg.warmup):
        return None, None
    from .negatives import exclusion_mask, select_negatives

    qd = q.detach()
    excl = exclusion_mask([run.pos[int(r)] for r in qrows], run.cache.n, run.dev)
    extra = cfg.k_norm if cfg.corrected_normalizer else 0
    if cfg.method != "corrector":
        idx = select_negatives(cfg.beta * (qd @ run.cache.C.T), excl, cfg.k, gumbel=cfg.gumbel,
                               generator=run.gen, extra=extra)
        return idx, run.cache.C
    if cfg.shortlist > 0:  # rescore a stale shortlist with h (spec section 3, step 2, large N)
        sl = select_negatives(qd @ run.cache.C.T, excl, cfg.shortlist)
        uniq, inv = torch.unique(sl, return_inverse=True)
        with torch.no_grad():
            hu = run.corr.h(run.cache.C[uniq])
        logits = cfg.beta * torch.einsum("bd,bsd->bs", qd, hu[inv])
        pick = select_negatives(logits, torch.zeros_like(logits, dtype=torch.bool), cfg.k, gumbel=cfg.gumbel,
                                generator=run.gen, extra=extra)
        hC = None
        if cfg.corrected_normalizer:
            hC = torch.zeros_like(run.cache.C)
            hC[uniq] = hu  # only rows in the shortlist are used by the corrected normaliser
        return torch.gather(sl, 1, pick), hC
    if run.hC is None or (s - cfg.warmup) % cfg.h_every == 0 or run.hC_step < 0:
        run.hC, run.hC_step = run.corr.apply(run.cache.C), s
    idx = select_negatives(cfg.beta * (qd @ run.hC.T), excl, cfg.k, gumbel=cfg.gumbel, generator=run.gen, extra=extra)
    return idx, run.hC


def _train_step(run: _Run) -> float:
    cfg, t = run.cfg, run.step
    s = t - cfg.pre_steps
    if s > 0 and cfg.method == "oracle":
        run.cache.refresh(run.g, t)
    elif s > 0 and cfg.method == "refresh" and s % cfg.refresh_every == 0:
        run.cache.refresh(run.g, t)
    B = min(cfg.batch_size, len(run.task.train_pairs))
    rows = run.rng.choice(len(run.task.train_pairs), size=B, replace=False)
    qrows, trows = run.task.train_pairs[rows, 0], run.task.train_pairs[rows, 1]
    q = run.f(run.Xq[torch.as_tensor(qrows, device=run.dev)])
    neg, scored = _select(run, q, qrows, s) if s >= 0 else (None, None)
    trows_t = torch.as_tensor(trows, device=run.dev)
    negk = neg[:, :cfg.k] if neg is not None else None
    ids = torch.cat([trows_t, negk.reshape(-1)]) if negk is not None else trows_t
    uniq, inv = torch.unique(ids, return_inverse=True)
    E = run.g(run.Xt[uniq])                       # fresh, with gradient
    run.counter.loss += int(uniq.numel())
    e_pos = E[inv[:B]]
    logits = cfg.beta * q @ e_pos.T               # (B, B) in-batch
    # Mask other in-batch "negatives" that are known positives of the query (false negatives).
    fn = np.stack([np.isin(trows, run.pos[int(r)]) for r in qrows])
    np.fill_diagonal(fn, False)
    fn = torch.as_tensor(fn, device=run.dev)
    parts = [logits.masked_fill(fn, float("-inf"))]
    if negk is not None:
        e_neg = E[inv[B:]].view(B, cfg.k, -1)
        parts.append(cfg.beta * torch.einsum("bd,bkd->bk", q, e_neg))
        if cfg.corrected_normalizer and neg.shape[1] > cfg.k:
            parts.append(cfg.beta * torch.einsum("bd,bkd->bk", q, scored[neg[:, cfg.k:]].detach()))
    loss = F.cross_entropy(torch.cat(parts, dim=1), torch.arange(B, device=run.dev))
    if not torch.isfinite(loss):
        raise FitError(f"retriever loss became {float(loss)} at step {t}; lower lr or beta.")
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_([p for grp in run.opt.param_groups for p in grp["params"]], cfg.grad_clip)
    run.opt.step()
    if run.corr is not None and s >= 0:
        c_rows = run.cache.C[uniq]
        extra = None
        if cfg.lambda_kl > 0 and negk is not None:
            from .corrector import logit_matching_kl

            cand = torch.cat([inv[:B].unsqueeze(0).expand(B, B), inv[B:].view(B, cfg.k)], dim=1)
            extra = cfg.lambda_kl * logit_matching_kl(q, E[cand], run.corr.h(c_rows)[cand], cfg.beta)
        run.corr.step(c_rows, E.detach(), extra)
    run.step += 1
    return float(loss.detach())


@torch.no_grad()
def _log_point(run: _Run) -> dict:
    """Quality on the curve split, pass counts, drift and top-k overlap at the current step."""
    task, cfg = run.task, run.cfg
    G = encode_all(run.g, run.Xt)                 # fresh, not counted (spec section 5)
    ev = _evaluate(run, task.curve_split, G)
    pt = {"step": run.step - cfg.pre_steps, "loss_encodes": run.counter.loss, "refresh_encodes": run.counter.refresh,
          **_costs(run), **{f"{task.curve_split}/{k}": v for k, v in ev.items()}}
    pt["cos_g0_fresh"] = EmbeddingCache.mean_cos(run.G0, G) if run.G0 is not None else 1.0
    if run.cache is not None and run.cache.C is not None:
        pt["cos_cache_fresh"] = EmbeddingCache.mean_cos(run.cache.C, G)
        pt["cache_staleness_steps"] = run.cache.staleness(run.step)
        Qp = run.f(run.Xq[torch.as_tensor(run.probe, device=run.dev)])
        I_fresh = rank_targets(Qp, G, 100)
        I_c = rank_targets(Qp, run.cache.C, 100)
        pt["overlap@10_cache"], pt["overlap@100_cache"] = topk_overlap(I_c, I_fresh, 10), topk_overlap(I_c, I_fresh, 100)
        if run.corr is not None:
            with run.corr.uncounted():  # monitoring, like the fresh encode above
                hC = run.corr.apply(run.cache.C)
            pt["cos_h_fresh"] = EmbeddingCache.mean_cos(hC, G)
            I_h = rank_targets(Qp, hC, 100)
            pt["overlap@10_h"], pt["overlap@100_h"] = topk_overlap(I_h, I_fresh, 10), topk_overlap(I_h, I_fresh, 100)
    if run.losses:
        pt["train_loss"] = float(np.mean(run.losses[-20:]))
    return pt


@torch.no_grad()
def _evaluate(run: _Run, split: str, G=None) -> dict:
    qrels = run.task.qrels[split]
    q_rows = np.array(sorted(qrels), dtype=np.int64)
    G = encode_all(run.g, run.Xt) if G is None else G
    Q = encode_all(run.f, run.Xq[torch.as_tensor(q_rows, device=run.dev)])
    return retrieval_metrics(rank_targets(Q, G, 100), q_rows, qrels)


def _state(run: _Run) -> tuple[dict, dict]:
    from ..nn.checkpoint import flatten_optimizer

    tensors = {f"f.{k}": v for k, v in run.f.state_dict().items()}
    if not run.task.shared:
        tensors.update({f"g.{k}": v for k, v in run.g.state_dict().items()})
    ot, ostruct = flatten_optimizer(run.opt, "opt")
    tensors.update(ot)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.gen"] = run.gen.get_state()
    for name, val in (("cache.C", run.cache.C if run.cache else None), ("G0", run.G0), ("hC", run.hC)):
        if val is not None:
            tensors[name] = val
    meta = {"config": dataclasses.asdict(run.cfg), "step": run.step, "counter": run.counter.to_dict(),
            "rng_numpy": run.rng.bit_generator.state, "curve": run.curve, "losses": run.losses, "opt": ostruct,
            "cache_built_step": run.cache.built_step if run.cache else None,
            "cache_n_refreshes": run.cache.n_refreshes if run.cache else 0,
            "hC_step": run.hC_step}
    if run.corr is not None:
        ht, hs = flatten_optimizer(run.corr.opt, "hopt")
        tensors.update(ht)
        tensors.update({f"h.{k}": v for k, v in run.corr.h.state_dict().items()})
        tensors.update({f"hbuf.{k}": v for k, v in run.corr.state().items()})
        meta.update(hopt=hs, buf_n=run.corr.buf_n, buf_pos=run.corr.buf_pos, h_scored=run.corr.rows_scored,
                    h_trained=run.corr.rows_trained)
    return tensors, meta


def _restore(run: _Run, tensors: dict, meta: dict) -> None:
    from ..nn.checkpoint import unflatten_optimizer

    run.f.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("f.")})
    if not run.task.shared:
        run.g.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("g.")})
    unflatten_optimizer(run.opt, "opt", tensors, meta["opt"])
    torch.set_rng_state(tensors["rng.torch"].cpu())
    run.gen.set_state(tensors["rng.gen"].cpu())
    run.rng.bit_generator.state = meta["rng_numpy"]
    run.step, run.curve, run.losses = int(meta["step"]), meta["curve"], meta["losses"]
    run.counter.loss, run.counter.refresh = int(meta["counter"]["loss"]), int(meta["counter"]["refresh"])
    run.G0, run.hC = tensors.get("G0"), tensors.get("hC")
    run.hC_step = int(meta["hC_step"])
    if run.cache is not None:
        run.cache.C, run.cache.built_step = tensors.get("cache.C"), meta["cache_built_step"]
        run.cache.n_refreshes = int(meta["cache_n_refreshes"])
    if run.corr is not None:
        run.corr.h.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("h.")})
        unflatten_optimizer(run.corr.opt, "hopt", tensors, meta["hopt"])
        run.corr.load_state({k[5:]: v for k, v in tensors.items() if k.startswith("hbuf.")}, meta["buf_n"], meta["buf_pos"])
        run.corr.rows_scored, run.corr.rows_trained = int(meta["h_scored"]), int(meta["h_trained"])


def train_retriever(task: RetrievalTask, config: RetrieverConfig | None = None, *, out_dir=None,
                    progress: bool = True, resume: bool = True, stop_at: int | None = None) -> dict[str, Any]:
    """Train f and g on ``task`` with one method; returns a result record.

    Parameters
    ----------
    task : RetrievalTask
    config : RetrieverConfig
    out_dir : path-like, optional
        Checkpoints go to ``out_dir/checkpoint`` (every ``checkpoint_every`` steps and at the end);
        an existing checkpoint with the same config is resumed when ``resume`` is true.
    progress : bool
        Show a rich progress bar.
    stop_at : int, optional
        Stop (and checkpoint) after this many total steps; used to test resumption.

    Returns
    -------
    dict with ``method``, ``label``, ``config``, ``counts`` (loss/refresh encodes, h FLOPs),
    ``curve`` (list of log points: quality vs passes, drift, overlap) and ``final`` (metrics of
    the curve and final splits with fresh embeddings), ``wall_s``.
    """
    cfg = config or RetrieverConfig()
    cfg.validate()
    dev = torch_device(cfg.device)
    run = _Run(task, cfg, dev)
    ckpt = Path(out_dir) / "checkpoint" if out_dir is not None else None
    if ckpt is not None and resume and (ckpt / "state.json").exists():
        from ..nn.checkpoint import load_checkpoint

        tensors, meta = load_checkpoint(ckpt, dev)
        saved = {k: v for k, v in meta["config"].items() if k != "device"}
        if saved != {k: v for k, v in dataclasses.asdict(cfg).items() if k != "device"}:
            raise EmblabError(f"{ckpt} holds a run with a different config; use a new --out or resume=False.")
        _restore(run, tensors, meta)
    total = cfg.pre_steps + cfg.steps
    log_every = cfg.log_every or max(1, cfg.steps // 10)
    end = total if stop_at is None else min(total, stop_at)
    t0 = time.perf_counter()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    cols = [TextColumn(f"{task.name} {cfg.label}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}")]
    with Progress(*cols, disable=not progress, transient=True) as bar:
        tid = bar.add_task("train", total=total, completed=run.step, info="")
        while run.step < end:
            if run.step == cfg.pre_steps:
                # Cache built once with g0 = the encoder at this step (spec section 3, "Cache").
                if run.cache is not None:
                    run.cache.refresh(run.g, run.step)
                    run.G0 = run.cache.C.clone()
                else:
                    run.G0 = encode_all(run.g, run.Xt)  # monitoring only, not counted
                run.curve.append(_log_point(run))
            run.losses.append(_train_step(run))
            s = run.step - cfg.pre_steps
            if s >= 1 and (s % log_every == 0 or run.step == total):
                run.curve.append(_log_point(run))
                last = run.curve[-1]
                bar.update(tid, info=f"{task.curve_split} R@10 {last.get(task.curve_split + '/recall@10', 0):.3f}")
            bar.update(tid, completed=run.step)
            if ckpt is not None and cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0 and run.step < end:
                from ..nn.checkpoint import save_checkpoint

                save_checkpoint(ckpt, *_state(run))
    if ckpt is not None:
        from ..nn.checkpoint import save_checkpoint

        save_checkpoint(ckpt, *_state(run))
    record = {"task": task.name, "method": cfg.method, "label": cfg.label, "config": dataclasses.asdict(cfg),
              "device": dev, "steps_done": run.step - cfg.pre_steps, "n_targets": task.n_targets,
              "counts": {**run.counter.to_dict(), **_costs(run),
                         "cache_refreshes": run.cache.n_refreshes if run.cache else 0},
              "curve": run.curve, "wall_s": time.perf_counter() - t0}
    if run.step == total:
        record["final"] = {sp: _evaluate(run, sp) for sp in dict.fromkeys([task.curve_split, task.final_split])}
    return record
