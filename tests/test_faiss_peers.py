"""FAISS peers equal FAISS called directly on the same data (issue 2, acceptance).

Same codes (``sa_encode``), same reconstructions, the same ``adc`` search results (ids and scores)
as an index built with ``faiss.index_factory(d, factory, METRIC_INNER_PRODUCT)``, trained, filled
with ``add`` and searched, and ``asymmetric`` scores equal to the cosine of the query with FAISS's
reconstructions. The 8-bit, polysemous ``faiss:PQ8`` comparison costs ~10 s of CPU and is
marked slow; the default run compares 4-bit and ``np`` factories.
"""

from __future__ import annotations

import numpy as np
import pytest

import emblab
from emblab import FitError, InvalidParameterError
from emblab.search import search

from conftest import planted_low_rank

faiss = pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def data():
    X = planted_low_rank(n=440, d=16, rank=6, seed=21)
    return X[:40], X[40:]


def _direct(factory, xb, xq, k=10):
    index = faiss.index_factory(xb.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    index.train(xb)
    codes = index.sa_encode(xb)
    index.add(xb)
    D, I = index.search(xq / np.linalg.norm(xq, axis=1, keepdims=True), k)
    return codes, index, D, I


@pytest.mark.parametrize("spec,factory", [
    ("faiss:PQ4x4np", "PQ4x4np"),
    ("pq:m=4,nbits=4", "PQ4x4np"),
    ("faiss:OPQ4,PQ4x4np", "OPQ4,PQ4x4np"),
    ("opq:m=4,nbits=4", "OPQ4,PQ4x4np"),
    ("faiss:PQ4x4fs", "PQ4x4fs"),
    ("faiss:SQ8", "SQ8"),
    ("faiss:SQfp16", "SQfp16"),
    pytest.param("faiss:PQ8", "PQ8", marks=pytest.mark.slow),
    pytest.param("pq:m=8", "PQ8", marks=pytest.mark.slow),
    pytest.param("opq:m=8", "OPQ8,PQ8", marks=pytest.mark.slow),
])
def test_same_codes_and_search_results_as_faiss(data, spec, factory):
    xq, xb = data
    codes_ref, index, D_ref, I_ref = _direct(factory, xb, xq)
    m = emblab.build(spec).fit(xb)
    codes = m.encode(xb)
    assert m.bytes_per_vector == index.sa_code_size() == codes.bytes_per_vector
    same_factory = m._factory_string() == factory
    if same_factory:
        np.testing.assert_array_equal(codes.data, codes_ref)
        np.testing.assert_array_equal(m.decode(codes), index.sa_decode(codes_ref))
    D, I = search(m, xq, codes, k=10, mode="adc")
    # pq:/opq: skip polysemous training, which permutes centroid ids only: results are identical
    np.testing.assert_array_equal(I, I_ref)
    np.testing.assert_allclose(D, D_ref, rtol=1e-5, atol=1e-6)
    # asymmetric = cosine of the query with FAISS's own reconstructions
    R = index.reconstruct_n(0, index.ntotal) if not same_factory else index.sa_decode(codes_ref)
    R /= np.maximum(np.linalg.norm(R, axis=1, keepdims=True), 1e-12)
    q = xq / np.linalg.norm(xq, axis=1, keepdims=True)
    D, I = search(m, xq, codes, k=10, mode="asymmetric")
    np.testing.assert_allclose(D, np.sort(q @ R.T, axis=1)[:, ::-1][:, :10], atol=1e-5)


def test_symmetric_is_cosine_of_decoded_vectors(data):
    xq, xb = data
    m = emblab.build("pq:m=4,nbits=4").fit(xb)
    codes = m.encode(xb)
    R = m.decode(codes)
    Q = m.decode(m.encode(xq))
    R /= np.linalg.norm(R, axis=1, keepdims=True)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    D, I = search(m, xq, codes, k=5, mode="symmetric")
    np.testing.assert_allclose(D, np.sort(Q @ R.T, axis=1)[:, ::-1][:, :5], atol=1e-5)


def test_seed_changes_pq_codes(data):
    _, xb = data
    a = emblab.build("pq:m=4,nbits=4").fit(xb).encode(xb).data
    b = emblab.build("pq:m=4,nbits=4,random_state=7").fit(xb).encode(xb).data
    assert not np.array_equal(a, b)


def test_faiss_errors_are_one_line(data):
    _, xb = data
    with pytest.raises(InvalidParameterError, match=r"'m' parameter of PQ must divide n_features=16; got 5") as e:
        emblab.build("pq:m=5").fit(xb)
    assert "\n" not in str(e.value)
    with pytest.raises(InvalidParameterError, match="FAISS cannot build factory 'Nonsense42'") as e:
        emblab.build("faiss:Nonsense42").fit(xb)
    assert "\n" not in str(e.value)
    with pytest.raises(FitError, match="failed to train") as e:
        emblab.build("pq:m=4").fit(xb[:100])  # 256 centroids need >= 256 points
    assert "\n" not in str(e.value)


def test_model_state_is_the_serialized_index(data, tmp_path):
    _, xb = data
    m = emblab.build("opq:m=4,nbits=4").fit(xb)
    m.save(tmp_path / "opq")
    from safetensors.numpy import load_file

    t = load_file(str(tmp_path / "opq" / "model.safetensors"))
    assert list(t) == ["index"] and t["index"].dtype == np.uint8
    again = faiss.deserialize_index(t["index"])
    np.testing.assert_array_equal(again.sa_encode(xb), m.encode(xb).data)
    assert m.model_bytes == t["index"].nbytes
