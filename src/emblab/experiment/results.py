"""Versioned results JSON shared by every task, benchmark and report (design.md section 9).

Every result file is one JSON object::

    {"schema": "emblab.results/1", "kind": "<experiment kind>", "created_utc": ...,
     "environment": {emblab/python/package versions, machine, command, git commit},
     "dataset": {...fingerprint...}, "records": [ {one row per method x setting}, ... ],
     ... any extra experiment-specific keys ...}

``kind`` tells the report which section and plot to use: ``compression`` (records carry ``method``,
``bytes_per_vector`` and metric values), ``intrinsic_dimension``, ``qwem``, ``corrector``,
``recsys``, ``scale``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .._errors import DataError
from ..io import atomic_write_json
from .provenance import environment

SCHEMA = "emblab.results/1"


@dataclass
class TaskResult:
    """One method evaluated on one task.

    Attributes
    ----------
    task : str
        Task id (``knn_fidelity/imdb-minilm``, ``beir_scifact``, ``sts/stsb``...).
    method : str
        Canonical spec of the compressor (``float32`` for uncompressed).
    bytes_per_vector : float
    scores : dict of str -> float
        Metric values (``recall@10_asym``, ``ndcg@10``, ``spearman``...).
    main_score : str
        Key of the headline metric in ``scores``.
    """

    task: str
    method: str
    bytes_per_vector: float
    scores: dict[str, float]
    main_score: str = ""
    model_bytes: int | None = None
    fit_time_s: float | None = None
    encode_time_s: float | None = None
    search_time_s: float | None = None
    artifact_fingerprint: str | None = None
    dataset: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Results:
    """A results document: what was measured (``records``) and where (``environment``).

    Attributes
    ----------
    kind : str
        Experiment kind; the report renders each kind through its registered section.
    records : list of dict
        One row per method x setting (JSON-able).
    environment : dict
        Provenance block (:func:`emblab.experiment.provenance.environment`).
    dataset : dict
        Dataset descriptions and fingerprints, by task.
    created_utc : str
    extra : dict
        Experiment-specific top-level keys (``budgets``, ``fit_rows``, ``config``...).
    """

    kind: str
    records: list[dict[str, Any]]
    environment: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    created_utc: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "Results":
        known = {"schema", "kind", "records", "environment", "dataset", "created_utc"}
        return cls(kind=doc.get("kind", ""), records=list(doc.get("records") or []),
                   environment=dict(doc.get("environment") or {}), dataset=dict(doc.get("dataset") or {}),
                   created_utc=doc.get("created_utc", ""),
                   extra={k: v for k, v in doc.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (``schema`` first, extra keys at the top level)."""
        return {"schema": SCHEMA, "kind": self.kind, "created_utc": self.created_utc,
                "environment": self.environment, "dataset": self.dataset, "records": self.records,
                **self.extra}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def where(self, **equal: Any) -> list[dict[str, Any]]:
        """Records whose fields equal every given value (``res.where(task="beir_scifact")``)."""
        return [r for r in self.records if all(r.get(k) == v for k, v in equal.items())]


def results_document(kind: str, records: list[dict[str, Any]], *, command: str | None = None,
                     dataset: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Assemble a results document (see module docstring) as a JSON-able dict."""
    return Results(kind=kind, records=records, environment=environment(command), dataset=dataset or {},
                   created_utc=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
                   extra=extra).to_dict()


def write_results(path: str | os.PathLike, kind: str, records: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    """Build a results document and write it atomically; returns the document."""
    doc = results_document(kind, records, **kw)
    atomic_write_json(path, doc, kind="results")
    return doc


def load_document(path: str | os.PathLike) -> dict[str, Any]:
    """The raw JSON of a results file, schema checked (raises DataError with a one-line reason)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: results file not found.") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{path}: is a folder, not a results file.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}).") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("records"), list):
        raise DataError(f"{path}: not an emblab results file (expected schema {SCHEMA!r} with a records list).")
    return doc


def read_results(path: str | os.PathLike) -> Results:
    """The one reader of results files: a typed :class:`Results` (raises DataError on a bad file)."""
    return Results.from_dict(load_document(path))
