"""``WordVectors``: a vocabulary plus a (V, d) matrix, saved as safetensors + ``vocab.json``.

Also exports the word2vec text format (``V d`` header, then ``word v1 ... vd`` per line), which
``gensim.models.KeyedVectors.load_word2vec_format`` reads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import ArtifactError, DataError
from ..io import atomic_path, atomic_write_json, write_sidecar

__all__ = ["WordVectors"]


@dataclass
class WordVectors:
    """Word embeddings.

    Attributes
    ----------
    words : list of str (V,)
    vectors : ndarray, float32 (V, d)
    meta : dict
        How the vectors were made (method, corpus, d, k, timings...).
    """

    words: list[str]
    vectors: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise DataError(f"vectors has shape {self.vectors.shape}, expected ({len(self.words)}, d).")
        self._index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def index(self, word: str) -> int | None:
        """Row of ``word`` or None when out of vocabulary."""
        return self._index.get(word)

    def __contains__(self, word: str) -> bool:
        return word in self._index

    def normalized(self) -> np.ndarray:
        """Unit-norm rows, float32 (V, d); zero rows stay zero."""
        X = self.vectors.astype(np.float32)
        n = np.linalg.norm(X, axis=1, keepdims=True)
        return X / np.maximum(n, 1e-12)

    def truncate(self, d: int) -> "WordVectors":
        """The first ``d`` columns (closed-form vectors are sorted by eigenvalue)."""
        return WordVectors(self.words, self.vectors[:, :d], {**self.meta, "d": d})

    def save(self, path: str | os.PathLike) -> None:
        """Write ``vectors.safetensors`` + ``vocab.json`` into folder ``path`` (atomic)."""
        from safetensors.numpy import save_file

        path = Path(path)
        with atomic_path(path, is_dir=True, kind="word-vectors") as tmp:
            save_file({"vectors": np.ascontiguousarray(self.vectors, dtype=np.float32)},
                      str(tmp / "vectors.safetensors"))
            atomic_write_json(tmp / "vocab.json", {"format_version": 1, "kind": "word_vectors",
                                                   "words": self.words, "meta": self.meta})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "WordVectors":
        """Load a folder written by :meth:`save`, or a word2vec text file."""
        path = Path(path)
        if path.is_file():
            return cls.load_word2vec(path)
        vf, tf = path / "vocab.json", path / "vectors.safetensors"
        if not vf.exists() or not tf.exists():
            raise ArtifactError(f"{path}: not a word-vectors folder (needs vocab.json and vectors.safetensors).")
        from safetensors.numpy import load_file

        info = json.loads(vf.read_text(encoding="utf-8"))
        X = load_file(str(tf))["vectors"]
        if X.shape[0] != len(info["words"]):
            raise ArtifactError(f"{tf}: {X.shape[0]} rows but vocab.json lists {len(info['words'])} words.")
        return cls(info["words"], X, info.get("meta", {}))

    def to_word2vec(self, path: str | os.PathLike) -> None:
        """Export in word2vec text format (readable by gensim's ``load_word2vec_format``)."""
        X = np.asarray(self.vectors, dtype=np.float32)
        lines = [f"{len(self.words)} {X.shape[1]}"]
        for w, row in zip(self.words, X):  # one line per word (V lines), not per token
            lines.append(w + " " + " ".join(f"{v:.6g}" for v in row))
        with atomic_path(path, kind="word2vec") as tmp:
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        write_sidecar(path, "word2vec", V=len(self.words), d=int(X.shape[1]))

    @classmethod
    def load_word2vec(cls, path: str | os.PathLike) -> "WordVectors":
        """Read the word2vec text format."""
        with open(path, encoding="utf-8") as fh:
            header = fh.readline().split()
            if len(header) != 2:
                raise DataError(f"{path}: first line must be 'V d' (word2vec text format).")
            V, d = int(header[0]), int(header[1])
            words, rows = [], []
            for line in fh:
                parts = line.rstrip("\n").split(" ")
                words.append(parts[0])
                rows.append(np.asarray(parts[1:d + 1], dtype=np.float32))
        if len(words) != V:
            raise DataError(f"{path}: header says {V} words, found {len(words)}.")
        return cls(words, np.stack(rows), {"source": str(path)})

    def to_gensim(self):
        """A ``gensim.models.KeyedVectors`` holding the same vectors."""
        from .._deps import require

        kv_mod = require("gensim.models.keyedvectors", "Word-vector export to gensim")
        kv = kv_mod.KeyedVectors(self.dim)
        kv.add_vectors(self.words, np.asarray(self.vectors, dtype=np.float32))
        return kv

    @classmethod
    def from_gensim(cls, kv, words: list[str] | None = None, meta: dict | None = None) -> "WordVectors":
        """Vectors of a gensim ``KeyedVectors``, optionally restricted to ``words`` (those present)."""
        words = [w for w in (words if words is not None else kv.index_to_key) if w in kv.key_to_index]
        return cls(words, np.stack([kv[w] for w in words]).astype(np.float32), meta or {})
