"""CompresSAE beside its peers (issue 3, specs/sae.md): the stages of ``benchmarks/sae.py`` as cells.

Stages (each one :class:`~emblab.experiment.CellStore` under ``<root>/<stage>``, so a run resumes):

``imdb``      ``knn_fidelity/imdb-minilm``: peers and the headline SAEs (h=4096, k=16/32, top-k and
              OMP codes), latent usage, encode speed.                        -> ``sae_imdb``
``transfer``  ``beir_scifact`` nDCG@10 / Recall@100 (each method fit on the SciFact corpus), and the
              MovieLens leave-last-out rows on MiniLM *title* embeddings: the labelled no-signal
              control (popularity beats every row; the recommendation benchmark proper, on
              collaborative item vectors, is ``benchmarks/recsys.py``).     -> ``sae_transfer``
``scale``     single-query latency and batch throughput at 10^5 / 10^6 items (:mod:`.sae_scale`), the
              SAE fitted by the imdb stage.                                  -> ``sae_scale``
``grid``      IMDB Recall@10 over h x k with few epochs, and recipe ablations.  -> ``sae_grid``

Scores come from the registered tasks (``task.evaluate``, ``task.score_ranking``) and
:mod:`emblab.evaluation.tasks.recsys`; fitted models are kept by :func:`~emblab.experiment.fitted_model`.
Markdown: :mod:`emblab.bench.sae_study_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..experiment import CellStore, fitted_model, run_cells, write_results

# OPQ (minutes per fit on a 2-core CPU) is not re-fit on IMDB: the acceptance page takes the OPQ
# rows from the foundation benchmark (peers.json, same task and protocol).
PEERS_IMDB = ["float16", "int8", "binary", "pca:dim=64,store=int8", "pca:dim=128,store=int8", "faiss:PQ64"]
PEERS_TRANSFER = ["float16", "int8", "binary", "pca:dim=64,store=int8", "pca:dim=128,store=int8",
                  "faiss:PQ64np", "faiss:PQ128np", "faiss:OPQ64,PQ64np"]  # np: no polysemous training
TUNED = "batch_size=256,center=true,auxk=true"
SAE_HEADLINE = ["sae:h=4096,k=32",  # the spec's default recipe (fit-time acceptance figure)
                f"sae:h=4096,k=16,{TUNED}", f"sae:h=4096,k=32,{TUNED}",
                f"sae:h=4096,k=16,{TUNED},encoder=omp", f"sae:h=4096,k=32,{TUNED},encoder=omp",
                "sae:h=4096,k=32,encoder=omp"]
SAE_TRANSFER = [f"sae:h=4096,k={k},{TUNED},epochs=20{enc}" for k in (16, 32) for enc in ("", ",encoder=omp")]
ML_SETS = ("movielens_100k", "movielens_latest_small")


@dataclass
class SaeStudyConfig:
    """What the stages run (defaults: the committed run)."""

    imdb_methods: list[str] = field(default_factory=lambda: PEERS_IMDB + SAE_HEADLINE)
    transfer_methods: list[str] = field(default_factory=lambda: PEERS_TRANSFER + SAE_TRANSFER)
    scale_sae: str = f"sae:h=4096,k=32,{TUNED}"
    scale_n: list[int] = field(default_factory=lambda: [100_000, 1_000_000])
    scale_pq_m: list[int] = field(default_factory=lambda: [32, 128])
    latency_queries: int = 20
    batch_queries: int = 100
    grid_h: list[int] = field(default_factory=lambda: [1024, 4096, 16384])
    grid_k: list[int] = field(default_factory=lambda: [4, 8, 16, 24, 32, 48, 64])
    grid_epochs: int = 3
    grid_extra: str = ",batch_size=256,center=true,auxk=true"
    grid_omp_max_h: int = 16384  # largest h also scored with OMP codes
    grid_omp_k: list[int] = field(default_factory=lambda: [8, 16, 32])
    # spec suffixes trained at h=4096, k=16 with the grid's epochs (the empty one: no centring, no AuxK)
    grid_ablations: list[str] = field(default_factory=lambda: [
        ",center=true,auxk=true,k_schedule=none", ",center=true,auxk=true,init=tied", "", ",center=true",
        ",auxk=true"])
    grid_ablation_h: int = 4096


#: stage -> (results name, results kind, dataset description)
STAGES = {
    "imdb": ("sae_imdb", "compression", {"task": "knn_fidelity/imdb-minilm", "split": "fit=imdb_unsup; "
             "catalogue=imdb_labeled[0:49000]; queries=imdb_labeled[49000:50000]"}),
    "transfer": ("sae_transfer", "transfer", {"task": "beir_scifact + MovieLens title-embedding control",
                 "split": "each method fit on the task's own catalogue (scifact corpus; ML item embeddings)"}),
    "scale": ("sae_scale", "scale", {"task": "scale", "split": "synthetic catalogues from imdb_labeled"}),
    "grid": ("sae_grid", "compression", {"task": "knn_fidelity/imdb-minilm"}),
}


def split_encoder(spec: str) -> tuple[str, str | None]:
    """``(training spec, encoder)``: ``encoder=`` is an inference-time option, trained once without it."""
    parts = spec.split(",")
    enc = [p.split("=", 1)[1] for p in parts if p.startswith("encoder=")]
    return ",".join(p for p in parts if not p.startswith("encoder=")), (enc[-1] if enc else None)


def trained(store: CellStore, spec: str, X: np.ndarray):
    """``spec`` fitted on X (kept in ``store``); an ``encoder=`` variant recodes the shared training."""
    base, enc = split_encoder(spec)
    model = fitted_model(store, base, X, params={"progress": False} if base.startswith("sae") else None)
    return model.with_coding(encoder=enc) if enc else model


def queries_touching_few(model, xq: np.ndarray, codes, limit: int = 100) -> int:
    """Queries whose sparse code shares a latent with fewer than ``limit`` catalogue items (spec §6)."""
    ptr, ids, _ = model.sparse_index(codes).postings
    qc = model.encode_query(xq)
    few = 0
    for qi, qv in zip(qc.arrays["indices"], qc.arrays["values"]):
        lat = qi[qv != 0].astype(np.int64)
        hit = np.unique(np.concatenate([ids[ptr[j]:ptr[j + 1]] for j in lat])) if len(lat) else ()
        few += len(hit) < limit
    return int(few)


def sae_usage(model, codes) -> dict[str, Any]:
    """Latent usage and training facts of a fitted SAE and its catalogue codes."""
    h = model.history_
    return {"latent_usage_catalogue": model.latent_stats(codes), "latent_usage_train": model.train_usage_,
            "val_recon_cos": h.get("val_recon_cos"), "best_epoch": h.get("best_epoch"),
            "epochs_run": len(h.get("train_loss", [])), "model_bytes": model.model_bytes}


# --- stage cells ------------------------------------------------------------------------------------
Cells = Iterator[tuple[dict[str, Any], Callable[[], dict[str, Any]]]]


def imdb_record(task, store: CellStore, spec: str) -> dict[str, Any]:
    if spec == "float32":
        return {"key": spec, **task.evaluate(None).to_dict()}
    m = trained(store, spec, task.fit_data())
    rec = {"key": spec, **task.evaluate(m).to_dict()}
    if spec.startswith("sae"):
        codes = m.encode(task.xb)
        rec["extra"].update(sae_usage(m, codes), queries_under_100_nonzero_sparse=queries_touching_few(m, task.xq, codes),
                            encode_vectors_per_s=len(task.xb) / max(rec["encode_time_s"] or 0.0, 1e-9))
    return rec


def imdb_cells(task, store: CellStore, cfg: SaeStudyConfig) -> Cells:
    for spec in ["float32"] + list(cfg.imdb_methods):
        yield {"stage": "imdb", "task": task.name, "method": spec}, partial(imdb_record, task, store, spec)


def title_control(split_pair, E: np.ndarray, model) -> dict[str, dict[str, float]]:
    """MovieLens rows on title embeddings ``E``: every search mode (and decoded users), plus
    popularity and random beside the uncompressed row. ``split_pair``: leave-last-1 and -5 splits."""
    from ..evaluation.tasks import recsys as rs

    both = lambda f: {**f(split_pair[0]), **f(split_pair[1])}  # noqa: E731
    if model is None:
        return {"asymmetric": both(lambda s: rs.evaluate_split(s, E, None, None)),
                "popularity": both(lambda s: rs.split_metrics(rs.popularity_topn(s), s)),
                "random": both(lambda s: rs.split_metrics(rs.random_topn(s), s))}
    codes = model.encode(E)
    out = {mode: both(lambda s, mode=mode: rs.evaluate_split(s, E, model, codes, mode)) for mode in model.search_modes}
    if "symmetric" in model.search_modes:  # users from decoded history items
        out["decoded_users"] = both(lambda s: rs.evaluate_split(s, E, model, codes, "asymmetric", "decoded"))
    return out


def load_title_control() -> dict[str, tuple[tuple[Any, Any], np.ndarray]]:
    """Per MovieLens set: (leave-last-1, leave-last-5 splits) and the MiniLM title embeddings of its items."""
    from ..data.movielens import load_movielens
    from ..embed import embed_texts_cached
    from ..evaluation.tasks import recsys as rs

    out = {}
    for name in ML_SETS:
        ml = load_movielens(name)
        E = embed_texts_cached(ml.item_texts, key=f"{name}-items", show_progress=False)
        h = ml.histories()
        out[name] = ((rs.leave_last_out(h, ml.n_items, 1), rs.leave_last_out(h, ml.n_items, 5)), E)
    return out


def transfer_record(sci, control: dict, store: CellStore, spec: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"key": spec, "method": spec, "fit_time_s": {}}
    m = None
    if spec != "float32":
        m = trained(store, spec, sci.fit_data())
        rec["fit_set"] = "own catalogue"
        rec["fit_time_s"]["scifact"] = m.fit_time_s_
    r = sci.evaluate(m)
    if m is not None and spec.startswith("sae"):
        rec["latent_usage_scifact"] = m.latent_stats(m.encode(sci.xb))
    rec.update(bytes_per_vector=r.bytes_per_vector, scifact=r.scores, scores={"ndcg@10": r.scores["ndcg@10"]},
               title_control={})
    for name, (splits, E) in control.items():
        mm = None if m is None else trained(store, spec, E)
        if mm is not None:
            rec["fit_time_s"][name] = mm.fit_time_s_
        rec["title_control"][name] = title_control(splits, E, mm)
    return rec


def transfer_cells(sci, control: dict, store: CellStore, cfg: SaeStudyConfig) -> Cells:
    for spec in ["float32"] + list(cfg.transfer_methods):
        yield {"stage": "transfer", "method": spec}, partial(transfer_record, sci, control, store, spec)


def scale_cells(task, model_store: CellStore, cfg: SaeStudyConfig) -> Cells:
    from .sae_scale import scale_record

    def run(n: int) -> dict[str, Any]:
        m = trained(model_store, cfg.scale_sae, task.fit_data())
        return {"key": f"n={n}", **scale_record(m, task, n, pq_m=cfg.scale_pq_m, latency_queries=cfg.latency_queries,
                                                  reconstructed_queries=cfg.latency_queries,
                                                  batch_queries=cfg.batch_queries)}
    for n in cfg.scale_n:
        yield {"stage": "scale", "n": n, "sae": cfg.scale_sae}, partial(run, n)


def grid_jobs(cfg: SaeStudyConfig) -> list[tuple[str, int, int, list[tuple[int, str]]]]:
    """``(training spec, h, k_train, [(k, encoder)])``: per h, a model trained at k=4 (coded at 4, 8)
    and one at k=16 (coded at 16..64; the Multi-TopK loss trains at k and 4k, so k <= k' <= 4k is
    the paper's "larger k at inference"), then the recipe ablations at h=4096, k=16."""
    jobs = []
    for h in cfg.grid_h:
        for k_train, k_eval in ((4, [4, 8]), (16, [16, 24, 32, 48, 64])):
            evals = [(k, "topk") for k in k_eval if k in cfg.grid_k and k <= h]
            if h <= cfg.grid_omp_max_h:
                evals += [(k, "omp") for k in k_eval if k in cfg.grid_omp_k and k <= h]
            jobs.append((f"sae:h={h},k={k_train},epochs={cfg.grid_epochs}{cfg.grid_extra}", h, k_train, evals))
    for extra in cfg.grid_ablations:
        h = cfg.grid_ablation_h
        jobs.append((f"sae:h={h},k=16,epochs={cfg.grid_epochs},batch_size=256{extra}", h, 16,
                     [(16, "topk"), (32, "topk"), (16, "omp")]))
    return jobs


def grid_record(task, store: CellStore, spec: str, h: int, k_train: int, k: int, enc: str) -> dict[str, Any]:
    """One code width ``k`` and encoder over one trained model; asymmetric scoring only."""
    import time

    from ..search import search

    base = fitted_model(store, spec, task.fit_data(), params={"progress": False})
    m = base.with_coding(k=k, encoder=enc)
    t0 = time.perf_counter()
    codes = m.encode(task.xb)
    t_enc = time.perf_counter() - t0
    _, I = search(m, task.xq, codes, 100, "asymmetric")
    key = f"{spec}@k={k}" + ("" if enc == "topk" else ",encoder=omp")
    return {"key": key, "task": task.name, "method": key, "encoder": enc, "train_spec": spec,
            "bytes_per_vector": float(m.bytes_per_vector), "h": h, "k": k, "k_train": k_train,
            "scores": task.score_ranking(I), "fit_time_s": base.fit_time_s_, "encode_time_s": t_enc,
            "extra": {"latent_usage_catalogue": m.latent_stats(codes), "val_recon_cos": m.history_.get("val_recon_cos"),
                      "best_epoch": m.history_.get("best_epoch")}}


def grid_cells(task, store: CellStore, cfg: SaeStudyConfig) -> Cells:
    for spec, h, k_train, evals in grid_jobs(cfg):
        for k, enc in evals:
            yield ({"stage": "grid", "task": task.name, "train": spec, "k": k, "encoder": enc},
                   partial(grid_record, task, store, spec, h, k_train, k, enc))


# --- running a stage --------------------------------------------------------------------------------
def stage_store(root: Path, stage: str) -> CellStore:
    return CellStore(Path(root) / stage, f"sae_study/{stage}/1")


def stage_cells(stage: str, cfg: SaeStudyConfig, root: Path, tasks: dict[str, Any] | None = None) -> Cells:
    """The cells of ``stage``; ``tasks`` may supply loaded tasks by name (``imdb``, ``scifact``) and
    the ``control`` data of the transfer stage, else the registered ones are loaded."""
    from ..evaluation.tasks import get_task

    tasks = dict(tasks or {})
    if stage in ("imdb", "scale", "grid") and "imdb" not in tasks:
        tasks["imdb"] = get_task("knn_fidelity/imdb-minilm").load()
    store = stage_store(root, stage)
    if stage == "imdb":
        return imdb_cells(tasks["imdb"], store, cfg)
    if stage == "grid":
        return grid_cells(tasks["imdb"], store, cfg)
    if stage == "scale":  # the imdb stage's fitted model
        return scale_cells(tasks["imdb"], stage_store(root, "imdb"), cfg)
    if stage == "transfer":
        sci = tasks.get("scifact") or get_task("beir_scifact").load()
        return transfer_cells(sci, tasks["control"] if "control" in tasks else load_title_control(), store, cfg)
    raise ValueError(f"unknown stage {stage!r}; expected one of {sorted(STAGES)}")


def run_stage(stage: str, cfg: SaeStudyConfig, root: Path, results: Path, *, command: str,
              tasks: dict[str, Any] | None = None, on_record=None) -> dict[str, Any]:
    """Run (or resume) ``stage`` and write ``results/<name>.{json,md}``; returns the document."""
    from .sae_study_report import write_markdown

    recs = run_cells(stage_store(root, stage), stage_cells(stage, cfg, root, tasks), on_record=on_record)
    name, kind, dataset = STAGES[stage]
    if stage == "grid":
        dataset = {**dataset, "split": f"grid: {cfg.grid_epochs} epoch(s), {cfg.grid_extra}"}
    doc = write_results(Path(results) / f"{name}.json", kind, [r for r in recs if "error" not in r],
                        command=command, dataset=dataset)
    write_markdown(results, stage)
    return doc
