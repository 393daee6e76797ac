"""Intrinsic-dimension study: known answers, planted low-dim signal, resume, task errors, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emblab import DataError, InvalidParameterError
from emblab.regression import RegressionTask, SweepConfig, intrinsic_dimension, metrics, run_sweep
from emblab.regression.tasks import random_split

pytest.importorskip("sklearn")


def planted_task(n=600, d=40, k=4, noise=0.3, seed=0) -> RegressionTask:
    """X has a rank-k signal (plus small isotropic noise); y is linear in the k factors + noise."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, k))
    X = (Z @ rng.normal(size=(k, d)) + 0.02 * rng.normal(size=(n, d))).astype(np.float32)
    y = Z @ np.array([1.0, -1.0, 0.7, 0.5]) + noise * rng.normal(size=n)
    tr, va, te = random_split(n, 0)
    return RegressionTask("planted", X, y, tr, va, te)


def test_intrinsic_dimension_known_answer():
    curve = {1: 2.0, 2: 1.5, 4: 1.08, 8: 1.0, 16: 1.02, 384: 1.01}
    est = intrinsic_dimension(curve, tol=0.1)
    assert est["id"] == 4 and est["d_star"] == 8 and est["best_loss"] == 1.0
    assert intrinsic_dimension({1: 1.0, 384: 1.05})["id"] == 1  # noisy task: trivial ID
    with pytest.raises(DataError):
        intrinsic_dimension({})


def test_metrics_known_answer():
    m = metrics(np.array([0.0, 0.0, 0.0, 0.0]), np.array([0.5, -0.5, 2.0, -2.0]))
    assert m["mse"] == pytest.approx((0.25 + 0.25 + 4 + 4) / 4)
    assert m["mae"] == pytest.approx(1.25)
    assert m["huber"] == pytest.approx((0.125 + 0.125 + 1.5 + 1.5) / 4)


def test_planted_dimension_found_and_resume(tmp_path):
    task = planted_task()
    cfg = SweepConfig(compressors=["pca:store=f32", "randproj"], dims=[1, 2, 4, 8, 16], seeds=[0, 1],
                      regressors=["ridge"])
    seen = []
    records, store = run_sweep(task, cfg, tmp_path / "cells", progress=False,
                               on_cell=lambda r, resumed: seen.append(resumed))
    assert len(records) == 2 * (2 * 5 + 1) and not any(seen)
    from emblab.regression import summarize

    summ = summarize(records, regressors=["ridge"])
    pca = next(m for m in summ["methods"] if m["compressor"].startswith("pca"))
    assert pca["ids"] == [4, 4]  # the planted dimension
    rp = next(m for m in summ["methods"] if m["compressor"] == "randproj")
    assert min(rp["ids"]) >= 4  # a random projection needs at least as many dims

    # simulate a crash: drop the last 3 cells and leave a half-written line
    lines = store.path.read_text().splitlines()
    store.path.write_text("\n".join(lines[:-3]) + "\n" + lines[-3][:20])
    seen.clear()
    again, _ = run_sweep(task, cfg, tmp_path / "cells", progress=False,
                         on_cell=lambda r, resumed: seen.append(resumed))
    assert seen.count(False) == 3 and seen.count(True) == len(records) - 3
    assert [r["id"] for r in again] == [r["id"] for r in records]

    other = SweepConfig(compressors=["pca"], dims=[1], seeds=[0], regressors=["ridge"])
    with pytest.raises(DataError, match="another task or configuration"):
        run_sweep(task, other, tmp_path / "cells", progress=False)


