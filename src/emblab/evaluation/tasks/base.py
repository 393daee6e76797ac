"""Task metadata and the shared machinery every task uses (design.md section 9, mteb-style).

A task is a small object with declarative :class:`TaskMetadata` (name, dataset folder, row counts
to verify, main score, splits) and an ``evaluate(model)`` method returning a
:class:`~emblab.experiment.results.TaskResult`. Data are loaded lazily on first use and cached in
the task object, so a benchmark evaluating many methods loads data and ground truth once.

What ``evaluate`` accepts (:func:`resolve_model`):

* ``None``, ``"float32"`` or ``"uncompressed"``: exact float32 search, the reference row;
* a spec string (``"pca:dim=64"``): built, then fitted on the task's fit set;
* a path to a saved artifact directory: loaded, used as fitted;
* a compressor object: fitted on the fit set unless it is already fitted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..._errors import DataError, InvalidParameterError
from ..._validation import check_array, l2_normalize

#: the method name of uncompressed rows in results
UNCOMPRESSED = "float32"
#: every name that means "no compression", as a method argument or in results files (the one list)
UNCOMPRESSED_NAMES = frozenset({"float32", "uncompressed", "none", "exact", "identity", "raw"})


@dataclass(frozen=True)
class TaskMetadata:
    """Declarative description of a task.

    Attributes
    ----------
    name : str
        Registry id, e.g. ``knn_fidelity/imdb-minilm``.
    kind : str
        ``knn_fidelity``, ``beir``, ``sts`` or ``mock``.
    dataset : str
        Folder under ``EMBLAB_DATA`` ("" for in-memory data).
    main_score : str
        Key of the headline metric in ``TaskResult.scores``.
    splits : dict of str -> str
        Role of each part of the data (fit set, catalogue, queries, ...).
    expected_rows : dict of str -> int
        Row counts verified on load (a mismatch is a :class:`DataError`).
    reference : dict of str -> float
        Published or previously measured values for the uncompressed model.
    """

    name: str
    kind: str
    dataset: str
    main_score: str
    description: str = ""
    splits: dict[str, str] = field(default_factory=dict)
    expected_rows: dict[str, int] = field(default_factory=dict)
    reference: dict[str, float] = field(default_factory=dict)


class Task:
    """Base class: subclasses implement :meth:`_load` and :meth:`_evaluate`."""

    metadata: TaskMetadata

    def __init__(self, metadata: TaskMetadata):
        self.metadata = metadata
        self._loaded = False
        self.dataset_info: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return self.metadata.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.metadata.name!r})"

    def load(self) -> "Task":
        """Load data and ground truth once (later calls are free)."""
        if not self._loaded:
            self._load()
            self._loaded = True
        return self

    def fit_data(self) -> np.ndarray:
        """The fit set, float32 (n_fit, d)."""
        raise NotImplementedError

    def evaluate(self, model: Any = None, *, mode: str | None = None) -> "TaskResult":
        """Evaluate a compressor (see the module docstring for what ``model`` may be).

        Returns
        -------
        TaskResult
        """
        self.load()
        model, spec, fit_time, prefitted = resolve_model(model, self.fit_data)
        result = self._evaluate(model, spec)
        result.fit_time_s = fit_time
        result.dataset = dict(self.dataset_info)
        if getattr(self, "uri", None):  # a user-data task: how to name it again (emblab export --task)
            result.dataset.update(uri=self.uri, uri_options=dict(getattr(self, "uri_options", {})))
        result.main_score = self.metadata.main_score
        if model is not None:
            result.model_bytes = int(model.model_bytes)
            result.artifact_fingerprint = model.fingerprint
            result.extra.setdefault("prefitted", prefitted)
            result.extra.setdefault("train_data", getattr(model, "train_data_", None))
        return result

    def collection(self) -> tuple[Any, np.ndarray]:
        """The items a user serves: ``(ids or None, vectors (n, d))`` (``emblab export``).

        Raises
        ------
        InvalidParameterError
            The task has no collection of items (STS pairs).
        """
        raise InvalidParameterError(f"task {self.name} has no collection of items to export; use a BEIR or kNN task.")

    def score_ranking(self, I: np.ndarray) -> dict[str, float]:
        """Scores of a ranking ``I`` (nq, k) of the evaluation queries over :meth:`collection` rows.

        Used to measure a served index (FAISS, Qdrant) with the task's own metrics. Returns {}
        when the task cannot score rankings over its collection.
        """
        return {}

    def evaluate_all(self, model: Any = None) -> list["TaskResult"]:
        """Every row ``model`` produces on this task (one, unless a task scores several variants)."""
        return [self.evaluate(model)]

    def reference_results(self) -> list["TaskResult"]:
        """Baseline rows that are not compressors (e.g. popularity); none by default."""
        return []

    def _load(self) -> None:
        raise NotImplementedError

    def _evaluate(self, model: Any, spec: str):
        raise NotImplementedError

    def check_rows(self, role: str, n: int) -> None:
        """Raise :class:`DataError` if ``role`` does not have the expected row count."""
        want = self.metadata.expected_rows.get(role)
        if want is not None and want != n:
            raise DataError(f"task {self.name}: {role} has {n} rows, expected {want}; "
                            "the data folder does not match the task (re-create it from SOURCE.txt).")


def is_uncompressed(model: Any) -> bool:
    """True for ``None`` and every name in :data:`UNCOMPRESSED_NAMES` (case and spaces ignored)."""
    return model is None or (isinstance(model, str) and model.strip().lower() in UNCOMPRESSED_NAMES)


def resolve_model(model: Any, fit_data) -> tuple[Any, str, float | None, bool]:
    """Turn ``model`` into a fitted compressor (or None for uncompressed).

    Parameters
    ----------
    model : None, str (spec or artifact directory) or compressor
    fit_data : callable returning the fit set (n_fit, d), called only if fitting is needed

    Returns
    -------
    model : fitted compressor or None
    spec : str
        Full resolved spec, every parameter included (``float32`` for uncompressed).
    fit_time_s : float or None
    prefitted : bool
        True if the model came fitted (artifact or fitted object).
    """
    from ...pipeline import load_model
    from ...registry import build

    if is_uncompressed(model):
        return None, UNCOMPRESSED, 0.0, False
    if isinstance(model, (str, Path)):
        text = str(model)
        if Path(text).is_dir():
            model = load_model(text)
        else:
            model = build(text)
    if not hasattr(model, "encode") or not hasattr(model, "fit"):
        raise InvalidParameterError(f"cannot evaluate {type(model).__name__}; give a spec string, an artifact "
                                    "directory or a compressor.")
    if getattr(model, "n_features_in_", None) is not None:
        return model, model.to_spec(full=True), getattr(model, "fit_time_s_", None), True
    X = fit_data()
    t0 = time.perf_counter()
    model.fit(X)
    return model, model.to_spec(full=True), time.perf_counter() - t0, False


def prepare_rows(X: Any, name: str, d: int | None = None) -> np.ndarray:
    """Validate and L2-normalise rows: float32 (n, d) (cosine tasks work on unit vectors)."""
    X = check_array(X, name=name, n_features=d, who="the task's other data")
    return l2_normalize(X)


def timed(fn, *args, **kw):
    """Call ``fn`` and return ``(result, seconds)``."""
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def file_fingerprint(path: Path) -> dict[str, Any]:
    """sha256 and size of one data file (recorded in results)."""
    from ...io import sha256_file

    return {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


from ...experiment.results import TaskResult  # noqa: E402  (re-exported for subclasses)

__all__ = ["TaskMetadata", "Task", "TaskResult", "resolve_model", "is_uncompressed", "prepare_rows", "timed",
           "file_fingerprint", "UNCOMPRESSED", "UNCOMPRESSED_NAMES"]


def load_shared_embeddings(name: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Precomputed MiniLM embeddings ``embeddings_minilm/<name>.f16.npy`` as float32 (n, 384).

    Uses :func:`emblab.data.embeddings.load_embeddings`; returns the array and a file fingerprint
    (sha256, rows) for the results JSON.
    """
    from ...data.paths import dataset_dir

    folder = dataset_dir("embeddings_minilm")
    path = folder / f"{name}.f16.npy"
    if not path.exists():
        raise DataError(f"{path} is missing; the embeddings_minilm/ folder should hold {name}.f16.npy.")
    try:
        from ...data.embeddings import load_embeddings
    except ImportError:  # pragma: no cover - the loader module ships with emblab
        from ...io import load_npy

        X = np.asarray(load_npy(path), dtype=np.float32)
    else:
        X = np.asarray(load_embeddings(name), dtype=np.float32)
    info = file_fingerprint(path)
    info["rows"] = int(X.shape[0])
    return X, info
