"""SciFact retriever task over *frozen* all-MiniLM-L6-v2 features (spec section 6.2, CPU variant).

Deviation (stated in every result): on this 2-core CPU the MiniLM transformer is not fine-tuned.
f = g = a shared, identity-initialised residual adapter on top of the precomputed MiniLM
embeddings (``embeddings_minilm/scifact_*.f16.npy``). A "target-encoder pass" counts one document
through g; its cost is reported in MiniLM-forward equivalents (the adapter is negligible next to
the frozen transformer it stands on). At step 0 the adapter is the identity, so the cache built
with g0 is the training model's own cache, not a foreign one.

- Train pairs: ``qrels/train.tsv`` (919 pairs, 809 queries); evaluation: ``qrels/test.tsv``
  (300 queries) over the full corpus. Only ``_id`` fields are read: the ``metadata`` of
  ``queries.jsonl`` lists evidence documents and is never used (spec section 8, leakage).
- Distractors: ``n_distractors`` IMDB reviews (``imdb_unsup.f16.npy``) appended as never-relevant
  targets (optional larger candidate set of spec section 6.2); default 50,000 -> N = 55,183.
- Curves over training are measured on the test split (reporting only: every hyperparameter is
  fixed in advance, none is chosen on test).
"""

from __future__ import annotations

import numpy as np

from .._errors import DataError
from .task import RetrievalTask

# Forward FLOPs of all-MiniLM-L6-v2 for one 256-token passage: 6 layers x 256 tokens x
# [2 (4 d^2 + 2 d d_ff) + 4 L d] with d=384, d_ff=1536, L=256 (attention scores + weighted sum).
MINILM_FLOPS_256 = 6 * 256 * (2 * (4 * 384 ** 2 + 2 * 384 * 1536) + 4 * 256 * 384)


def _embeddings(name: str, data_dir=None) -> np.ndarray:
    try:
        from ..data.embeddings import load_embeddings
    except ImportError:  # loader not available: read the staged file directly
        from ..data.paths import dataset_dir
        from ..io import load_npy

        return load_npy(dataset_dir("embeddings_minilm", data_dir) / f"{name}.f16.npy").astype(np.float32)
    return np.asarray(load_embeddings(name, data_dir), dtype=np.float32)


def make_scifact_task(n_distractors: int = 50_000, adapter_hidden: int = 0, data_dir=None) -> RetrievalTask:
    """Build the SciFact task (see module docstring).

    Parameters
    ----------
    n_distractors : int
        IMDB reviews appended as never-relevant targets (0 disables).
    adapter_hidden : int
        0: linear residual adapter ``z + W z``; else residual MLP of that width.
    """
    from ..data.beir import load_beir

    ds = load_beir("scifact_beir", data_dir)
    corpus = _embeddings("scifact_corpus", data_dir)
    queries = _embeddings("scifact_queries", data_dir)
    if len(corpus) != len(ds.corpus_ids) or len(queries) != len(ds.query_ids):
        raise DataError(f"scifact embeddings ({len(corpus)}, {len(queries)}) do not match corpus/queries "
                        f"({len(ds.corpus_ids)}, {len(ds.query_ids)}); regenerate embeddings_minilm.")
    targets = corpus
    if n_distractors > 0:
        imdb = _embeddings("imdb_unsup", data_dir)
        if n_distractors > len(imdb):
            raise DataError(f"n_distractors={n_distractors} exceeds the {len(imdb)} staged IMDB reviews.")
        targets = np.concatenate([corpus, imdb[:n_distractors]])
    cidx = {d: i for i, d in enumerate(ds.corpus_ids)}
    qidx = {q: i for i, q in enumerate(ds.query_ids)}
    qrels, dropped = {}, 0
    for split in ("train", "test"):
        out = {}
        for q, docs in ds.qrels(split).items():
            if q not in qidx:
                dropped += len(docs)
                continue
            rel = {cidx[d]: int(r) for d, r in docs.items() if d in cidx and int(r) > 0}
            dropped += len(docs) - len(rel)
            if rel:
                out[qidx[q]] = rel
        qrels[split] = out
    pairs = np.array([(q, t) for q, rel in sorted(qrels["train"].items()) for t in sorted(rel)], dtype=np.int64)
    info = {"name": "scifact+imdb" if n_distractors else "scifact", "n_corpus": len(corpus),
            "n_distractors": n_distractors, "n_targets": len(targets), "n_train_pairs": len(pairs),
            "n_train_queries": len(qrels["train"]), "n_test_queries": len(qrels["test"]), "qrels_dropped": dropped,
            "features": "frozen all-MiniLM-L6-v2 (embeddings_minilm/*.f16.npy, fp16 weights, max_seq_length 256)",
            "encoder": f"shared residual adapter over frozen features (hidden={adapter_hidden}), identity at step 0",
            "g_flops_per_item": MINILM_FLOPS_256,
            "g_flops_note": "one all-MiniLM-L6-v2 forward of a 256-token passage (the real target encoder)"}
    return RetrievalTask(info["name"], queries, targets, pairs, qrels,
                         encoder={"kind": "adapter", "hidden": adapter_hidden}, shared=True,
                         curve_split="test", final_split="test", info=info)
