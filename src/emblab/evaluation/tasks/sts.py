"""``sts/stsb`` and ``sts/sickr``: semantic similarity (baselines_and_eval.md §2.3).

Metric: Spearman ρ × 100 between cos(u, v) and the gold scores, in the **symmetric** mode: both
sentences are compressed, cos(decode(encode(u)), decode(encode(v))).

Sentences are embedded with all-MiniLM-L6-v2 through :func:`emblab.embed.embed_texts_cached`
(cached in the emblab cache folder). The compressor is fitted on a named fit set, never on the
test pairs by default:

``imdb_unsup``  the shared precomputed MiniLM vectors of 50,000 IMDB reviews (default; same model)
``train``       the task's own training split, embedded (STS-B train 5,749 pairs, SICK TRAIN 4,439)
``eval``        the evaluated sentences themselves (transductive; labelled as such in results)

Reference, uncompressed all-MiniLM-L6-v2: STS-B 82.03, SICK-R 77.15.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..._errors import DataError, InvalidParameterError
from ..._validation import l2_normalize
from ..metrics import spearman
from .base import Task, TaskMetadata, TaskResult, load_shared_embeddings, prepare_rows, timed

FIT_SETS = ("imdb_unsup", "train", "eval")


class StsTask(Task):
    """Spearman of cosine on sentence pairs.

    Parameters
    ----------
    metadata : TaskMetadata
    loader : callable
        Returns ``(u (n, d), v (n, d), gold (n,), info)``.
    fit_loader : callable
        Returns the fit set (n_fit, d); receives ``(u, v)`` for the transductive ``eval`` fit set.
    """

    def __init__(self, metadata: TaskMetadata, loader: Callable[[], tuple], fit_loader: Callable[..., Any]):
        super().__init__(metadata)
        self._loader = loader
        self._fit_loader = fit_loader
        self._X_fit = None

    @classmethod
    def from_arrays(cls, name: str, u: Any, v: Any, gold: Any, X_fit: Any = None, *,
                    dataset: dict | None = None) -> "StsTask":
        """An in-memory instance; ``X_fit=None`` fits on the pairs themselves."""
        meta = TaskMetadata(name=name, kind="sts", dataset="", main_score="spearman",
                            description="STS on in-memory arrays", splits={"fit": "given", "eval": "given"})
        fit = (lambda uu, vv: X_fit) if X_fit is not None else (lambda uu, vv: np.concatenate([uu, vv]))
        return cls(meta, lambda: (u, v, gold, dict(dataset or {})), fit)

    def _load(self) -> None:
        u, v, gold, info = self._loader()
        self.u = prepare_rows(u, "first sentences")
        self.v = prepare_rows(v, "second sentences", self.u.shape[1])
        self.gold = np.asarray(gold, dtype=np.float64).ravel()
        if not (len(self.u) == len(self.v) == len(self.gold)):
            raise DataError(f"task {self.name}: {len(self.u)} / {len(self.v)} / {len(self.gold)} rows for "
                            "sentences 1 / sentences 2 / gold; they must match.")
        self.check_rows("eval", len(self.gold))
        self.dataset_info = {**info, "n_pairs": len(self.gold), "d": self.u.shape[1]}

    def fit_data(self) -> np.ndarray:
        self.load()
        if self._X_fit is None:
            self._X_fit = prepare_rows(self._fit_loader(self.u, self.v), "fit set", self.u.shape[1])
            self.dataset_info["n_fit"] = len(self._X_fit)
        return self._X_fit

    def _evaluate(self, model: Any, spec: str) -> TaskResult:
        d = self.u.shape[1]
        if model is None:
            cos, t = timed(lambda: np.einsum("nd,nd->n", self.u, self.v, dtype=np.float64))
            return TaskResult(task=self.name, method=spec, bytes_per_vector=4.0 * d,
                              scores={"spearman": 100 * spearman(cos, self.gold)}, encode_time_s=0.0,
                              search_time_s=t)

        def both():
            cu, cv = model.encode(self.u), model.encode(self.v)
            return cu, cv

        (cu, cv), t_enc = timed(both)

        def score():
            a = l2_normalize(model.decode(cu))
            b = l2_normalize(model.decode(cv))
            return np.einsum("nd,nd->n", a, b, dtype=np.float64)

        cos, t = timed(score)
        return TaskResult(task=self.name, method=spec, bytes_per_vector=float(model.bytes_per_vector),
                          scores={"spearman": 100 * spearman(cos, self.gold)}, encode_time_s=t_enc,
                          search_time_s=t, extra={"mode": "symmetric"})


def _embed(texts: list[str], key: str) -> np.ndarray:
    from ...embed import embed_texts_cached

    return embed_texts_cached(texts, key=key)


def _make(dataset: str, fit_set: str):
    if fit_set not in FIT_SETS:
        raise InvalidParameterError(f"fit_set={fit_set!r}; choose one of {', '.join(FIT_SETS)}.")
    from ...data import sts as sts_data

    load_fn = sts_data.load_stsb if dataset == "stsb" else sts_data.load_sick

    def loader():
        s1, s2, gold = load_fn("test")
        u = _embed(s1, f"{dataset}-test-s1")
        v = _embed(s2, f"{dataset}-test-s2")
        return u, v, gold, {"folder": dataset, "split": "test", "fit_set": fit_set,
                            "transductive_fit": fit_set == "eval"}

    def fit_loader(u, v):
        if fit_set == "imdb_unsup":
            return load_shared_embeddings("imdb_unsup")[0]
        if fit_set == "eval":
            return np.concatenate([u, v])
        t1, t2, _ = load_fn("train")
        return np.concatenate([_embed(t1, f"{dataset}-train-s1"), _embed(t2, f"{dataset}-train-s2")])

    return loader, fit_loader


def _meta(dataset: str) -> TaskMetadata:
    if dataset == "stsb":
        return TaskMetadata(name="sts/stsb", kind="sts", dataset="stsb", main_score="spearman",
                            description="STS-B test, Spearman×100 of cosine, symmetric mode",
                            splits={"eval": "sts-test.csv (1,379 pairs)", "fit": "named fit set"},
                            expected_rows={"eval": 1379}, reference={"spearman": 82.03})
    return TaskMetadata(name="sts/sickr", kind="sts", dataset="sick", main_score="spearman",
                        description="SICK-R TEST, Spearman×100 of cosine, symmetric mode",
                        splits={"eval": "SICK.txt SemEval_set=TEST (4,906 pairs)", "fit": "named fit set"},
                        expected_rows={"eval": 4906}, reference={"spearman": 77.15})


def stsb(fit_set: str = "imdb_unsup") -> StsTask:
    return StsTask(_meta("stsb"), *_make("stsb", fit_set))


def sickr(fit_set: str = "imdb_unsup") -> StsTask:
    return StsTask(_meta("sick"), *_make("sick", fit_set))
