"""Artifact and file I/O: atomic writes, fingerprints, model directories (design.md section 5).

An artifact is a directory::

    model_dir/
      config.json        {"format_version", "method", "params", "fitted", "emblab_version",
                          "created_utc", "train_data"}
      model.safetensors  tensors only (string->string metadata)

Nothing is ever half-written: every writer goes to ``<path>.tmp-<random>`` and is moved into
place with :func:`os.replace`. No pickle is used anywhere.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ._errors import ArtifactError, DataError

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
TENSORS_NAME = "model.safetensors"


# --- atomic writes -----------------------------------------------------------------------------

def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f"{path.name}.tmp-{secrets.token_hex(4)}")


def _check_parent_writable(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create output folder {parent}: {exc.strerror}; choose a writable path.") from exc
    if not os.access(parent, os.W_OK):
        raise DataError(f"output folder {parent} is not writable; choose a writable path.")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success move it onto ``path``.

    On any exception the temporary file or folder is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : path-like
        Final destination.
    is_dir : bool
        Create the temporary path as a directory.
    """
    path = Path(path)
    _check_parent_writable(path)
    tmp = _tmp_sibling(path)
    try:
        if is_dir:
            tmp.mkdir()
        yield tmp
        if is_dir and path.exists():
            # os.replace cannot replace a non-empty directory: swap via a second temp name.
            old = _tmp_sibling(path)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def atomic_save_npy(path: str | os.PathLike, arr: np.ndarray) -> None:
    """Save one array as ``.npy`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)


def atomic_save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Save several arrays as an uncompressed ``.npz`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


# --- fingerprints --------------------------------------------------------------------------------

def fingerprint_array(X: np.ndarray) -> dict[str, Any]:
    """Fingerprint of a data matrix: sha256 of its bytes plus shape and dtype.

    Returns
    -------
    dict with keys ``sha256``, ``n``, ``d``, ``dtype``.
    """
    X = np.ascontiguousarray(X)
    h = hashlib.sha256()
    h.update(str(X.shape).encode())
    h.update(str(X.dtype).encode())
    h.update(memoryview(X).cast("B"))
    return {"sha256": h.hexdigest(), "n": int(X.shape[0]), "d": int(X.shape[1]) if X.ndim > 1 else 1,
            "dtype": str(X.dtype)}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


# --- npy loading -------------------------------------------------------------------------------

def load_npy(path: str | os.PathLike, *, mmap: bool = False) -> np.ndarray:
    """Load a ``.npy`` file safely (no pickle), with one-line errors for missing/corrupt files."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path (or set EMBLAB_DATA).")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty; regenerate it.")
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except ValueError as exc:
        raise DataError(f"{path}: not a valid .npy array ({exc}); regenerate it.") from exc
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: corrupt or truncated .npy file ({exc}); regenerate it.") from exc


# --- artifacts -----------------------------------------------------------------------------------

def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def write_artifact(
    path: str | os.PathLike,
    config: dict[str, Any],
    tensors: dict[str, np.ndarray],
    extra_files: dict[str, bytes] | None = None,
) -> None:
    """Write an artifact directory atomically.

    Parameters
    ----------
    path : path-like
        Destination directory (replaced if it exists).
    config : dict
        Content of ``config.json``; ``format_version`` is added.
    tensors : dict of str -> ndarray
        Saved to ``model.safetensors`` (may be empty).
    extra_files : dict of str -> bytes, optional
        Additional files (e.g. ``pipeline.json`` or sub-artifacts written separately).
    """
    from safetensors.numpy import save_file

    with atomic_path(path, is_dir=True) as tmp:
        fill_artifact_dir(tmp, config, tensors, extra_files)


def fill_artifact_dir(
    folder: Path,
    config: dict[str, Any],
    tensors: dict[str, np.ndarray],
    extra_files: dict[str, bytes] | None = None,
) -> None:
    """Write ``config.json`` and ``model.safetensors`` into an existing (temporary) folder."""
    from safetensors.numpy import save_file

    config = {"format_version": FORMAT_VERSION, **config}
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    config.setdefault("tensors", {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in tensors.items()})
    save_file(tensors, str(folder / TENSORS_NAME), metadata={"format": "emblab", "method": str(config.get("method"))})
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2, default=_json_default) + "\n", encoding="utf-8")
    for name, data in (extra_files or {}).items():
        (folder / name).write_bytes(data)


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``config.json`` of an artifact directory."""
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: no such model directory; fit one with `emblab fit SPEC`.")
    if not path.is_dir():
        raise ArtifactError(f"{path}: a model artifact is a directory holding config.json and model.safetensors.")
    cfg_path = path / CONFIG_NAME
    if not cfg_path.exists():
        raise ArtifactError(f"{cfg_path}: missing; this is not an emblab model directory.")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{cfg_path}: corrupt JSON ({exc}); re-save the model.") from exc
    if not isinstance(cfg, dict):
        raise ArtifactError(f"{cfg_path}: expected a JSON object; re-save the model.")
    version = cfg.get("format_version")
    if version is None:
        raise ArtifactError(f"{cfg_path}: no 'format_version'; this is not an emblab artifact.")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ArtifactError(
            f"{cfg_path}: format_version {version!r} is not supported by this emblab "
            f"(reads up to {FORMAT_VERSION}); upgrade emblab."
        )
    for key in ("method", "params"):
        if key not in cfg:
            raise ArtifactError(f"{cfg_path}: missing key {key!r}; re-save the model.")
    return cfg


def read_tensors(path: str | os.PathLike, config: dict[str, Any]) -> dict[str, np.ndarray]:
    """Read ``model.safetensors`` and check every tensor against ``config['tensors']``."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    st = path / TENSORS_NAME
    if not st.exists():
        raise ArtifactError(f"{st}: missing; the artifact is incomplete, re-save the model.")
    try:
        tensors = load_file(str(st))
    except (SafetensorError, OSError, ValueError, Exception) as exc:  # noqa: BLE001 - any parse failure
        raise ArtifactError(f"{st}: corrupt or truncated safetensors file ({exc}); re-save the model.") from exc
    expected = config.get("tensors", {})
    for name, spec in expected.items():
        if name not in tensors:
            raise ArtifactError(f"{st}: tensor {name!r} is missing; re-save the model.")
        shape = tuple(tensors[name].shape)
        if shape != tuple(spec["shape"]):
            raise ArtifactError(
                f"{st}: tensor {name!r} has shape {shape}, config says {tuple(spec['shape'])}."
            )
    extra = set(tensors) - set(expected)
    if expected and extra:
        raise ArtifactError(f"{st}: unexpected tensor(s) {sorted(extra)}; the artifact does not match config.json.")
    return tensors
