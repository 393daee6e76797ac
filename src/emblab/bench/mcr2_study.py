"""The MCR² study: projection heads against PCA / truncation on MiniLM sentence embeddings.

``benchmarks/mcr2.py`` is the driver; this module holds the experiment (mcr2.md section 5,
baselines_and_eval.md section 2):

* **Data** (:func:`load_data`): every STS-B and SICK split (``emblab.data.sts``), embedded once
  with all-MiniLM-L6-v2 (:func:`emblab.embed.embed_texts_cached`), and the registered
  ``beir_scifact`` task (300 test queries over 5,183 documents).
* **Fit set** (unlabelled, ~21k vectors): the unique sentences of STS-B **train** + SICK
  **TRAIN**, then the SciFact corpus. Dev/test sentences and SciFact queries are never in it.
  Paraphrase classes for ``memberships=pairs``: train pairs with gold >= 4.
* **Model selection**: MCR² heads keep the epoch with the best STS-B **dev** Spearman
  (``set_validation_pairs``); the ``select`` phase scores dev splits only, ``final`` the test
  splits and SciFact once.
* **Scores**: every method is compared by cosine *in its code space* (:func:`code_space`: MCR²
  dequantised codes, PCA coordinates, truncated vectors), scored by the task classes:
  :class:`~emblab.evaluation.tasks.StsTask` (Spearman of cosine, reported here as a fraction, not
  ×100) and :class:`~emblab.evaluation.tasks.BeirTask` (nDCG@10, Recall@100, exact search, both
  sides compressed) built on the code-space vectors.
* **Cells**: one :class:`~emblab.experiment.CellStore` cell per baseline row and per
  (variant, dim) head (whose f16 and int8 rows share one fit), so a run resumes where it stopped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from ..experiment.markdown import document, table
from ..experiment.store import CellStore, run_cells

DIMS = (16, 32, 48, 64, 96, 128, 192)
#: int8 calibration is fitted; f16 codes are transform() cast
COMMON = "progress=false,store=int8"
#: the heads chosen with the select phase on dev splits only (results/mcr2_select_*.md): centred-PCA
#: init, MCR² fine-tuning at lr 1e-4; every setting is spelled out so a change of defaults cannot
#: change what a row means
LIN = "head=linear,init=pca,lr=0.0001,epochs=20"
SPEC_MLP = "head=mlp,init=random,lr=0.001"   # the spec's head and optimiser (mcr2.md section 5)
#: name -> extra spec, or (extra spec, dims, dev_selection); dev_selection defaults to True
FINAL = {
    "mcr2": f"objective=mcr2,{LIN}",
    "distill": "objective=distill,head=hpd,init=random,lr=0.001,epochs=20",
    "mcr2+distill": f"objective=mcr2+distill,{LIN},lambda_d=1.0",
    "mcr2 pairs": f"objective=mcr2,memberships=pairs,{LIN}",
    "mcr2 mlp (spec default)": (f"objective=mcr2,{SPEC_MLP},epochs=10", (64, 128)),
    "mcr2+distill mlp (spec default)": (f"objective=mcr2+distill,{SPEC_MLP},epochs=10", (64, 128)),
    # out of the box: emblab's defaults, fit(X) only (what `emblab fit mcr2:dim=p` does)
    "mcr2 defaults (no dev selection)": ("", DIMS, False),
}
#: the dev-only sweep at p = 64 and 128 (settings spelled out: the defaults of that time)
SELECT = {
    "mcr2 mlp": "objective=mcr2,head=mlp,init=random,lr=0.001,epochs=20",
    "mcr2 linear": "objective=mcr2,head=linear,init=random,lr=0.001,epochs=20",
    "mcr2 residual": "objective=mcr2,head=residual,init=random,lr=0.001,epochs=20",
    "mcr2 mlp eps_sq=0.1": "objective=mcr2,head=mlp,eps_sq=0.1,init=random,lr=0.001,epochs=20",
    "distill hpd": "objective=distill,head=hpd,init=random,lr=0.001,epochs=20",
    "distill linear pca-init": "objective=distill,head=linear,init=pca,lr=0.001,epochs=20",
    "mcr2+distill mlp": "objective=mcr2+distill,head=mlp,init=random,lr=0.001,epochs=20",
    "mcr2+distill residual": "objective=mcr2+distill,head=residual,init=random,lr=0.001,epochs=20",
    "mcr2+distill mlp lambda_d=10": "objective=mcr2+distill,head=mlp,lambda_d=10.0,init=random,lr=0.001,epochs=20",
    "mcr2 linear pca-init": "objective=mcr2,head=linear,init=pca,lr=0.001,epochs=20",
    "mcr2+distill linear pca-init": "objective=mcr2+distill,head=linear,init=pca,lr=0.001,epochs=20",
    "mcr2+distill pairs linear pca-init": "objective=mcr2+distill,memberships=pairs,head=linear,init=pca,lr=0.001,epochs=20",
    "mcr2 pairs linear pca-init": "objective=mcr2,memberships=pairs,head=linear,init=pca,lr=0.001,epochs=20",
    "mcr2 pairs residual": "objective=mcr2,memberships=pairs,head=residual,init=random,lr=0.001,epochs=20",
    "mcr2 linear pca-init lr=1e-4": "objective=mcr2,head=linear,init=pca,lr=0.0001,epochs=20",
    "mcr2+distill linear pca-init lr=1e-4": "objective=mcr2+distill,head=linear,init=pca,lr=0.0001,epochs=20",
    "mcr2 pairs linear pca-init lr=1e-4": "objective=mcr2,memberships=pairs,head=linear,init=pca,lr=0.0001,epochs=20",
    "mcr2+distill pairs linear pca-init lr=1e-4": "objective=mcr2+distill,memberships=pairs,head=linear,init=pca,lr=0.0001,epochs=20",
    "mcr2+distill linear pca-init lr=1e-4 ld=1": "objective=mcr2+distill,head=linear,init=pca,lr=0.0001,lambda_d=1.0,epochs=20",
    "mcr2+distill linear pca-init lr=1e-4 ld=10": "objective=mcr2+distill,head=linear,init=pca,lr=0.0001,lambda_d=10.0,epochs=20",
    "mcr2+distill pairs mlp": "objective=mcr2+distill,memberships=pairs,head=mlp,init=random,lr=0.001,epochs=20",
    "mcr2+distill pairs residual": "objective=mcr2+distill,memberships=pairs,head=residual,init=random,lr=0.001,epochs=20",
    # out of the box (fit(X) only, early stopping on the held-out MCR² loss): the old and the new defaults
    "mcr2 mlp (no dev selection)": ("objective=mcr2,head=mlp,init=random,lr=0.001,epochs=20", (64, 128), False),
    "mcr2 linear pca-init lr=1e-4 (no dev selection)": ("objective=mcr2,head=linear,init=pca,lr=0.0001,epochs=20", (64, 128), False),
    "mcr2 linear pca-init lr=1e-4 epochs=3 (no dev selection)": (
        "objective=mcr2,head=linear,init=pca,lr=0.0001,epochs=3", (64, 128), False),
    "mcr2 linear pca-init lr=1e-4 epochs=6 (no dev selection)": (
        "objective=mcr2,head=linear,init=pca,lr=0.0001,epochs=6", (64, 128), False),
}
SPLITS = {"select": ("stsb_dev", "sick_dev"), "final": ("stsb_test", "sick_test")}


@dataclass
class StudyData:
    """Everything the study scores on.

    Attributes
    ----------
    pairs : dict of str -> (u (n, d), v (n, d), gold (n,))
        ``stsb_train``, ``stsb_dev``, ``stsb_test``, ``sick_train``, ... (only those used may be given).
    fit : ndarray of shape (n_fit, d)
        The unlabelled fit set.
    para : int ndarray of shape (n_para, 2)
        Paraphrase pairs, rows of ``fit`` (``memberships=pairs``).
    scifact : BeirTask or None
        Loaded retrieval task scored in the final phase (None: no retrieval columns).
    info : dict
        Fit-set description written to the results.
    """

    pairs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    fit: np.ndarray
    para: np.ndarray
    scifact: Any = None
    info: dict[str, Any] = field(default_factory=dict)


def load_data(scifact: bool = True) -> StudyData:
    """The real study data (needs ``EMBLAB_DATA`` and the MiniLM model or its cached embeddings)."""
    from ..data import sts
    from ..embed import embed_texts_cached
    from ..evaluation.tasks import get_task

    texts = {f"{ds}_{sp}": fn(sp) for ds, fn in (("stsb", sts.load_stsb), ("sick", sts.load_sick))
             for sp in ("train", "dev", "test")}
    uniq = sorted({s for s1, s2, _ in texts.values() for s in (*s1, *s2)})
    E = embed_texts_cached(uniq, key="sts-pairs-all-splits")
    row = {s: i for i, s in enumerate(uniq)}
    pairs = {k: (E[[row[s] for s in s1]], E[[row[s] for s in s2]], g) for k, (s1, s2, g) in texts.items()}
    # fit rows: unique train sentences in first-seen order (all first sentences, then all second)
    seen: dict[str, int] = {}
    for split in ("stsb_train", "sick_train"):
        for side in texts[split][:2]:
            for s in side:
                seen.setdefault(s, len(seen))
    task = get_task("beir_scifact").load()
    fit = np.vstack([E[[row[s] for s in seen]], task.xb]).astype(np.float32)
    para = np.asarray([(seen[x], seen[y]) for split in ("stsb_train", "sick_train")
                       for x, y, g in zip(*texts[split]) if g >= 4.0 and x != y], np.int64)
    info = {"fit_set": {"stsb_train+sick_train_unique_sentences": len(seen), "scifact_corpus": len(task.xb),
                        "total": int(len(fit)), "train_pairs_gold>=4": len(para)}}
    return StudyData(pairs, fit, para, task if scifact else None, info)


def code_space(model: Any, X: np.ndarray) -> np.ndarray:
    """Vectors whose cosines are the method's similarity, float32 (n, q).

    MCR² heads: the dequantised codes; PCA: the coordinates on the components (``decode`` adds
    the mean back, which changes cosines); any other method: the decoded vectors.
    """
    codes = model.encode(X)
    if hasattr(model, "code_vectors"):
        return np.asarray(model.code_vectors(codes), np.float32)
    if hasattr(model, "components_"):  # orthonormal rows: (decode - mean) C^T recovers the coordinates
        Z = (model.decode(codes).astype(np.float64) - model.mean_) @ model.components_.T.astype(np.float64)
        return Z.astype(np.float32)
    return np.asarray(model.decode(codes), np.float32)


def scores(vec: Callable[[np.ndarray], np.ndarray], data: StudyData, splits: Iterable[str],
           scifact: bool) -> dict[str, float]:
    """Spearman per STS split (fraction) and SciFact nDCG@10 / Recall@100 of ``vec``'s vectors.

    ``vec`` maps (n, d) inputs to (n, q) vectors compared by cosine (both sides of every pair,
    queries and documents alike).
    """
    from ..evaluation.tasks import BeirTask, StsTask

    out = {}
    for split in splits:
        u, v, gold = data.pairs[split]
        task = StsTask.from_arrays(f"sts/{split}", vec(u).astype(np.float32), vec(v).astype(np.float32), gold)
        out[split] = task.evaluate(None).scores["spearman"] / 100.0
    if scifact and data.scifact is not None:
        t = data.scifact
        res = BeirTask.from_arrays(t.name, vec(t.xb).astype(np.float32), vec(t.xq).astype(np.float32),
                                   t.corpus_ids, t.query_ids, t.qrels).evaluate(None)
        out.update(scifact_ndcg10=res.scores["ndcg@10"], scifact_recall100=res.scores["recall@100"])
    return out


def record(method: str, dim: int, store: str, bpv: float, sc: dict[str, float], splits: tuple[str, str],
           fit_time: float | None, **extra: Any) -> dict[str, Any]:
    """One table row; ``method`` is the full resolved spec of what produced it."""
    r = {"method": method, "dim": dim, "store": store, "bytes_per_vector": float(bpv),
         "stsb_spearman": sc.get(splits[0]), "sickr_spearman": sc.get(splits[1]),
         "scifact_ndcg10": sc.get("scifact_ndcg10"), "scifact_recall100": sc.get("scifact_recall100"),
         "fit_time_s": fit_time}
    return {**r, **extra}


def _baseline(spec: str, dim: int, store: str, data: StudyData, splits, scifact) -> dict[str, Any]:
    from ..registry import build

    m = build(spec).fit(data.fit)
    sc = scores(lambda X: code_space(m, X), data, splits, scifact)
    return {"rows": [record(m.to_spec(full=True), dim, store, m.bytes_per_vector, sc, splits, m.fit_time_s_)]}


def _head(name: str, spec: str, dim: int, dev_selection: bool, data: StudyData, splits, scifact) -> dict[str, Any]:
    from ..registry import build, get_method

    m = build(spec)
    if dev_selection:  # keep the epoch with the best STS-B dev Spearman (spec section 5)
        m.set_validation_pairs(*data.pairs["stsb_dev"])
    m.fit_pairs(data.fit, data.para) if m.memberships == "pairs" else m.fit(data.fit)
    dev = scores(m.transform, data, ("stsb_dev", "sick_dev"), False)
    h = m.history_
    extra = dict(variant=name, dev_selection=dev_selection, stsb_dev=dev["stsb_dev"], sick_dev=dev["sick_dev"],
                 n_clusters=m.n_clusters_, best_epoch=h["best_epoch"], epochs_run=len(h["train_loss"]),
                 lambda_d=h["lambda_d"], R_last=h["R_last"], Rc_last=h["Rc_last"])
    rows = []
    for store, vec in (("f16", lambda X: m.transform(X).astype(np.float16)),  # == encode() with store=f16
                       ("int8", lambda X: code_space(m, X))):
        full = get_method("mcr2")(**{**m.get_params(), "store": store}).to_spec(full=True)
        sc = scores(vec, data, splits, scifact)
        rows.append(record(full, dim, store, dim * (2 if store == "f16" else 1), sc, splits, m.fit_time_s_, **extra))
    return {"rows": rows}


def with_epochs(extra: str, epochs: int) -> str:
    """``extra`` with its ``epochs=`` item replaced by (or extended with) ``epochs``."""
    return ",".join([x for x in extra.split(",") if x and not x.startswith("epochs=")] + [f"epochs={epochs}"])


def cells(data: StudyData, phase: str, dims: Iterable[int], variants: dict[str, Any], epochs: int | None = None):
    """(config, fn) of every cell: float32/float16, PCA and truncation per dim, then each head."""
    splits, sci = SPLITS[phase], phase == "final"
    base = {"study": "mcr2", "phase": phase}
    out = []
    for name, spec in (("float32", "float32"), ("float16", "float16")):
        fn = (lambda X: X) if name == "float32" else (lambda X: X.astype(np.float16))
        out.append(({**base, "row": name}, lambda fn=fn, name=name: {"rows": [record(
            name, 384, "f32" if name == "float32" else "f16", 1536 if name == "float32" else 768,
            scores(fn, data, splits, sci), splits, 0.0)]}))
    for p in dims:
        for spec, store in ((f"pca:dim={p},store=f16", "f16"), (f"pca:dim={p},store=int8", "int8"),
                            (f"trunc:dim={p},store=f16", "f16"), (f"trunc:dim={p},store=f32|int8", "int8")):
            out.append(({**base, "spec": spec}, lambda s=spec, p=p, st=store: _baseline(s, p, st, data, splits, sci)))
    for name, v in variants.items():
        extra, vdims, dev_sel = (v, tuple(dims), True) if isinstance(v, str) else (tuple(v) + (True,))[:3]
        extra = with_epochs(extra, epochs) if epochs else extra
        for p in [d for d in dims if d in vdims]:
            spec = ",".join(x for x in (f"mcr2:dim={p}", extra, COMMON) if x)
            out.append(({**base, "variant": name, "spec": spec, "dev_selection": dev_sel},
                        lambda n=name, s=spec, p=p, dv=dev_sel: _head(n, s, p, dv, data, splits, sci)))
    return out


def rows_of(cell_records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows of finished cells (a failed cell gives one ``error`` row)."""
    out: list[dict[str, Any]] = []
    for rec in cell_records:
        if "error" in rec:
            out.append({"method": rec["cell"].get("spec") or rec["cell"].get("row"), "error": rec["error"],
                        "variant": rec["cell"].get("variant")})
        else:
            out += rec["rows"]
    return out


