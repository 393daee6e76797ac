"""Exact search over codes: stable top-k, lossless recall, chunking invariance (design.md s.3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import emblab
from emblab import DataError, InvalidParameterError
from emblab.search import exact_search, merge_topk, search, topk_stable

from conftest import planted_low_rank


def _brute_topk(scores, k):
    order = np.lexsort((np.broadcast_to(np.arange(scores.shape[1]), scores.shape), -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


def test_topk_stable_breaks_ties_by_lower_index():
    s = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, 0.0]], np.float32)
    D, I = topk_stable(s, 2)
    assert I.tolist() == [[1, 2]] and D.tolist() == [[3.0, 3.0]]
    D, I = topk_stable(s, 4)
    assert I.tolist() == [[1, 2, 4, 3]]
    D, I = topk_stable(np.zeros((2, 5), np.float32), 3)
    assert I.tolist() == [[0, 1, 2], [0, 1, 2]]
    D, I = topk_stable(s, 10)  # k clipped to n
    assert I.shape == (1, 6) and I[0].tolist() == [1, 2, 4, 3, 0, 5]
    _, I = topk_stable(s, 2, offset=100)
    assert I.tolist() == [[101, 102]]


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.int8, st.tuples(st.integers(1, 5), st.integers(1, 40)), elements=st.integers(-3, 3)),
       st.integers(1, 45))
def test_topk_stable_matches_lexsort_with_many_ties(S, k):
    S = S.astype(np.float32)
    D, I = topk_stable(S, k)
    Db, Ib = _brute_topk(S, min(k, S.shape[1]))
    np.testing.assert_array_equal(I, Ib)
    np.testing.assert_array_equal(D, Db)


def test_merge_topk_is_stable():
    D, I = merge_topk(np.array([[3.0, 1.0]]), np.array([[7, 2]]), np.array([[3.0, 2.0]]), np.array([[4, 9]]), 3)
    assert I.tolist() == [[4, 7, 9]]


@pytest.mark.parametrize("spec", ["float32", "float16"])
def test_lossless_methods_recall_at_10_is_one(spec):
    X = planted_low_rank(n=800, d=48, rank=12, seed=3)
    xq, xb = X[:40], X[40:]
    _, I_true = exact_search(xq, xb, 10)
    m = emblab.build(spec).fit(xb)
    codes = m.encode(xb)
    for mode in ("asymmetric", "symmetric"):
        D, I = search(m, xq, codes, k=10, mode=mode)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(I, I_true)])
        assert recall == 1.0, (spec, mode)
    if spec == "float32":
        D_true, _ = exact_search(xq, xb, 10)
        D, I = search(m, xq, codes, k=10)
        np.testing.assert_array_equal(I, I_true)
        np.testing.assert_allclose(D, D_true, atol=1e-6)


@pytest.mark.parametrize("spec", ["int8", "pca:dim=6,store=int8", "binary", "binary:rescore=3", "trunc:dim=9",
                                  "pq:m=4,nbits=4"])
@pytest.mark.parametrize("mode", ["asymmetric", "symmetric"])
def test_chunked_equals_unchunked(spec, mode):
    X = planted_low_rank(n=500, d=24, rank=6, seed=5)
    m = emblab.build(spec).fit(X)
    codes = m.encode(X[30:])
    D1, I1 = search(m, X[:30], codes, k=7, mode=mode, chunk_size=1 << 20)
    D2, I2 = search(m, X[:30], codes, k=7, mode=mode, chunk_size=13)
    np.testing.assert_array_equal(I1, I2)
    np.testing.assert_allclose(D1, D2, rtol=1e-6, atol=1e-6)


def test_exact_search_chunked_equals_unchunked_and_checks_inputs():
    X = planted_low_rank(n=300, d=16, seed=1)
    D1, I1 = exact_search(X[:20], X, 11)
    D2, I2 = exact_search(X[:20], X, 11, chunk_size=17)
    np.testing.assert_array_equal(I1, I2)
    np.testing.assert_allclose(D1, D2, atol=1e-6)
    assert (I1[:, 0] == np.arange(20)).all()
    with pytest.raises(DataError, match="xb has 16 features but xq has 15"):
        exact_search(X[:2, :15], X, 3)


def test_search_argument_errors():
    X = planted_low_rank(n=100, d=16, seed=2)
    m = emblab.build("float16").fit(X)
    codes = m.encode(X)
    with pytest.raises(InvalidParameterError, match="k must be a positive int"):
        search(m, X[:2], codes, k=0)
    with pytest.raises(InvalidParameterError, match="hamming"):
        search(m, X[:2], codes, k=3, mode="hamming")
    D, I = search(m, X[:2], codes[:4], k=10)  # k clipped to the catalogue size
    assert I.shape == (2, 4)