def test_full_study_with_ae_rf_mlp(tmp_path):
    from emblab.regression.study import run_study

    pytest.importorskip("torch")
    task = planted_task(n=300, d=16)
    cfg = SweepConfig(compressors=["ae:hidden=8,epochs=3,batch_size=64", "ae:alpha=0.5,hidden=8,epochs=3,batch_size=64"],
                      dims=[2], seeds=[0, 1, 2], regressors=["ridge", "rf", "mlp"],
                      regressor_options={"rf": {"n_estimators": 5}, "mlp": {"max_iter": 5}})
    doc = run_study(task, cfg, tmp_path, progress=False)
    assert doc["kind"] == "intrinsic_dimension"
    assert len(doc["records"]) == 2 * 3
    for m in doc["records"]:
        assert len(m["ids"]) == 3 and "gain_d_star_vs_raw" in m
        assert m["gain_d_star_vs_raw"]["lo"] <= m["gain_d_star_vs_raw"]["hi"]
    assert (tmp_path / "intrinsic_dim_planted.png").stat().st_size > 1000
    md = (tmp_path / "intrinsic_dim_planted.md").read_text()
    assert "shuffled-label control" in md and "ID per seed" in md
    # the tables show the full resolved spec of every compressor (defaults included), not "ae"
    full = ("ae:alpha=0.5,batch_size=64,device=auto,dim=<d>,epochs=3,hidden=8,lr=0.0001,patience=5,"
            "random_state=<seed>,restore_best=true,store=f32,val_fraction=0.1,weight_decay=0.01")
    assert doc["records"][0]["spec"].startswith("ae:alpha=") and f"| `{full}` | ridge |" in md
    assert "| ae | ridge |" not in md and "| ae(alpha=0.5) |" not in md
    assert doc["context"]["best_val_selected"]["test_r2_mean"] > 0.5
    assert doc["context"]["shuffled_ridge"]["test"]["r2"] < 0.2
    assert "## Environment" in md and "- config: `" in md
    # the page and figure regenerate from the JSON alone, identical
    from emblab.regression.study import render_results

    png = (tmp_path / "intrinsic_dim_planted.png").read_bytes()
    (tmp_path / "intrinsic_dim_planted.md").unlink()
    render_results(tmp_path / "intrinsic_dim_planted.json")
    assert (tmp_path / "intrinsic_dim_planted.md").read_text() == md
    assert (tmp_path / "intrinsic_dim_planted.png").read_bytes() == png


def test_task_errors():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 4)).astype(np.float32), rng.normal(size=50)
    tr, va, te = random_split(50, 0)
    with pytest.raises(DataError, match="row-aligned"):
        RegressionTask("t", X, y[:40], tr, va, te)
    bad = y.copy()
    bad[7] = np.nan
    with pytest.raises(DataError, match="NaN"):
        RegressionTask("t", X, bad, tr, va, te)
    with pytest.raises(DataError, match="too few"):
        RegressionTask("t", X[:4], y[:4], *random_split(4, 0))
    with pytest.raises(DataError, match="overlap"):
        RegressionTask("t", X, y, tr, tr[:5], te)
    with pytest.raises(InvalidParameterError, match="regressor"):
        SweepConfig(regressors=["xgb"]).validate()


def test_cli_npz_task(tmp_path):
    from emblab.cli.main import main

    task = planted_task(n=300, d=16)
    path = tmp_path / "task.npz"
    np.savez(path, X=task.X, y=task.y)
    out = tmp_path / "out"
    args = ["intrinsic-dim", str(path), "--out", str(out), "--compressors", "pca:store=f32,randproj",
            "--dims", "2,4,8", "--seeds", "2", "--regressors", "ridge", "--no-progress"]
    assert main(args) == 0
    doc = json.loads((out / "intrinsic_dim_task.json").read_text())
    assert doc["kind"] == "intrinsic_dimension" and doc["n_cells_run"] == 2 * 7
    assert main(args) == 0  # resumes: nothing re-run
    assert json.loads((out / "intrinsic_dim_task.json").read_text())["n_cells_resumed"] == 14
    np.savez(tmp_path / "bad.npz", X=task.X, y=task.y[:-5])
    assert main(["intrinsic-dim", str(tmp_path / "bad.npz"), "--out", str(out / "b")]) == 2
    assert main(["intrinsic-dim", "imbd_rating", "--out", str(out / "c")]) == 2


