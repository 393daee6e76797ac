"""The resumable cell store, the fitted-model store, Pareto helpers and the stronger peer ladders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emblab._errors import DataError, InvalidParameterError
from emblab.experiment.store import CellStore, cell_id, fitted_model, run_cells
from emblab.bench.pareto import best_under, front_value, pareto_mask


def test_run_cells_resumes_without_rerunning(tmp_path):
    calls = []

    def cell(i):
        def fn():
            calls.append(i)
            if i == 2:
                raise InvalidParameterError("bad cell")
            return {"value": i * 10}
        return {"i": i}, fn

    store = CellStore(tmp_path, "exp/1")
    out = run_cells(store, [cell(i) for i in range(4)])
    assert [r.get("value") for r in out] == [0, 10, None, 30] and out[2]["error"] == "bad cell"
    with open(store.path, "a") as fh:
        fh.write('{"id": "half-writ')  # a run killed mid-write
    seen = []
    out2 = run_cells(CellStore(tmp_path, "exp/1"), [cell(i) for i in range(4)], on_record=lambda r, res: seen.append(res))
    assert calls == [0, 1, 2, 3, 2]  # only the failed cell runs again
    assert seen == [True, True, False, True]
    assert out2[3]["id"] == cell_id({"i": 3}) and out2[3]["value"] == 30
    with pytest.raises(DataError, match="another task or configuration"):
        CellStore(tmp_path, "exp/2")


def test_fitted_model_is_stored_and_reloaded(tmp_path, planted):
    import emblab.experiment.store as cells

    store = CellStore(tmp_path, "exp/1")
    m = fitted_model(store, "pca:dim=4", planted, fit_rows=300)
    assert m.fit_time_s_ is not None and m.train_data_["n"] == 300
    cells._LOADED.clear()
    again = fitted_model(store, "pca:dim=4", planted, fit_rows=300)
    assert again is not m and again.fingerprint == m.fingerprint and again.fit_time_s_ == m.fit_time_s_
    assert fitted_model(store, "pca:dim=4", planted, fit_rows=300) is again  # kept in memory
    other = fitted_model(store, "pca:dim=4", planted, fit_rows=200)
    assert other.fingerprint != m.fingerprint
    saved = json.loads((next(store.root.glob("models/*/config.json"))).read_text())
    assert saved["spec"] == "pca:dim=4"


def test_pareto_front_and_budget_helpers():
    b = [32, 48, 64, 64, 96, 128]
    s = [0.5, 0.45, 0.7, 0.72, 0.71, 0.8]
    assert pareto_mask(b, s).tolist() == [True, False, False, True, False, True]
    assert front_value(b, s, 100) == 0.72 and front_value(b, s, 16) is None
    recs = [{"bytes_per_vector": x, "v": y, "f": i % 2} for i, (x, y) in enumerate(zip(b, s))]
    assert best_under(recs, 96, lambda r: r["v"])["v"] == 0.72
    assert best_under(recs, 96, lambda r: r["v"], keep=lambda r: r["f"] == 0)["v"] == 0.71


def test_stronger_peer_ladders_hit_their_budgets():
    faiss = pytest.importorskip("faiss")
    from emblab.bench.candidates import peer_specs_for_budgets, rabitq_code_bytes

    for d in (32, 384):
        for bits in (1, 2, 3, 4):
            ix = faiss.index_factory(d, f"RaBitQ{bits if bits > 1 else ''}", faiss.METRIC_INNER_PRODUCT)
            assert ix.sa_code_size() == rabitq_code_bytes(d, bits)
    specs = peer_specs_for_budgets(384, [32, 64, 128], additive=True, rabitq=True, sae=True)
    got = {s for _, s in specs}
    assert {"faiss:RQ32x8", "faiss:LSQ128x4", "faiss:PCAR192,RaBitQ", "faiss:PCAR176,RaBitQ2", "sae:budget=128"} <= got
    for b, spec in specs:
        if spec.startswith("faiss:") and ("RaBitQ" in spec or "RQ" in spec or "LSQ" in spec):
            ix = faiss.index_factory(384, spec.split(":", 1)[1], faiss.METRIC_INNER_PRODUCT)
            assert ix.sa_code_size() == b, spec
    assert not any(s.startswith(("faiss:RQ", "sae")) for _, s in peer_specs_for_budgets(384, [64]))


def test_sae_budget_spec_fits_its_budget(planted):
    pytest.importorskip("torch")
    import emblab

    for b in (8, 20):
        m = emblab.build(f"sae:budget={b},h=64,epochs=1,batch_size=128,progress=false").fit(planted)
        assert m.encode(planted[:5]).bytes_per_vector <= b == m.budget
        assert np.isfinite(m.decode(m.encode(planted[:5]))).all()
