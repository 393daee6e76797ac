"""The compressor contract, checked for every registered method (design.md section 11).

Parametrised over :func:`emblab.list_methods` at collection time, so methods added later (sae,
mcr2, ae, ...) are covered automatically through their class attribute ``test_spec``.
"""

from __future__ import annotations

import numpy as np
import pytest

import emblab
from emblab import ArtifactError, DataError, InvalidParameterError, NotFittedError
from emblab.codes import Codes
from emblab.registry import build, parse_spec, to_spec

from conftest import contract_spec

METHODS = emblab.list_methods()
# stores and chains the issue names explicitly, beside each method's own test_spec
_SAE = "sae:h=64,epochs=2,batch_size=64,progress=false"
# every SAE code layout (issue 16): packed fp16 / 8-bit / 4-bit values, row or per-latent quantiser,
# budget-chosen k, the uint16 + fp16 layout, non-negative codes, stored norms, both value fits
SAE_LAYOUTS = [f"{_SAE},budget=12,value_bits=4", f"{_SAE},budget=11,value_bits=8,index_coding=ef", f"{_SAE},k=4,value_bits=8,value_scale=latent",
               f"{_SAE},k=4,value_bits=16,store_norm=true", f"{_SAE},k=4,pack=false,index_coding=fixed,value_bits=16,encoder=topk",
               f"{_SAE},budget=10,value_bits=4,value_scale=latent,encoder=topk,value_fit=round",
               f"{_SAE},k=6,value_bits=4,activation=relu_topk,encoder=topk"]
EXTRA_SPECS = ["pca:dim=8,store=int8", "pca:dim=8,store=f32|int8", "int8:calib=percentile:0.1",
               "binary:rescore=3", "pq:m=4,nbits=4", "faiss:SQ8"] + SAE_LAYOUTS
SPECS = [contract_spec(m) for m in METHODS] + EXTRA_SPECS
BAD_VALUES = ["__bad__", -1, 1.5, "", None, -0.5]


def test_every_method_is_covered():
    assert {"float32", "float16", "trunc", "int8", "binary", "faiss", "pq", "opq", "pca"} <= set(METHODS)


@pytest.mark.parametrize("spec", SPECS)
def test_shapes_dtypes_and_finite(spec, fitted_model, planted):
    m = fitted_model(spec)
    codes = m.encode(planted)
    assert isinstance(codes, Codes) and len(codes) == len(planted)
    assert codes.layout == m.codes_layout
    for arr in codes.arrays.values():
        assert arr.shape[0] == len(planted)
    if codes.layout in ("uint8", "bits"):
        assert codes.data.dtype == np.uint8
    R = m.decode(codes)
    assert R.shape == planted.shape and R.dtype == np.float32
    assert np.isfinite(R).all()
    one = m.encode(planted[:1])
    assert len(one) == 1 and m.decode(one).shape == (1, planted.shape[1])
    assert m.n_features_in_ == planted.shape[1]
    assert isinstance(m.model_bytes, int) and m.model_bytes >= 0


@pytest.mark.parametrize("spec", SPECS)
def test_bytes_per_vector_is_measured(spec, fitted_model, planted):
    m = fitted_model(spec)
    codes = m.encode(planted[:37])
    assert m.bytes_per_vector == pytest.approx(codes.bytes_per_vector)


@pytest.mark.parametrize("spec", SPECS)
def test_not_fitted(spec, planted):
    m = build(spec)
    with pytest.raises(NotFittedError, match="not fitted"):
        m.encode(planted)
    with pytest.raises(NotFittedError):
        m.bytes_per_vector
    with pytest.raises(NotFittedError):
        m.save("/nonexistent/never-written")


@pytest.mark.parametrize("spec", SPECS)
def test_invalid_parameters_are_named(spec, planted):
    name, params = parse_spec(spec.split("|")[0])[0]
    with pytest.raises(InvalidParameterError, match="valid keys"):
        build(f"{name}:no_such_param=1" if name != "faiss" else "pca:no_such_param=1")
    if "|" in spec:
        with pytest.raises(InvalidParameterError, match="not a parameter"):
            build(spec).set_params(dim=0)
        return
    cls = emblab.get_method(name)
    for pname in cls._parameter_constraints:
        rejected = False
        for bad in BAD_VALUES:
            m = build(spec).set_params(**{pname: bad})
            try:
                m._validate_params()
            except InvalidParameterError as exc:
                assert f"'{pname}'" in str(exc), str(exc)   # quoted: a bare 'k' is in almost any text
                assert "\n" not in str(exc)
                with pytest.raises(InvalidParameterError):
                    m.fit(planted)
                rejected = True
                break
        assert rejected, f"no value in {BAD_VALUES} is rejected for {name}.{pname}"


