"""Artifact and file I/O: the output guard, atomic writes, fingerprints, model directories
(design.md sections 5 and 10).

Outputs never destroy what the user owns
----------------------------------------
Every writer that takes an output path from a user (each CLI command, ``model.save``,
``Codes.save``, ``build_report``...) checks it first with one call, before any work::

    state = guard_output(out, "model", inputs=[data_path], overwrite=overwrite)

:func:`guard_output` raises :class:`~emblab.DataError` (one line; exit code 2 on the CLI) and
creates or changes nothing when

- the path cannot be a new output (empty, ``.``, ``..``, ``/``), lies under a file, or its folder
  does not accept new entries (read-only, ``/proc``, ``/sys``: checked by creating and removing a
  probe folder);
- the output is an input, lies inside an input folder, or holds an input;
- the path exists and is not an emblab output of ``kind`` (a user's file or folder, or another
  kind of emblab output): refused even with ``overwrite``;
- the path is an emblab output of ``kind`` but neither ``overwrite`` (replace it) nor ``resume``
  (the writer continues it: chunked encodings, sweeps) is set.

It returns ``"new"``, ``"resume"`` or ``"replace"``.

How an output is recognised as ours, of a kind (:func:`output_kind`):

==================  =============================================================================
kind                recognised by
==================  =============================================================================
``model``           ``config.json`` with ``format_version`` and ``method``, or ``pipeline.json``
``codes``           an ``.npz`` holding the ``__emblab_meta__`` header array
``codes-dir``       the ``emblab-output.json`` marker; older folders: the ``manifest.json`` of a
                    chunked encoding
``results``         a JSON object whose ``schema`` is ``emblab.results/1``
other folders       the marker file ``emblab-output.json`` (``{"kind": ...}``), written before
                    anything else (:func:`atomic_path` with ``kind``, :func:`make_output_dir`)
other files         an ``"emblab_output": kind`` key (JSON), an ``__emblab_output__`` array
                    (``.npz``), ``emblab_output`` schema metadata (parquet), or the sidecar
                    ``<file>.emblab.json`` whose recorded size matches (``.npy``, text)
==================  =============================================================================

Folders written by emblab 0.1.0, before the marker, are recognised by their content (a report's
``index.html``, bench results beside their ``.md`` table, retriever and intrinsic-dimension runs).

Atomic writes
-------------
:func:`atomic_path` writes into ``<path>.tmp-<random>`` and moves it into place: a file with
:func:`os.replace`, a folder with one atomic exchange (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere
two renames, the old output kept whole under a ``.tmp-`` name in between). At that last moment it
refuses again to replace a folder that is not an emblab output, so no library call can delete a
user's directory. Nothing outside the named output is removed: the only other paths it touches are
its own ``.tmp-`` sibling and the parent folders it created (removed again if the write fails).

Artifacts
---------
An artifact is a directory::

    model_dir/
      config.json        {"format_version", "method", "params", "fitted", "emblab_version",
                          "created_utc", "train_data", "tensors", "files"}
      model.safetensors  tensors only (string->string metadata), header keys sorted: identical
                         inputs, spec and seed give identical bytes

``config.json["files"]`` records the sha256 and size of ``model.safetensors``; loading verifies
them, checks every tensor's name and shape and refuses NaN/inf weights. Artifacts saved before
the checksum existed load with a one-line warning. No pickle is used anywhere.
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
from typing import Any, Iterable, Iterator

import numpy as np

from ._errors import ArtifactError, DataError

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
TENSORS_NAME = "model.safetensors"


# --- the output guard --------------------------------------------------------------------------

#: marker file written first into every folder output whose content does not already say what it is
OUTPUT_MARKER = "emblab-output.json"
#: sidecar that marks a file whose format cannot carry a marker (``.npy``, word2vec text)
SIDECAR_SUFFIX = ".emblab.json"
#: array name marking an ``.npz`` output that is not a codes file (codes carry ``__emblab_meta__``)
NPZ_MARKER = "__emblab_output__"
_CODES_NPZ_KEY = "__emblab_meta__"
#: kinds recognised by their own content (no marker written)
NATIVE_KINDS = ("model", "codes", "results")
#: what each kind is called in messages; a kind missing here is called "<kind> output"
KIND_NAMES = {
    "model": "model directory", "codes": "codes file", "codes-dir": "chunked codes folder",
    "results": "results file", "search": "search results file", "embeddings": "embeddings file",
    "embeddings-dir": "embeddings folder", "codes-parquet": "encoded parquet folder",
    "report": "report folder", "bench": "benchmark folder", "intrinsic-dim": "intrinsic-dimension folder",
    "retriever": "retriever training folder", "checkpoint": "checkpoint folder",
    "cooc": "co-occurrence folder", "word-vectors": "word-vectors folder", "word2vec": "word2vec text file",
    "words-json": "words results file", "export": "export folder", "beir-example": "example BEIR folder",
}
GUARD_STATES = ("new", "resume", "replace")


def kind_name(kind: str) -> str:
    """Human name of an output kind (``"model"`` -> ``"model directory"``)."""
    return KIND_NAMES.get(kind, f"{kind} output")


def _read_json_object(path: Path, max_bytes: int = 256 << 20) -> dict[str, Any] | None:
    try:
        if not path.is_file() or path.stat().st_size > max_bytes:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _folder_kind(p: Path) -> str | None:
    marker = _read_json_object(p / OUTPUT_MARKER)
    if marker is not None and isinstance(marker.get("kind"), str):
        return marker["kind"]
    if (p / "pipeline.json").is_file():
        return "model"
    cfg = _read_json_object(p / CONFIG_NAME)
    if cfg is not None and "format_version" in cfg and "method" in cfg:
        return "model"
    manifest = _read_json_object(p / "manifest.json")
    if manifest is not None and "model_fingerprint" in manifest and "chunks" in manifest:
        return "codes-dir"
    # folders written by emblab 0.1.0, before the marker existed
    index = p / "index.html"
    if index.is_file():
        with open(index, "rb") as fh:
            if b"no model was re-run" in fh.read(1 << 16):
                return "report"
    for doc_path in sorted(p.glob("*.json")):
        doc = _read_json_object(doc_path)
        if doc is None or not str(doc.get("schema", "")).startswith("emblab.results/"):
            continue
        if doc.get("kind") == "compression" and doc_path.with_suffix(".md").is_file():
            return "bench"
        if doc.get("kind") == "corrector" and doc_path.name == "results.json":
            return "retriever"
    if any(p.glob("intrinsic_dim_*.json")) or (p / "cells" / "store.json").is_file():
        return "intrinsic-dim"
    if (p / "state.json").is_file() and (p / "state.safetensors").is_file():
        return "checkpoint"
    vocab = _read_json_object(p / "vocab.json")
    if vocab is not None and "format_version" in vocab and "words" in vocab:
        if vocab.get("kind") == "word_vectors" and (p / "vectors.safetensors").is_file():
            return "word-vectors"
        if (p / "cooc.npz").is_file():
            return "cooc"
    return None


def _file_kind(p: Path) -> str | None:
    side = _read_json_object(p.with_name(p.name + SIDECAR_SUFFIX))
    if side is not None and side.get("file") == p.name and side.get("bytes") == p.stat().st_size:
        kind = side.get("emblab_output")
        return kind if isinstance(kind, str) else None
    suffix = p.suffix.lower()
    if suffix == ".npz":
        import zipfile

        try:
            with zipfile.ZipFile(p) as zf:
                names = set(zf.namelist())
                if f"{_CODES_NPZ_KEY}.npy" in names:
                    return "codes"
                if f"{NPZ_MARKER}.npy" in names:
                    with zf.open(f"{NPZ_MARKER}.npy") as fh:
                        return bytes(np.lib.format.read_array(fh, allow_pickle=False)).decode("utf-8")
        except (zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError):
            return None
        return None
    if suffix == ".json":
        doc = _read_json_object(p)
        if doc is None:
            return None
        if isinstance(doc.get("emblab_output"), str):
            return doc["emblab_output"]
        if str(doc.get("schema", "")).startswith("emblab.results/"):
            return "results"
        return None
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq

            meta = pq.read_schema(p).metadata or {}
        except Exception:  # noqa: BLE001 - no pyarrow, or not a parquet file: not ours
            return None
        kind = meta.get(b"emblab_output")
        return kind.decode("utf-8") if kind else None
    return None


def output_kind(path: str | os.PathLike) -> str | None:
    """The kind of emblab output at ``path`` (see the module docstring), or None if it is not ours.

    Returns None for a path that does not exist, a symbolic link, or anything emblab did not write.
    """
    p = Path(path)
    try:
        if p.is_symlink():
            return None
        if p.is_dir():
            return _folder_kind(p)
        if p.is_file():
            return _file_kind(p)
    except OSError:
        return None
    return None


def _output_path(path: str | os.PathLike) -> Path:
    """``path`` as a Path, refusing names that cannot be a new output (empty, ``.``, ``..``, ``/``)."""
    text = os.fspath(path)
    if not str(text).strip():
        raise DataError("the output path is empty; name a file or folder to write.")
    p = Path(text)
    if p.name in ("", ".", ".."):
        raise DataError(f"{text}: names an existing folder ('.', '..' or '/'), not a new output; "
                        f"name a new file or folder inside it, e.g. {os.path.join(text, 'out')}.")
    return p


def _probe_writable(path: Path) -> None:
    """Fail unless the nearest existing folder above ``path`` accepts new entries (a real probe)."""
    anc = Path(os.path.abspath(path)).parent
    while not os.path.lexists(anc):
        anc = anc.parent
    if not anc.is_dir():
        raise DataError(f"cannot write {path}: {anc} is a file, not a folder; choose another output path.")
    probe = anc / f".emblab-probe-{secrets.token_hex(4)}"
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as exc:
        raise DataError(f"cannot write {path}: {anc} is not writable ({exc.strerror}); "
                        "choose another output path.") from exc


def guard_output(path: str | os.PathLike, kind: str, *, inputs: Iterable[Any] = (),
                 overwrite: bool = False, resume: bool = False) -> str:
    """Check, before any work, that writing ``path`` destroys nothing the user owns.

    Parameters
    ----------
    path : path-like
        The output file or folder (``--out``).
    kind : str
        What will be written there (``"model"``, ``"codes"``, ``"report"``... see ``KIND_NAMES``).
    inputs : iterable of path-like
        Every file or folder the command reads (None entries are skipped).
    overwrite : bool
        Replace an existing emblab output of the same kind (``--overwrite``).
    resume : bool
        The writer resumes an existing output of the same kind (chunked encoding, sweeps).

    Returns
    -------
    str
        ``"new"`` (nothing there), ``"resume"`` (ours, ``resume`` and not ``overwrite``) or
        ``"replace"`` (ours, ``overwrite``).

    Raises
    ------
    DataError
        The path is not a valid output, cannot be written, is or holds an input, or exists and is
        not an emblab output of ``kind``, or is ours but neither ``overwrite`` nor ``resume`` is set.
        Nothing is created or changed.
    """
    p = _output_path(path)
    target = Path(os.path.realpath(p))
    for inp in inputs:
        if inp is None:
            continue
        src = Path(os.path.realpath(inp))
        if target == src:
            raise DataError(f"{path}: is the input {inp}; writing there would destroy it: choose another output path.")
        if src in target.parents:
            raise DataError(f"{path}: lies inside the input {inp}; choose an output path outside your inputs.")
        if target in src.parents:
            raise DataError(f"{path}: holds the input {inp}; choose an output path outside your inputs.")
    if p.is_symlink():
        raise DataError(f"{path}: is a symbolic link; give the real path or another output path.")
    if not os.path.lexists(p):
        _probe_writable(p)
        return "new"
    found = output_kind(p)
    if found != kind:
        what = (f"holds an emblab {kind_name(found)}, not a {kind_name(kind)}" if found
                else f"exists and is not an emblab {kind_name(kind)}")
        raise DataError(f"{path}: {what}; it was left untouched: choose another output path "
                        "(emblab never replaces what it did not write).")
    if not overwrite and not resume:
        raise DataError(f"{path}: already holds an emblab {kind_name(kind)}; pass --overwrite to replace it "
                        "or choose another output path.")
    _probe_writable(p)
    return "replace" if overwrite else "resume"


def mark_output_dir(folder: str | os.PathLike, kind: str) -> None:
    """Write the marker ``emblab-output.json`` that makes ``folder`` recognisable as ours."""
    (Path(folder) / OUTPUT_MARKER).write_text(json.dumps({"kind": kind}, indent=2) + "\n", encoding="utf-8")


def write_sidecar(path: str | os.PathLike, kind: str, **facts: Any) -> None:
    """Mark a finished file whose format cannot carry a marker (``<file>.emblab.json``, atomic)."""
    p = Path(path)
    atomic_write_json(p.with_name(p.name + SIDECAR_SUFFIX),
                      {"emblab_output": kind, "file": p.name, "bytes": p.stat().st_size, **facts})


def make_output_dir(path: str | os.PathLike, kind: str) -> Path:
    """Create the folder ``path`` with its marker in one rename (for resumable folder outputs).

    An existing folder is returned as it is (the caller has checked it with :func:`guard_output`).
    """
    p = Path(path)
    if p.is_dir():
        return p
    with atomic_path(p, is_dir=True, kind=kind):
        pass
    return p


# --- atomic writes -----------------------------------------------------------------------------

def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f"{path.name}.tmp-{secrets.token_hex(4)}")


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; return those created (deepest last)."""
    missing = []
    probe = Path(os.path.abspath(folder))
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        raise DataError(f"cannot write into {folder}: {probe} is a file, not a folder; choose another output path.")
    created = []
    for d in reversed(missing):
        try:
            d.mkdir()
        except OSError as exc:
            _remove_empty_dirs(created)
            raise DataError(f"cannot create output folder {d} ({exc.strerror}); choose a writable path.") from exc
        created.append(d)
    return created


