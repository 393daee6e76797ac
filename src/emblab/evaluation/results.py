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
import importlib.metadata as _md
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..io import atomic_write_json

SCHEMA = "emblab.results/1"
_PACKAGES = ("numpy", "scipy", "torch", "faiss-cpu", "sentence-transformers", "scikit-learn",
             "safetensors", "gensim", "ray", "qdrant-client", "pyarrow")


def package_versions(names: tuple[str, ...] = _PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that change numbers (missing ones omitted)."""
    out = {}
    for name in names:
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            pass
    return out


def machine_info() -> dict[str, Any]:
    """CPU model, core count, memory and GPU (if torch sees one)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb, "platform": platform.platform()}
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(command: str | None = None) -> dict[str, Any]:
    """Everything a reader needs to know where a number came from."""
    from .. import __version__

    return {"emblab": __version__, "python": platform.python_version(), "packages": package_versions(),
            "machine": machine_info(), "command": command or " ".join(sys.argv),
            "git_commit": git_commit(),
            "date_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()}


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


def results_document(kind: str, records: list[dict[str, Any]], *, command: str | None = None,
                     dataset: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Assemble a results document (see module docstring)."""
    return {"schema": SCHEMA, "kind": kind,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "environment": environment(command), "dataset": dataset or {}, "records": records, **extra}


def write_results(path: str | os.PathLike, kind: str, records: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    """Build a results document and write it atomically; returns the document."""
    doc = results_document(kind, records, **kw)
    atomic_write_json(path, doc, kind="results")
    return doc


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """Read a results file, checking its schema (raises DataError with a one-line reason)."""
    from .._errors import DataError

    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: results file not found.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc}).") from exc
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise DataError(f"{path}: not an emblab results file (expected schema {SCHEMA!r}).")
    return doc
