"""Packed, quantised CompresSAE codes against the strongest quantisers at 32-128 B (issue 16).

The experiment of ``benchmarks/sae_codes.py``, over ``knn_fidelity/imdb-minilm`` (Recall@10) and
``beir_scifact`` (nDCG@10), as cells of three :class:`~emblab.experiment.CellStore` s under one root:

``peers``  OPQ, PQ, RQ, LSQ (FAISS, fitted on at most ``faiss_fit_rows`` rows), RaBitQ, PCA + int8
           and binary at the budgets (plus RaBitQ's native 56 / 116 B).
``sae``    SAEs trained once per (task, training recipe) and coded with every layout
           (:func:`sae_plan`); SciFact is also coded by the IMDB-trained SAE (out of domain).
``scale``  single-query latency over 10^6 packed codes (:mod:`.sae_scale`).

Markdown: :mod:`emblab.bench.sae_codes_report`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

from ..experiment import CellStore, fitted_model, run_cells
from .candidates import peer_specs_for_budgets

BUDGETS = (32, 48, 64, 96, 128)
TASKS = {"imdb": "knn_fidelity/imdb-minilm", "scifact": "beir_scifact"}
RECIPE = "batch_size=256,center=true,auxk=true"
#: training recipes by task and key (coding parameters are set per cell with SparseAutoencoder.with_coding)
TRAIN = {"imdb": {"A": f"sae:h=4096,k=32,epochs=10,init=kaiming,{RECIPE}",
                  "T": f"sae:h=4096,k=32,epochs=10,init=tied,{RECIPE}",
                  "W": f"sae:h=16384,k=32,epochs=10,init=kaiming,{RECIPE}"},
         "scifact": {"A": f"sae:h=4096,k=32,epochs=20,init=kaiming,{RECIPE}"}}
#: every coding parameter a cell does not set, spelled out so no cell depends on the library's defaults
BASE_CODING = dict(encoder="omp", pack=True, index_coding="fixed", value_bits=8, value_scale="row", value_fit="refit")
LAYOUTS = {"f16": dict(value_bits=16), "q8": dict(value_bits=8), "q4": dict(value_bits=4),
           "q8ef": dict(value_bits=8, index_coding="ef"), "q4ef": dict(value_bits=4, index_coding="ef"),
           "q8L": dict(value_bits=8, value_scale="latent"),
           "q4Lef": dict(value_bits=4, value_scale="latent", index_coding="ef")}
STORE_IDS = {stage: f"sae_codes/{stage}/1" for stage in ("peers", "sae", "scale")}

Cells = Iterator[tuple[dict[str, Any], Callable[[], dict[str, Any]]]]


def store(root: Path, stage: str) -> CellStore:
    return CellStore(Path(root) / stage, STORE_IDS[stage])


def sae_plan(model: str = "A", part: str = "all") -> list[dict]:
    """Coding variants of one trained SAE: ``core`` (every budget x the main layouts) and
    ``decisions`` (quantiser, value fit, encoder and the uint16 + fp16 layout at 64 and 128 B). The
    first variant has the largest k, so the OMP path of the catalogue is computed once and its
    prefixes serve every other variant."""
    omp = dict(encoder="omp", value_fit="refit")
    core = [dict(omp, budget=b, **LAYOUTS[lay]) for b in sorted(BUDGETS, reverse=True)
            for lay in ("q4ef", "q4", "q8", "f16")]
    if model != "A":  # other recipes: the 4-bit layouts at 64 and 128 B only
        core = [p for p in core if p["budget"] in (128, 64) and p["value_bits"] == 4]
        return core if part != "decisions" else []
    decisions = []
    for b in (128, 64):
        decisions += [dict(omp, budget=b, **LAYOUTS[lay]) for lay in ("q8ef", "q4Lef", "q8L")]
        decisions += [dict(LAYOUTS["q4ef"], encoder="omp", value_fit="round", budget=b)]
        decisions += [dict(LAYOUTS["q4ef"], encoder="topk", value_fit=f, budget=b) for f in ("refit", "round")]
        decisions += [dict(encoder=e, value_fit="round", budget=b, pack=False, value_bits=16) for e in ("omp", "topk")]
    return {"core": core, "decisions": decisions, "all": core + decisions}[part]


def peer_specs(d: int) -> list[str]:
    """float32 and the peers at the budgets, slowest families last."""
    specs = ["float32"] + [s for _, s in peer_specs_for_budgets(d, BUDGETS, pipelines=False, fastscan=False,
                                                                 additive=True, rabitq=True)
                           if not s.startswith(("pca:dim=", "trunc", "binary:")) or "store=int8" in s]
    specs += ["faiss:RaBitQ", "faiss:RaBitQ2"]  # native sizes 56 / 116 B
    order = {"faiss:LSQ": 3, "faiss:RQ": 2, "faiss:OPQ": 1}
    return sorted(specs, key=lambda s: next((v for k, v in order.items() if s.startswith(k)), 0))


def peer_record(task, st: CellStore, spec: str, fit_rows: int) -> dict[str, Any]:
    if spec == "float32":
        return task.evaluate(None).to_dict()
    X = task.fit_data()
    rows = fit_rows if spec.startswith("faiss:") and "RaBitQ" not in spec else None
    rec = task.evaluate(fitted_model(st, spec, X, fit_rows=rows)).to_dict()
    rec["extra"]["fit_rows"] = min(len(X), rows or len(X))
    return rec


def peer_cells(task, st: CellStore, fit_rows: int, specs: list[str] | None = None) -> Cells:
    for spec in specs if specs is not None else peer_specs(task.fit_data().shape[1]):
        yield {"task": task.name, "method": spec, "fit_rows": fit_rows}, partial(peer_record, task, st, spec, fit_rows)


def sae_record(task, source, st: CellStore, train: str, coding: dict) -> dict[str, Any]:
    """``task`` coded by the SAE ``train`` fitted on ``source``'s fit set, with ``coding``."""
    X = source.fit_data()
    m = fitted_model(st, train, X, params={"progress": False,  # resumable training
                                           "checkpoint_dir": str(st.root / "checkpoints")})
    mc = m.with_coding(X, **{**BASE_CODING, **coding})
    rec = task.evaluate(mc).to_dict()
    rec["extra"].update(train_spec=train, coding=coding, val_recon_cos=m.history_.get("val_recon_cos"),
                        best_epoch=m.history_.get("best_epoch"), train_usage=m.train_usage_,
                        fit_set=source.name, coding_k=mc.coding_k())
    return rec


