"""BEIR-layout retrieval datasets (``corpus.jsonl``, ``queries.jsonl``, ``qrels/{split}.tsv``).

The default, ``scifact_beir``, is the SciFact folder of the shared data root (5,183 documents,
1,109 queries, qrels train 919 pairs / test 339 pairs over 300 queries). Row order of
``corpus_ids`` / ``query_ids`` is the line order of the files, which is also the row order of
the precomputed ``embeddings_minilm/scifact_{corpus,queries}.f16.npy``.

Document text is ``title + ' ' + text`` (the text alone when the title is empty), as in BEIR's
sentence-transformers wrapper and as the shared embeddings were computed.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import DataError

__all__ = ["BeirDataset", "load_beir", "BEIR_COUNTS"]

#: Canonical sizes (SOURCE.txt): corpus, queries and qrels pairs per split.
BEIR_COUNTS: dict[str, dict[str, int]] = {
    "scifact_beir": {"corpus": 5183, "queries": 1109, "qrels_train": 919, "qrels_test": 339,
                     "test_queries": 300},
}


@dataclass
class BeirDataset:
    """One BEIR folder in memory.

    Attributes
    ----------
    name : str
    root : Path
    corpus_ids, corpus_texts : list of str, length n_docs (file order)
    corpus_titles : list of str
    query_ids, query_texts : list of str, length n_queries (file order)
    """

    name: str
    root: Path
    corpus_ids: list[str]
    corpus_titles: list[str]
    corpus_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    _qrels: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return (f"BeirDataset(name={self.name!r}, docs={len(self.corpus_ids)}, "
                f"queries={len(self.query_ids)}, splits={self.splits()})")

    def splits(self) -> list[str]:
        """Names of the qrels splits present (``train``, ``dev``, ``test``)."""
        folder = self.root / "qrels"
        return sorted(p.name[:-4] for p in folder.glob("*.tsv")) if folder.is_dir() else []

    def qrels(self, split: str = "test") -> dict[str, dict[str, int]]:
        """Relevance labels ``{query_id: {doc_id: score}}`` of one split (cached)."""
        if split not in self._qrels:
            self._qrels[split] = _read_qrels(self.root / "qrels" / f"{split}.tsv", self)
        return self._qrels[split]

    def test_query_ids(self, split: str = "test") -> list[str]:
        """Ids of the queries that have labels in ``split``, in ``queries.jsonl`` order."""
        labelled = self.qrels(split)
        return [q for q in self.query_ids if q in labelled]

    def query_index(self) -> dict[str, int]:
        """Map query id -> row (into ``query_texts`` and the query embeddings)."""
        return {q: i for i, q in enumerate(self.query_ids)}

    def corpus_index(self) -> dict[str, int]:
        """Map document id -> row (into ``corpus_texts`` and the corpus embeddings)."""
        return {d: i for i, d in enumerate(self.corpus_ids)}


def load_beir(
    name_or_folder: str | os.PathLike = "scifact_beir",
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    check_counts: bool | None = None,
    require_text: bool = False,
) -> BeirDataset:
    """Load a BEIR-layout folder.

    Parameters
    ----------
    name_or_folder : str or path-like
        A dataset name under the data root (``"scifact_beir"``) or a path to a BEIR folder.
    data_dir : path-like, optional
        Data root; default ``$EMBLAB_DATA``, then the download cache.
    download : bool
        Fetch the dataset from its public source into the cache if it is not found
        (see :mod:`emblab.data.download`).
    check_counts : bool or None
        Compare sizes with ``BEIR_COUNTS``: True raises, None warns, False skips.
    require_text : bool
        Every corpus and query row must have a string ``text`` field (needed to embed them);
        otherwise a missing text reads as "".

    Returns
    -------
    BeirDataset

    Raises
    ------
    DataError
        Missing folder or file, malformed JSON line, duplicate ids.

    Examples
    --------
    >>> ds = load_beir("scifact_beir")  # doctest: +SKIP
    >>> len(ds.corpus_ids), len(ds.test_query_ids())
    (5183, 300)
    """
    from .download import resolve_dataset_dir

    candidate = Path(name_or_folder).expanduser()
    if candidate.is_dir() and any((candidate / f).exists() for f in ("corpus.jsonl", "corpus.jsonl.gz")):
        root, name = candidate, candidate.name
    else:
        name = str(name_or_folder)
        root = resolve_dataset_dir(name, data_dir, download=download)
    corpus = _read_jsonl(_find(root, "corpus.jsonl"))
    queries = _read_jsonl(_find(root, "queries.jsonl"))
    c_ids, c_titles, c_texts = [], [], []
    for i, (row, where) in enumerate(corpus):
        doc_id = _get_id(row, where)
        if require_text:
            _check_text(row, where)
        title = str(row.get("title") or "")
        text = str(row.get("text") or "")
        c_ids.append(doc_id)
        c_titles.append(title)
        c_texts.append(f"{title} {text}" if title else text)
    q_ids = [_get_id(row, where) for row, where in queries]
    if require_text:
        for row, where in queries:
            _check_text(row, where)
    q_texts = [str(row.get("text") or "") for row, _ in queries]
    for kind, ids, path in (("document", c_ids, "corpus.jsonl"), ("query", q_ids, "queries.jsonl")):
        if len(set(ids)) != len(ids):
            raise DataError(f"{root / path}: duplicate {kind} ids; each _id must be unique.")
    ds = BeirDataset(name, root, c_ids, c_titles, c_texts, q_ids, q_texts)
    expected = BEIR_COUNTS.get(name)
    if expected and check_counts is not False:
        got = {"corpus": len(c_ids), "queries": len(q_ids)}
        got.update({f"qrels_{s}": sum(len(v) for v in ds.qrels(s).values()) for s in ("train", "test")
                    if (root / "qrels" / f"{s}.tsv").exists()})
        bad = {k: (v, expected[k]) for k, v in got.items() if k in expected and v != expected[k]}
        if bad:
            msg = f"{root}: counts differ from SOURCE.txt: " + ", ".join(
                f"{k} {g} (expected {e})" for k, (g, e) in bad.items())
            if check_counts:
                raise DataError(msg + "; re-copy or re-download the dataset.")
            warnings.warn(msg, stacklevel=2)
    return ds


def _find(root: Path, filename: str) -> Path:
    for cand in (root / filename, root / (filename + ".gz")):
        if cand.exists():
            return cand
    raise DataError(f"{root / filename}: missing; a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/.")


def _read_jsonl(path: Path) -> list[tuple[dict, str]]:
    from .text_files import iter_rows  # the shared JSONL reader (gzip, line numbers, one-line errors)

    try:
        rows = [(row, f"{path}:{lineno}") for lineno, row in iter_rows(path, "jsonl")]
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({exc}); re-copy or re-download it.") from exc
    if not rows:
        raise DataError(f"{path}: file is empty.")
    return rows


def _get_id(row: dict, where: str) -> str:
    value = row.get("_id", row.get("id"))
    if value is None:
        raise DataError(f"{where}: no '_id' field; BEIR rows need an _id.")
    return str(value)


def _check_text(row: dict, where: str) -> None:
    if not isinstance(row.get("text"), str):
        what = "no 'text' field" if "text" not in row else f"'text' is {type(row['text']).__name__}, not a string"
        raise DataError(f"{where}: {what}; every row needs its text to be embedded "
                        "(or put corpus.npy + queries.npy vectors in the folder).")


def _read_qrels(path: Path, ds: BeirDataset) -> dict[str, dict[str, int]]:
    if not path.exists():
        raise DataError(f"{path}: missing; available qrels splits: {', '.join(ds.splits()) or 'none'}.")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip("\n").split("\t")
            if not line.strip():
                continue
            if lineno == 1 and parts[0] == "query-id":
                continue  # BEIR header
            if len(parts) == 4:  # TREC format: qid 0 docid score
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3:
                raise DataError(f"{path}:{lineno}: expected 3 tab-separated fields (query-id, corpus-id, score).")
            try:
                score = int(float(parts[2]))
            except ValueError as exc:
                raise DataError(f"{path}:{lineno}: score {parts[2]!r} is not a number.") from exc
            qrels.setdefault(parts[0], {})[parts[1]] = score
    if not qrels:
        raise DataError(f"{path}: no relevance labels.")
    return qrels


def assemble_beir_folder(dest: str | os.PathLike, dataset: str = "scifact_beir", *,
                         corpus_vectors: str | None = "scifact_corpus",
                         query_vectors: str | None = "scifact_queries") -> Path:
    """Lay out a shared BEIR dataset as a user's ``beir:DIR`` folder, by symbolic links.

    ``dest`` receives ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/`` from the data root's
    ``dataset`` folder and, when named, ``corpus.npy`` / ``queries.npy`` pointing at the shared
    precomputed vectors ``embeddings_minilm/<name>.f16.npy`` (rows in file order). Nothing is
    copied, so the folder is cheap and never a second copy of the data.

    Returns
    -------
    Path of ``dest``.
    """
    from .embeddings import embeddings_path
    from .paths import dataset_dir

    src = dataset_dir(dataset)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels"):
        target = _find(src, name) if name != "qrels" else src / "qrels"
        (dest / name).symlink_to(target.resolve())
    for name, vectors in (("corpus.npy", corpus_vectors), ("queries.npy", query_vectors)):
        if vectors:
            (dest / name).symlink_to(embeddings_path(vectors).resolve())
    return dest
