"""Packed, quantised SAE codes (issue 16): bit layout, byte budgets, value quantisers, the
quantisation-aware refit, chunked search over packed catalogues, sparse-search ties (issue 15)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import emblab
from emblab._errors import DataError, InvalidParameterError, NotFittedError
from emblab.compressors.sparse_layout import PackedLayout, code_bytes, index_bits, k_for_budget
from emblab.compressors.sparse_values import (LatentQuantizer, RowQuantizer, fit_latent_codebook,
                                              quantize_rows, sequential_quantize)
from emblab.search import search

torch = pytest.importorskip("torch")

BASE = "sae:h=64,epochs=2,batch_size=64,progress=false"


def _data(n=500, d=16, seed=0):
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(6, d))
    return (rng.normal(size=(n, 6)) @ basis + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def trained():
    X = _data()
    return emblab.build(f"{BASE},k=8").fit(X[:400]), X


# --- bit layout and budgets ------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.integers(2, 65536), st.integers(1, 40), st.sampled_from([16, 8, 4]), st.sampled_from(["fixed", "ef"]),
       st.integers(0, 10_000))
def test_packing_round_trips_exactly(h, k, vb, coding, seed):
    rng = np.random.default_rng(seed)
    lay = PackedLayout(h, k, vb, coding)
    idx = np.sort(rng.integers(0, h, size=(7, k)), axis=1)  # sorted, with repeats (padding)
    fields = rng.integers(0, 1 << vb, size=(7, k))
    packed = lay.pack(idx, fields)
    assert packed.dtype == np.uint8 and packed.shape == (7, lay.row_bytes)
    if coding == "fixed":
        assert lay.row_bytes == -(-k * (index_bits(h) + vb) // 8)
    i2, f2 = lay.unpack(packed)
    assert np.array_equal(i2, idx) and np.array_equal(f2, fields)


def test_elias_fano_sizes_and_errors():
    from emblab.compressors.sparse_layout import ef_bits, ef_low_bits

    assert ef_low_bits(4096, 32) == 7 and ef_bits(4096, 32, 7) == 32 * 7 + 32 + 32  # 288 bits, not 384
    assert ef_low_bits(4096, 64) == 6 and PackedLayout(4096, 64, 4, "ef").row_bytes == (64 * 6 + 128 + 256) // 8
    with pytest.raises(DataError, match="sorted"):
        PackedLayout(64, 3, 4, "ef").pack(np.array([[5, 2, 9]]), np.ones((1, 3), int))
    assert k_for_budget(64, 4096, 4, packed=True, index_coding="ef") == 40
    assert k_for_budget(128, 4096, 4, packed=True, index_coding="ef") == 89


def test_index_bits_and_budget_k():
    assert [index_bits(h) for h in (2, 1024, 1025, 4096, 16384, 65536)] == [1, 10, 11, 12, 14, 16]
    # h = 4096, 4-bit values: 16 bits per slot -> 32 slots in 64 B; fp16: 28 bits -> 18 slots
    assert k_for_budget(64, 4096, 4, packed=True) == 32
    assert k_for_budget(64, 4096, 16, packed=True) == 18
    assert k_for_budget(64, 4096, 16, packed=False) == 16
    assert k_for_budget(64, 4096, 8, packed=True, norm_bytes=2) == 24
    for b in range(3, 200):
        k = k_for_budget(b, 4096, 8, packed=True)
        assert code_bytes(4096, k, 8, packed=True) <= b < code_bytes(4096, k + 1, 8, packed=True)


@pytest.mark.parametrize("extra", ["budget=12,value_bits=4", "budget=20,value_bits=8,store_norm=true",
                                   "budget=11,value_bits=4,index_coding=ef",
                                   "k=5,value_bits=16", "k=5,pack=false,index_coding=fixed,value_bits=16",
                                   "budget=9,value_bits=4,value_scale=latent"])
def test_bytes_per_vector_is_the_measured_payload_and_fits_the_budget(extra):
    X = _data()
    m = emblab.build(f"{BASE},{extra}").fit(X[:400])
    codes = m.encode(X[400:])
    assert m.bytes_per_vector == codes.bytes_per_vector
    if m.budget is not None:
        assert codes.bytes_per_vector <= m.budget
        assert code_bytes(64, m.coding_k() + 1, m.value_bits, packed=m.pack, norm_bytes=2 * m.store_norm,
                          index_coding=m.index_coding) > m.budget


@pytest.mark.parametrize("spec, match", [
    ("sae:h=4096,budget=64,k=40,value_bits=8,index_coding=fixed", r"k=40 takes 100 B .*k <= 25 fits"),
    ("sae:h=4096,budget=1,value_bits=4", "leave room for one non-zero"),
    ("sae:pack=false,value_bits=8", "pack=false .*needs value_bits=16,index_coding=fixed"),
    ("sae:value_bits=16,value_scale=latent", "value_scale.*'row' with value_bits=16"),
    ("sae:value_bits=12", "value_bits"),
    ("sae:pack=false,value_bits=16,index_coding=ef", "pack=false .*needs value_bits=16,index_coding=fixed"),
    ("sae:h=64,train_k=65", "train_k"),
])
def test_impossible_layouts_are_one_line_errors(spec, match):
    with pytest.raises(InvalidParameterError, match=match) as exc:
        emblab.build(spec)
    assert "\n" not in str(exc.value)


# --- value quantisers and the refit ------------------------------------------------------------------
def test_row_quantizer_levels_and_implicit_scale():
    q = RowQuantizer(4, signed=True)
    v = np.array([[0.5, -0.25, 0.1, 0.0]])
    fields, qv = quantize_rows(np.zeros((1, 4), int), v, q)
    levels = np.round(v / 0.5 * 7)
    assert np.allclose(qv, levels * 0.5 / 7)
    assert fields[0, 3] == 0  # value 0 -> field 0 (padding marker)
    np.testing.assert_allclose(q.dequantize(None, fields), levels / 7, atol=1e-7)
    u = RowQuantizer(4, signed=False)  # non-negative codes use all 16 levels
    f, _ = quantize_rows(np.zeros((1, 2), int), np.array([[1.0, 0.5]]), u)
    assert f.tolist() == [[15, 8]]


def test_sequential_quantize_equals_fix_one_then_resolve():
    """Known answer: fixing coordinates largest |v*| first and re-solving the rest by least squares."""
    rng = np.random.default_rng(3)
    m, k, d = 6, 5, 9
    D = rng.normal(size=(m, k, d))
    x = rng.normal(size=(m, d))
    G = np.einsum("mid,mjd->mij", D, D)
    vstar = np.linalg.solve(G + 1e-5 * np.eye(k), np.einsum("mid,md->mi", D, x)[..., None])[..., 0]
    q = RowQuantizer(4)
    fields, got = sequential_quantize(np.zeros((m, k), int), vstar, G, q, q.start(vstar))
    step = np.abs(vstar).max(1) / q.L
    for r in range(m):
        order = np.argsort(-np.abs(vstar[r]), kind="stable")
        fixed = {}
        for j in order:
            free = [i for i in order if i not in fixed]
            # least squares over the free coordinates given the fixed ones
            A = D[r][free]
            resid = x[r] - sum(fixed[i] * D[r][i] for i in fixed) if fixed else x[r]
            sol = np.linalg.lstsq(A @ A.T + 1e-5 * np.eye(len(free)), A @ resid, rcond=None)[0]
            vj = sol[free.index(j)]
            fixed[j] = np.clip(np.rint(vj / step[r]), -q.L, q.L) * step[r]
        np.testing.assert_allclose(got[r], [fixed[i] for i in range(k)], atol=1e-9)


def test_refit_reconstructs_better_than_rounding(trained):
    from emblab.compressors.sae_coding import support_values

    m, X = trained
    xt = m._prepare(X[400:])
    idx, v, G = support_values(xt, m, 8, "omp", "refit")
    err = {}
    for name, gram in (("round", None), ("refit", G)):
        q = RowQuantizer(4)
        _, qv = quantize_rows(idx, v, q, gram=gram)
        rec = np.einsum("mk,mkd->md", qv, m.W_dec_[idx])
        err[name] = np.mean(np.sum((xt - rec) ** 2, 1))
    assert err["refit"] < err["round"]


def test_latent_codebook_recovers_planted_levels():
    rng = np.random.default_rng(0)
    h, levels = 5, np.array([[-1.0, 0.5, 2.0]]) * (1 + np.arange(5))[:, None]  # 3 levels per latent
    idx = rng.integers(0, h, size=(2000, 3))
    val = levels[idx, rng.integers(0, 3, size=idx.shape)] + 1e-3 * rng.normal(size=idx.shape)
    cb = fit_latent_codebook(idx, val, h, bits=2)
    assert cb.shape == (h, 4) and (cb[:, 0] == 0).all()
    np.testing.assert_allclose(cb[:, 1:], levels, atol=1e-3)
    q = LatentQuantizer(cb)
    f, qv = quantize_rows(idx, val, q)
    np.testing.assert_allclose(q.dequantize(idx, f), val, atol=5e-3)
    assert (f >= 1).all()  # field 0 stays reserved for 0


def test_latent_codebook_must_match_the_coding(trained):
    m, X = trained
    lat = m.with_coding(X[:400], value_bits=4, value_scale="latent")
    lat.set_params(k=6)
    with pytest.raises(NotFittedError, match="fit_values"):
        lat.encode(X[:3])
    lat.fit_values(X[:400])
    assert lat.encode(X[:3]).bytes_per_vector == lat.bytes_per_vector
    with pytest.raises(InvalidParameterError, match="pass the fit set"):
        m.with_coding(value_bits=8, value_scale="latent")


# --- packed codes in every mode ---------------------------------------------------------------------
def test_packed_fp16_codes_equal_the_unpacked_layout_in_every_mode(trained):
    m, X = trained
    a = m.with_coding(k=8, pack=True, index_coding="fixed", value_bits=16, value_fit="round")
    b = m.with_coding(k=8, pack=False, index_coding="fixed", value_bits=16, value_fit="round")
    ca, cb = a.encode(X[:400]), b.encode(X[:400])
    assert set(ca.arrays) == {"packed"} and set(cb.arrays) == {"indices", "values"}
    assert ca.bytes_per_vector == 8 * (6 + 16) / 8 < cb.bytes_per_vector == 32
    for x, y in zip(a.unpack(ca), b.unpack(cb)):
        np.testing.assert_array_equal(x, y)
    for mode in a.search_modes:
        Da, Ia = search(a, X[400:], ca, 7, mode)
        Db, Ib = search(b, X[400:], cb, 7, mode)
        np.testing.assert_array_equal(Ia, Ib)
        np.testing.assert_array_equal(Da, Db)


def test_search_reads_packed_catalogue_chunk_by_chunk(trained, monkeypatch):
    m, X = trained
    q = m.with_coding(k=8, value_bits=4)
    codes = q.encode(X[:400])
    ref = {mode: search(q, X[400:], codes, 5, mode) for mode in q.search_modes}
    from emblab.compressors.sae import SparseAutoencoder

    seen = []
    orig = SparseAutoencoder.unpack

    def spy(self, c):
        seen.append(len(c))
        return orig(self, c)

    q2 = m.with_coding(k=8, value_bits=4)
    monkeypatch.setattr(SparseAutoencoder, "unpack", spy)
    monkeypatch.setattr(SparseAutoencoder, "search_chunk", 64)
    for mode in q2.search_modes:
        D, I = search(q2, X[400:], codes, 5, mode)
        np.testing.assert_array_equal(I, ref[mode][1])
        np.testing.assert_allclose(D, ref[mode][0], atol=1e-6)
    assert seen and max(seen) <= 64  # never the whole 400-row catalogue at once


def test_omp_path_cache_gives_the_codes_of_a_fresh_encode(trained):
    m, X = trained
    a = m.with_coding(k=8, value_bits=4)
    a.encode(X[400:])  # caches the 8-atom OMP path of these rows
    small = a.with_coding(k=5, value_bits=4)
    fresh = emblab.build(small.to_spec()).fit(X[:400])
    assert fresh.__dict__.get("_path_cache") == {}
    np.testing.assert_array_equal(small.encode(X[400:]).arrays["packed"], fresh.encode(X[400:]).arrays["packed"])


def test_with_coding_spec_rebuilds_the_same_model(trained):
    m, X = trained
    c = m.with_coding(X[:400], budget=7, index_coding="fixed", value_bits=4, value_scale="latent", encoder="topk")
    assert "train_k=8" in c.to_spec() and c.coding_k() == 5
    again = emblab.build(c.to_spec()).fit(X[:400])
    np.testing.assert_array_equal(again.encode(X[400:]).arrays["packed"], c.encode(X[400:]).arrays["packed"])
    with pytest.raises(InvalidParameterError, match="coding parameters only"):
        m.with_coding(h=32)


def test_latent_stats_of_packed_codes(trained):
    from emblab.sparse_search import latent_usage

    m, X = trained
    q = m.with_coding(k=8, value_bits=8)
    codes = q.encode(X)
    assert q.latent_stats(codes) == latent_usage(*q.unpack(codes), 64)


def test_saved_before_packing_loads_with_the_old_layout(tmp_path):
    X = _data()
    m = emblab.build(f"{BASE},k=4,encoder=topk,pack=false,index_coding=fixed,value_bits=16,value_fit=round").fit(X[:400])
    m.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    for key in ("pack", "value_bits", "value_scale", "value_fit", "budget", "train_k"):
        del cfg["params"][key]
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    old = emblab.load_model(tmp_path / "m")
    assert (old.pack, old.value_bits, old.value_fit) == (False, 16, "round")
    np.testing.assert_array_equal(old.encode(X[400:]).arrays["values"], m.encode(X[400:]).arrays["values"])


def test_qdrant_export_unpacks_packed_codes(trained):
    pytest.importorskip("qdrant_client")
    from emblab.scale.qdrant_export import connect, export_codes, search_codes, topk_agreement

    m, X = trained
    q = m.with_coding(k=8, value_bits=4)
    cat = q.encode(X[:400])
    D_ref, I_ref = search(q, X[400:], cat, k=10, mode="sparse")
    client = connect(":memory:")
    with pytest.raises(DataError, match="model"):
        export_codes(client, "items", cat)
    export_codes(client, "items", cat, model=q, batch_size=64)
    D, I = search_codes(client, "items", q.encode_query(X[400:]), k=10)
    assert topk_agreement(I, I_ref, D_ref) >= 0.99


# --- reference init (issue 15, item 9) ---------------------------------------------------------------
def test_encoder_init_is_the_reference_kaiming_uniform():
    from emblab.nn.sae_module import SAEModule

    d, h = 32, 64
    torch.manual_seed(0)
    ref_enc = torch.nn.init.kaiming_uniform_(torch.empty(d, h))  # recombee/CompresSAE model.py
    ref_dec = torch.nn.init.kaiming_uniform_(torch.empty(h, d))
    torch.manual_seed(0)
    mod = SAEModule(d, h, 4)
    assert torch.equal(mod.W_enc.data, ref_enc)
    assert torch.allclose(mod.W_dec.data, torch.nn.functional.normalize(ref_dec, dim=1))
    bound = (6 / h) ** 0.5
    top = float(mod.W_enc.detach().abs().max())
    assert 0.9 * bound < top <= bound


# --- sparse search ties (issue 15, item 1) ------------------------------------------------------------
def test_inverted_ranks_duplicates_exactly_as_brute_force():
    from emblab.sparse_search import SparseIndex

    rng = np.random.default_rng(0)
    h, kk = 16, 3
    base_i = np.sort(np.stack([rng.choice(h, kk, replace=False) for _ in range(30)]), axis=1)
    base_v = rng.choice([-2.0, -1.0, 1.0, 2.0], size=(30, kk))
    rep = rng.integers(0, 30, size=400)  # every item duplicated many times, in shuffled order
    idx, val = base_i[rep].astype(np.uint16), base_v[rep].astype(np.float16)
    qi = np.sort(np.stack([rng.choice(h, 4, replace=False) for _ in range(20)]), axis=1).astype(np.uint16)
    qv = rng.choice([-1.0, 1.0, 2.0], size=(20, 4)).astype(np.float16)
    index = SparseIndex(idx, val, h, chunk_size=50)
    D1, I1 = index.search_sparse(qi, qv, 25, method="inverted")
    D2, I2 = index.search_sparse(qi, qv, 25, method="brute")
    np.testing.assert_array_equal(I1, I2)  # full arrays, order included
    np.testing.assert_array_equal(D1, D2)
    for d_row, i_row in zip(D1, I1):  # ties by ascending id
        for s in np.unique(d_row):
            ids = i_row[d_row == s]
            assert (np.diff(ids) > 0).all()
    Z = np.zeros((400, h)); np.put_along_axis(Z, idx.astype(int), val.astype(float), axis=1)
    Q = np.zeros((20, h)); np.put_along_axis(Q, qi.astype(int), qv.astype(float), axis=1)
    S = (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ (Z / np.linalg.norm(Z, axis=1, keepdims=True)).T
    np.testing.assert_allclose(D1, -np.sort(-S, axis=1)[:, :25], atol=1e-6)


def test_rank_scores_orders_positives_zeros_by_id_then_negatives():
    from emblab.sparse_search import rank_scores

    s = np.array([0.0, -1.0, 0.5, 0.0, 0.5, -0.5, 0.0])
    D, I = rank_scores(s, 7)
    assert I.tolist() == [2, 4, 0, 3, 6, 5, 1]
    assert D.tolist() == [0.5, 0.5, 0.0, 0.0, 0.0, -0.5, -1.0]
    assert rank_scores(s, 3)[1].tolist() == [2, 4, 0]
