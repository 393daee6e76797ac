"""Autoencoder compressor (``ae``): fit/encode/decode, supervision head, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest

import emblab
from emblab import DataError, InvalidParameterError

pytest.importorskip("torch")


def _data(n=400, d=24, k=3, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, k))
    X = (Z @ rng.normal(size=(k, d)) + 0.05 * rng.normal(size=(n, d))).astype(np.float32)
    y = Z[:, 0] * 2.0 + 0.1 * rng.normal(size=n)
    return X, y


def test_ae_fit_encode_decode_save_load(tmp_path):
    X, _ = _data()
    m = emblab.build("ae:dim=3,hidden=16,epochs=20,batch_size=32,lr=0.005").fit(X[:300], X_val=X[300:])
    codes = m.encode(X)
    assert codes.data.shape == (400, 3) and codes.data.dtype == np.float32
    assert m.bytes_per_vector == 12.0
    rec = m.decode(codes)
    assert rec.shape == X.shape
    # a rank-3 signal through a 3-d bottleneck: far better than predicting the mean
    err = np.mean((rec - X) ** 2) / np.mean((X - X.mean(0)) ** 2)
    assert err < 0.5
    assert m.history_["best_epoch"] >= 0 and len(m.history_["val_loss"]) >= 1
    m.save(tmp_path / "ae")
    m2 = emblab.load_model(tmp_path / "ae")
    np.testing.assert_array_equal(m2.encode(X).data, codes.data)
    assert m2.fingerprint == m.fingerprint
    assert emblab.build(m.to_spec()).get_params() == m.get_params()


def test_ae_f16_store_and_determinism():
    X, _ = _data(n=200)
    a = emblab.build("ae:dim=4,hidden=8,epochs=2,store=f16,random_state=3").fit(X)
    b = emblab.build("ae:dim=4,hidden=8,epochs=2,store=f16,random_state=3").fit(X)
    assert a.bytes_per_vector == 8.0 and a.encode(X).data.dtype == np.float16
    np.testing.assert_array_equal(a.encode(X).data, b.encode(X).data)


def test_ae_alpha_trains_head(tmp_path):
    X, y = _data()
    m = emblab.build("ae:dim=2,hidden=16,alpha=1.0,epochs=25,batch_size=32,lr=0.005")
    m.fit(X[:300], X_val=X[300:], y=y[:300], y_val=y[300:])
    pred = m.predict_head(X[300:])
    assert np.corrcoef(pred, y[300:])[0, 1] > 0.8
    m.save(tmp_path / "sup")
    m2 = emblab.load_model(tmp_path / "sup")
    np.testing.assert_allclose(m2.predict_head(X[300:]), pred, rtol=1e-5, atol=1e-5)


def test_ae_errors():
    X, y = _data(n=100)
    with pytest.raises(InvalidParameterError, match="needs targets"):
        emblab.build("ae:dim=2,alpha=0.1,epochs=1").fit(X)
    with pytest.raises(DataError, match="row-aligned"):
        emblab.build("ae:dim=2,alpha=0.1,epochs=1").fit(X, y=y[:50])
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        emblab.build("ae:dim=2,alpha=0.1,epochs=1").fit(X, y=bad)
    with pytest.raises(InvalidParameterError, match="store"):
        emblab.build("ae:dim=2,store=int4").fit(X)
    with pytest.raises(InvalidParameterError, match="predict_head"):
        emblab.build("ae:dim=2,epochs=1").fit(X).predict_head(X)


def test_ae_restore_last_epoch_matches_reference_mode():
    """restore_best=false (the reference) stops early exactly like restore_best=true, then keeps
    the last epoch's weights; history keeps the true best epoch."""
    X, _ = _data(n=200)
    # lr 0.05 on 40 epochs: the validation loss bottoms out early, so patience 2 stops the fit
    spec = "ae:dim=2,hidden=8,epochs=40,patience=2,lr=0.05,batch_size=16,random_state=1"
    best = emblab.build(spec).fit(X)
    last = emblab.build(spec + ",restore_best=false").fit(X)
    n_run = len(best.history_["val_loss"])
    assert n_run < 40                                     # the setting does stop early
    assert len(last.history_["val_loss"]) == n_run        # and so does the reference mode
    assert best.history_["stopped_early"] and last.history_["stopped_early"]
    vl = last.history_["val_loss"]
    assert last.history_["best_epoch"] == int(np.argmin(vl)) < n_run - 1
    assert last.history_["kept_epoch"] == n_run - 1
    assert best.history_["kept_epoch"] == best.history_["best_epoch"]
    # same training run; only the kept weights differ (best vs last epoch)
    assert best.history_["val_loss"] == vl
    assert not np.allclose(best.encode(X).data, last.encode(X).data)


def test_randproj_roundtrip(tmp_path):
    X, _ = _data(n=200, d=32)
    m = emblab.build("randproj:dim=32,random_state=5").fit(X)
    np.testing.assert_allclose(m.decode(m.encode(X)), X, atol=1e-3)  # square Gaussian R is invertible
    m.save(tmp_path / "rp")
    np.testing.assert_array_equal(emblab.load_model(tmp_path / "rp").encode(X).data, m.encode(X).data)
    other = emblab.build("randproj:dim=8,random_state=6").fit(X)
    assert not np.allclose(other.projection_, emblab.build("randproj:dim=8").fit(X).projection_)
