"""Codes storage (design.md sections 5 and 11): hypothesis round-trips, ranges, bit packing, corrupt files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import emblab
from emblab import ArtifactError, DataError
from emblab.codes import Codes
from emblab.compressors.binary import hamming_distances, pack_signs, unpack_signs
from emblab.compressors.scalar_quant import calibrate, dequantize, quantize

DTYPES = st.sampled_from([np.uint8, np.float16, np.float32, np.uint16, np.int32])


@st.composite
def codes_objects(draw):
    n = draw(st.integers(min_value=0, max_value=20))
    layout = draw(st.sampled_from(["float", "uint8", "bits", "sparse"]))
    names = ["codes"] if layout != "sparse" else ["indices", "values"]
    names += draw(st.lists(st.sampled_from(["int8", "recon_norm", "extra"]), unique=True, max_size=2))
    arrays = {}
    for name in names:
        width = draw(st.integers(min_value=0, max_value=7))
        shape = (n,) if name == "recon_norm" else (n, width)
        arrays[name] = draw(hnp.arrays(draw(DTYPES), shape))
    meta = draw(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5)), max_size=3))
    fp = draw(st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)))
    return Codes(arrays, layout, draw(st.text(max_size=20)), fp, meta)


@settings(max_examples=40, deadline=None)
@given(codes_objects())
def test_codes_save_load_round_trip(tmp_path_factory, c):
    path = tmp_path_factory.mktemp("codes") / "c.npz"
    c.save(path)
    back = Codes.load(path)
    assert back.layout == c.layout and back.method == c.method
    assert back.model_fingerprint == c.model_fingerprint and back.meta == c.meta
    assert back.arrays.keys() == c.arrays.keys()
    for k, a in c.arrays.items():
        assert back.arrays[k].dtype == a.dtype
        np.testing.assert_array_equal(back.arrays[k], a)
    assert len(back) == len(c) and back.bytes_per_vector == c.bytes_per_vector


def test_codes_slicing_concat_and_size():
    c = Codes({"codes": np.arange(20, dtype=np.uint8).reshape(10, 2)}, "uint8", "x", "f" * 64)
    assert c.bytes_per_vector == 2.0 and c.nbytes == 20
    parts = [p for _, p in c.iter_chunks(3)]
    assert [len(p) for p in parts] == [3, 3, 3, 1]
    np.testing.assert_array_equal(Codes.concat(parts).data, c.data)
    assert len(c[np.array([1, 5])]) == 2 and len(c[4]) == 1
    other = Codes({"codes": np.zeros((2, 2), np.uint8)}, "uint8", "y", "0" * 64)
    with pytest.raises(ArtifactError, match="different models"):
        Codes.concat([c, other])


def test_codes_constructor_checks():
    with pytest.raises(DataError, match="layout"):
        Codes({"codes": np.zeros((2, 2))}, "dense")
    with pytest.raises(DataError, match="first dimension"):
        Codes({"indices": np.zeros((2, 2)), "values": np.zeros((3, 2))}, "sparse")
    with pytest.raises(DataError, match="at least one"):
        Codes({}, "float")
    with pytest.raises(DataError, match="not float"):
        Codes({"codes": np.zeros((2, 2), np.uint8)}, "uint8").as_float()


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(2, 40), st.integers(1, 12)),
                  elements=st.floats(-100, 100, width=32)),
       hnp.arrays(np.float32, st.tuples(st.integers(1, 10), st.just(12)), elements=st.floats(-1e4, 1e4, width=32)))
def test_int8_codes_in_range_and_error_bounded(X, Y):
    lo, hi = calibrate(X)
    C = quantize(X, lo, hi)
    assert C.dtype == np.uint8
    R = dequantize(C, lo, hi)
    assert np.isfinite(R).all()
    # inside the calibration range the error is at most half a step (plus float slack)
    step = (hi - lo) / 255.0
    assert (np.abs(R - X) <= step / 2 + 1e-4 * np.maximum(1, np.abs(X))).all()
    assert ((R >= lo - 1e-4 * np.maximum(1, abs(lo))) & (R <= hi + 1e-4 * np.maximum(1, abs(hi)))).all()
    # out-of-range inputs clip instead of wrapping around
    Yw = Y[:, : X.shape[1]]
    Cy = quantize(Yw, lo, hi)
    assert ((Cy == 0) | (Yw > lo)).all() and ((Cy == 255) | (Yw < hi) | (hi == lo)).all()


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 20), st.integers(1, 70)),
                  elements=st.floats(-1, 1, width=32)))
def test_bit_packing_round_trip(X):
    d = X.shape[1]
    bits = pack_signs(X)
    assert bits.shape == (len(X), -(-d // 8)) and bits.dtype == np.uint8
    S = unpack_signs(bits, d)
    np.testing.assert_array_equal(S, np.where(X > 0, 1.0, -1.0).astype(np.float32))
    np.testing.assert_array_equal(pack_signs(S), bits)
    # Hamming distance = number of differing signs, brute force
    H = hamming_distances(bits, bits[::-1])
    brute = ((X > 0)[:, None, :] != (X[::-1] > 0)[None, :, :]).sum(axis=2)
    np.testing.assert_array_equal(H, brute)


# --- corrupt files ---------------------------------------------------------------------------------

@pytest.fixture
def saved_codes(tmp_path):
    c = Codes({"codes": np.arange(600, dtype=np.uint8).reshape(100, 6) % 251}, "uint8", "int8", "a" * 64)
    path = tmp_path / "codes.npz"
    c.save(path)
    return path


def test_truncated_codes_file(saved_codes):
    data = saved_codes.read_bytes()
    for cut in (len(data) // 2, 30, len(data) - 5):
        saved_codes.write_bytes(data[:cut])
        with pytest.raises(ArtifactError, match=str(saved_codes.name)):
            Codes.load(saved_codes)


def test_garbage_and_empty_codes_files(tmp_path, saved_codes):
    saved_codes.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(ArtifactError, match="corrupt"):
        Codes.load(saved_codes)
    saved_codes.write_bytes(b"")
    with pytest.raises(ArtifactError, match="empty"):
        Codes.load(saved_codes)
    with pytest.raises(DataError, match="not found"):
        Codes.load(tmp_path / "missing.npz")


def test_codes_file_without_header_or_mismatched_header(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, codes=np.zeros((3, 2), np.uint8))
    with pytest.raises(ArtifactError, match="no header"):
        Codes.load(plain)
    c = Codes({"codes": np.zeros((3, 2), np.uint8)}, "uint8")
    head = c.header()
    head["arrays"]["codes"]["shape"] = [4, 2]
    bad = tmp_path / "bad.npz"
    np.savez(bad, codes=c.data, __emblab_meta__=np.frombuffer(json.dumps(head).encode(), np.uint8))
    with pytest.raises(ArtifactError, match="does not match the header"):
        Codes.load(bad)
    head["format_version"] = 99
    np.savez(bad, codes=c.data, __emblab_meta__=np.frombuffer(json.dumps(head).encode(), np.uint8))
    with pytest.raises(ArtifactError, match="newer"):
        Codes.load(bad)


def test_codes_file_is_a_plain_zip_without_pickle(saved_codes):
    with zipfile.ZipFile(saved_codes) as z:
        assert sorted(z.namelist()) == ["__emblab_meta__.npy", "codes.npy"]
    with np.load(saved_codes, allow_pickle=False) as npz:
        assert npz["codes"].dtype == np.uint8


def test_encoded_codes_record_their_model(tmp_path):
    X = np.random.default_rng(0).normal(size=(50, 16)).astype(np.float32)
    m = emblab.build("int8").fit(X)
    c = m.encode(X)
    assert c.method == "int8:calib=minmax" and c.model_fingerprint == m.fingerprint
    c.save(tmp_path / "c.npz")
    other = emblab.build("int8").fit(X * 2)
    with pytest.raises(ArtifactError, match="re-encode"):
        other.decode(Codes.load(tmp_path / "c.npz"))