def _remove_empty_dirs(dirs: list[Path]) -> None:
    for d in reversed(dirs):
        try:
            d.rmdir()
        except OSError:
            return


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _commit(tmp: Path, path: Path, is_dir: bool, kind: str | None) -> None:
    """Move ``tmp`` onto ``path``; never replaces a folder (or a guarded file) that is not ours."""
    if path.is_symlink():
        raise DataError(f"{path}: is a symbolic link; it was left untouched: give another output path.")
    if path.is_dir():
        if not is_dir:
            raise DataError(f"{path}: is a folder; it was left untouched: give a file name.")
        found = output_kind(path)
        if found is None or (kind is not None and found != kind):
            raise DataError(f"{path}: exists and is not an emblab {kind_name(kind or 'output')}; it was left "
                            "untouched: choose another output path.")
        if _exchange(tmp, path):
            shutil.rmtree(tmp, ignore_errors=True)   # tmp now holds the old output
            return
        old = _tmp_sibling(path)
        os.replace(path, old)                        # the old output stays whole under .tmp- until
        os.replace(tmp, path)                        # the new one is in place
        shutil.rmtree(old, ignore_errors=True)
        return
    if os.path.lexists(path):
        if is_dir:
            raise DataError(f"{path}: is a file; it was left untouched: give a folder path for this output.")
        if kind is not None and output_kind(path) != kind:
            raise DataError(f"{path}: exists and is not an emblab {kind_name(kind)}; it was left untouched: "
                            "choose another output path.")
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, is_dir: bool = False, kind: str | None = None) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success move it onto ``path``.

    On any exception (Ctrl-C included) the temporary file or folder, and any parent folder this
    call created, are removed, and ``path`` is left untouched.

    Parameters
    ----------
    path : path-like
        Final destination. An existing folder there is replaced only if it is an emblab output (of
        ``kind`` when given), in one atomic exchange; a user's folder is never deleted.
    is_dir : bool
        Create the temporary path as a directory.
    kind : str, optional
        Output kind (see :func:`guard_output`): a folder gets the marker file unless the kind is
        recognised by its content, and an existing file is replaced only if it is of this kind.

    Raises
    ------
    DataError
        The destination cannot be written, or exists and is not ours.
    """
    path = _output_path(path)
    created = _make_parents(path.parent)
    tmp = _tmp_sibling(path)
    try:
        if is_dir:
            try:
                tmp.mkdir()
            except OSError as exc:
                raise DataError(f"cannot write {path} ({exc.strerror}); choose a writable output path.") from exc
            if kind is not None and kind not in NATIVE_KINDS:
                mark_output_dir(tmp, kind)
        try:
            yield tmp
        except OSError as exc:
            if str(getattr(exc, "filename", "") or "").startswith(str(tmp)):
                raise DataError(f"cannot write {path} ({exc.strerror}); choose a writable output path.") from exc
            raise
        try:
            _commit(tmp, path, is_dir, kind)
        except OSError as exc:
            raise DataError(f"cannot write {path} ({exc.strerror}); choose a writable output path.") from exc
    except BaseException:
        _remove(tmp)
        _remove_empty_dirs(created)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, *, kind: str | None = None) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8); ``kind`` as in :func:`atomic_path`."""
    with atomic_path(path, kind=kind) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any, *, kind: str | None = None) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically.

    With ``kind`` (a user-named output) an existing file is replaced only if it is ours of that
    kind, and a dict gains the key ``"emblab_output": kind`` that marks it (results documents are
    recognised by their ``schema`` instead).
    """
    if kind is not None and kind not in NATIVE_KINDS and isinstance(obj, dict):
        obj = {"emblab_output": kind, **obj}
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=json_default) + "\n", kind=kind)


def json_default(o: Any) -> Any:
    """The one JSON encoder hook of emblab (``json.dumps(obj, default=json_default)``).

    NumPy scalars become Python numbers, arrays nested lists, paths strings; anything else raises
    ``TypeError``, so a results file never holds a value by accident.
    """
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def stable_json(obj: Any) -> str:
    """Canonical JSON text to hash (cache keys, cell ids, fingerprints): sorted keys, compact.

    Values JSON cannot hold are written as their ``str()`` so that every key stays stable across
    versions (stores written before this function existed keep their ids).
    """
    return json.dumps(obj, sort_keys=True, default=str)


def atomic_save_npy(path: str | os.PathLike, arr: np.ndarray, *, kind: str | None = None) -> None:
    """Save one array as ``.npy`` atomically; ``kind`` as in :func:`atomic_path`."""
    with atomic_path(path, kind=kind) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)


def atomic_save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray], *, kind: str | None = None) -> None:
    """Save several arrays as an uncompressed ``.npz`` atomically.

    With a ``kind`` other than ``codes`` the file gains the marker array ``__emblab_output__``.
    """
    if kind is not None and kind not in NATIVE_KINDS:
        arrays = {**arrays, NPZ_MARKER: np.frombuffer(kind.encode("utf-8"), dtype=np.uint8)}
    with atomic_path(path, kind=kind) as tmp:
        with open(tmp, "wb") as fh:
            write_npz(fh, arrays)


def write_npz(fh: Any, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` with a fixed member timestamp, so equal arrays give equal bytes.

    ``np.savez`` stamps each member with the current time; a resumed or repeated encoding could
    then never be compared byte for byte. Same layout otherwise (stored, ``<name>.npy`` members).
    """
    import zipfile

    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)


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
        Destination directory. An existing emblab model directory there is replaced; anything else
        is refused (:class:`DataError`) and left untouched.
    config : dict
        Content of ``config.json``; ``format_version``, ``tensors`` and ``files`` are added.
    tensors : dict of str -> ndarray
        Saved to ``model.safetensors`` (may be empty).
    extra_files : dict of str -> bytes, optional
        Additional files (e.g. ``pipeline.json`` or sub-artifacts written separately).
    """
    with atomic_path(path, is_dir=True, kind="model") as tmp:
        fill_artifact_dir(tmp, config, tensors, extra_files)


def safetensors_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """``tensors`` in the safetensors format with a canonical header (keys sorted, no spaces).

    safetensors writes its header from a hash map, so the same tensors could give different bytes
    (issue 13: two distinct ``model.safetensors`` in six identical fits). The header is re-serialised
    with sorted keys; data offsets are relative to the end of the header, so they stay valid.
    """
    from safetensors.numpy import save

    raw = save(tensors, metadata=metadata)
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)   # keep the data 8-byte aligned, as safetensors does
    return len(text).to_bytes(8, "little") + text + raw[8 + n:]


def fill_artifact_dir(
    folder: Path,
    config: dict[str, Any],
    tensors: dict[str, np.ndarray],
    extra_files: dict[str, bytes] | None = None,
) -> None:
    """Write ``config.json`` and ``model.safetensors`` into an existing (temporary) folder.

    ``config["files"]`` records the sha256 and size of ``model.safetensors``, checked on load.
    """
    config = {"format_version": FORMAT_VERSION, **config}
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    config.setdefault("tensors", {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in tensors.items()})
    data = safetensors_bytes(tensors, {"format": "emblab", "method": str(config.get("method"))})
    (folder / TENSORS_NAME).write_bytes(data)
    config["files"] = {TENSORS_NAME: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2, default=json_default) + "\n", encoding="utf-8")
    for name, blob in (extra_files or {}).items():
        (folder / name).write_bytes(blob)


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
        raise ArtifactError(f"{cfg_path}: corrupt JSON ({exc}); re-fit the model or restore the original.") from exc
    if not isinstance(cfg, dict):
        raise ArtifactError(f"{cfg_path}: expected a JSON object; re-fit the model or restore the original.")
    version = cfg.get("format_version")
    if version is None:
        raise ArtifactError(f"{cfg_path}: no 'format_version'; this is not an emblab artifact.")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise ArtifactError(
            f"{cfg_path}: format_version {version!r} is not supported by this emblab "
            f"(reads up to {FORMAT_VERSION}); upgrade emblab."
        )
    for key in ("method", "params"):
        if key not in cfg:
            raise ArtifactError(f"{cfg_path}: missing key {key!r}; re-fit the model or restore the original.")
    if not isinstance(cfg["method"], str):
        raise ArtifactError(f"{cfg_path}: 'method' must be a string; re-fit the model or restore the original.")
    for key in ("tensors", "files", "fitted"):
        if key in cfg and cfg[key] is not None and not isinstance(cfg[key], dict):
            raise ArtifactError(f"{cfg_path}: {key!r} must be an object; re-fit the model or restore the original.")
    return cfg


_UNVERIFIED_WARNED: set[str] = set()


def read_tensors(path: str | os.PathLike, config: dict[str, Any]) -> dict[str, np.ndarray]:
    """Read ``model.safetensors``, verify its sha256 and check every tensor against ``config``.

    Raises
    ------
    ArtifactError
        Missing, corrupt or changed file (checksum), a tensor missing, extra or of another shape,
        or NaN/inf in a floating-point tensor. The message names the file and says what to do.
    """
    from safetensors.numpy import load

    path = Path(path)
    st = path / TENSORS_NAME
    fix = "re-fit the model or restore the original files"
    if not st.exists():
        raise ArtifactError(f"{st}: missing; the artifact is incomplete: {fix}.")
    data = st.read_bytes()
    try:
        tensors = load(data)
    except Exception as exc:  # noqa: BLE001 - any parse failure of a damaged file
        raise ArtifactError(f"{st}: corrupt or truncated safetensors file ({' '.join(str(exc).split())}); {fix}.") from exc
    expected = config.get("tensors") or {}
    for name, spec in expected.items():
        if name not in tensors:
            raise ArtifactError(f"{st}: tensor {name!r} is missing; {fix}.")
        shape = tuple(tensors[name].shape)
        want = tuple(spec.get("shape", ())) if isinstance(spec, dict) else None
        if shape != want:
            raise ArtifactError(f"{st}: tensor {name!r} has shape {shape}, config says {want}; {fix}.")
    extra = set(tensors) - set(expected)
    if expected and extra:
        raise ArtifactError(f"{st}: unexpected tensor(s) {sorted(extra)}; the artifact does not match config.json.")
    recorded = (config.get("files") or {}).get(TENSORS_NAME)
    if recorded is None:
        if str(st) not in _UNVERIFIED_WARNED:
            import warnings

            _UNVERIFIED_WARNED.add(str(st))
            warnings.warn(f"{st}: saved by an emblab that recorded no checksum, so it cannot be verified; "
                          "re-save the model to add one.", UserWarning, stacklevel=4)
    elif not isinstance(recorded, dict) or recorded.get("sha256") != hashlib.sha256(data).hexdigest():
        raise ArtifactError(f"{st}: sha256 does not match config.json (the file was changed or damaged); {fix}.")
    for name, t in tensors.items():
        if np.issubdtype(t.dtype, np.floating) and not np.isfinite(t).all():
            raise ArtifactError(f"{st}: tensor {name!r} holds NaN or inf; the weights are damaged: {fix}.")
    return tensors