@pytest.mark.parametrize("spec", SPECS)
def test_determinism_refit_and_same_seed(spec, fitted_model, planted):
    ref = fitted_model(spec).encode(planted)
    m = build(spec).fit(planted)
    c1 = m.encode(planted)
    m.fit(planted)  # fitting twice gives the same result
    c2 = m.encode(planted)
    for k in ref.arrays:
        np.testing.assert_array_equal(c1.arrays[k], ref.arrays[k])
        np.testing.assert_array_equal(c2.arrays[k], ref.arrays[k])
    assert m.fingerprint == fitted_model(spec).fingerprint


@pytest.mark.parametrize("spec", SPECS)
def test_save_load_bit_identical(spec, fitted_model, planted, tmp_path):
    m = fitted_model(spec)
    m.save(tmp_path / "model")
    m2 = emblab.load_model(tmp_path / "model")
    assert type(m2) is type(m)
    assert m2.to_spec() == m.to_spec()
    assert m2.get_params() == m.get_params()
    assert m2.fingerprint == m.fingerprint
    c, c2 = m.encode(planted), m2.encode(planted)
    assert c.arrays.keys() == c2.arrays.keys()
    for k in c.arrays:
        np.testing.assert_array_equal(c.arrays[k], c2.arrays[k])
    np.testing.assert_array_equal(m2.decode(c), m.decode(c))
    # codes round-trip through a file and still decode with the reloaded model
    c.save(tmp_path / "codes.npz")
    np.testing.assert_array_equal(m2.decode(Codes.load(tmp_path / "codes.npz")), m.decode(c))


@pytest.mark.parametrize("spec", SPECS)
def test_spec_round_trip(spec):
    m = build(spec)
    canonical = m.to_spec()
    again = build(canonical)
    assert again.get_params() == m.get_params()
    assert again.to_spec() == canonical
    assert build(to_spec(again)).get_params() == m.get_params()
    if "|" not in canonical:
        assert repr(m).startswith(type(m).__name__ + "(")


@pytest.mark.parametrize("spec", SPECS)
def test_width_mismatch_names_both_widths(spec, fitted_model, planted):
    m = fitted_model(spec)
    d = planted.shape[1]
    with pytest.raises(DataError, match=rf"{d - 1} features.*{d}"):
        m.encode(planted[:, :-1])


@pytest.mark.parametrize("spec", SPECS)
def test_nan_and_inf_rejected(spec, fitted_model, planted):
    bad = planted[:10].copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        fitted_model(spec).encode(bad)
    bad[3, 2] = np.inf
    with pytest.raises(DataError, match="inf"):
        build(spec).fit(bad)
    with pytest.raises(DataError, match="empty"):
        fitted_model(spec).encode(planted[:0])


@pytest.mark.parametrize("spec", SPECS)
def test_codes_of_another_model_rejected(spec, fitted_model, planted):
    m = fitted_model(spec)
    other = fitted_model("float16" if spec != "float16" else "float32")
    foreign = other.encode(planted[:5])
    with pytest.raises(ArtifactError, match="another model"):
        m.decode(foreign)
    with pytest.raises(ArtifactError):
        emblab.search(m, planted[:2], foreign, k=3)


@pytest.mark.parametrize("spec", SPECS)
def test_search_every_mode(spec, fitted_model, planted):
    m = fitted_model(spec)
    codes = m.encode(planted[20:])
    xq = planted[:20]
    for mode in m.search_modes:
        D, I = emblab.search(m, xq, codes, k=5, mode=mode)
        assert D.shape == I.shape == (20, 5), mode
        assert D.dtype == np.float32 and I.dtype == np.int64
        assert np.isfinite(D).all() and (I >= 0).all() and (I < len(codes)).all()
        assert (np.diff(D, axis=1) <= 1e-6).all(), f"{mode}: scores not sorted"
        if mode in ("symmetric", "hamming", "code"):
            # scores between two codes: a catalogue item used as the query has the same code, so it
            # scores the maximum and is returned (a mode returning wrong indices fails here)
            _, I_self = emblab.search(m, planted[20:40], codes, k=5, mode=mode)
            assert (I_self == np.arange(20)[:, None]).any(axis=1).all(), f"{mode}: an item does not find itself"
    with pytest.raises(InvalidParameterError, match="not supported"):
        emblab.search(m, xq, codes, k=5, mode="no-such-mode")
