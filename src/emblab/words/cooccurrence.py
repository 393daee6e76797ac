"""Corpus -> token ids -> windowed co-occurrence counts (qwem.md section 2).

Pipeline
--------
1. :func:`iter_documents` yields raw documents from an IMDB ``*.jsonl.gz`` file (or the
   ``imdb_aclimdb`` folder), the ``text8`` prefix, or any plain-text file (one document per line;
   a file that is one long line, like text8, is one stream).
2. :func:`tokenize_corpus` lower-cases, strips ``<br />`` and keeps ``[a-z]+`` tokens. It assigns
   ids by frequency rank (0 = most frequent; ties broken alphabetically) so that the vocabulary of
   size V is simply ``ids < V``. The loop is over *documents*; per-token work happens in C
   (``re.findall``, ``Counter``, ``map``/``np.fromiter``).
3. :func:`cooccurrence_counts` deletes out-of-vocabulary tokens *before* windowing (as the authors
   do), never crosses a document boundary and adds weight ``L + 1 - j`` for offset ``j``. Counting is
   chunked ``np.bincount`` over ``i * V + j`` into a dense float64 ``(V, V)`` matrix; both ``(i, j)``
   and ``(j, i)`` are counted.

:class:`CoocStats` bundles vocabulary, unigram counts and the co-occurrence matrix and saves it as
``cooc.npz`` (upper triangle, sparse triplets) + ``vocab.json``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .._errors import DataError, InvalidParameterError
from ..io import atomic_path, atomic_save_npz, atomic_write_json

__all__ = ["iter_documents", "tokenize", "TokenStream", "tokenize_corpus", "cooccurrence_counts",
           "CoocStats", "build_cooccurrence", "load_token_stream_cached"]

_TOKEN = re.compile(r"[a-z]+")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def tokenize(text: str) -> list[str]:
    """Text8-style tokens: lower-case, ``<br />`` removed, ``[a-z]+`` runs."""
    return _TOKEN.findall(_BR.sub(" ", text).lower())


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _corpus_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.jsonl.gz")) or sorted(path.glob("*.txt"))
        if not files:
            raise DataError(f"{path}: folder holds no *.jsonl.gz or *.txt corpus files.")
        return files
    if not path.exists():
        raise DataError(f"corpus {path} does not exist; give a text file, an IMDB *.jsonl.gz "
                        "or the imdb_aclimdb folder.")
    return [path]


def iter_documents(path: str | os.PathLike) -> Iterator[str]:
    """Yield the documents of a corpus.

    Parameters
    ----------
    path : path-like
        ``*.jsonl(.gz)`` (one JSON object per line with a ``text`` field, e.g. IMDB), a folder of
        such files, or a plain-text file (optionally ``.gz``): one document per non-empty line.
    """
    for f in _corpus_files(Path(path)):
        is_jsonl = ".jsonl" in f.name
        with _open_text(f) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                if is_jsonl:
                    try:
                        yield json.loads(line)["text"]
                    except (json.JSONDecodeError, KeyError, TypeError) as exc:
                        raise DataError(f"{f}:{lineno}: not a JSON object with a 'text' field.") from exc
                else:
                    yield line


@dataclass
class TokenStream:
    """A tokenised corpus.

    Attributes
    ----------
    ids : ndarray, int32 (n_tokens,)
        Token ids = frequency rank (0 most frequent).
    doc_offsets : ndarray, int64 (n_docs + 1,)
        Document ``i`` is ``ids[doc_offsets[i]:doc_offsets[i+1]]``.
    words : list of str
        ``words[r]`` is the word with rank ``r``.
    counts : ndarray, int64 (n_words,)
        Corpus frequency of each word.
    """

    ids: np.ndarray
    doc_offsets: np.ndarray
    words: list[str]
    counts: np.ndarray
    meta: dict = field(default_factory=dict)

    def restrict(self, V: int) -> tuple[np.ndarray, np.ndarray]:
        """Delete tokens with id >= V (before windowing). Returns ``(ids, doc_offsets)``."""
        keep = self.ids < V
        csum = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        return self.ids[keep], csum[self.doc_offsets]


def tokenize_corpus(docs: Iterable[str], *, batch_docs: int = 2000) -> TokenStream:
    """Tokenise documents and assign frequency-rank ids.

    Parameters
    ----------
    docs : iterable of str
    batch_docs : int
        Documents per batch (bounds the memory held as Python strings).
    """
    provisional: dict[str, int] = {}
    counter: Counter = Counter()
    pieces: list[np.ndarray] = []
    lengths: list[int] = []
    batch: list[list[str]] = []

    def flush() -> None:
        flat = [w for doc in batch for w in doc]  # list flattening; ids are assigned in C below
        c = Counter(flat)
        counter.update(c)
        for w in c:  # loop over distinct new words only
            if w not in provisional:
                provisional[w] = len(provisional)
        pieces.append(np.fromiter(map(provisional.__getitem__, flat), dtype=np.int32, count=len(flat)))
        batch.clear()

    for text in docs:
        toks = tokenize(text)
        batch.append(toks)
        lengths.append(len(toks))
        if len(batch) >= batch_docs:
            flush()
    if batch:
        flush()
    if not provisional:
        raise DataError("the corpus contains no [a-z]+ tokens.")
    words_prov = list(provisional)
    cnt = np.array([counter[w] for w in words_prov], dtype=np.int64)
    # rank: descending count, ties alphabetical (deterministic, independent of reading order)
    order = sorted(range(len(words_prov)), key=lambda i: (-cnt[i], words_prov[i]))
    lut = np.empty(len(order), dtype=np.int32)
    lut[np.array(order)] = np.arange(len(order), dtype=np.int32)
    ids = lut[np.concatenate(pieces)] if pieces else np.zeros(0, np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    return TokenStream(ids=ids, doc_offsets=offsets, words=[words_prov[i] for i in order],
                       counts=cnt[np.array(order)])


def load_token_stream_cached(path: str | os.PathLike, cache: str | os.PathLike | None = None) -> TokenStream:
    """Tokenise ``path`` once and cache the ids under the emblab cache (keyed by path, size, mtime)."""
    from ..data.paths import cache_dir

    path = Path(path).resolve()
    files = _corpus_files(path)
    key_src = "|".join(f"{f}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in files)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    root = Path(cache) if cache else cache_dir() / "words"
    root.mkdir(parents=True, exist_ok=True)
    npz, js = root / f"tokens-{key}.npz", root / f"tokens-{key}.json"
    if npz.exists() and js.exists():
        with np.load(npz, allow_pickle=False) as z:
            ids, offs, cnt = z["ids"], z["doc_offsets"], z["counts"]
        info = json.loads(js.read_text())
        return TokenStream(ids, offs, info["words"], cnt, meta=info.get("meta", {}))
    ts = tokenize_corpus(iter_documents(path))
    ts.meta = {"corpus": str(path), "n_tokens": int(ts.ids.size), "n_docs": int(ts.doc_offsets.size - 1)}
    atomic_save_npz(npz, {"ids": ts.ids, "doc_offsets": ts.doc_offsets, "counts": ts.counts})
    atomic_write_json(js, {"words": ts.words, "meta": ts.meta})
    return ts


def cooccurrence_counts(ids: np.ndarray, doc_offsets: np.ndarray, V: int, window: int = 16,
                        *, weighting: str = "linear", chunk_tokens: int = 1_000_000) -> np.ndarray:
    """Symmetric windowed co-occurrence counts.

    Parameters
    ----------
    ids : ndarray, int (n,)
        In-vocabulary token ids in ``[0, V)`` (OOV already deleted).
    doc_offsets : ndarray, int64 (n_docs + 1,)
        Document boundaries into ``ids``; windows never cross them.
    V : int
    window : int
        L, the context size on each side.
    weighting : {"linear", "uniform"}
        ``linear``: offset j gets ``L + 1 - j`` (word2vec's dynamic window in expectation).

    Returns
    -------
    C : ndarray, float64 (V, V)
        ``C[i, j] = sum`` of weights of pairs (i at p, j at p +/- offset); symmetric.
    """
    if window < 1:
        raise InvalidParameterError(f"window must be >= 1; got {window}.")
    if weighting not in ("linear", "uniform"):
        raise InvalidParameterError(f"weighting must be 'linear' or 'uniform'; got {weighting!r}.")
    ids = np.asarray(ids, dtype=np.int64)
    n = ids.size
    if n and (ids.min() < 0 or ids.max() >= V):
        raise DataError(f"token ids must lie in [0, {V}); filter OOV tokens first.")
    # document index per token, to reject pairs that cross a boundary
    doc = np.repeat(np.arange(doc_offsets.size - 1, dtype=np.int32), np.diff(doc_offsets))
    C = np.zeros(V * V, dtype=np.float64)
    offs = np.arange(1, window + 1)
    wts = (window + 1 - offs).astype(np.float64) if weighting == "linear" else np.ones(window)
    for s in range(0, n, chunk_tokens):
        e = min(s + chunk_tokens, n)
        idx_parts, w_parts = [], []
        for j, w in zip(offs, wts):
            hi = min(e, n - j)
            if hi <= s:
                continue
            same = doc[s:hi] == doc[s + j:hi + j]
            a, b = ids[s:hi][same], ids[s + j:hi + j][same]
            idx_parts.append(a * V + b)
            w_parts.append(np.full(a.size, w))
        if idx_parts:
            C += np.bincount(np.concatenate(idx_parts), weights=np.concatenate(w_parts), minlength=V * V)
    C = C.reshape(V, V)
    C += C.T.copy()  # count (i, j) and (j, i)
    return C


@dataclass
class CoocStats:
    """Vocabulary, unigram counts and co-occurrence matrix of one corpus.

    Attributes
    ----------
    words : list of str (V,)
    unigram : ndarray, float64 (V,)
        Counts of each word among in-vocabulary tokens.
    C : ndarray, float64 (V, V)
        Symmetric weighted co-occurrence counts.
    meta : dict
        corpus, window, weighting, n_tokens (in-vocab), n_docs...
    """

    words: list[str]
    unigram: np.ndarray
    C: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def V(self) -> int:
        return len(self.words)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``cooc.npz`` (upper-triangle triplets) and ``vocab.json`` into folder ``path``."""
        path = Path(path)
        r, c = np.nonzero(np.triu(self.C))
        with atomic_path(path, is_dir=True, kind="cooc") as tmp:
            atomic_save_npz(tmp / "cooc.npz", {"row": r.astype(np.int32), "col": c.astype(np.int32),
                                               "data": self.C[r, c], "unigram": self.unigram})
            atomic_write_json(tmp / "vocab.json", {"format_version": 1, "words": self.words, "meta": self.meta})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "CoocStats":
        """Load a folder written by :meth:`save`."""
        path = Path(path)
        if not (path / "cooc.npz").exists() or not (path / "vocab.json").exists():
            raise DataError(f"{path}: not a co-occurrence folder (needs cooc.npz and vocab.json); "
                            "create it with `emblab words cooc`.")
        info = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        V = len(info["words"])
        with np.load(path / "cooc.npz", allow_pickle=False) as z:
            C = np.zeros((V, V), dtype=np.float64)
            C[z["row"], z["col"]] = z["data"]
            unigram = z["unigram"].astype(np.float64)
        C += np.triu(C, 1).T  # mirror the strict upper triangle (triu copies, so no aliasing)
        return cls(info["words"], unigram, C, info.get("meta", {}))


def build_cooccurrence(stream: TokenStream, V: int, window: int = 16, *,
                       weighting: str = "linear") -> CoocStats:
    """Co-occurrence statistics for the V most frequent words of a tokenised corpus."""
    if V < 2:
        raise InvalidParameterError(f"vocab size V must be >= 2; got {V}.")
    if V > len(stream.words):
        raise InvalidParameterError(f"vocab size V={V} exceeds the {len(stream.words)} distinct words "
                                    "of the corpus; use a smaller --vocab.")
    ids, offs = stream.restrict(V)
    C = cooccurrence_counts(ids, offs, V, window, weighting=weighting)
    unigram = np.bincount(ids, minlength=V).astype(np.float64)
    meta = {**stream.meta, "V": V, "window": window, "weighting": weighting,
            "n_tokens_in_vocab": int(ids.size), "n_docs": int(offs.size - 1),
            "frac_pairs_unseen": float((C == 0).mean())}
    return CoocStats(stream.words[:V], unigram, C, meta)
