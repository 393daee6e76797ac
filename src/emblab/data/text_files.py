"""Readers for user text collections (input of ``emblab embed``).

Formats: ``.txt`` (one text per line), ``.jsonl`` / ``.jsonl.gz`` (one JSON object per line),
``.csv`` / ``.tsv`` (header row; the csv module, since user CSVs do quote their fields) and
``.parquet``. Every problem is a one-line :class:`~emblab.DataError`.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any, Iterator

from .._errors import DataError

__all__ = ["read_text_file", "iter_rows"]


def _open(path: Path):
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def iter_rows(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, row dict)`` of a ``jsonl``, ``csv`` or ``tsv`` file (gzip too), one-line errors."""
    with _open(path) as fh:
        if kind == "jsonl":
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{lineno}: invalid JSON ({exc.msg}).") from exc
                if not isinstance(row, dict):
                    raise DataError(f"{path}:{lineno}: expected a JSON object per line.")
                yield lineno, row
        else:
            csv.field_size_limit(1 << 27)
            reader = csv.DictReader(fh, delimiter="\t" if kind == "tsv" else ",")
            for row in reader:
                yield reader.line_num, row


def read_text_file(path: Path, *, text_field: str = "text", id_field: str | None = "id",
                   limit: int | None = None) -> tuple[list, list[str]]:
    """Read ``(ids, texts)`` from one file; see :func:`emblab.embed.read_texts`."""
    if not path.exists():
        raise DataError(f"{path}: file not found; check the path.")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give a .txt, .jsonl, .csv or .parquet file.")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty; nothing to embed.")
    name = path.name.lower()
    kind = next((k for ext, k in ((".txt", "txt"), (".txt.gz", "txt"), (".jsonl", "jsonl"), (".jsonl.gz", "jsonl"),
                                  (".ndjson", "jsonl"), (".csv", "csv"), (".csv.gz", "csv"), (".tsv", "tsv"),
                                  (".tsv.gz", "tsv"), (".parquet", "parquet")) if name.endswith(ext)), None)
    if kind is None:
        raise DataError(f"{path}: unknown input type; use .txt, .jsonl(.gz), .csv, .tsv or .parquet.")
    ids: list = []
    texts: list[str] = []
    try:
        if kind == "txt":
            with _open(path) as fh:
                for lineno, line in enumerate(fh):
                    line = line.rstrip("\r\n")
                    if line.strip():
                        ids.append(lineno)
                        texts.append(line)
                    if limit and len(texts) >= limit:
                        break
        elif kind == "parquet":
            ids, texts = _read_parquet(path, text_field, id_field, limit)
        else:
            for i, (where, row) in enumerate(iter_rows(path, kind)):
                if text_field not in row:
                    raise DataError(f"{path}: no field {text_field!r} (fields: {sorted(row)}); "
                                    "pick one with --text-field.")
                text = row[text_field]
                if not isinstance(text, str):
                    raise DataError(f"{path}:{where}: field {text_field!r} is {type(text).__name__}, not text.")
                texts.append(text)
                ids.append(row[id_field] if id_field and row.get(id_field) is not None else i)
                if limit and len(texts) >= limit:
                    break
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); convert it to UTF-8.") from exc
    except (OSError, EOFError, csv.Error) as exc:
        raise DataError(f"{path}: unreadable ({exc}); check the file.") from exc
    if not texts:
        raise DataError(f"{path}: no texts found; the file holds no non-empty rows.")
    return ids, texts


def _read_parquet(path: Path, text_field: str, id_field: str | None, limit: int | None):
    from .._deps import require

    pq = require("pyarrow.parquet", "Reading parquet input")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - any arrow failure means a bad file
        raise DataError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0]}).") from exc
    if text_field not in table.column_names:
        raise DataError(f"{path}: no column {text_field!r} (columns: {table.column_names}); pick one with --text-field.")
    if limit:
        table = table.slice(0, limit)
    texts = table.column(text_field).to_pylist()
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise DataError(f"{path}: row {bad} of column {text_field!r} is {type(texts[bad]).__name__}, not text.")
    if id_field and id_field in table.column_names:
        ids = table.column(id_field).to_pylist()
    else:
        ids = list(range(len(texts)))
    return ids, texts
