"""An example BEIR folder built offline from the standard library's documentation (``emblab data
example-beir``), so that the user-data walkthrough (``beir:DIR``) runs on any machine.

Corpus: the stdlib documentation passages of :func:`emblab.data.stdlib_docs.load_stdlib_passages`
(``_id`` = passage id such as ``doc:json.dumps:0``, empty title). Queries: one per documented
name with at least two passages in the corpus, phrased as a user would ask (``What does
json.dumps do?``, ``Python assert``); relevance is graded: the name's first passage 2, its other
passages 1 (a known-item task with graded labels). Queries alternate between ``qrels/test.tsv``
and ``qrels/dev.tsv``. With ``vectors=True`` the folder also holds ``corpus.npy`` and
``queries.npy`` (all-MiniLM-L6-v2, rows in file order), the layout of a user who brings vectors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["write_stdlib_beir"]


def _query(source: str) -> str:
    kind, _, name = source.partition(":")
    return f"What does {name} do?" if kind == "doc" else f"Python {name.replace('-', ' ')}"


def write_stdlib_beir(dest: str | os.PathLike, *, max_passages: int = 3000, vectors: bool = False,
                      show_progress: bool = True) -> dict[str, int]:
    """Write the example BEIR folder into ``dest`` (which must not exist), atomically.

    Returns
    -------
    dict with the counts ``docs``, ``queries``, ``test``, ``dev`` (queries per split).
    """
    from ..io import atomic_path, guard_output
    from .stdlib_docs import load_stdlib_passages

    dest = Path(dest)
    guard_output(dest, "beir-example")   # refuse anything already there (nothing is replaced)
    ids, texts = load_stdlib_passages(max_passages=max_passages)
    by_source: dict[str, list[str]] = {}
    for pid in ids:
        by_source.setdefault(pid.rsplit(":", 1)[0], []).append(pid)
    sources = [s for s, pids in by_source.items() if len(pids) >= 2]
    queries = [(f"q{i}", _query(s), by_source[s]) for i, s in enumerate(sources)]
    with atomic_path(dest, is_dir=True, kind="beir-example") as tmp:
        (tmp / "qrels").mkdir()
        with open(tmp / "corpus.jsonl", "w", encoding="utf-8") as fh:
            for pid, text in zip(ids, texts):
                fh.write(json.dumps({"_id": pid, "title": "", "text": text}) + "\n")
        with open(tmp / "queries.jsonl", "w", encoding="utf-8") as fh:
            for qid, text, _ in queries:
                fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
        for k, split in enumerate(("test", "dev")):
            with open(tmp / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as fh:
                fh.write("query-id\tcorpus-id\tscore\n")
                for qid, _, pids in queries[k::2]:
                    for j, pid in enumerate(pids):
                        fh.write(f"{qid}\t{pid}\t{2 if j == 0 else 1}\n")
        if vectors:
            import numpy as np

            from ..embed import embed_texts_cached

            np.save(tmp / "corpus.npy", embed_texts_cached(texts, key="stdlib_beir-corpus",
                                                           show_progress=show_progress))
            np.save(tmp / "queries.npy", embed_texts_cached([q for _, q, _ in queries], key="stdlib_beir-queries",
                                                            show_progress=show_progress))
    return {"docs": len(ids), "queries": len(queries), "test": len(queries[0::2]), "dev": len(queries[1::2])}
