"""The demo machinery on a tiny corpus (the full `emblab demo` embeds 4,000 passages: not run here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emblab.cli.commands.demo import demo_methods, run_demo, stdlib_task
from emblab.evaluation.tasks import list_tasks


def test_demo_methods_cover_budgets():
    specs = demo_methods(384, [32, 64, 96, 128, 192, 256, 384])
    for s in ("faiss:PQ32np", "faiss:OPQ32,PQ32np", "faiss:OPQ64,PQ64np", "pca:dim=16", "pca:dim=32,store=int8",
              "trunc:dim=64", "binary", "int8", "faiss:SQ8", "pca:dim=128", "float16", "faiss:PQ192np"):
        assert s in specs
    assert "faiss:OPQ96,PQ96" not in specs          # OPQ only at 32 and 64 B in the demo


def test_stdlib_task_split():
    X = np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32)
    t = stdlib_task(X, n_queries=20).load()
    assert len(t.xq) == 20 and len(t.xb) == 80 and len(t.X_fit) == 80
    # queries are held out of the catalogue
    cat_rows = {tuple(np.round(r, 5)) for r in t.xb}
    assert not any(tuple(np.round(r, 5)) in cat_rows for r in t.xq)


def test_run_demo_on_tiny_vectors(tmp_path, capsys):
    from emblab.evaluation.tasks.mocks import planted

    X = planted(300, d=32, seed=3)
    out = tmp_path / "demo"
    doc = run_demo(str(out), vectors=X, budgets=[4, 8, 16], quiet=True)
    assert (out / "demo.json").exists() and (out / "demo.md").exists() and (out / "config.json").exists()
    saved = json.loads((out / "demo.json").read_text())
    assert saved["kind"] == "compression" and saved["records"] == json.loads(json.dumps(doc["records"]))
    ok = [r for r in saved["records"] if "error" not in r]
    assert {r["task"] for r in ok} == {"knn_fidelity/stdlib-minilm"}
    assert any(r["method"] == "float32" and r["recall@10_asym"] == 1.0 for r in ok)
    assert any(r["method"] == "pca:dim=4,store=int8,whiten=false" for r in ok)
    assert "knn_fidelity/stdlib-minilm" not in list_tasks()   # the temporary task is unregistered
    assert "knn_fidelity/stdlib-minilm" in capsys.readouterr().out


@pytest.mark.slow
def test_run_demo_embeds_real_stdlib_passages(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBLAB_DATA", raising=False)
    monkeypatch.setenv("EMBLAB_CACHE", str(tmp_path / "cache"))
    doc = run_demo(str(tmp_path / "demo"), passages=120, budgets=[32, 384], methods=["pca:dim=16", "int8"],
                   quiet=True)
    rec = {r["method"]: r for r in doc["records"]}
    assert rec["int8:calib=minmax"]["recall@10_asym"] > 0.9
