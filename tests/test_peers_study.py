"""The peer benchmark's library part (emblab.bench.peers_study) on the mock tasks."""

from __future__ import annotations

import pytest

from emblab.bench import peers_study as peers
from emblab.evaluation.tasks import get_task
from emblab.experiment import results_document

pytest.importorskip("faiss")


def test_method_list_orders_by_cost_and_lists_each_compressor_once():
    specs = peers.method_list(384)
    names = [s for _, s in specs]
    assert len(names) == len(set(names)) and "float32" not in names
    assert "float16" in names and "binary:rescore=10,rescore_source=int8" in names and "faiss:OPQ32,PQ32np" in names
    assert len(names) == 56  # the 57 methods of results/peers.json, less the uncompressed row
    classes = [peers.cost_class(s) for s in names]
    assert classes == sorted(classes)
    assert all(peers.cost_class(s) <= 1 for _, s in peers.method_list(384, max_class=1))
    assert peers.is_pq("faiss:OPQ64,PQ64np") and not peers.is_pq("faiss:SQ8") and not peers.is_pq("pca:dim=64")


def test_run_limits_pq_fit_rows_and_resumes(tmp_path):
    # the full-fit and the PQ run keep separate stores (their fit-row limits differ)
    specs = ["pca:dim=4,store=f32", "faiss:PQ4x4"]
    recs, datasets = peers.run(["mock/knn"], tmp_path, faiss_fit_rows=100, specs=specs)
    assert [r["method"] for r in recs][0] == "float32" and sum(r["method"] == "float32" for r in recs) == 1
    pca, pq = (next(r for r in recs if r.get("spec") == s) for s in specs)
    assert pca["extra"]["train_data"]["n"] == 400 and pq["extra"]["train_data"]["n"] == 100
    assert pca["recall@10_asym"] == pytest.approx(1.0)  # rank-4 data: PCA-4 is lossless
    assert set(datasets) == {"mock/knn"}
    again, _ = peers.run(["mock/knn"], tmp_path, faiss_fit_rows=100, specs=specs)
    # finished methods are read back from the cell stores, not refitted (the same fit time and fingerprint)
    for s in specs:
        a, b = (next(r for r in rs if r.get("spec") == s) for rs in (recs, again))
        assert (a["fit_time_s"], a["artifact_fingerprint"]) == (b["fit_time_s"], b["artifact_fingerprint"])


def test_faiss_direct_check_and_page():
    check = peers.faiss_direct_check(get_task("mock/knn").load(), "PQ4x4", 200)
    assert check["codes_equal"] and check["top10_identical"] and check["mode"] == "adc"
    rec = {"task": "beir_scifact", "method": "float32", "bytes_per_vector": 1536.0, "ndcg@10": 0.6451,
           "main_score": "ndcg@10", "fit_time_s": 0.0}
    doc = results_document("compression", [rec], faiss_fit_rows=10000, faiss_direct_check=[check])
    md = peers.render_md(doc, "\nNotes.\n")
    assert md.startswith("# Peer compression benchmark (issue 2)\n\nEvery peer at 32")
    assert "first 10000 rows of the fit set" in md and "\nNotes.\n" in md
    assert "| beir_scifact | `float32` | §2.2 | ndcg@10 | 0.6451 | 0.6451 | +0.0000 | yes |" in md
    assert "**1 of 1 reference values agree within ±0.01.**" in md
    assert "- `PQ4x4` on mock/knn: codes equal: **True**, top-10 identical: **True** (1.0000 of entries)" in md
