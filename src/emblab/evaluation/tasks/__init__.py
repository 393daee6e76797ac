"""Evaluation tasks: a registry of named tasks and :func:`evaluate` (design.md section 9).

Registered tasks (``emblab list tasks``)::

    knn_fidelity/imdb-minilm   knn_fidelity/scifact-minilm   beir_scifact
    sts/stsb                   sts/sickr
    recsys/movielens_100k      recsys/movielens_latest_small
    mock/knn                   mock/retrieval                mock/sts
    mock/recsys

Task URIs for users' own data (:mod:`.uri`; ``--set key=value`` options)::

    beir:DIR     a BEIR folder: nDCG@10, Recall@10/100, MRR@10         (:mod:`.beir_dir`)
    knn:PATH     vectors: held-out queries, Recall@10 against exact    (:mod:`.knn_path`)
    sts:PATH     sentence pairs with gold scores: Spearman of cosine   (:mod:`.sts_path`)
    recsys:DIR   interactions (user, item[, timestamp, weight]): HR@10  (:mod:`.recsys_dir`)

Examples
--------
>>> from emblab.evaluation.tasks import evaluate, get_task
>>> r = evaluate("pca:dim=4,store=f32", "mock/knn")
>>> r.scores["recall@10_asym"]
1.0
>>> get_task("beir:./my_collection", split="dev")    # doctest: +SKIP
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

from ..._errors import InvalidParameterError
from ...experiment.results import TaskResult
from .base import Task, TaskMetadata
from .beir import BeirTask, beir_scifact
from .knn_fidelity import KnnFidelityTask, imdb_minilm, scifact_minilm
from .mocks import mock_knn, mock_recsys, mock_retrieval, mock_sts
from .recsys_task import RecsysTask, recsys_movielens
from .sts import StsTask, sickr, stsb
from .uri import is_task_uri, list_schemes, split_uri, task_from_uri
from . import beir_dir, knn_path, recsys_dir, sts_path  # noqa: F401,E402  (register the beir:, knn:, recsys:, sts: schemes)

_TASKS: dict[str, Callable[..., Task]] = {}


class UnknownTaskError(InvalidParameterError):
    """A task name that is not registered."""


def register_task(name: str, factory: Callable[..., Task]) -> None:
    """Register a task factory under ``name``; duplicates are an error."""
    if name in _TASKS and _TASKS[name] is not factory:
        raise InvalidParameterError(f"task {name!r} is already registered.")
    _TASKS[name] = factory


def unregister_task(name: str) -> Callable[..., Task] | None:
    """Remove the task registered under ``name`` and return its factory (``None`` if there was none).

    For code that registers a task for a while (an in-memory task of one run, a test): register it,
    use it, then unregister it so that ``emblab list tasks`` and later lookups no longer see it.
    """
    return _TASKS.pop(name, None)


def list_tasks() -> list[str]:
    """Names of all registered tasks, sorted."""
    return sorted(_TASKS)


def get_task(name: str | Task, **kwargs: Any) -> Task:
    """Instantiate a registered task or a task URI (``kwargs`` go to its factory or scheme).

    ``name`` is a registered name (``beir_scifact``; a unique suffix after ``/`` also resolves,
    ``stsb`` -> ``sts/stsb``) or a URI for the user's own data (``beir:DIR``, ``knn:PATH``,
    ``sts:PATH``, :mod:`.uri`). Unknown names suggest the nearest registered one.
    """
    if isinstance(name, Task):
        if kwargs:
            raise InvalidParameterError(f"task options {sorted(kwargs)} need a task name, not a Task object.")
        return name
    key = str(name).strip()
    if key not in _TASKS and split_uri(key) is not None:
        return task_from_uri(key, **kwargs)
    if key not in _TASKS:
        tails = [t for t in _TASKS if t.split("/")[-1] == key]
        if len(tails) == 1:
            key = tails[0]
        else:
            close = difflib.get_close_matches(key, list(_TASKS), n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise UnknownTaskError(f"{name!r} is not a registered task.{hint} See `emblab list tasks`.")
    try:
        return _TASKS[key](**kwargs)
    except TypeError as exc:
        raise InvalidParameterError(f"task {key!r} does not take {sorted(kwargs)}: {exc}") from exc


def evaluate(model_or_spec: Any, task: str | Task, **task_kwargs: Any) -> TaskResult:
    """Evaluate a compressor (spec string, artifact directory, object, or None for float32) on a task.

    Returns
    -------
    TaskResult
        Scores, bytes/vector, model bytes, fit/encode/search times, artifact fingerprint and the
        dataset fingerprint.
    """
    return get_task(task, **task_kwargs).evaluate(model_or_spec)


for _name, _factory in (("knn_fidelity/imdb-minilm", imdb_minilm), ("knn_fidelity/scifact-minilm", scifact_minilm),
                        ("beir_scifact", beir_scifact), ("sts/stsb", stsb), ("sts/sickr", sickr),
                        ("recsys/movielens_100k", lambda **kw: recsys_movielens("movielens_100k", **kw)),
                        ("recsys/movielens_latest_small", lambda **kw: recsys_movielens("movielens_latest_small", **kw)),
                        ("mock/knn", mock_knn), ("mock/recsys", mock_recsys), ("mock/retrieval", mock_retrieval), ("mock/sts", mock_sts)):
    register_task(_name, _factory)

__all__ = ["Task", "TaskMetadata", "TaskResult", "KnnFidelityTask", "BeirTask", "StsTask", "RecsysTask",
           "register_task", "unregister_task", "list_tasks", "get_task", "evaluate", "UnknownTaskError", "is_task_uri", "list_schemes"]
