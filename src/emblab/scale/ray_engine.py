"""Ray Data engine: embedding and encoding as ``map_batches`` over a parquet dataset.

The fitted compressor is shipped to the workers as the *bytes of its artifact folder* (put in the
object store once), so it works on a remote cluster where the driver's files are not visible.
Workers are actors (one model load each); GPU actors are requested when the cluster has GPUs.
Order is preserved, so the output equals the single-process path row for row.

``ray.init()`` starts a local cluster by default; pass ``address="ray://host:10001"`` or
``"auto"`` to use an existing one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .._deps import require
from .._errors import DataError


def artifact_bytes(model_dir: str | os.PathLike) -> dict[str, bytes]:
    """All files of an artifact folder (pipelines included) as {relative path: bytes}."""
    root = Path(model_dir)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def load_from_bytes(files: dict[str, bytes]):
    """Rebuild a model from :func:`artifact_bytes` output (written to a private temp folder)."""
    from ..pipeline import load_model

    tmp = Path(tempfile.mkdtemp(prefix="emblab-model-"))
    for rel, data in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_bytes(data)
    return load_model(tmp)


class EncodeActor:
    """Ray actor: holds one model, encodes numpy batches into code columns."""

    def __init__(self, files_ref: Any, vector_column: str, id_column: str):
        ray = require("ray", "The Ray engine")
        files = ray.get(files_ref) if isinstance(files_ref, ray.ObjectRef) else files_ref
        self.model = load_from_bytes(files)
        self.vector_column, self.id_column = vector_column, id_column

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        col = batch[self.vector_column]
        X = np.stack(col).astype(np.float32) if col.dtype == object else np.asarray(col, np.float32)
        codes = self.model.encode(X)
        out = {self.id_column: batch[self.id_column]}
        out.update({f"code_{k}": v for k, v in codes.arrays.items()})
        return out


class EmbedActor:
    """Ray actor: holds one sentence-transformers model, embeds a text column."""

    def __init__(self, model_name: str, text_column: str, id_column: str, batch_size: int):
        from ..embed import TextEncoder

        self.enc = TextEncoder(model_name, batch_size=batch_size)
        self.text_column, self.id_column = text_column, id_column

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        X = self.enc.encode([str(t) for t in batch[self.text_column]], show_progress=False)
        return {self.id_column: batch[self.id_column], "vector": X.astype(np.float32)}


def init_ray(address: str | None = None, num_cpus: int | None = None) -> Any:
    """Connect to ``address`` or start a local Ray instance (idempotent)."""
    ray = require("ray", "The Ray engine")
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "ignore_reinit_error": True}
        if address:
            kwargs["address"] = address
        else:
            # one logical CPU more than the actor pool: the parquet read tasks need a slot while
            # every actor holds one (otherwise the pipeline deadlocks)
            kwargs["num_cpus"] = num_cpus or (os.cpu_count() or 1) + 1
        ray.init(**kwargs)
    return ray


def _read_dataset(ray, input_path: str | os.PathLike, columns: list[str]):
    path = Path(input_path)
    if not path.exists():
        raise DataError(f"{path}: input not found.")
    if path.suffix == ".npy":
        raise DataError(f"{path}: the Ray engine reads parquet datasets (with an id column); "
                        "convert the .npy or use --engine local.")
    from .sources import parquet_files

    # the same file order as the single-process reader (sorted), so rows line up
    files = [str(f) for f in parquet_files(path)]
    ds = ray.data.read_parquet(files, columns=columns)
    return ds


def encode_with_ray(model_dir: str | os.PathLike, input_path: str | os.PathLike, *, out_dir: str | None = None,
                    vector_column: str = "vector", id_column: str = "id", num_workers: int = 2,
                    batch_size: int = 4096, address: str | None = None):
    """Encode a parquet dataset on Ray; returns ``(Codes, ids)`` or writes parquet to ``out_dir``.

    Parameters
    ----------
    model_dir : path-like
        Saved compressor (any method or pipeline).
    input_path : path-like
        Parquet file or folder with ``id_column`` and ``vector_column``.
    num_workers : int
        Actor pool size.
    """
    ray = init_ray(address, num_cpus=None)
    if not address and ray.cluster_resources().get("CPU", 0) < num_workers + 1:
        raise DataError(f"the Ray cluster has {ray.cluster_resources().get('CPU', 0):g} CPUs; {num_workers} "
                        f"encoding actors plus the parquet reader need {num_workers + 1}: lower --workers.")
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # identical row order to the single-process path
    model = load_from_bytes(artifact_bytes(model_dir))
    files_ref = ray.put(artifact_bytes(model_dir))
    ds = _read_dataset(ray, input_path, [id_column, vector_column])
    gpus = ray.cluster_resources().get("GPU", 0)
    out = ds.map_batches(EncodeActor, fn_constructor_args=(files_ref, vector_column, id_column),
                         batch_size=batch_size, batch_format="numpy", concurrency=num_workers,
                         num_cpus=1, num_gpus=1 if gpus >= num_workers else 0)
    if out_dir is not None:
        from ..io import atomic_path

        with atomic_path(out_dir, is_dir=True, kind="codes-parquet") as tmp:
            out.write_parquet(str(tmp))
        return None
    codes, ids = _collect(out, model, id_column)
    return _in_input_order(codes, ids, input_path, id_column)


def _in_input_order(codes, ids: np.ndarray, input_path, id_column: str):
    """Rows reordered to the single-process order (sorted files, rows in file order), matched by id.

    ``preserve_order`` keeps Ray's block order, but with many files Ray's read tasks can still hand
    blocks back in another file order (seen at 10 files / 10^6 rows); ids travel with the rows, so
    the input's id column alone restores the order. Needs unique ids; otherwise rows stay in Ray's order.
    """
    import pyarrow.parquet as pq

    from .sources import parquet_files

    want = np.concatenate([pq.read_table(f, columns=[id_column])[id_column].to_numpy()
                           for f in parquet_files(Path(input_path))])
    if len(want) != len(ids) or np.array_equal(want, ids):
        return codes, ids
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    if np.any(sorted_ids[1:] == sorted_ids[:-1]):
        return codes, ids  # duplicate ids: no unique matching
    pos = np.searchsorted(sorted_ids, want)
    if np.any(pos >= len(ids)) or not np.array_equal(sorted_ids[np.minimum(pos, len(ids) - 1)], want):
        return codes, ids
    take = order[pos]
    return codes[take], want


def _collect(ds, model, id_column: str):
    from ..codes import Codes

    ids, cols = [], {}
    for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
        ids.append(batch[id_column])
        for k, v in batch.items():
            if k.startswith("code_"):
                cols.setdefault(k[5:], []).append(np.stack(v) if v.dtype == object else v)
    arrays = {k: np.concatenate(v) for k, v in cols.items()}
    codes = Codes(arrays, model.codes_layout, model.to_spec(full=True), model.fingerprint)
    return codes, np.concatenate(ids)


def embed_with_ray(input_path: str | os.PathLike, out_dir: str | os.PathLike, *, model: str = "all-MiniLM-L6-v2",
                   text_column: str = "text", id_column: str = "id", num_workers: int = 2, batch_size: int = 64,
                   address: str | None = None) -> None:
    """Embed the ``text_column`` of a parquet dataset on Ray; writes parquet (id, vector) to ``out_dir``.

    Each actor loads the sentence-transformers model once (the packaged MiniLM by default, so
    workers need no network); GPU actors are used when the cluster has a GPU per worker.
    """
    ray = init_ray(address)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ds = _read_dataset(ray, input_path, [id_column, text_column])
    gpus = ray.cluster_resources().get("GPU", 0)
    out = ds.map_batches(EmbedActor, fn_constructor_args=(model, text_column, id_column, batch_size),
                         batch_size=max(batch_size * 8, 256), batch_format="numpy", concurrency=num_workers,
                         num_cpus=1, num_gpus=1 if gpus >= num_workers else 0)
    from ..io import atomic_path

    with atomic_path(out_dir, is_dir=True, kind="embeddings-dir") as tmp:
        out.write_parquet(str(tmp))
