"""Batched OMP (emblab.compressors.sparse_coding) and the SAE's ``encoder="omp"`` option."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from sklearn.linear_model import orthogonal_mp_gram

import emblab
from emblab._errors import InvalidParameterError
from emblab._validation import l2_normalize
from emblab.compressors.sparse_coding import batch_omp


def _dictionary(h=48, d=20, seed=0):
    return l2_normalize(np.random.default_rng(seed).normal(size=(h, d))).astype(np.float32)


def test_matches_scikit_learn_omp():
    D = _dictionary()
    X = l2_normalize(np.random.default_rng(1).normal(size=(30, 20))).astype(np.float32)
    idx, val = batch_omp(X, D, 5, chunk=7)  # several chunks
    G = (D.astype(np.float64) @ D.T.astype(np.float64))
    ref = orthogonal_mp_gram(G, (X.astype(np.float64) @ D.T.astype(np.float64)).T, n_nonzero_coefs=5).T
    for i in range(len(X)):
        assert set(idx[i]) == set(np.flatnonzero(ref[i]))
        np.testing.assert_allclose(val[i], ref[i, idx[i]], atol=2e-4)


def test_recovers_planted_sparse_code():
    D = _dictionary(h=64, d=32)
    rng = np.random.default_rng(2)
    support = np.stack([rng.choice(64, 3, replace=False) for _ in range(20)])
    coef = rng.uniform(0.5, 1.5, size=(20, 3)) * rng.choice([-1, 1], size=(20, 3))
    X = np.einsum("nk,nkd->nd", coef, D[support]).astype(np.float32)
    idx, val = batch_omp(X, D, 3)
    recon = np.einsum("nk,nkd->nd", val, D[idx])
    np.testing.assert_allclose(recon, X, atol=1e-4)
    assert all(set(a) == set(b) for a, b in zip(idx, support))


def test_support_distinct_and_residual_shrinks():
    D = _dictionary()
    X = l2_normalize(np.random.default_rng(3).normal(size=(25, 20))).astype(np.float32)
    errs = []
    for k in (1, 2, 4, 8):
        idx, val = batch_omp(X, D, k)
        assert all(len(set(r)) == k for r in idx)
        errs.append(np.linalg.norm(X - np.einsum("nk,nkd->nd", val, D[idx]), axis=1).mean())
    assert all(a > b for a, b in zip(errs, errs[1:]))
    with pytest.raises(ValueError, match="k must be"):
        batch_omp(X, D, 49)


def test_sae_omp_encoder_same_layout_better_reconstruction():
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(400, 6)) @ rng.normal(size=(6, 16)) + 0.3 * rng.normal(size=(400, 16))).astype(np.float32)
    m = emblab.build("sae:h=64,k=4,epochs=2,batch_size=64,progress=false,encoder=topk,pack=false,index_coding=fixed,value_bits=16,"
                     "value_fit=round").fit(X)
    c_topk = m.encode(X)
    m_omp = copy.deepcopy(m).set_params(encoder="omp")
    assert m_omp.fingerprint != m.fingerprint
    c_omp = m_omp.encode(X)
    assert c_omp.arrays["indices"].shape == c_topk.arrays["indices"].shape
    assert (np.diff(c_omp.arrays["indices"].astype(int), axis=1) > 0).all()
    assert m_omp.bytes_per_vector == m.bytes_per_vector
    Xn = l2_normalize(X)
    cos = lambda mm, c: float((mm.decode(c) * Xn).sum(1).mean())  # noqa: E731
    assert cos(m_omp, c_omp) > cos(m, c_topk)
    with pytest.raises(InvalidParameterError, match="omp"):
        emblab.build("sae:encoder=omp,activation=relu_topk")
