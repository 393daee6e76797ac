"""``beir_scifact``: retrieval with relevance labels (baselines_and_eval.md §2.2).

Data: ``scifact_beir/`` (5,183 docs, text = title + ' ' + text) and the 300 queries that appear
in ``qrels/test.tsv``. Embeddings: the shared fp16 MiniLM vectors
(``embeddings_minilm/scifact_{corpus,queries}.f16.npy``, rows in file order), or
``embeddings="encode"`` to embed the texts with :mod:`emblab.embed` (cached).

The compressor is fitted on the corpus embeddings. Search is exact over the whole encoded corpus
with the method's scoring mode (``asymmetric`` by default); results are sorted by
(-score, corpus order). Metrics (pytrec_eval-compatible, mean over the 300 queries):
``ndcg@10``, ``recall@{1,5,10,100}``; ``ndcg@10_sym`` and ``ndcg@10_<native mode>`` as well.

Reference, uncompressed: nDCG@10 0.6451 (MTEB 64.51).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..._errors import DataError
from ...search import exact_search, search
from ..metrics import mean_retrieval_scores
from .base import Task, TaskMetadata, TaskResult, load_shared_embeddings, prepare_rows, timed

K = 100
RECALL_KS = (1, 5, 10, 100)


class BeirTask(Task):
    """Retrieval on a BEIR folder with precomputed (or freshly encoded) embeddings.

    Parameters
    ----------
    metadata : TaskMetadata
    loader : callable
        Returns ``(corpus_emb (n, d), query_emb (nq, d), corpus_ids, query_ids, qrels, info)``
        where ``query_ids[i]`` labels row ``i`` of ``query_emb`` and ``qrels`` maps query id to
        ``{doc id: relevance}``.
    recall_ks, mrr_ks : tuple of int
        Recall@k and MRR@k reported for the asymmetric mode (other modes report Recall@100).
    gain : {"linear", "exp"}
        nDCG gain convention (:data:`emblab.evaluation.metrics.GAINS`); linear as pytrec_eval.
    fit_loader : callable, optional
        Called with the corpus width d; returns a separate fit set ``(X_fit (n_fit, d), info
        dict)``. Default: the corpus embeddings.
    """

    def __init__(self, metadata: TaskMetadata, loader: Callable[[], tuple], *,
                 recall_ks: tuple[int, ...] = RECALL_KS, mrr_ks: tuple[int, ...] = (), gain: str = "linear",
                 fit_loader: Callable[[int], tuple] | None = None):
        super().__init__(metadata)
        self._loader = loader
        self.recall_ks = tuple(recall_ks)
        self.mrr_ks = tuple(mrr_ks)
        self.gain = gain
        self._fit_loader = fit_loader
        self._X_fit: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, name: str, corpus_emb: Any, query_emb: Any, corpus_ids: list[str], query_ids: list[str],
                    qrels: dict[str, dict[str, int]], *, dataset: dict | None = None) -> "BeirTask":
        """An in-memory instance (mock tasks and user data)."""
        meta = TaskMetadata(name=name, kind="beir", dataset="", main_score="ndcg@10",
                            description="retrieval on in-memory arrays",
                            splits={"fit": "corpus", "corpus": "given", "queries": "given"})
        return cls(meta, lambda: (corpus_emb, query_emb, list(corpus_ids), list(query_ids), qrels, dict(dataset or {})))

    def _load(self) -> None:
        corpus, queries, corpus_ids, query_ids, qrels, info = self._loader()
        self.xb = prepare_rows(corpus, "corpus embeddings")
        xq_all = prepare_rows(queries, "query embeddings", self.xb.shape[1])
        if len(corpus_ids) != len(self.xb):
            raise DataError(f"task {self.name}: {len(self.xb)} corpus vectors but {len(corpus_ids)} corpus ids.")
        if len(query_ids) != len(xq_all):
            raise DataError(f"task {self.name}: {len(xq_all)} query vectors but {len(query_ids)} query ids.")
        index = {q: i for i, q in enumerate(query_ids)}
        self.qrels = {q: r for q, r in qrels.items() if any(v > 0 for v in r.values())}
        missing = [q for q in self.qrels if q not in index]
        if missing:
            raise DataError(f"task {self.name}: {len(missing)} labelled queries have no embedding (first: {missing[0]}).")
        # evaluation queries in file order
        self.query_ids = [q for q in query_ids if q in self.qrels]
        self.xq = xq_all[[index[q] for q in self.query_ids]]
        self.corpus_ids = list(corpus_ids)
        self.check_rows("corpus", len(self.xb))
        self.check_rows("queries", len(self.query_ids))
        self.dataset_info = {**info, "n_corpus": len(self.xb), "n_queries": len(self.query_ids),
                             "n_qrels": sum(len(r) for r in self.qrels.values()), "d": self.xb.shape[1]}

    def fit_data(self) -> np.ndarray:
        self.load()
        if self._fit_loader is None:
            return self.xb
        if self._X_fit is None:
            X, info = self._fit_loader(self.xb.shape[1])
            self._X_fit = prepare_rows(X, "fit set", self.xb.shape[1])
            self.dataset_info["fit"] = info
        return self._X_fit

    def collection(self) -> tuple[list[str], np.ndarray]:
        """The corpus: document ids and their (L2-normalised) vectors."""
        self.load()
        return list(self.corpus_ids), self.xb

    def score_ranking(self, I: np.ndarray) -> dict[str, float]:
        """Metrics of a ranking of the evaluation queries (:attr:`xq`) over corpus rows."""
        self.load()
        return self._scores(np.asarray(I))

    def _scores(self, I: np.ndarray, suffix: str = "", recall_ks: tuple[int, ...] | None = None,
                mrr_ks: tuple[int, ...] | None = None) -> dict[str, float]:
        run = {q: [self.corpus_ids[i] for i in row if i >= 0] for q, row in zip(self.query_ids, I)}
        s = mean_retrieval_scores(run, self.qrels, ndcg_ks=(10,),
                                  recall_ks=self.recall_ks if recall_ks is None else recall_ks,
                                  mrr_ks=self.mrr_ks if mrr_ks is None else mrr_ks, gain=self.gain)
        return {k + suffix: v for k, v in s.items()}

    def _evaluate(self, model: Any, spec: str) -> TaskResult:
        k = min(K, len(self.xb))
        extra: dict[str, Any] = {}
        if model is None:
            (D, I), t_search = timed(exact_search, self.xq, self.xb, k, normalize=False)
            return TaskResult(task=self.name, method=spec, bytes_per_vector=4.0 * self.xb.shape[1],
                              scores=self._scores(I), encode_time_s=0.0, search_time_s=t_search)
        codes, t_enc = timed(model.encode, self.xb)
        (D, I), t_search = timed(search, model, self.xq, codes, k, "asymmetric")
        scores = self._scores(I)
        for mode in model.search_modes:
            if mode == "asymmetric":
                continue
            suffix = "_sym" if mode == "symmetric" else f"_{mode}"
            (Dm, Im), t_m = timed(search, model, self.xq, codes, k, mode)
            scores.update(self._scores(Im, suffix, recall_ks=(100,), mrr_ks=()))
            extra[f"search_time{suffix}_s"] = t_m
        extra["measured_code_bytes"] = codes.bytes_per_vector
        return TaskResult(task=self.name, method=spec, bytes_per_vector=float(model.bytes_per_vector),
                          scores=scores, encode_time_s=t_enc, search_time_s=t_search, extra=extra)


def _scifact_loader(embeddings: str = "precomputed"):
    def load():
        from ...data.beir import load_beir

        ds = load_beir("scifact_beir")
        qrels = ds.qrels("test")
        info: dict[str, Any] = {"folder": "scifact_beir", "split": "test", "embeddings": embeddings}
        if embeddings == "precomputed":
            corpus, c_info = load_shared_embeddings("scifact_corpus")
            queries, q_info = load_shared_embeddings("scifact_queries")
            info["files"] = [c_info, q_info]
        elif embeddings == "encode":
            from ...embed import embed_texts_cached

            corpus = embed_texts_cached(ds.corpus_texts, key="scifact_beir-corpus")
            queries = embed_texts_cached(ds.query_texts, key="scifact_beir-queries")
            info["model"] = "all-MiniLM-L6-v2"
        else:
            raise DataError(f"embeddings={embeddings!r}; choose 'precomputed' or 'encode'.")
        from ...io import sha256_file

        info["qrels_sha256"] = sha256_file(ds.root / "qrels" / "test.tsv")
        return corpus, queries, ds.corpus_ids, ds.query_ids, qrels, info

    return load


SCIFACT = TaskMetadata(
    name="beir_scifact", kind="beir", dataset="scifact_beir", main_score="ndcg@10",
    description="SciFact retrieval (BEIR layout), 300 test queries, exact search (baselines_and_eval.md §2.2)",
    splits={"fit": "scifact corpus embeddings (5,183)", "corpus": "corpus.jsonl (5,183)",
            "queries": "queries in qrels/test.tsv (300)"},
    expected_rows={"corpus": 5183, "queries": 300},
    reference={"ndcg@10": 0.6451, "recall@1": 0.482, "recall@5": 0.738, "recall@10": 0.783, "recall@100": 0.925})


def beir_scifact(embeddings: str = "precomputed") -> BeirTask:
    return BeirTask(SCIFACT, _scifact_loader(embeddings))
