"""The demo machinery on a tiny corpus (the full `emblab demo` embeds 3,000 passages: not run here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emblab.cli.commands.demo import DEMO_BUDGETS, run_demo, stdlib_task
from emblab.evaluation.tasks import list_tasks
from test_bench_candidates import TINY


def test_demo_runs_peers_and_seed_methods_at_32_to_128_bytes():
    from emblab.bench.candidates import default_candidates

    assert DEMO_BUDGETS == [32, 64, 128]
    cands = default_candidates(384, DEMO_BUDGETS, n_fit=3700)
    families = {(c.family, c.budget) for c in cands if not c.skip}
    for b in DEMO_BUDGETS:
        assert {("sae", b), ("sae-omp", b), ("mcr2", b), ("ae", b), ("peer", b)} <= families
    specs = {c.spec for c in cands}
    assert {"faiss:PQ32np", "pca:dim=64,store=int8", "trunc:dim=16"} <= specs
    assert not any("OPQ" in s for s in specs)          # quick mode: PQ without OPQ's rotation


def test_stdlib_task_split():
    X = np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32)
    t = stdlib_task(X, n_queries=20).load()
    assert len(t.xq) == 20 and len(t.xb) == 80 and len(t.X_fit) == 80
    # queries are held out of the catalogue
    cat_rows = {tuple(np.round(r, 5)) for r in t.xb}
    assert not any(tuple(np.round(r, 5)) in cat_rows for r in t.xq)


def test_run_demo_on_tiny_vectors(tmp_path, capsys):
    from emblab.evaluation.tasks.mocks import planted

    X = planted(400, d=32, seed=3)
    out = tmp_path / "demo"
    res = run_demo(str(out), vectors=X, budgets=[8, 16], recipes=TINY)
    assert (out / "demo.json").exists() and (out / "demo.md").exists() and (out / "config.json").exists()
    saved = json.loads((out / "demo.json").read_text())
    assert saved["kind"] == "compression" and saved["records"] == json.loads(json.dumps(res.records))
    ok = [r for r in saved["records"] if "error" not in r and "skipped" not in r]
    assert {r["task"] for r in ok} == {"knn_fidelity/stdlib-minilm"}
    assert any(r["method"] == "float32" and r["recall@10_asym"] == 1.0 for r in ok)
    assert {(r["family"], r["budget"]) for r in ok if r.get("family")} >= {
        (f, b) for f in ("sae", "sae-omp", "mcr2", "ae", "peer") for b in (8, 16)}
    assert "knn_fidelity/stdlib-minilm" not in list_tasks()   # the in-memory task is never registered
    captured = capsys.readouterr()
    assert "fitting mcr2:dim=16,store=int8" in captured.err             # progress names the method
    lines = captured.out.rstrip().splitlines()
    # the output ends with the verdict: title, two lines per budget, the command to ship it
    assert lines[-6].startswith("Verdict for knn_fidelity/stdlib-minilm (Recall@10; float32 = 1.0000)")
    assert lines[-5].startswith("  <= 8 B: ") and lines[-3].startswith("  <= 16 B: ")
    assert lines[-1].startswith("  ship it: ")
    assert all(len(line) <= 80 for line in captured.out.splitlines() if "│" in line)   # tables fit 80 columns


@pytest.mark.slow
def test_run_demo_embeds_real_stdlib_passages(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBLAB_DATA", raising=False)
    monkeypatch.setenv("EMBLAB_CACHE", str(tmp_path / "cache"))
    res = run_demo(str(tmp_path / "demo"), passages=120, budgets=[32, 384], methods=["pca:dim=16", "int8"],
                   quiet=True)
    rec = {r["method"]: r for r in res.records}
    assert rec["int8:calib=minmax"]["recall@10_asym"] > 0.9
