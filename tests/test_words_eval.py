"""Analogy protocol on hand-made vectors, similarity, word2vec export loading in gensim, CLI."""

import numpy as np
import pytest

from emblab.cli.main import main
from emblab.words.analogy import (all_pairs_analogy, analogy_queries, eval_data_path, gensim_analogy,
                                  load_analogy_families, word_similarity)
from emblab.words.critical import accuracy_vs_dim, critical_sizes, log_grid, spike_snr
from emblab.words.vectors import WordVectors


def toy():
    # 2-d "gender" direction + distinct base vectors: man:woman :: king:queen :: boy:girl
    words = ["man", "woman", "king", "queen", "boy", "girl", "apple", "car"]
    base = {"man": [1, 0, 0, 0], "king": [0, 1, 0, 0], "boy": [0, 0, 1, 0], "apple": [0, 0, 0, 1], "car": [0.5, 0.5, 0.5, 0]}
    g = np.array([0, 0, 0, 0, 1.0])
    X = []
    for w in words:
        if w in base:
            X.append(np.r_[base[w], 0.0])
        else:
            partner = {"woman": "man", "queen": "king", "girl": "boy"}[w]
            X.append(np.r_[base[partner], 0.0] + g)
    return WordVectors(words, np.array(X, dtype=np.float32))


def test_all_pairs_protocol_hand_made():
    wv = toy()
    fam = {"gender": [("man", "woman"), ("king", "queen"), ("boy", "girl"), ("man", "missing")]}
    Q = analogy_queries(wv.index, fam["gender"])
    assert len(Q) == 6  # 3 in-vocab pairs -> 3*2 ordered pairs
    res = all_pairs_analogy(wv, fam)
    assert res["n"] == 6 and res["per_family"]["gender"]["n_pairs"] == 3
    # normalised 3CosAdd: b - a + a' with unit vectors; "woman"-"man"+"king" -> queen
    assert res["accuracy"] == pytest.approx(1.0)
    # without the gender direction, b - a + a' = a' exactly: only excluding a' lets the
    # duplicate b' (identical to a') win, so this checks the exclusion
    wv2 = WordVectors(wv.words, np.where(np.arange(5) == 4, 0, wv.vectors).astype(np.float32))
    assert all_pairs_analogy(wv2, fam)["accuracy"] == pytest.approx(1.0)
    # a distractor closer to the target than b' is predicted instead
    Wn = wv.normalized()
    target = Wn[1] - Wn[0] + Wn[2]  # woman - man + king
    wv3 = WordVectors(wv.words + ["queen2"], np.vstack([wv.vectors, target[None]]))
    assert all_pairs_analogy(wv3, fam)["accuracy"] < 1.0


def test_families_and_data_files_found_without_env(monkeypatch):
    monkeypatch.delenv("EMBLAB_DATA", raising=False)
    fams = load_analogy_families()
    assert len(fams) == 14 and ("athens", "greece") in fams["capital-common-countries"]
    assert eval_data_path("ws353").exists() and eval_data_path("simlex").exists()


def test_similarity_and_gensim_roundtrip(tmp_path):
    wv = toy()
    sim = word_similarity(wv, "ws353")
    assert sim["n_total"] == 353 and sim["n_covered"] <= 353
    path = tmp_path / "v.txt"
    wv.to_word2vec(path)
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(str(path), binary=False)
    assert kv.index_to_key == wv.words
    np.testing.assert_allclose(kv["queen"], wv.vectors[3], atol=1e-5)
    wv.save(tmp_path / "wv")
    back = WordVectors.load(tmp_path / "wv")
    np.testing.assert_array_equal(back.vectors, wv.vectors)
    g = gensim_analogy(wv)
    assert 0.0 <= g["accuracy"] <= 1.0


def test_critical_size_and_snr():
    wv = toy()
    fam = {"gender": [("man", "woman"), ("king", "queen"), ("boy", "girl")]}
    U, S, _ = np.linalg.svd(wv.vectors.astype(float), full_matrices=False)
    lam = S ** 2
    acc = accuracy_vs_dim(wv.words, lam, U, [1, 2, 3, 4, 5], fam)
    assert acc["overall"][-1] == pytest.approx(1.0)
    crit = critical_sizes(acc, (0.05, 0.2), min_count=1)
    assert crit["gender"]["d_c@0.2"] is not None and crit["gender"]["d_c@0.2"] <= 5
    snr = spike_snr(wv.words, lam, U, [2, 5], fam)
    assert snr["snr"]["gender"][-1] == pytest.approx(1.0)  # identical difference vectors: rank 1, SNR = 1
    assert log_grid(2, 16) == [2, 3, 4, 6, 8, 11, 16]


def test_cli_pipeline(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBLAB_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "c.txt"
    rng = np.random.default_rng(0)
    vocab = ["man", "woman", "king", "queen", "the", "a", "of", "and", "boy", "girl", "red", "blue"]
    corpus.write_text("\n".join(" ".join(rng.choice(vocab, 40)) for _ in range(60)))
    out = tmp_path / "st"
    assert main(["words", "cooc", str(corpus), "--vocab", "10", "--window", "4", "--out", str(out)]) == 0
    assert main(["words", "fit", str(out), "--dim", "2", "--word2vec", str(tmp_path / "w.txt")]) == 0
    assert main(["words", "eval", str(out / "qwem_d2"), "--no-gensim", "--json", str(tmp_path / "e.json")]) == 0
    assert main(["words", "critical-size", str(out), "--d-max", "4", "--min-count", "1"]) == 0
    assert main(["words", "dynamics", str(out), "--dim", "2", "--init-scale", "1e-3", "--out", str(tmp_path / "g.json")]) == 0
    assert (tmp_path / "g.json").exists()
    assert main(["words", "fit", str(tmp_path / "missing"), "--dim", "2"]) == 2
    assert main(["words", "cooc", str(corpus), "--vocab", "100000", "--out", str(tmp_path / "x")]) == 2
