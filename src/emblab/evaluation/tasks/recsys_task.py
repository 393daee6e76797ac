"""``recsys``: collaborative item vectors, compressed, scored by inner product (§2.5, issue 18).

A :class:`RecsysTask` is built from an interaction table (a user's folder, see
:mod:`emblab.data.interactions`, or a MovieLens set) and options:

``cf``        CF spec learning item and user vectors with ``implicit`` (default ``als``: 64 factors,
              regularization, alpha and weighting chosen on a validation split; see
              :mod:`emblab.recsys.factors`). Ignored when the folder supplies ``item_vectors.npy``.
``users``     ``factors`` (the CF model's or the supplied user vectors) or ``mean`` (mean of the
              user's uncompressed training items). Default: ``factors`` when there are any.
``codings``   how a compressor meets inner-product scores, each reported as its own row:
              ``norm``: the compressor codes the direction v/||v|| and the norm is stored beside
              it as float16 (**+2 B per item, counted** in ``bytes_per_vector``); the score is
              ||v||16 * u . normalize(decode(code)).
              ``raw``: the compressor codes v itself; the score is u . decode(code). Methods that
              normalise their input (SAE, trunc, binary) lose the norm there.
``seed``      random leave-one-out when there are no timestamps, and every CF fit.

Splits: leave-last-out (``hr@10``, ``ndcg@10``) and leave-last-5 (``recall@10_last5``), each with
its own CF fit on its own training interactions (users with too few interactions train but are
not evaluated). Users are uncompressed (asymmetric). Each compressor is fitted on the item vectors
of each split (the catalogue is the fit set, and is also handed to ``fit`` as ``X_val``: a
catalogue codec has no held-out items, and an SAE would otherwise train on half of a small
catalogue). Baseline rows (``reference_results``): ``popularity`` and ``random``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..._errors import DataError, InvalidParameterError
from ..._validation import l2_normalize
from .base import Task, TaskMetadata, TaskResult, is_uncompressed
from .recsys import RecsysSplit, holdout_split, ip_scores, popularity_topn, random_topn, rank_topn, split_metrics

__all__ = ["RecsysTask", "recsys_folder", "recsys_movielens", "recsys_metadata", "CODINGS", "NORM_BYTES"]

CODINGS = {"norm": "dir+norm16", "raw": "raw"}
NORM_BYTES = 2  # float16 norm per item
HOLDOUTS = (1, 5)


@dataclass
class _SplitData:
    split: RecsysSplit
    U: np.ndarray          # (n_eval, d) user vectors of the evaluated users
    V: np.ndarray          # (n_items, d) item vectors learned on this split's training data
    counts: np.ndarray     # (n_items,) training interactions per item (popularity)
    info: dict[str, Any]


class RecsysTask(Task):
    """Recommendation with compressed item vectors; see the module docstring.

    Parameters
    ----------
    metadata : TaskMetadata
    loader : callable
        Returns ``(Interactions, supplied vectors or None, dataset info dict)``; supplied vectors
        are ``(item_vectors, item_ids, user_vectors or None, user_ids or None)`` aligned with the
        interactions' item index.
    cf : str
    users : {"factors", "mean"} or None
    codings : sequence of {"norm", "raw"}
    seed : int
    cache : bool
        Cache learned factors by content hash (``$EMBLAB_CACHE/recsys_factors``).
    """

    def __init__(self, metadata: TaskMetadata, loader: Callable[[], tuple[Any, Any, dict]], *, cf: str = "als",
                 users: str | None = None, codings: tuple[str, ...] = ("norm", "raw"), seed: int = 0,
                 cache: bool = True):
        super().__init__(metadata)
        from ...recsys.factors import parse_cf_spec

        parse_cf_spec(cf)  # a bad spec fails before any data is read
        if users not in (None, "factors", "mean"):
            raise InvalidParameterError(f"users must be 'factors' or 'mean'; got {users!r}.")
        codings = tuple(codings)
        bad = [c for c in codings if c not in CODINGS]
        if not codings or bad:
            raise InvalidParameterError(f"codings must be a non-empty subset of {', '.join(CODINGS)}; got {codings!r}.")
        self._loader, self.cf, self.users, self.codings, self.seed, self.cache = loader, cf, users, codings, seed, cache

    # --- data ------------------------------------------------------------------------------------
    def _load(self) -> None:
        inter, supplied, info = self._loader()
        self.interactions = inter
        self.splits = {n: self._prepare_split(inter, supplied, n) for n in HOLDOUTS}
        self.dataset_info = {**info, "interactions": inter.source,
                             "split": ("leave-last-out by (timestamp, item)" if inter.timestamps is not None
                                       else f"seeded random leave-one-out (seed {self.seed})"),
                             "scoring": "inner product u . v, uncompressed users",
                             "splits": {f"last{n}": s.info for n, s in self.splits.items()}}

    def _prepare_split(self, inter, supplied, n: int) -> _SplitData:
        split = holdout_split(inter.users, inter.items, inter.n_users, inter.n_items, n,
                              timestamps=inter.timestamps, seed=self.seed)
        tm = split.train_mask
        counts = np.bincount(inter.items[tm], minlength=inter.n_items)
        info: dict[str, Any] = {"n_users_evaluated": int(len(split.users)),
                                "n_users_not_evaluated": int(inter.n_users - len(split.users)),
                                "n_train_interactions": int(tm.sum())}
        mode = self.users
        if supplied is not None:
            V, U_all = supplied[0], self._supplied_users(supplied, inter, split)
            info["vectors"] = "supplied item_vectors.npy"
        else:
            learned = self._learn(inter, split, n)
            V, U_all = learned.item_factors, learned.user_factors[split.users]
            info.update({"cf": learned.spec, "cf_fit_time_s": learned.fit_time_s, "cf_cached": learned.cached,
                         "cf_validation": learned.tuning})
        if mode == "factors" and U_all is None:
            raise DataError("users='factors' needs user vectors: add user_vectors.npy and users.txt to the folder, "
                            "or use users='mean' (mean of each user's training items).")
        if mode == "mean" or U_all is None:
            U_all = np.stack([V[h].mean(0) for h in split.histories]).astype(np.float32)
            mode = "mean"
        info["users"] = mode or "factors"
        info["d"] = int(V.shape[1])
        return _SplitData(split, np.ascontiguousarray(U_all, np.float32), np.ascontiguousarray(V, np.float32),
                          counts, info)

    def _supplied_users(self, supplied, inter, split: RecsysSplit) -> np.ndarray | None:
        _, _, U, user_ids = supplied
        if U is None:
            return None
        index = {u: k for k, u in enumerate(user_ids)}
        rows = [index.get(inter.user_ids[u]) for u in split.users]
        missing = next((inter.user_ids[u] for u, r in zip(split.users, rows) if r is None), None)
        if missing is not None:
            raise DataError(f"user {missing!r} has interactions but no row in users.txt; give every evaluated "
                            "user a vector, or drop user_vectors.npy to use the mean-of-history rule.")
        return U[np.asarray(rows)]

    def _learn(self, inter, split: RecsysSplit, n: int):
        from ...recsys.factors import interaction_matrix, learn_factors

        tm = split.train_mask
        w = inter.weights
        tr = (inter.users[tm], inter.items[tm], None if w is None else w[tm])
        val = holdout_split(tr[0], tr[1], inter.n_users, inter.n_items, 1,
                            timestamps=None if inter.timestamps is None else inter.timestamps[tm], seed=self.seed + 1)
        vm = val.train_mask
        X = interaction_matrix(*tr, inter.n_users, inter.n_items)
        X_val = interaction_matrix(tr[0][vm], tr[1][vm], None if w is None else tr[2][vm], inter.n_users, inter.n_items)
        key = {"n_holdout": n, "seed": self.seed, "timestamps": inter.timestamps is not None}
        return learn_factors(self.cf, X, X_val_train=X_val, val_split=val, content_hash=inter.content_hash(),
                             split_key=key, cache=self.cache)

    def fit_data(self) -> np.ndarray:
        """Item vectors of the leave-last-out split (n_items, d): their width sets the peer ladder."""
        self.load()
        return self.splits[HOLDOUTS[0]].V

    # --- evaluation ------------------------------------------------------------------------------
    def evaluate(self, model: Any = None, *, mode: str | None = None) -> TaskResult:
        """The first coding's row (see :meth:`evaluate_all`)."""
        return self.evaluate_all(model)[0]

    def evaluate_all(self, model: Any = None) -> list[TaskResult]:
        """One :class:`TaskResult` per coding (one row for uncompressed vectors).

        ``model``: None / ``"float32"`` (uncompressed), a spec string (fitted afresh on each split's
        catalogue), an artifact directory or a fitted compressor (used as it is), or an unfitted
        compressor (copied and fitted).
        """
        self.load()
        if is_uncompressed(model):
            return [self._result("float32", None, None, {n: (s.V, 0.0, 0.0) for n, s in self.splits.items()})]
        return [self._evaluate_coding(model, c) for c in self.codings]

    def reference_results(self) -> list[TaskResult]:
        """The ``popularity`` and ``random`` baseline rows (0 bytes per item vector)."""
        self.load()
        rows = []
        for name in ("popularity", "random"):
            scores: dict[str, float] = {}
            for n, s in self.splits.items():
                top = popularity_topn(s.split, s.counts) if name == "popularity" else random_topn(s.split, self.seed)
                scores.update(split_metrics(top, s.split))
            rows.append(self._finish(TaskResult(task=self.name, method=name, bytes_per_vector=0.0, scores=scores,
                                                extra={"baseline": name})))
        return rows

    def _evaluate_coding(self, model: Any, coding: str) -> TaskResult:
        per_split, fitted = {}, None
        for n, s in self.splits.items():
            X = l2_normalize(s.V) if coding == "norm" else s.V
            m, fit_s, spec = self._fitted(model, X)
            t0 = time.perf_counter()
            codes = m.encode(X)
            V_hat = np.concatenate([m.decode(codes[a:a + 16384]) for a in range(0, len(codes), 16384)])
            if coding == "norm":  # the stored norm: float16, as counted in NORM_BYTES
                norms = np.linalg.norm(s.V, axis=1).astype(np.float16).astype(np.float32)
                V_hat = l2_normalize(V_hat) * norms[:, None]
            per_split[n] = (V_hat, fit_s, time.perf_counter() - t0)
            fitted = m
        return self._result(spec, fitted, coding, per_split)

    def _fitted(self, model: Any, X: np.ndarray) -> tuple[Any, float, str]:
        """(fitted compressor, fit seconds, its canonical spec) for one split's catalogue ``X``."""
        from ... import build, load_model

        if isinstance(model, (str, Path)):
            if Path(str(model)).is_dir():
                m = load_model(str(model))
                return m, 0.0, m.to_spec(full=True)
            m = build(str(model))
        elif getattr(model, "n_features_in_", None) is not None:
            return model, 0.0, model.to_spec(full=True)
        elif hasattr(model, "fit") and hasattr(model, "encode"):
            m = copy.deepcopy(model)
        else:
            raise InvalidParameterError(f"cannot evaluate {type(model).__name__}; give a spec string, an artifact "
                                        "directory or a compressor.")
        spec = m.to_spec(full=True)
        if getattr(m, "progress", None) is True:  # one bar per fit would flood a benchmark log
            m.set_params(progress=False)
        if self.cache and "checkpoint_dir" in m.get_params() and m.checkpoint_dir is None:
            # the method's own resumable checkpoints, keyed by its training parameters and data: an
            # interrupted benchmark resumes, and specs that differ only in inference settings (the
            # SAE's encoder=omp) share one training
            from ...data.paths import cache_dir

            m.set_params(checkpoint_dir=str(cache_dir() / "recsys_models"))
        t0 = time.perf_counter()
        m.fit(X, X_val=X)
        return m, time.perf_counter() - t0, spec

    def _result(self, spec: str, model: Any, coding: str | None, per_split: dict) -> TaskResult:
        scores: dict[str, float] = {}
        t_search = 0.0
        for n, (V_hat, _, _) in per_split.items():
            s = self.splits[n]
            t0 = time.perf_counter()
            top = rank_topn(ip_scores(s.U, V_hat), s.split.histories, s.split.n_items)
            t_search += time.perf_counter() - t0
            scores.update(split_metrics(top, s.split))
        d = self.splits[HOLDOUTS[0]].V.shape[1]
        code_bytes = 4.0 * d if model is None else float(model.bytes_per_vector)
        extra: dict[str, Any] = {"fit_time_s_per_split": {f"last{n}": v[1] for n, v in per_split.items()}}
        if (getattr(model, "history_", None) or {}).get("resumed_from_epoch") is not None:
            extra["training_resumed"] = True  # from a checkpoint: fit_time_s is the resume, not the training
        if coding is not None:
            extra.update({"coding": coding, "variant": CODINGS[coding], "code_bytes": code_bytes,
                          "norm_bytes": NORM_BYTES if coding == "norm" else 0})
        res = TaskResult(task=self.name, method=spec,
                         bytes_per_vector=code_bytes + (NORM_BYTES if coding == "norm" else 0), scores=scores,
                         fit_time_s=sum(v[1] for v in per_split.values()),
                         encode_time_s=sum(v[2] for v in per_split.values()), search_time_s=t_search, extra=extra)
        if model is not None:
            res.model_bytes = int(model.model_bytes)
            res.artifact_fingerprint = model.fingerprint
        return self._finish(res)

    def _finish(self, res: TaskResult) -> TaskResult:
        res.main_score = self.metadata.main_score
        res.dataset = dict(self.dataset_info)
        return res


