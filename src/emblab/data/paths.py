"""Where data lives: ``EMBLAB_DATA`` / ``--data-dir`` (a root laid out like ``shared/data``) and
the download cache (``EMBLAB_CACHE``, default ``~/.cache/emblab``)."""

from __future__ import annotations

import os
from pathlib import Path

from .._errors import DataError

_HINT = ("point it at the folder holding stsb/, sick/, scifact_beir/, embeddings_minilm/ ... "
         "(e.g. EMBLAB_DATA=../shared/data or --data-dir).")


def data_root(data_dir: str | os.PathLike | None = None, *, required: bool = True) -> Path | None:
    """Root folder of the datasets.

    Parameters
    ----------
    data_dir : path-like, optional
        Explicit root; otherwise ``$EMBLAB_DATA``.
    required : bool
        Raise :class:`DataError` when no root is configured (else return None).
    """
    root = data_dir or os.environ.get("EMBLAB_DATA")
    if not root:
        if required:
            raise DataError(f"EMBLAB_DATA is not set: {_HINT}")
        return None
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"data folder {path} does not exist: {_HINT}")
    return path


def dataset_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Folder of one dataset under the data root, e.g. ``dataset_dir('stsb')``."""
    root = data_root(data_dir)
    path = root / name
    if not path.is_dir():
        raise DataError(f"dataset folder {path} is missing; expected {name}/ under {root}.")
    return path


def cache_dir() -> Path:
    """Download/embedding cache (``$EMBLAB_CACHE`` or ``~/.cache/emblab``), created on demand."""
    path = Path(os.environ.get("EMBLAB_CACHE", Path.home() / ".cache" / "emblab")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
