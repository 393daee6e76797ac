"""Out-of-core encoding: stream chunks through a fitted model, write one codes file per chunk and a
manifest, and resume after interruption without redoing finished chunks.

Layout of the output folder::

    out/
      manifest.json            spec, model fingerprint, input signature, chunk list, complete flag
      part-<chunk>.npz         Codes of one chunk (atomic write: never half-written)
      part-<chunk>.ids.npy     ids of that chunk (parquet inputs with an id column)

Peak memory is one chunk of input plus its codes, whatever the input size.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import ArtifactError, DataError, InvalidParameterError
from ..codes import Codes
from ..io import atomic_save_npy, atomic_write_json
from .sources import iter_chunks, source_signature

MANIFEST = "manifest.json"


def _read_manifest(out: Path) -> dict[str, Any] | None:
    p = out / MANIFEST
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{p}: corrupt manifest ({exc}); delete the folder to start over.") from exc


def encode_to_dir(model: Any, input_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                  chunk_rows: int = 65536, vector_column: str = "vector", id_column: str | None = "id",
                  resume: bool = True, progress: bool = True) -> dict[str, Any]:
    """Encode a large input chunk by chunk into ``out_dir``.

    Parameters
    ----------
    model : fitted compressor
    input_path : path-like
        ``.npy`` (memory-mapped) or parquet file/folder.
    out_dir : path-like
        Output folder: created (with its manifest) once the input has been checked, or an
        earlier run of this function to resume. Any other existing path is refused.
    chunk_rows : int
        Rows per chunk (>= 1).
    resume : bool
        Skip chunks already recorded in the manifest (same model, input and chunking).

    Returns
    -------
    dict
        The final manifest.

    Raises
    ------
    ArtifactError
        ``out_dir`` holds a run of another model or input and ``resume`` is set.
    DataError
        Bad input (nothing is created), or ``out_dir`` exists and is not a chunked encoding.

    Notes
    -----
    If the run fails or is interrupted before its first chunk is written, a folder this call
    created is removed again: nothing is left half-written.
    """
    from ..io import guard_output, make_output_dir

    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
        raise InvalidParameterError(f"chunk_rows must be an int >= 1; got {chunk_rows!r}.")
    out = Path(out_dir)
    signature = source_signature(input_path)
    refs = list(iter_chunks(input_path, chunk_rows, vector_column=vector_column, id_column=id_column))
    head = {"spec": model.to_spec(full=True), "model_fingerprint": model.fingerprint, "input": str(input_path),
            "input_signature": signature, "chunk_rows": int(chunk_rows), "layout": model.codes_layout}
    created = guard_output(out, "codes-dir", inputs=[input_path], resume=True) == "new"
    manifest = _read_manifest(out) if resume and not created else None
    if manifest is not None:
        for key in ("model_fingerprint", "input_signature", "chunk_rows"):
            if manifest.get(key) != head[key]:
                raise ArtifactError(f"{out}: holds a run with a different {key.replace('_', ' ')}; "
                                    "use another --out folder, or pass --overwrite to start over.")
    else:
        manifest = {**head, "chunks": {}, "complete": False, "n_rows": 0}
    done = manifest["chunks"]
    make_output_dir(out, "codes-dir")
    try:
        for stale in out.glob("*.tmp-*"):  # leftovers of a killed write inside our own folder
            _remove_stale(stale)
        atomic_write_json(out / MANIFEST, manifest)
        n_new, seconds = _encode_chunks(model, input_path, refs, out, done, manifest, progress)
    except BaseException:
        if created and not done:
            import shutil

            shutil.rmtree(out, ignore_errors=True)   # our own folder, nothing finished in it
        raise
    manifest["complete"] = True
    manifest["n_rows"] = int(sum(c["rows"] for c in done.values()))
    manifest["bytes_per_vector"] = float(model.bytes_per_vector)
    manifest["last_run"] = {"new_chunks": n_new, "seconds": seconds}
    atomic_write_json(out / MANIFEST, manifest)
    return manifest


def _remove_stale(path: Path) -> None:
    if path.is_dir():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _encode_chunks(model: Any, input_path: Any, refs: list, out: Path, done: dict, manifest: dict,
                   progress: bool) -> tuple[int, float]:
    """Encode the chunks not in ``done``; the manifest is rewritten after each one."""
    from rich.progress import Progress

    t0 = time.perf_counter()
    n_new = 0
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task("encoding", total=sum(r.n_rows for r in refs))
        for ref in refs:
            fname = f"part-{ref.chunk_id}.npz"
            if ref.chunk_id in done and (out / fname).exists() and (out / fname).stat().st_size == done[ref.chunk_id]["bytes"]:
                bar.advance(task, ref.n_rows)
                continue
            X, ids = ref.load()
            if not np.isfinite(X).all():
                bad = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0]) + ref.start
                raise DataError(f"{input_path}: row {bad} has NaN or inf; clean the input and rerun (finished chunks are kept).")
            codes = model.encode(X)
            codes.save(out / fname)
            entry = {"file": fname, "start": ref.start, "rows": ref.n_rows, "bytes": (out / fname).stat().st_size}
            if ids is not None:
                atomic_save_npy(out / f"part-{ref.chunk_id}.ids.npy", np.asarray(ids))
                entry["ids"] = f"part-{ref.chunk_id}.ids.npy"
            done[ref.chunk_id] = entry
            n_new += 1
            atomic_write_json(out / MANIFEST, manifest)
            bar.advance(task, ref.n_rows)
    return n_new, time.perf_counter() - t0


def read_codes(path: str | os.PathLike) -> Codes:
    """Codes from a codes file (``emblab encode --out codes.npz``) or a chunked-encoding folder."""
    if Path(path).is_dir():
        return read_encoded_dir(path)[0]
    return Codes.load(path)


def read_encoded_dir(out_dir: str | os.PathLike) -> tuple[Codes, np.ndarray | None]:
    """Concatenate the chunk files of a complete run (in input order); returns (codes, ids)."""
    out = Path(out_dir)
    manifest = _read_manifest(out)
    if manifest is None:
        raise DataError(f"{out}: no manifest.json; not an emblab chunked encoding folder.")
    if not manifest.get("complete"):
        raise ArtifactError(f"{out}: the run is incomplete; rerun the same command to resume it.")
    entries = sorted(manifest["chunks"].values(), key=lambda c: c["start"])
    parts = [Codes.load(out / c["file"]) for c in entries]
    ids = None
    if entries and all("ids" in c for c in entries):
        ids = np.concatenate([np.load(out / c["ids"], allow_pickle=False) for c in entries])
    return Codes.concat(parts), ids