def run_study(store: CellStore, data: StudyData, phase: str, dims: Iterable[int], variants: dict[str, Any], *,
              epochs: int | None = None, on_record: Callable[[dict, bool], None] | None = None) -> list[dict]:
    """Run (or resume) every cell of the study; return the table rows in cell order."""
    return rows_of(run_cells(store, cells(data, phase, tuple(dims), variants, epochs), on_record=on_record))


# --- markdown ------------------------------------------------------------------------------------

def _f(v: Any, nd: int = 4) -> str:
    return "–" if v is None else f"{v:.{nd}f}"


def render(doc: dict[str, Any], notes: str = "") -> str:
    """The markdown page of a results document of this study (``notes`` follow the test tables)."""
    recs = [r for r in doc["records"] if "error" not in r]
    ds = doc.get("dataset") or {}
    ref = next((r for r in recs if r["method"] == "float32"), None)
    sel = ds.get("phase") == "select"
    split = "dev (STS-B dev 1,500 / SICK TRIAL 495)" if sel else "test (STS-B 1,379 / SICK-R 4,906)"
    body = [f"Spearman of cosine on {split}. No test split is used in this file." if sel else
            f"Spearman of cosine on {split}; SciFact nDCG@10 on 300 test queries (exact search).", "",
            "Methods are shown by their full resolved spec (every parameter); MCR² heads keep the epoch with the "
            "best STS-B dev Spearman (`set_validation_pairs`), which is protocol, not part of the spec.", ""]

    def ret(r, k):
        return _f(r[k] / ref[k], 3) if ref and r.get(k) is not None and ref.get(k) else "–"

    body += table(["method", "dim", "store", "B/vec", "STS-B", "SICK-R", "SciFact nDCG@10", "STS-B ret.",
                   "SICK-R ret.", "fit s", "best ep."],
                  ([f"`{r.get('spec') or r['method']}`", str(r["dim"]), r["store"], f"{r['bytes_per_vector']:.0f}",
                    _f(r["stsb_spearman"]), _f(r["sickr_spearman"]), _f(r.get("scifact_ndcg10")),
                    ret(r, "stsb_spearman"), ret(r, "sickr_spearman"), _f(r["fit_time_s"], 1),
                    f"{'–' if r.get('best_epoch') is None else r['best_epoch'] + 1}/{r.get('epochs_run', '–')}"]
                   for r in recs))
    failed = [r for r in doc["records"] if "error" in r]
    body += ["", "Failed cells:", ""] + [f"- `{r['method']}` ({r.get('variant')}): {r['error']}" for r in failed] \
        if failed else []
    if not sel:
        pca = {r["dim"]: r for r in recs if r["method"].startswith("pca:") and r["store"] == "f16"}
        body += ["", "## Goal: mcr2 vs PCA at 64 and 128 dims (float16 codes, test splits)", ""]
        body += table(["variant", "dim", "ΔSTS-B vs PCA", "ΔSICK-R vs PCA", "ΔSciFact vs PCA"],
                      ([r["variant"], str(r["dim"])] + [f"{r[k] - pca[r['dim']][k]:+.4f}" for k in
                                                        ("stsb_spearman", "sickr_spearman", "scifact_ndcg10")]
                       for r in recs if r.get("variant") and r["store"] == "f16" and r["dim"] in (64, 128)
                       and r["dim"] in pca))
        body += ["", notes.strip()] if notes.strip() else []
    foot = [f"fit set: {json.dumps(ds.get('fit_set'))}", f"total time: {doc.get('total_seconds', 0):.0f} s"]
    foot += [f"edit of the records after the run ({e['date']}): {e['what']}" for e in doc.get("record_edits", [])]
    title = f"MCR² vs PCA / truncation on all-MiniLM-L6-v2 ({'dev sweep' if sel else 'test'})"
    return document(title, body, doc, notes=foot)
