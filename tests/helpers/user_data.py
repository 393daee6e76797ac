"""Small user-data folders laid out as users give them (BEIR, knn vectors, STS pairs), for tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

WORDS = ("cat dog bird fish tree river stone cloud rain snow python list dict tuple string number "
         "market stock price bank loan music song guitar drum piano ocean wave sand beach sun").split()


def _sentence(rng: np.random.Generator, n: int = 6) -> str:
    return " ".join(rng.choice(WORDS, size=n)).capitalize() + "."


def make_beir(root: Path, *, n_docs: int = 200, n_queries: int = 12, d: int = 16, vectors: bool = True,
              texts: bool = True, seed: int = 0, split: str = "test", rank: int = 4) -> dict:
    """Write a BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (graded 1-2) and, with
    ``vectors``, corpus.npy + queries.npy (planted rank-``rank`` structure, not normalised).

    Returns the arrays and ids (``xb``, ``xq``, ``doc_ids``, ``query_ids``, ``qrels``).
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(exist_ok=True)
    doc_ids = [f"doc-{i}" for i in range(n_docs)]
    query_ids = [f"q{i}" for i in range(n_queries)]
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for i, did in enumerate(doc_ids):
            row = {"_id": did, "title": f"Title {i}" if i % 3 else ""}
            if texts:
                row["text"] = _sentence(rng)
            fh.write(json.dumps(row) + "\n")
    with open(root / "queries.jsonl", "w", encoding="utf-8") as fh:
        for qid in query_ids:
            fh.write(json.dumps({"_id": qid, **({"text": _sentence(rng, 4)} if texts else {})}) + "\n")
    qrels: dict[str, dict[str, int]] = {}
    # the last two queries have no judgement (they must not be evaluated)
    for qid in query_ids[:-2]:
        picks = rng.choice(n_docs, size=3, replace=False)
        qrels[qid] = {doc_ids[p]: int(g) for p, g in zip(picks, (2, 1, 1))}
    with open(root / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, rels in qrels.items():
            for did, g in rels.items():
                fh.write(f"{qid}\t{did}\t{g}\n")
    out = {"doc_ids": doc_ids, "query_ids": query_ids, "qrels": qrels}
    if vectors:
        basis = rng.normal(size=(rank, d))
        xb = (rng.normal(size=(n_docs, rank)) @ basis + 0.1 * rng.normal(size=(n_docs, d))).astype(np.float32)
        xq = (rng.normal(size=(n_queries, rank)) @ basis + 0.1 * rng.normal(size=(n_queries, d))).astype(np.float32)
        # make the judged documents near their queries so that rankings are not random
        for qi, qid in enumerate(query_ids[:-2]):
            for did in qrels[qid]:
                j = doc_ids.index(did)
                xb[j] = 0.6 * xq[qi] + 0.4 * xb[j]
        np.save(root / "corpus.npy", xb)
        np.save(root / "queries.npy", xq)
        out.update(xb=xb, xq=xq)
    return out


def make_pairs_tsv(path: Path, n: int = 24, seed: int = 0, header: bool = True) -> tuple[list, list, np.ndarray]:
    """STS pairs file: sentence1, sentence2, score (0-5); returns the columns."""
    rng = np.random.default_rng(seed)
    s1 = [_sentence(rng) for _ in range(n)]
    # related pairs share most words (no identical pairs: their cosines tie at 1 up to rounding)
    s2 = [s.rstrip(".") + " " + str(rng.choice(WORDS)) + "." if i % 2 == 0 else _sentence(rng) for i, s in enumerate(s1)]
    gold = np.round(rng.uniform(0, 5, size=n), 2)
    with open(path, "w", encoding="utf-8") as fh:
        if header:
            fh.write("id\tsentence1\tsentence2\tscore\n")
        for i, (a, b, g) in enumerate(zip(s1, s2, gold)):
            fh.write((f"{i}\t" if header else "") + f"{a}\t{b}\t{g}\n")
    return s1, s2, gold
