"""Word-vector evaluation: all-pairs analogies (the paper's protocol), gensim's protocol, and
word similarity (WordSim-353, SimLex-999) with coverage (qwem.md section 6).

Data files are found under ``$EMBLAB_DATA/word_eval_gensim/`` or, failing that, inside the
installed gensim wheel (``gensim/test/test_data/``), so evaluation works without EMBLAB_DATA.

The two analogy protocols give numbers that differ by up to an order of magnitude; never put them
in one column.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from .._errors import DataError, InvalidParameterError
from .vectors import WordVectors

__all__ = ["eval_data_path", "load_analogy_families", "analogy_queries", "all_pairs_analogy",
           "gensim_analogy", "load_similarity", "word_similarity", "evaluate_all"]

_FILES = {"analogy": "questions-words.txt", "ws353": "wordsim353.tsv", "simlex": "simlex999.txt"}


def eval_data_path(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of ``questions-words.txt`` / ``wordsim353.tsv`` / ``simlex999.txt``.

    Looks in ``data_dir`` or ``$EMBLAB_DATA``/word_eval_gensim, then in the gensim wheel.
    """
    fname = _FILES.get(name, name)
    roots = []
    root = data_dir or os.environ.get("EMBLAB_DATA")
    if root:
        roots.append(Path(root) / "word_eval_gensim")
    spec = importlib.util.find_spec("gensim")
    if spec is not None and spec.submodule_search_locations:
        roots.append(Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data")
    for r in roots:
        if (r / fname).exists():
            return r / fname
    raise DataError(f"{fname} not found in {[str(r) for r in roots]}: set EMBLAB_DATA or install gensim.")


def load_analogy_families(path: str | os.PathLike | None = None) -> dict[str, list[tuple[str, str]]]:
    """Distinct lower-cased (a, b) pairs per section of ``questions-words.txt`` (file order kept)."""
    path = Path(path) if path else eval_data_path("analogy")
    fams: dict[str, list[tuple[str, str]]] = {}
    cur = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith(":"):
            cur = line[1:].strip()
            fams.setdefault(cur, [])
            continue
        if cur is None:
            raise DataError(f"{path}: question before the first ': section' line.")
        w = line.lower().split()
        if len(w) != 4:
            continue
        for pair in ((w[0], w[1]), (w[2], w[3])):
            if pair not in fams[cur]:
                fams[cur].append(pair)
    return fams


def analogy_queries(wv_index, pairs: list[tuple[str, str]]) -> np.ndarray:
    """All ordered pairs of distinct in-vocabulary pairs -> int64 (n, 4) rows ``(a, b, a', b')``."""
    idx = [(wv_index(a), wv_index(b)) for a, b in pairs]
    idx = np.array([p for p in idx if p[0] is not None and p[1] is not None], dtype=np.int64).reshape(-1, 2)
    n = len(idx)
    if n < 2:
        return np.zeros((0, 4), dtype=np.int64)
    p, q = np.nonzero(~np.eye(n, dtype=bool))
    return np.concatenate([idx[p], idx[q]], axis=1)


def _predict(Wn: np.ndarray, Q: np.ndarray, batch: int = 2048) -> np.ndarray:
    """argmax over the vocabulary of ``w . (b - a + a')`` excluding a, b, a' (3CosAdd)."""
    out = np.empty(len(Q), dtype=np.int64)
    for s in range(0, len(Q), batch):
        q = Q[s:s + batch]
        target = Wn[q[:, 1]] - Wn[q[:, 0]] + Wn[q[:, 2]]
        S = target @ Wn.T
        rows = np.arange(len(q))
        for c in range(3):
            S[rows, q[:, c]] = -np.inf
        out[s:s + batch] = S.argmax(axis=1)
    return out


def all_pairs_analogy(wv: WordVectors, families: dict[str, list[tuple[str, str]]] | None = None,
                      *, min_count: int = 0) -> dict:
    """The paper's all-pairs analogy protocol.

    For each family, every ordered pair of distinct in-vocabulary pairs ((a, b), (a', b')) is a
    question; the prediction is the nearest unit-normalised word to ``b - a + a'`` over the whole
    vocabulary except a, b and a'. Top-1 accuracy, micro-averaged.

    Returns
    -------
    dict with ``accuracy``, ``n`` (analogies), ``per_family``: {family: {accuracy, n, n_pairs}}.
    Families with fewer than ``min_count`` analogies get ``accuracy=None`` and are left out of the
    overall number.
    """
    families = families if families is not None else load_analogy_families()
    Wn = wv.normalized()
    per, hits, total = {}, 0, 0
    for fam, pairs in families.items():
        Q = analogy_queries(wv.index, pairs)
        n_pairs = int(round((1 + np.sqrt(1 + 4 * len(Q))) / 2)) if len(Q) else 0
        if len(Q) == 0 or len(Q) < min_count:
            per[fam] = {"accuracy": None, "n": int(len(Q)), "n_pairs": n_pairs}
            continue
        h = int((_predict(Wn, Q) == Q[:, 3]).sum())
        per[fam] = {"accuracy": h / len(Q), "n": int(len(Q)), "n_pairs": n_pairs}
        hits += h
        total += len(Q)
    return {"accuracy": hits / total if total else None, "n": total, "per_family": per}


def gensim_analogy(wv: WordVectors, path: str | os.PathLike | None = None) -> dict:
    """gensim's ``evaluate_word_analogies`` on the original questions (restricted to this vocab).

    Out-of-vocabulary questions are skipped by gensim; ``n`` counts the scored ones.
    """
    path = str(path or eval_data_path("analogy"))
    kv = wv.to_gensim()
    score, sections = kv.evaluate_word_analogies(path, restrict_vocab=len(wv), case_insensitive=True)
    per = {}
    for sec in sections:
        n = len(sec["correct"]) + len(sec["incorrect"])
        per[sec["section"]] = {"accuracy": (len(sec["correct"]) / n) if n else None, "n": n}
    total = per.pop("Total accuracy", {"n": 0})
    return {"accuracy": float(score), "n": total["n"], "per_family": per}


def load_similarity(name: str, path: str | os.PathLike | None = None) -> list[tuple[str, str, float]]:
    """(word1, word2, score) triples of ``ws353`` or ``simlex`` (lines starting with # skipped)."""
    if name not in ("ws353", "simlex"):
        raise InvalidParameterError(f"similarity dataset must be 'ws353' or 'simlex'; got {name!r}.")
    path = Path(path) if path else eval_data_path(name)
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        out.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
    return out


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties averaged (as scipy.stats.rankdata; avoids importing scipy.stats)."""
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    return (upper - (counts - 1) / 2.0)[inv]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _average_ranks(a), _average_ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def word_similarity(wv: WordVectors, name: str = "ws353", path: str | os.PathLike | None = None) -> dict:
    """Spearman between cosine and human score over the covered pairs; reports coverage."""
    triples = load_similarity(name, path)
    Wn = wv.normalized()
    cos, gold = [], []
    for a, b, s in triples:
        i, j = wv.index(a), wv.index(b)
        if i is None or j is None:
            continue
        cos.append(float(Wn[i] @ Wn[j]))
        gold.append(s)
    rho = _spearman(np.asarray(cos), np.asarray(gold)) if len(cos) >= 3 else None
    return {"spearman": rho, "n_covered": len(cos), "n_total": len(triples)}


def evaluate_all(wv: WordVectors, *, gensim_protocol: bool = True) -> dict:
    """All-pairs analogies, optionally gensim's protocol, WS353 and SimLex in one dict."""
    out = {"analogy_all_pairs": all_pairs_analogy(wv)}
    if gensim_protocol:
        out["analogy_gensim"] = gensim_analogy(wv)
    out["ws353"] = word_similarity(wv, "ws353")
    out["simlex"] = word_similarity(wv, "simlex")
    return out
