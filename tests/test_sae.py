"""Tests of the CompresSAE compressor, its training hooks and its sparse search (specs/sae.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import emblab
from emblab._errors import InvalidParameterError
from emblab._validation import l2_normalize
from emblab.codes import Codes
from emblab.search import search, topk_stable

torch = pytest.importorskip("torch")

BASE = "sae:h=64,k=4,epochs=2,batch_size=64,progress=false"
# the paper's coding: top-k encoder values as float16, uint16 indices (specs/sae.md §7)
PAPER = "encoder=topk,pack=false,index_coding=fixed,value_bits=16,value_fit=round"
SPEC = f"{BASE},{PAPER},center=false,auxk=false"


def _data(n=400, d=16, seed=0):
    rng = np.random.default_rng(seed)
    # planted low-dimensional structure plus noise, like real embeddings
    basis = rng.normal(size=(6, d))
    return (rng.normal(size=(n, 6)) @ basis + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
    X = _data()
    return emblab.build(SPEC).fit(X), X


@pytest.fixture(scope="module")
def fitted_center():
    X = _data()
    return emblab.build(f"{BASE},{PAPER},center=true,auxk=true,dead_window=50").fit(X), X


@pytest.fixture(scope="module")
def fitted_packed():
    X = _data()
    return emblab.build(f"{BASE},value_bits=4").fit(X), X


def _pre(m, X):
    return m._prepare(X) @ m.W_enc_ + m.b_enc_


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10_000), st.integers(1, 8))
def test_topk_codes_exact_k_with_signs(fitted, seed, n):
    m, _ = fitted
    X = np.random.default_rng(seed).normal(size=(n, 16)).astype(np.float32)
    c = m.encode(X)
    idx, val = c.arrays["indices"], c.arrays["values"]
    assert idx.dtype == np.uint16 and val.dtype == np.float16 and idx.shape == (n, 4)
    assert (np.diff(idx.astype(int), axis=1) > 0).all()  # sorted, distinct
    pre = _pre(m, X)
    assert (val != 0).sum(1).tolist() == [4] * n
    chosen = np.take_along_axis(pre, idx.astype(int), axis=1)
    assert np.array_equal(np.sign(val.astype(np.float32)), np.sign(chosen))
    np.testing.assert_allclose(val.astype(np.float32), chosen, rtol=2e-3, atol=1e-6)
    # they are the 4 largest magnitudes
    kth = np.sort(np.abs(pre), axis=1)[:, -4]
    assert (np.abs(chosen) >= kth[:, None] - 1e-7).all()


def test_ties_broken_by_lower_index():
    _, I = topk_stable(np.array([[1.0, 2.0, 2.0, 2.0, 0.5]]), 2)
    assert I.tolist() == [[1, 2]]


def test_relu_topk_nonnegative_and_padded():
    X = _data(200)
    m = emblab.build(SPEC + ",activation=relu_topk").fit(X)
    m.b_enc_ = m.b_enc_ - 1e3 * (np.arange(64) % 2 == 0)  # force many negative pre-activations
    m._fingerprint_cache = None
    c = m.encode(X[:50])
    idx, val = c.arrays["indices"].astype(int), c.arrays["values"]
    assert (val >= 0).all()
    assert (np.diff(idx, axis=1) >= 0).all()
    pads = val == 0
    # a padded slot repeats the row's last index
    for r in np.flatnonzero(pads.any(1)):
        nv = int((~pads[r]).sum())
        if nv:
            assert (idx[r, nv:] == idx[r, nv - 1]).all()


def test_decoder_rows_unit_norm_after_every_step():
    from emblab.nn.sae_module import SAEModule, decoder_hooks, sae_loss
    from emblab.nn.train_loop import TrainConfig, fit_module

    X = _data(300)
    torch.manual_seed(0)
    mod = SAEModule(16, 32, 4)
    before, after = decoder_hooks(mod)
    norms = []

    def after_and_check(m):
        after(m)
        norms.append(m.W_dec.detach().norm(dim=1))

    fit_module(mod, lambda m, b: sae_loss(m, b, auxk=True, dead_window=10), [X],
               TrainConfig(epochs=3, batch_size=32, lr=1e-2, progress=False, patience=0),
               before_step=before, after_step=after_and_check)
    assert len(norms) >= 20
    for nr in norms:
        assert torch.allclose(nr, torch.ones_like(nr), atol=1e-5)


def test_gradient_projection_is_tangent():
    from emblab.nn.sae_module import SAEModule, decoder_hooks, sae_loss

    torch.manual_seed(0)
    mod = SAEModule(8, 16, 2)
    loss = sae_loss(mod, [torch.randn(10, 8)])
    loss.backward()
    before, _ = decoder_hooks(mod)
    before(mod)
    radial = (mod.W_dec.grad * mod.W_dec.data).sum(1)
    assert torch.allclose(radial, torch.zeros_like(radial), atol=1e-6)


def test_multitopk_uses_4k_capped_at_h():
    from emblab.nn.sae_module import SAEModule, sae_loss

    torch.manual_seed(0)
    mod = SAEModule(8, 16, 2).eval()
    x = torch.randn(5, 8)
    full = float(sae_loss(mod, [x]).detach())
    xt = mod.prepare(x)
    pre = mod.preact(xt)
    i2, v2 = mod.select(pre, 2)
    i8, v8 = mod.select(pre, 8)
    cos = torch.nn.functional.cosine_similarity
    ref = (1 - cos(xt, mod.decode_sparse(i2, v2))).mean() + (1 - cos(xt, mod.decode_sparse(i8, v8))).mean() / 8
    assert abs(full - float(ref)) < 1e-5
    mod.k_current = 6  # 4k = 24 > h = 16: capped, must not error
    assert np.isfinite(float(sae_loss(mod, [x])))


@pytest.mark.parametrize("which", ["fitted", "fitted_center", "fitted_packed"])
def test_reconstructed_and_asymmetric_equal_decode_then_dot(which, request):
    m, X = request.getfixturevalue(which)
    codes = m.encode(X[:300])
    xq = X[300:320]
    raw = l2_normalize(m._raw_decode(*m.unpack(codes)))
    S_rec = m._prepare(xq) @ raw.T
    D, I = search(m, xq, codes, 10, "reconstructed")
    Dr, Ir = topk_stable(S_rec, 10)
    np.testing.assert_allclose(D, Dr, atol=1e-5)
    S_asym = l2_normalize(xq) @ m.decode(codes).T
    D, I = search(m, xq, codes, 10, "asymmetric")
    np.testing.assert_allclose(D, topk_stable(S_asym, 10)[0], atol=1e-5)
    S_sym = l2_normalize(m.decode(m.encode(xq))) @ m.decode(codes).T
    D, I = search(m, xq, codes, 10, "symmetric")
    np.testing.assert_allclose(D, topk_stable(S_sym, 10)[0], atol=1e-5)


def test_store_norm_matches_gram_norm(fitted):
    m, X = fitted
    m2 = emblab.build(SPEC + ",store_norm=true")
    m2.__dict__.update({k: v for k, v in m.__dict__.items() if k.endswith("_")})
    m2._fingerprint_cache = None
    c = m2.encode(X[:50])
    assert c.bytes_per_vector == m2.bytes_per_vector == 18.0
    direct = np.linalg.norm(m._raw_decode(c.arrays["indices"], c.arrays["values"]), axis=1)
    np.testing.assert_allclose(c.arrays["recon_norm"].astype(np.float32), direct, rtol=2e-3)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 40), st.integers(1, 30))
def test_inverted_index_equals_brute_force(seed, n, k):
    from emblab.sparse_search import SparseIndex

    rng = np.random.default_rng(seed)
    h, kk = 12, 3
    idx = np.sort(np.stack([rng.choice(h, kk, replace=False) for _ in range(n)]), axis=1).astype(np.uint16)
    val = rng.choice([-1.0, -0.5, 0.5, 1.0], size=(n, kk)).astype(np.float16)  # many exact ties
    qi = np.sort(np.stack([rng.choice(h, 2, replace=False) for _ in range(5)]), axis=1).astype(np.uint16)
    qv = rng.choice([-1.0, 1.0], size=(5, 2)).astype(np.float16)
    index = SparseIndex(idx, val, h)
    D1, I1 = index.search_sparse(qi, qv, k, method="inverted")
    D2, I2 = index.search_sparse(qi, qv, k, method="brute")
    # reference: dense cosine of codes with stable ties
    Z = np.zeros((n, h)); np.put_along_axis(Z, idx.astype(int), val.astype(float), axis=1)
    Q = np.zeros((5, h)); np.put_along_axis(Q, qi.astype(int), qv.astype(float), axis=1)
    S = (l2_normalize(Q) @ l2_normalize(Z).T).astype(np.float32)
    D3, I3 = topk_stable(S, k)
    # equal up to float rounding of mathematically tied scores: same score lists, and every
    # returned item really has the score reported at its rank
    for D, I in ((D1, I1), (D2, I2)):
        np.testing.assert_allclose(D, D3, atol=1e-6)
        np.testing.assert_allclose(np.take_along_axis(S, I, axis=1), D3, atol=1e-6)
        assert all(len(set(r)) == len(r) for r in I.tolist())


def test_sparse_mode_through_search(fitted):
    m, X = fitted
    codes = m.encode(X[:300])
    D, I = search(m, X[300:310], codes, 7, "sparse")
    assert D.shape == I.shape == (10, 7)
    assert (np.diff(D, axis=1) <= 1e-7).all()
    m.sparse_search = "brute"
    D2, I2 = search(m, X[300:310], codes, 7, "sparse")
    m.sparse_search = "inverted"
    assert np.array_equal(I, I2)


def test_save_load_identical_codes(fitted, tmp_path):
    m, X = fitted
    m.save(tmp_path / "m")
    m2 = emblab.load_model(tmp_path / "m")
    c1, c2 = m.encode(X[:50]), m2.encode(X[:50])
    assert np.array_equal(c1.arrays["indices"], c2.arrays["indices"])
    assert np.array_equal(c1.arrays["values"], c2.arrays["values"])
    c1.save(tmp_path / "c.npz")
    c3 = Codes.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(m2.decode(c3), m.decode(c1))
    assert m2.history_ == m.history_ and m2.train_usage_ == m.train_usage_


def test_same_seed_same_codes(fitted):
    m, X = fitted
    m2 = emblab.build(SPEC).fit(X)
    assert np.array_equal(m.W_dec_, m2.W_dec_)


def test_resume_from_checkpoint(tmp_path, monkeypatch):
    from emblab.compressors.sae import SparseAutoencoder

    X = _data(300)
    spec = "sae:h=32,k=4,epochs=4,batch_size=64,progress=false,patience=0"
    ref = emblab.build(spec).fit(X)
    orig = SparseAutoencoder.k_at_epoch

    def crash(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return orig(self, epoch)

    m = emblab.build(spec + f",checkpoint_dir={tmp_path}")
    monkeypatch.setattr(SparseAutoencoder, "k_at_epoch", crash)
    with pytest.raises(KeyboardInterrupt):
        m.fit(X)
    # one checkpoint format for every loop: safetensors + JSON, nothing pickled
    folder = next(tmp_path.glob("*/checkpoint"))
    assert {"state.safetensors", "state.json"} <= {f.name for f in folder.iterdir()}
    assert not list(tmp_path.rglob("*.pt"))
    monkeypatch.setattr(SparseAutoencoder, "k_at_epoch", orig)
    m.fit(X)
    assert m.history_["resumed_from_epoch"] == 2
    np.testing.assert_allclose(m.W_dec_, ref.W_dec_, atol=1e-6)
    assert np.array_equal(m.encode(X).arrays["packed"], ref.encode(X).arrays["packed"])


def test_k_schedule_and_selection():
    m = emblab.build("sae:h=4096,k=32,epochs=10")
    assert [m.k_at_epoch(e) for e in range(10)] == [128, 97, 74, 56, 42, 32, 32, 32, 32, 32]
    m1 = emblab.build("sae:h=64,k=4,epochs=1")
    assert m1.k_at_epoch(0) == 4
    assert emblab.build("sae:h=64,k=4,k_schedule=none").k_at_epoch(0) == 4


def test_latent_stats(fitted):
    from emblab.sparse_search import latent_usage

    m, X = fitted
    st_ = m.latent_stats(m.encode(X))
    assert 0 <= st_["dead_fraction"] < 1 and 1 <= st_["effective_latents"] <= 64
    u = latent_usage(np.array([[0, 1], [0, 1]]), np.ones((2, 2)), 4)
    assert u["dead_fraction"] == 0.5 and abs(u["effective_latents"] - 2) < 1e-9


def test_bad_params():
    with pytest.raises(InvalidParameterError, match="'k'"):
        emblab.build("sae:h=8,k=9")
    with pytest.raises(InvalidParameterError, match="activation"):
        emblab.build("sae:activation=gelu")
    with pytest.raises(InvalidParameterError):
        emblab.build("sae:h=70000")


def test_spec_round_trip():
    m = emblab.build("sae:h=128,k=8,center=false,auxk=false,lr=0.0005,budget=40,value_bits=8")
    assert emblab.build(m.to_spec()).get_params() == m.get_params()
    assert m.to_spec() == "sae:auxk=false,budget=40,center=false,h=128,k=8,lr=0.0005,value_bits=8"
