"""Helpers shared by the fit/encode/search/eval/bench/demo commands (not a command itself)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..._errors import DataError, InvalidParameterError


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def load_matrix(path: str, *, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vectors from ``.npy`` / ``.parquet`` as (ids, float32 (n, d)); one-line errors for bad files."""
    from ...data.embeddings import load_vectors

    return load_vectors(path, dim=dim)


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early (before any work) if ``path`` cannot be written."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise DataError(f"cannot write {p}: {probe} is a file, not a folder; choose another --out.")
    if not os.access(probe, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise DataError(f"cannot write {p}: {probe} is not writable; choose another --out.")
    if p.exists() and p.is_dir() and p.suffix in (".npz", ".json", ".npy"):
        raise DataError(f"cannot write {p}: it is a directory.")
    return p


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """``--set key=value`` pairs as a dict of raw strings."""
    out: dict[str, str] = {}
    for item in items or []:
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise InvalidParameterError(f"--set expects key=value; got {item!r}.")
        out[key.strip()] = val.strip()
    return out


def coerce_like(value: str, template: Any, key: str) -> Any:
    """Coerce a ``--set`` string to the type of the config field it overrides."""
    try:
        if isinstance(template, bool):
            low = value.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return low in ("true", "1", "yes")
        if isinstance(template, int):
            return int(value)
        if isinstance(template, float):
            return float(value)
        if isinstance(template, list) or template is None and ("," in value or value.startswith("[")):
            if value.startswith("["):
                return json.loads(value)
            parts = [v.strip() for v in value.split(",") if v.strip()]
            if isinstance(template, list) and template and isinstance(template[0], int):
                return [int(p) for p in parts]
            return parts
    except (ValueError, json.JSONDecodeError) as exc:
        raise InvalidParameterError(f"--set {key}={value!r}: expected {type(template).__name__}.") from exc
    if template is None and value.lower() in ("none", "null"):
        return None
    if template is None:
        try:
            return int(value)
        except ValueError:
            return value
    return value


def parse_int_list(text: str | None, name: str) -> list[int] | None:
    if text is None:
        return None
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise InvalidParameterError(f"{name} must be comma-separated integers, e.g. 32,64,128; got {text!r}.") from exc
    if not vals or any(v < 1 for v in vals):
        raise InvalidParameterError(f"{name} must list positive integers; got {text!r}.")
    return vals


@contextlib.contextmanager
def quiet_faiss_clustering_warnings():
    """Collapse FAISS's per-sub-quantiser ``WARNING clustering N points ...`` lines into one note.

    FAISS prints one such line (from C++, on file descriptor 2) for every k-means it runs on fewer
    than 39 x 256 rows; small fit sets (the demo's 2,700 passages, SciFact's 5,183) would bury the
    table under hundreds of identical lines. Everything else passes through.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # captured stderr (tests): nothing to filter
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    r, w = os.pipe()
    os.dup2(w, fd)
    os.close(w)
    count = [0]

    def pump() -> None:
        with os.fdopen(r, "rb", buffering=0) as fh:
            for line in iter(fh.readline, b""):
                if line.startswith(b"WARNING clustering"):
                    count[0] += 1
                else:
                    os.write(saved, line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)   # drops the last write end of the pipe: the pump sees EOF
        thread.join(timeout=5)
        os.close(saved)
        if count[0]:
            sys.stderr.write(f"note: FAISS warned {count[0]} times that a k-means fit set has fewer than "
                             "9,984 rows (39 per centroid); expected for small fit sets.\n")