def sae_cells(task, st: CellStore, train: str, codings: list[dict], fit_task=None) -> Cells:
    """One cell per coding of the SAE ``train``; ``fit_task`` trains on another task's fit set."""
    source = fit_task or task
    for coding in codings:
        yield ({"task": task.name, "fit_on": source.name, "train": train, "coding": coding},
               partial(sae_record, task, source, st, train, coding))


def ood_codings() -> list[dict]:
    """Codings of SciFact by the IMDB-trained SAE (out of domain)."""
    return [dict(LAYOUTS["q4ef"], encoder=e, value_fit="refit", budget=b) for b in (128, 64) for e in ("omp", "topk")]


def sae_schedule(tasks: dict[str, Any], models: list[str], st: CellStore, train: dict | None = None) -> list[Cells]:
    """SAE cell groups in priority order: the core of both tasks, out of domain, decisions, other recipes."""
    train = train or TRAIN
    plan = [("imdb", "A", "core"), ("scifact", "A", "all"), ("ood", "A", ""), ("imdb", "A", "decisions")]
    out = []
    for key, mk, part in plan + [("imdb", m, "core") for m in models if m != "A"]:
        if mk not in models or (key == "ood" and not {"imdb", "scifact"} <= set(tasks)) \
                or (key != "ood" and key not in tasks):
            continue
        if key == "ood":
            out.append(sae_cells(tasks["scifact"], st, train["imdb"]["A"], ood_codings(), fit_task=tasks["imdb"]))
        else:
            out.append(sae_cells(tasks[key], st, train[key][mk], sae_plan(mk, part)))
    return out


def scale_cells(task, sae_store: CellStore, train: str, coding: dict, scale_n: list[int], fit_rows: int) -> Cells:
    """Latency over n packed codes (the real IMDB codes tiled) beside FAISS flat and PQ at the SAE's bytes."""
    from .sae_scale import scale_record

    def run(n: int) -> dict[str, Any]:
        m = fitted_model(sae_store, train, task.fit_data(), params={"progress": False})
        mc = m.with_coding(task.fit_data(), **{**BASE_CODING, **coding})
        return scale_record(mc, task, n, pq_m=(None,), fit_rows=fit_rows, latency_queries=20, reconstructed_queries=3)
    coding_text = ",".join(f"{k}={v}" for k, v in coding.items())
    for n in scale_n:
        yield {"scale": n, "train": train, "coding": coding_text}, partial(run, n)


def run_study(root: Path, stages: list[str], tasks: dict[str, Any], *, models: list[str], fit_rows: int,
              keep: Callable[[str], bool] = lambda spec: True, scale_n: list[int] = (1_000_000,),
              scale_coding: dict | None = None, scale_task=None, train: dict | None = None,
              on_record=None) -> None:
    """Run (or resume) the cells of ``stages`` (``peers``, ``sae``, ``scale``) into the stores under ``root``.

    ``tasks``: loaded tasks by key (``imdb``, ``scifact``); ``keep(spec)`` selects peer specs;
    ``scale_task`` (default ``tasks["imdb"]``) is the catalogue the scale stage tiles.
    """
    train = train or TRAIN
    if "peers" in stages:
        st = store(root, "peers")
        for task in tasks.values():
            cells = [(c, f) for c, f in peer_cells(task, st, fit_rows) if keep(c["method"])]
            run_cells(st, cells, on_record=on_record)
    if "sae" in stages:
        st = store(root, "sae")
        for cells in sae_schedule(tasks, models, st, train):
            run_cells(st, cells, on_record=on_record)
    if "scale" in stages:
        coding = scale_coding or dict(budget=64, value_bits=4, index_coding="ef")
        run_cells(store(root, "scale"), scale_cells(scale_task or tasks["imdb"], store(root, "sae"), train["imdb"]["A"], coding,
                                                    list(scale_n), fit_rows), on_record=on_record)


def stored_records(root: Path) -> tuple[list[dict], list[dict]]:
    """(task records of the peers and sae stores, scale records) under ``root``."""
    recs, scale = [], []
    for stage in ("peers", "sae", "scale"):
        if (Path(root) / stage / "store.json").exists():
            (scale if stage == "scale" else recs).extend(store(root, stage).load().values())
    return recs, scale
