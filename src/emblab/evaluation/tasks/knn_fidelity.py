"""``knn_fidelity``: how well compressed search reproduces exact search (baselines_and_eval.md §2.1).

Instances
---------
``knn_fidelity/imdb-minilm``  fit set = ``imdb_unsup`` (50,000); catalogue = ``imdb_labeled`` rows
                              0..48999; queries = ``imdb_labeled`` rows 49000..49999
``knn_fidelity/scifact-minilm`` catalogue = fit set = ``scifact_corpus`` (5,183); queries = all
                              1,109 ``scifact_queries``
in-memory instances           :meth:`KnnFidelityTask.from_arrays` (mock tasks, the demo)

All rows are L2-normalised in float32. Ground truth is the exact top-10 by cosine over the
uncompressed catalogue. Metrics (mean over queries):

``recall@10_asym``  tie-tolerant Recall@10 with float queries against the compressed catalogue
``recall@10_sym``   the same with encoded queries
``r10@100_asym``    share of the true top-10 inside the compressed top-100
``recall@10_<m>``, ``r10@100_<m>``  for every native mode ``m`` of the method (e.g. ``hamming``)
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..._errors import DataError
from ...search import exact_search, search
from ..metrics import exact_scores, knn_recall, r_at_k_of_true
from .base import Task, TaskMetadata, TaskResult, load_shared_embeddings, prepare_rows, timed

K = 10
K_LONG = 100


class KnnFidelityTask(Task):
    """kNN fidelity of a compressor on one (fit set, catalogue, queries) split.

    Parameters
    ----------
    metadata : TaskMetadata
    loader : callable
        Returns ``(X_fit (n_fit, d), xb (n, d), xq (nq, d), dataset_info dict)``.
    """

    def __init__(self, metadata: TaskMetadata, loader: Callable[[], tuple[Any, Any, Any, dict]]):
        super().__init__(metadata)
        self._loader = loader

    @classmethod
    def from_arrays(cls, name: str, X_fit: Any, xb: Any, xq: Any, *, dataset: dict | None = None,
                    description: str = "", splits: dict | None = None) -> "KnnFidelityTask":
        """An in-memory instance (mock tasks, the demo, user data)."""
        meta = TaskMetadata(name=name, kind="knn_fidelity", dataset="", main_score="recall@10_asym",
                            description=description or "kNN fidelity on in-memory arrays",
                            splits=splits or {"fit": "given", "catalogue": "given", "queries": "given"})
        return cls(meta, lambda: (X_fit, xb, xq, dict(dataset or {})))

    def _load(self) -> None:
        X_fit, xb, xq, info = self._loader()
        self.X_fit = prepare_rows(X_fit, "fit set")
        d = self.X_fit.shape[1]
        self.xb = prepare_rows(xb, "catalogue", d)
        self.xq = prepare_rows(xq, "queries", d)
        for role, arr in (("fit", self.X_fit), ("catalogue", self.xb), ("queries", self.xq)):
            self.check_rows(role, len(arr))
        self.k = min(K, len(self.xb))
        self.k_long = min(K_LONG, len(self.xb))
        self.D_true, self.I_true = exact_search(self.xq, self.xb, self.k, normalize=False)
        self.dataset_info = {**info, "n_fit": len(self.X_fit), "n_catalogue": len(self.xb),
                             "n_queries": len(self.xq), "d": d}

    def fit_data(self) -> np.ndarray:
        self.load()
        return self.X_fit

    #: set by user-data tasks whose served collection differs from the catalogue (held-out queries)
    collection_loader: Callable[[], tuple[Any, np.ndarray]] | None = None

    def collection(self) -> tuple[Any, np.ndarray]:
        """The items to serve: the whole user collection when known, else the catalogue (no ids)."""
        self.load()
        if self.collection_loader is not None:
            return self.collection_loader()
        return None, self.xb

    def score_ranking(self, I: np.ndarray) -> dict[str, float]:
        """Recall@10 and R10@100 of a ranking over the catalogue; {} when the served collection differs."""
        self.load()
        if self.collection_loader is not None:
            return {}
        I = np.asarray(I)
        r, r_long = self._recall(I[:, :self.k])[0], self._recall(I)[1]
        return {f"recall@{self.k}_asym": r, f"r{self.k}@{I.shape[1]}_asym": r_long}

    def _recall(self, I: np.ndarray) -> tuple[float, float]:
        rs = exact_scores(self.xq, self.xb, I)
        r = knn_recall(I, self.I_true, self.k, retrieved_scores=rs, true_scores=self.D_true)
        r_long = r_at_k_of_true(I, self.I_true, self.k, retrieved_scores=rs, true_scores=self.D_true)
        return r, r_long

    def _evaluate(self, model: Any, spec: str) -> TaskResult:
        k, kl = self.k, self.k_long
        extra: dict[str, Any] = {}
        if model is None:  # uncompressed float32: the reference row
            (D, I), t_search = timed(exact_search, self.xq, self.xb, kl, normalize=False)
            r, r_long = self._recall(I)
            scores = {f"recall@{k}_asym": r, f"recall@{k}_sym": r, f"r{k}@{kl}_asym": r_long}
            return TaskResult(task=self.name, method=spec, bytes_per_vector=4.0 * self.xb.shape[1],
                              scores=scores, encode_time_s=0.0, search_time_s=t_search, extra=extra)
        codes, t_enc = timed(model.encode, self.xb)
        # a native scorer may depend on k (binary rescoring shortlists r*k items), so Recall@10 then
        # comes from its own k=10 search; the shared search is k-independent (stable (-score, index)
        # order), so one k=100 search serves both there
        if _has_native_search(model):
            (D, I), t_search = timed(search, model, self.xq, codes, k, "asymmetric")
            (Dl, Il), t_long = timed(search, model, self.xq, codes, kl, "asymmetric")
            extra["search_time_k100_s"] = t_long
        else:
            (Dl, Il), t_search = timed(search, model, self.xq, codes, kl, "asymmetric")
            I = Il[:, :k]
        scores = {f"recall@{k}_asym": self._recall(I)[0], f"r{k}@{kl}_asym": self._recall(Il)[1]}
        if "symmetric" in model.search_modes:
            (Ds, Is), t_sym = timed(search, model, self.xq, codes, k, "symmetric")
            scores[f"recall@{k}_sym"] = self._recall(Is)[0]
            extra["search_time_sym_s"] = t_sym
        for mode in model.search_modes:
            if mode in ("asymmetric", "symmetric"):
                continue
            (Dn, In), t_nat = timed(search, model, self.xq, codes, k, mode)
            (Dn, Inl), _ = timed(search, model, self.xq, codes, kl, mode)
            scores[f"recall@{k}_{mode}"] = self._recall(In)[0]
            scores[f"r{k}@{kl}_{mode}"] = self._recall(Inl)[1]
            extra[f"search_time_{mode}_s"] = t_nat
        extra["measured_code_bytes"] = codes.bytes_per_vector
        return TaskResult(task=self.name, method=spec, bytes_per_vector=float(model.bytes_per_vector),
                          scores=scores, encode_time_s=t_enc, search_time_s=t_search, extra=extra)


def _has_native_search(model: Any) -> bool:
    from ...base import BaseCompressor

    return type(model)._search is not BaseCompressor._search


def _imdb_loader():
    fit, fit_info = load_shared_embeddings("imdb_unsup")
    lab, lab_info = load_shared_embeddings("imdb_labeled")
    if len(lab) != 50000:
        raise DataError(f"imdb_labeled has {len(lab)} rows, expected 50000 (catalogue rows 0..48999, queries "
                        "49000..49999); re-copy embeddings_minilm/imdb_labeled.f16.npy.")
    return fit, lab[:49000], lab[49000:50000], {
        "folder": "embeddings_minilm", "files": [fit_info, lab_info],
        "split": "fit=imdb_unsup[all]; catalogue=imdb_labeled[0:49000]; queries=imdb_labeled[49000:50000]"}


def _scifact_loader():
    corpus, c_info = load_shared_embeddings("scifact_corpus")
    queries, q_info = load_shared_embeddings("scifact_queries")
    return corpus, corpus, queries, {
        "folder": "embeddings_minilm", "files": [c_info, q_info],
        "split": "fit=catalogue=scifact_corpus[all]; queries=scifact_queries[all]"}


IMDB_MINILM = TaskMetadata(
    name="knn_fidelity/imdb-minilm", kind="knn_fidelity", dataset="embeddings_minilm",
    main_score="recall@10_asym",
    description="kNN fidelity on all-MiniLM-L6-v2 IMDB review embeddings (baselines_and_eval.md §2.1)",
    splits={"fit": "imdb_unsup (all 50,000)", "catalogue": "imdb_labeled rows 0..48999",
            "queries": "imdb_labeled rows 49000..49999"},
    expected_rows={"fit": 50000, "catalogue": 49000, "queries": 1000},
    reference={"recall@10_asym": 1.0})

SCIFACT_MINILM = TaskMetadata(
    name="knn_fidelity/scifact-minilm", kind="knn_fidelity", dataset="embeddings_minilm",
    main_score="recall@10_asym",
    description="kNN fidelity on all-MiniLM-L6-v2 SciFact embeddings (fit set = catalogue)",
    splits={"fit": "scifact_corpus (all 5,183)", "catalogue": "scifact_corpus", "queries": "scifact_queries (1,109)"},
    expected_rows={"fit": 5183, "catalogue": 5183, "queries": 1109},
    reference={"recall@10_asym": 1.0})


def imdb_minilm() -> KnnFidelityTask:
    return KnnFidelityTask(IMDB_MINILM, _imdb_loader)


def scifact_minilm() -> KnnFidelityTask:
    return KnnFidelityTask(SCIFACT_MINILM, _scifact_loader)
