"""``emblab export``: ship a chosen method on a task's collection, ready to serve.

:func:`export_collection` fits the spec on the task's fit set (or loads a fitted artifact),
encodes the task's collection (a BEIR corpus, a ``knn:`` collection) with its item ids and writes
one folder::

    OUT/model/        the emblab artifact (config.json + model.safetensors)
    OUT/codes.npz     the codes, with the item ids (``emblab search OUT/model --codes ...`` prints ids)
    OUT/index.faiss   the FAISS form, when the method has one (:mod:`emblab.scale.faiss_export`)
    OUT/ids.json      item id of each FAISS row (FAISS returns row numbers)
    OUT/export.json   what was written, how to query it, and the task's scores of each served form

and, when asked, a Qdrant collection (embedded folder or server URL; dense decoded vectors or, for
sparse codes, sparse vectors: :mod:`emblab.scale.qdrant_export`). Each served form is measured on
the task's queries with the task's metrics, so the manifest says what FAISS and Qdrant return,
not only what emblab's own search scored.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._errors import DataError, InvalidParameterError
from .._validation import l2_normalize

MANIFEST = "export.json"


def export_inputs(model: Any, task: Any, fit: Any = None) -> list[str]:
    """The paths an export reads (an output may not be, lie in or hold any of them)."""
    paths = [getattr(task.metadata, "dataset", "") or None, fit]
    if isinstance(model, (str, Path)) and Path(model).is_dir():
        paths.append(str(model))
    return [p for p in paths if p and Path(p).exists()]


def check_qdrant_folder(path: str | Path) -> None:
    """Refuse an embedded-Qdrant folder that exists and is not a Qdrant store (never write into a
    user's folder)."""
    p = Path(path)
    if p.exists() and (not p.is_dir() or (any(p.iterdir()) and not (p / "meta.json").is_file())):
        raise DataError(f"{p}: exists and is not a Qdrant store; it was left untouched: give a new folder or "
                        "an existing embedded Qdrant store.")


def export_collection(model: Any, task: Any, out: str | Path, *, faiss: bool = True, qdrant_path: str | None = None,
                      qdrant_url: str | None = None, collection: str = "emblab", qdrant_vectors: str = "dense",
                      overwrite: bool = False, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Fit (if needed), encode the task's collection and write the serving folder.

    Parameters
    ----------
    model : str, path or compressor
        A spec (fitted on the task's fit set), an artifact directory, or a fitted compressor.
    task : Task
        A task with a collection (``beir:``, ``knn:``, ``beir_scifact``, ...).
    out : path
        Output folder, through the output guard (:func:`emblab.io.guard_output`, kind ``export``):
        refused if it exists and is not an earlier export, or is an input; ``overwrite`` replaces
        an earlier export.
    faiss : bool
        Write ``index.faiss`` when the method has a FAISS form.
    qdrant_path, qdrant_url : str, optional
        Also write a Qdrant collection in an embedded store folder or on a server.
    collection : str
        Qdrant collection name.
    qdrant_vectors : {"dense", "sparse"}
        Dense decoded vectors (cosine = emblab's asymmetric mode) or sparse codes (SAE only; dot =
        emblab's ``sparse`` mode).
    log : callable
        Receives one progress line per step.

    Returns
    -------
    dict
        The manifest written to ``export.json``.
    """
    from ..evaluation.tasks.base import is_uncompressed, resolve_model
    from ..io import atomic_path, atomic_write_json, guard_output
    from ..registry import build
    from .faiss_export import faiss_form, faiss_index, write_index

    out = Path(out)
    if qdrant_vectors not in ("dense", "sparse"):
        raise InvalidParameterError(f"qdrant vectors must be 'dense' or 'sparse'; got {qdrant_vectors!r}.")
    if qdrant_path and qdrant_url:
        raise InvalidParameterError("give either a Qdrant folder or a Qdrant URL, not both.")
    guard_output(out, "export", inputs=export_inputs(model, task, getattr(task, "uri_options", {}).get("fit")),
                 overwrite=overwrite)
    if qdrant_path:
        check_qdrant_folder(qdrant_path)
    task.load()
    ids, X = task.collection()
    if is_uncompressed(model):
        model = build("float32")   # the uncompressed reference ships too (IndexFlatIP)
    log(f"fitting {model if isinstance(model, str) else model.to_spec()} on {task.name}")
    fitted, spec, fit_time, _ = resolve_model(model, task.fit_data)
    if qdrant_vectors == "sparse" and fitted.codes_layout != "sparse":
        raise InvalidParameterError(f"{spec} makes {fitted.codes_layout} codes; sparse Qdrant vectors need a sparse "
                                    "method such as sae (use the dense default).")
    log(f"encoding {len(X)} items")
    t0 = time.perf_counter()
    codes = fitted.encode(X).with_ids(ids)
    encode_time = time.perf_counter() - t0
    mode, form = faiss_form(fitted)
    manifest: dict[str, Any] = {
        "format": "emblab.export/1", "spec": spec, "requested": model if isinstance(model, str) else spec,
        "task": task.name, "uri": getattr(task, "uri", None), "uri_options": getattr(task, "uri_options", {}),
        "n_items": len(codes), "bytes_per_vector": codes.bytes_per_vector, "model_bytes": int(fitted.model_bytes),
        "fit_time_s": fit_time, "encode_time_s": encode_time, "ids": codes.ids is not None,
        "files": {"model": "model/", "codes": "codes.npz"},
        "faiss": {"mode": mode, "form": form} if mode else {"none": form},
        "queries": "L2-normalise float32 query vectors of the same model; FAISS returns rows, ids.json names them",
        "scores": {}}
    index = None
    if faiss and mode:
        index = faiss_index(fitted, codes)
    with atomic_path(out, is_dir=True, kind="export") as tmp:
        fitted.save(tmp / "model")
        codes.save(tmp / "codes.npz")
        if index is not None:
            write_index(index, str(tmp / "index.faiss"))
            (tmp / "ids.json").write_text(json.dumps(_id_list(codes)) + "\n", encoding="utf-8")
            manifest["files"].update(faiss_index="index.faiss", ids="ids.json")
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {out}/ ({codes.bytes_per_vector:g} B/vector, {len(codes)} items)")
    manifest["scores"] = _served_scores(task, fitted, codes, out, index, mode)
    if qdrant_path or qdrant_url:
        manifest["qdrant"] = _to_qdrant(fitted, codes, qdrant_path, qdrant_url, collection, qdrant_vectors, log)
        manifest["scores"].update(_qdrant_scores(task, fitted, manifest["qdrant"], qdrant_path, qdrant_url))
    atomic_write_json(out / MANIFEST, manifest)   # now with the served forms' scores
    return manifest


def _id_list(codes: Any) -> list:
    if codes.ids is None:
        return list(range(len(codes)))
    return [v.item() for v in codes.ids]


def _served_scores(task: Any, model: Any, codes: Any, out: Path, index: Any, mode: str | None) -> dict[str, Any]:
    """The task's metrics for emblab's own search and for the FAISS file read back from disk."""
    from ..search import search

    if not hasattr(task, "xq"):
        return {}
    xq = l2_normalize(task.xq)
    k = min(100, len(codes))
    scores: dict[str, Any] = {}
    _, I = search(model, xq, codes, k, "asymmetric")
    scores["emblab asymmetric"] = task.score_ranking(I)
    if index is not None and mode:
        from .._deps import require

        faiss = require("faiss", "FAISS export")
        loaded = faiss.read_index(str(out / "index.faiss"))
        _, I_f = loaded.search(np.ascontiguousarray(xq, dtype=np.float32), k)
        scores[f"faiss index.faiss (= emblab {mode})"] = task.score_ranking(I_f)
    return {k: v for k, v in scores.items() if v}


def _to_qdrant(model: Any, codes: Any, path: str | None, url: str | None, collection: str, vectors: str,
               log: Callable[[str], None]) -> dict[str, Any]:
    from .qdrant_export import connect, export_codes, export_dense

    where = url or str(path)
    log(f"writing Qdrant collection {collection!r} at {where} ({vectors})")
    client = _client(path, url, connect)
    try:
        if vectors == "sparse":
            export_codes(client, collection, codes, model=model)   # the model unpacks bit-packed codes
        else:
            export_dense(client, collection, model, codes)
    finally:
        client.close()
    return {"url" if url else "path": where, "collection": collection, "vectors": vectors,
            "mode": "sparse" if vectors == "sparse" else "asymmetric",
            "payload": "{'id': item id}" if codes.ids is not None else None}


def _client(path: str | None, url: str | None, connect: Callable) -> Any:
    try:
        return connect(url=url) if url else connect(str(path))
    except RuntimeError as exc:   # the embedded store locks its folder against a second client
        raise DataError(f"Qdrant at {url or path}: cannot open ({' '.join(str(exc).split())}).") from exc


def _qdrant_scores(task: Any, model: Any, info: dict[str, Any], path: str | None, url: str | None) -> dict[str, Any]:
    from .qdrant_export import connect, search_codes, search_dense

    if not hasattr(task, "xq"):
        return {}
    xq = l2_normalize(task.xq)
    k = 100
    client = _client(path, url, connect)
    try:
        if info["vectors"] == "sparse":
            qc = model.encode_query(xq) if hasattr(model, "encode_query") else model.encode(xq)
            _, I = search_codes(client, info["collection"], qc, k)   # query codes are never packed
        else:
            _, I = search_dense(client, info["collection"], xq, k)
    finally:
        client.close()
    s = task.score_ranking(I)
    return {f"qdrant {info['collection']} (= emblab {info['mode']})": s} if s else {}
