"""Resumable experiments: cells in one crash-safe store, fitted models kept beside them (design.md §9).

An experiment is a list of *cells*: a JSON-able config (its hash is the cell id) and a function
that returns the cell's record. :func:`run_cells` runs the cells whose id is not in the store yet and
appends each finished record, flushed and fsynced, to ``<store>/cells.jsonl``; an interrupted run
resumes where it stopped, and a half-written last line (killed mid-write) is ignored. The store
records a fingerprint of the experiment and refuses to mix in results of another one.

:func:`fitted_model` fits a compressor once per (spec, fit rows) and keeps the artifact under
``<store>/models/<id>/``, so cells that share a fitted model (the SAE coded with several layouts,
one FAISS codec evaluated on several modes) neither refit it in one run nor after a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from .._errors import DataError, EmblabError
from ..io import atomic_save_npy, atomic_write_json, json_default, stable_json

STORE_VERSION = 1


def cell_id(config: Any) -> str:
    """Stable file-name-safe id of a JSON-able cell config."""
    text = config if isinstance(config, str) else stable_json(config)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class CellStore:
    """Append-only JSON-lines store of finished cells (plus optional arrays and fitted models).

    Parameters
    ----------
    root : path
        Store folder (created; reused to resume).
    fingerprint : str
        Identity of the experiment; a store holding another one is refused.
    meta : dict, optional
        Written once into ``store.json``.
    """

    def __init__(self, root: str | os.PathLike, fingerprint: str, meta: dict[str, Any] | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        info = self.root / "store.json"
        if info.exists():
            old = json.loads(info.read_text())
            if old.get("fingerprint") != fingerprint:
                raise DataError(f"{self.root} holds results of another task or configuration "
                                f"({old.get('fingerprint')} != {fingerprint}); use a new folder or delete it.")
        else:
            atomic_write_json(info, {"version": STORE_VERSION, "fingerprint": fingerprint, **(meta or {})})
        self.path = self.root / "cells.jsonl"

    def load(self) -> dict[str, dict[str, Any]]:
        """Finished cells by id (a truncated last line from a killed run is skipped)."""
        out: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                out[rec["id"]] = rec
        return out

    def add(self, rec: dict[str, Any], preds: np.ndarray | None = None) -> None:
        """Append one finished record (and save ``preds`` under ``preds/<id>.npy`` when given)."""
        if preds is not None:
            atomic_save_npy(self.root / "preds" / f"{rec['id']}.npy", np.asarray(preds, np.float32))
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec, sort_keys=True, default=json_default) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def preds(self, cid: str) -> np.ndarray:
        return np.load(self.root / "preds" / f"{cid}.npy", allow_pickle=False)

    def model_dir(self, key: str) -> Path:
        return self.root / "models" / key


def fitted_model(store: CellStore, spec: str, X: np.ndarray, *, fit_rows: int | None = None,
                 params: dict[str, Any] | None = None):
    """A compressor built from ``spec`` (then ``set_params(**params)``) and fitted on ``X[:fit_rows]``,
    loaded from the store when an earlier run fitted it; ``fit_time_s_`` is the original fit's.

    ``params`` are settings that do not change the fitted result (``progress``, ``checkpoint_dir``);
    they are not part of the key and are reset to the spec's values before the model is saved. The
    last two models are also kept in memory: a later call returns the same object (do not mutate
    it; derive variants, e.g. with ``SparseAutoencoder.with_coding``).
    """
    from ..io import fingerprint_array
    from ..pipeline import load_model
    from ..registry import build

    rows = X if fit_rows is None or fit_rows >= len(X) else X[:fit_rows]
    key = cell_id({"fit": spec, "data": fingerprint_array(rows)})
    path = store.model_dir(key)
    if key in _LOADED:  # the same object: its derived caches (e.g. SAE OMP paths) stay warm
        return _LOADED[key]
    if (path / "config.json").exists():
        return _remember(key, load_model(path))
    model = build(spec)
    if params:
        model.set_params(**params)
    model.fit(rows)
    if params:  # back to the spec's values, so the saved spec is the one that was asked for
        ref = build(spec).get_params()
        model.set_params(**{k: ref[k] for k in params})
    model.save(path)
    return _remember(key, model)


_LOADED: dict[str, Any] = {}
_LOADED_MAX = 2


def _remember(key: str, model: Any) -> Any:
    _LOADED.pop(key, None)
    while len(_LOADED) >= _LOADED_MAX:
        _LOADED.pop(next(iter(_LOADED)))
    _LOADED[key] = model
    return model


def run_cells(store: CellStore, cells: Iterable[tuple[dict[str, Any], Callable[[], dict[str, Any]]]], *,
              on_record: Callable[[dict[str, Any], bool], None] | None = None) -> list[dict[str, Any]]:
    """Run (or resume) cells; return every record, in cell order.

    Parameters
    ----------
    store : CellStore
    cells : iterable of (config, fn)
        ``fn()`` returns the record of the cell (a JSON-able dict). It is called only if the
        store has no record for ``cell_id(config)``. A cell failing with an
        :class:`~emblab.EmblabError` gives a record ``{"error": message}`` that is *not* stored,
        so a rerun tries it again; other exceptions propagate.
    on_record : callable(record, resumed), optional
        Called for every record (also for those read back from the store).
    """
    done = store.load()
    out = []
    for config, fn in cells:
        cid = cell_id(config)
        resumed = cid in done
        if resumed:
            rec = done[cid]
        else:
            t0 = time.perf_counter()
            try:
                rec = dict(fn())
            except EmblabError as exc:
                rec = {"error": " ".join(str(exc).split()) or type(exc).__name__}
            rec.update(id=cid, cell=config, cell_s=time.perf_counter() - t0)
            if "error" not in rec:
                store.add(rec)
        out.append(rec)
        if on_record is not None:
            on_record(rec, resumed)
    return out
