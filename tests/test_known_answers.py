"""Known-answer tests for the peers on tiny synthetic data (design.md section 11)."""

from __future__ import annotations

import numpy as np
import pytest

import emblab
from emblab.compressors.binary import hamming_distances, pack_signs
from emblab.search import exact_search, search

from conftest import planted_low_rank


def test_pca_is_exact_on_rank_r_data():
    rng = np.random.default_rng(0)
    r, d = 5, 20
    X = (rng.normal(size=(300, r)) @ rng.normal(size=(r, d)) + rng.normal(size=d) * 3).astype(np.float32)
    m = emblab.build(f"pca:dim={r},store=f32").fit(X)
    np.testing.assert_allclose(m.decode(m.encode(X)), X, atol=2e-4 * np.abs(X).max())
    # the components span the data's row space and match numpy's SVD spectrum
    Xc = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
    s = np.linalg.svd(Xc, compute_uv=False)
    np.testing.assert_allclose(m.explained_variance_, (s[:r] ** 2) / (len(X) - 1), rtol=1e-4)
    np.testing.assert_allclose(m.components_ @ m.components_.T, np.eye(r), atol=1e-5)
    # fewer components than the rank lose exactly the trailing variance
    m2 = emblab.build(f"pca:dim={r - 1},store=f32").fit(X)
    err = ((m2.decode(m2.encode(X)) - X) ** 2).sum()
    assert err == pytest.approx(s[r - 1] ** 2, rel=1e-3)


def test_pca_int8_one_stage_equals_pipeline():
    X = planted_low_rank(n=400, d=32, seed=8)
    one = emblab.build("pca:dim=8,store=int8").fit(X)
    chain = emblab.build("pca:dim=8,store=f32|int8").fit(X)
    assert one.bytes_per_vector == chain.bytes_per_vector == 8.0
    np.testing.assert_array_equal(one.encode(X).data, chain.encode(X).data)
    np.testing.assert_allclose(one.decode(one.encode(X)), chain.decode(chain.encode(X)), atol=1e-5)


def test_int8_guard_for_constant_dimensions():
    X = planted_low_rank(n=300, d=16, seed=9)
    X[:, 3] = 0.0  # like MiniLM dims 127 and 223: exactly zero everywhere
    X[:, 7] = 0.25  # constant but non-zero
    m = emblab.build("int8").fit(X)
    assert m.hi_[3] == m.lo_[3] == 0 and m.hi_[7] == m.lo_[7]
    C = m.encode(X)
    assert (C.data[:, 3] == 0).all() and (C.data[:, 7] == 0).all()
    R = m.decode(C)
    assert np.isfinite(R).all()
    assert (R[:, 3] == 0).all() and np.allclose(R[:, 7], 0.25)
    _, I_true = exact_search(X[:20], X, 10)
    _, I = search(m, X[:20], C, k=10)
    assert np.mean([len(set(a) & set(b)) for a, b in zip(I, I_true)]) / 10 > 0.9
    # a single vector encodes with the fit-set calibration (not all zeros, sentence-transformers#2837)
    assert m.encode(X[:1]).data.any()


def test_int8_matches_the_formula():
    X = planted_low_rank(n=200, d=8, seed=10)
    m = emblab.build("int8").fit(X)
    lo, hi = X.min(axis=0), X.max(axis=0)
    expect = np.clip(np.rint((X - lo) / (hi - lo) * 255), 0, 255)
    assert np.abs(m.encode(X).data.astype(int) - expect).max() <= 1  # float rounding at .5 only
    pct = emblab.build("int8:calib=percentile:5").fit(X)
    np.testing.assert_allclose(pct.lo_, np.percentile(X, 5, axis=0), rtol=1e-6)


def test_binary_hamming_equals_brute_force_count():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(120, 21)).astype(np.float32)  # d not a multiple of 8
    m = emblab.build("binary").fit(X)
    codes = m.encode(X[10:])
    brute = ((X[:10, None, :] > 0) != (X[None, 10:, :] > 0)).sum(axis=2)
    np.testing.assert_array_equal(hamming_distances(pack_signs(X[:10]), codes.data), brute)
    for mode in ("hamming", "symmetric"):
        D, I = search(m, X[:10], codes, k=15, mode=mode)
        order = np.lexsort((np.broadcast_to(np.arange(110), brute.shape), brute), axis=1)[:, :15]
        np.testing.assert_array_equal(I, order)
        np.testing.assert_allclose(D, 1 - 2 * np.take_along_axis(brute, order, axis=1) / 21, atol=1e-6)


def test_binary_asymmetric_is_float_query_times_sign_code():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(200, 32)).astype(np.float32)
    m = emblab.build("binary").fit(X)
    codes = m.encode(X[20:])
    S = np.where(X[20:] > 0, 1.0, -1.0)
    q = X[:20] / np.linalg.norm(X[:20], axis=1, keepdims=True)
    scores = q @ S.T / np.sqrt(32)
    D, I = search(m, X[:20], codes, k=5)
    np.testing.assert_allclose(D, np.sort(scores, axis=1)[:, ::-1][:, :5], atol=1e-5)
    # a shortlist covering the whole catalogue makes rescoring equal the full asymmetric scan
    full = emblab.build("binary:rescore=100").fit(X)
    Dr, Ir = search(full, X[:20], full.encode(X[20:]), k=5)
    np.testing.assert_array_equal(Ir, I)
    assert full.bytes_per_vector == m.bytes_per_vector == 4.0


def test_binary_int8_rescoring_counts_bytes_and_helps():
    X = planted_low_rank(n=1200, d=64, rank=16, seed=13)
    xq, xb = X[:50], X[50:]
    _, I_true = exact_search(xq, xb, 10)

    def recall(spec):
        m = emblab.build(spec).fit(xb)
        c = m.encode(xb)
        assert c.bytes_per_vector == m.bytes_per_vector
        _, I = search(m, xq, c, k=10)
        return m.bytes_per_vector, np.mean([len(set(a) & set(b)) for a, b in zip(I, I_true)]) / 10

    b0, r0 = recall("binary")
    b1, r1 = recall("binary:rescore=10,rescore_source=int8")
    assert (b0, b1) == (8.0, 8.0 + 64)
    assert r1 > r0 and r1 > 0.9


def test_truncation_cosine_equals_cosine_of_prefixes():
    X = planted_low_rank(n=100, d=24, seed=14, normalize=False)
    m = emblab.build("trunc:dim=10,store=f32").fit(X)
    R = m.decode(m.encode(X))
    assert (R[:, 10:] == 0).all()
    P = X[:, :10] / np.linalg.norm(X[:, :10], axis=1, keepdims=True)
    np.testing.assert_allclose(R @ R.T, P @ P.T, atol=1e-5)
    _, I_true = exact_search(X[:10, :10], X[10:, :10], 5)
    _, I = search(m, X[:10], m.encode(X[10:]), k=5, mode="asymmetric")
    np.testing.assert_array_equal(I, I_true)
    with pytest.raises(emblab.InvalidParameterError, match="'dim'.*<= n_features=24"):
        emblab.build("trunc:dim=25").fit(X)


def test_float16_is_a_plain_cast():
    X = planted_low_rank(n=50, d=8, seed=15)
    m = emblab.build("float16").fit(X)
    np.testing.assert_array_equal(m.decode(m.encode(X)), X.astype(np.float16).astype(np.float32))
    with pytest.raises(emblab.DataError, match="float16 range"):
        m.encode(X * 1e6)
    assert emblab.build("float32").fit(X).bytes_per_vector == 32.0 and m.bytes_per_vector == 16.0