def recsys_metadata(name: str, dataset: str, description: str) -> TaskMetadata:
    """Metadata of a recommendation task (main score ``hr@10``)."""
    return TaskMetadata(name=name, kind="recsys", dataset=dataset, main_score="hr@10", description=description,
                        splits={"test": "leave-last-out (HR@10, NDCG@10) and leave-last-5 (Recall@10)",
                                "validation": "the training history's last item (CF hyper-parameters)"})


def recsys_folder(path: str | Path, *, name: str | None = None, **options: Any) -> RecsysTask:
    """A :class:`RecsysTask` over a user's interactions folder (``recsys:DIR``).

    Options: ``cf``, ``users``, ``codings``, ``seed``, ``cache`` (see :class:`RecsysTask`).
    """
    from ...data.interactions import read_interactions, read_vectors

    folder = Path(path)

    def loader():
        supplied = read_vectors(folder)
        inter = read_interactions(folder, item_ids=None if supplied is None else supplied[1])
        return inter, supplied, {"folder": str(folder)}

    meta = recsys_metadata(name or f"recsys:{folder}", str(folder), "recommendation on a user's interactions folder")
    return RecsysTask(meta, loader, **options)


def recsys_movielens(dataset: str = "movielens_100k", *, name: str | None = None, **options: Any) -> RecsysTask:
    """A :class:`RecsysTask` over every rating of a MovieLens set (``EMBLAB_DATA``)."""
    from ...data.interactions import interactions_from_movielens
    from ...data.movielens import MOVIELENS_NAMES, load_movielens
    from ...data.paths import dataset_dir
    from .base import file_fingerprint

    key = MOVIELENS_NAMES.get(dataset)
    if key is None:
        raise DataError(f"unknown MovieLens dataset {dataset!r}; choose one of {', '.join(sorted(MOVIELENS_NAMES))}.")

    def loader():
        inter = interactions_from_movielens(load_movielens(key))
        folder = dataset_dir(key)
        f = folder / "u.data" if key == "movielens_100k" else folder / "ml-latest-small" / "ratings.csv"
        return inter, None, {"folder": key, "files": [file_fingerprint(f)]}

    cf = options.get("cf", "als")
    meta = recsys_metadata(name or f"recsys/{key}" + ("" if cf == "als" else f"@{cf}"), key,
                     f"recommendation on {key} (every rating is an interaction)")
    return RecsysTask(meta, loader, **options)
