"""Co-occurrence counts, M* and closed form (qwem.md sections 2-3)."""

import gzip
import json

import numpy as np
import pytest

from emblab._errors import DataError, InvalidParameterError
from emblab.words.closed_form import closed_form_vectors, fit_closed_form, svd_embeddings, target_matrix, top_eigenpairs
from emblab.words.cooccurrence import (CoocStats, build_cooccurrence, iter_documents, load_token_stream_cached,
                                       tokenize, tokenize_corpus)

DOCS = ["The cat sat on the mat.<br />The dog sat too!", "a cat and a dog", "Dog eats; cat sleeps. THE END"]


def brute_force(docs, V, L, words):
    index = {w: i for i, w in enumerate(words[:V])}
    C = np.zeros((V, V))
    for text in docs:
        toks = [index[w] for w in tokenize(text) if w in index]  # OOV deleted before windowing
        for p in range(len(toks)):
            for j in range(1, L + 1):
                if p + j < len(toks):
                    C[toks[p], toks[p + j]] += L + 1 - j
                    C[toks[p + j], toks[p]] += L + 1 - j
    return C


def test_tokenize_strips_br_and_lowercases():
    assert tokenize("Hello<br />World, it's 2024!") == ["hello", "world", "it", "s"]


@pytest.mark.parametrize("V,L", [(4, 2), (6, 3), (12, 16)])
def test_cooc_matches_brute_force(V, L):
    ts = tokenize_corpus(DOCS, batch_docs=2)
    stats = build_cooccurrence(ts, V, L)
    np.testing.assert_array_equal(stats.C, brute_force(DOCS, V, L, ts.words))
    assert np.array_equal(stats.C, stats.C.T)
    assert stats.unigram.sum() == sum(1 for d in DOCS for w in tokenize(d) if w in ts.words[:V])


def test_ranks_are_by_frequency_then_alpha():
    ts = tokenize_corpus(DOCS)
    assert ts.words[0] == "the" and list(ts.counts) == sorted(ts.counts, reverse=True)
    assert ts.ids.size == sum(len(tokenize(d)) for d in DOCS)


def test_readers_and_cache_and_save_load(tmp_path):
    jl = tmp_path / "c.jsonl.gz"
    with gzip.open(jl, "wt") as fh:
        for d in DOCS:
            fh.write(json.dumps({"text": d}) + "\n")
    txt = tmp_path / "c.txt"
    txt.write_text("\n".join(DOCS) + "\n")
    assert list(iter_documents(jl)) == DOCS
    assert [d.strip() for d in iter_documents(txt)] == DOCS
    ts = load_token_stream_cached(jl, cache=tmp_path / "cache")
    ts2 = load_token_stream_cached(jl, cache=tmp_path / "cache")  # from cache
    np.testing.assert_array_equal(ts.ids, ts2.ids)
    stats = build_cooccurrence(ts, 6, 3)
    stats.save(tmp_path / "st")
    back = CoocStats.load(tmp_path / "st")
    np.testing.assert_array_equal(back.C, stats.C)
    assert back.words == stats.words
    with pytest.raises(DataError):
        CoocStats.load(tmp_path / "nope")
    with pytest.raises(InvalidParameterError):
        build_cooccurrence(ts, 10_000, 3)


def test_target_matrix_formula():
    rng = np.random.default_rng(0)
    C = rng.integers(0, 5, (7, 7)).astype(float)
    C = C + C.T
    uni = rng.integers(1, 9, 7).astype(float)
    for k in (1.0, 2.0):
        M = target_matrix(C, uni, k)
        P = C / C.sum()
        p = uni / uni.sum()
        ref = 2 * (P - k * np.outer(p, p)) / (P + k * np.outer(p, p))
        np.testing.assert_allclose(M, ref, rtol=1e-12)
        assert np.all(M[C == 0] == -2.0) and M.max() <= 2


def test_closed_form_recovers_planted_low_rank():
    rng = np.random.default_rng(1)
    V, r = 60, 5
    Q, _ = np.linalg.qr(rng.normal(size=(V, V)))
    lam = np.concatenate([[9, 7, 5, 3, 2], -np.linspace(0.1, 1, V - r)])
    M = (Q * lam) @ Q.T
    for method in ("dense", "eigsh"):
        got, U, _ = top_eigenpairs(M, r, method=method)
        np.testing.assert_allclose(got, lam[:r], rtol=1e-8)
        W = closed_form_vectors(got, U, r)
        M_r = (Q[:, :r] * lam[:r]) @ Q[:, :r].T
        np.testing.assert_allclose(W @ W.T, M_r, atol=1e-8)
    with pytest.raises(InvalidParameterError, match="positive"):
        closed_form_vectors(*top_eigenpairs(M, r + 1)[:2], r + 1)


def test_fit_closed_form_and_svd_baselines():
    ts = tokenize_corpus(DOCS * 3)
    stats = build_cooccurrence(ts, 10, 4)
    wv = fit_closed_form(stats, 2)
    assert wv.vectors.shape == (10, 2) and wv.meta["method"] == "qwem_closed_form"
    for kind in ("ppmi", "pmi"):
        a = svd_embeddings(stats, 3, kind=kind).vectors
        b = svd_embeddings(stats, 3, kind=kind, method="eigsh").vectors
        assert a.shape == (10, 3)
        # same subspace up to signs: compare Gram matrices
        np.testing.assert_allclose(a @ a.T, b @ b.T, atol=1e-3)
