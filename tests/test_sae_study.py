"""The SAE benchmarks as library experiments (issue 17): stages run as cells and resume, and the
markdown re-renders from a results document alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emblab.bench import sae_codes_report, sae_codes_study, sae_study, sae_study_report
from emblab.evaluation.tasks.knn_fidelity import KnnFidelityTask
from emblab.experiment import read_results, write_results

pytest.importorskip("torch")
SAE = "sae:h=32,k=4,epochs=1,batch_size=64"


def _task(name="knn_fidelity/imdb-minilm", n=600, d=16, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, 6)) @ rng.normal(size=(6, d)) + 0.3 * rng.normal(size=(n, d))).astype(np.float32)
    return KnnFidelityTask.from_arrays(name, X[:300], X[300:560], X[560:]).load()


def _config(**kw):
    cfg = sae_study.SaeStudyConfig(imdb_methods=["pca:dim=4,store=int8", SAE, f"{SAE},encoder=topk"],
                                   grid_h=[32], grid_k=[4, 8], grid_epochs=1, grid_extra=",batch_size=64",
                                   grid_omp_k=[8], grid_ablations=[""], grid_ablation_h=32)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def test_imdb_and_grid_stages_run_as_cells_and_resume(tmp_path):
    task, cfg = _task(), _config()
    seen = []
    for stage in ("imdb", "grid"):
        sae_study.run_stage(stage, cfg, tmp_path / "store", tmp_path, command="test", tasks={"imdb": task},
                            on_record=lambda r, resumed: seen.append((r.get("key"), resumed)))
    assert seen and not any(resumed for _, resumed in seen)
    imdb = read_results(tmp_path / "sae_imdb.json")
    assert [r["key"] for r in imdb] == ["float32"] + cfg.imdb_methods
    ref = imdb.where(key="float32")[0]
    assert ref["scores"]["recall@10_asym"] == 1.0
    sae = imdb.where(key=SAE)[0]
    assert 0 < sae["scores"]["recall@10_asym"] < 1 and "recall@10_sparse" in sae["scores"]
    assert sae["extra"]["latent_usage_catalogue"]["dead_fraction"] >= 0
    # the encoder=topk variant recodes the same training (one fitted model, same fit time)
    assert imdb.where(key=f"{SAE},encoder=topk")[0]["fit_time_s"] == sae["fit_time_s"]
    grid = read_results(tmp_path / "sae_grid.json")
    keys = {r["key"] for r in grid}
    assert "sae:h=32,k=4,epochs=1,batch_size=64@k=8,encoder=omp" in keys
    assert "sae:h=32,k=16,epochs=1,batch_size=256@k=32" in keys  # the ablation
    for r in grid:  # scored by task.score_ranking
        assert set(r["scores"]) == {"recall@10_asym", "r10@100_asym"}
        assert r["bytes_per_vector"] > 0
    # a second run reads every cell back: nothing is fitted or scored again
    seen.clear()
    before = (tmp_path / "store" / "imdb" / "cells.jsonl").read_text()
    sae_study.run_stage("imdb", cfg, tmp_path / "store", tmp_path, command="test", tasks={"imdb": task},
                        on_record=lambda r, resumed: seen.append(resumed))
    assert seen == [True] * 4
    assert (tmp_path / "store" / "imdb" / "cells.jsonl").read_text() == before
    assert read_results(tmp_path / "sae_imdb.json").records == imdb.records
    # a killed run leaves a half-written line: it is skipped and only that cell runs again
    lines = before.splitlines()
    (tmp_path / "store" / "imdb" / "cells.jsonl").write_text("\n".join(lines[:-1] + [lines[-1][:40]]) + "\n")
    seen.clear()
    sae_study.run_stage("imdb", cfg, tmp_path / "store", tmp_path, command="test", tasks={"imdb": task},
                        on_record=lambda r, resumed: seen.append(resumed))
    assert seen == [True, True, True, False]


def test_scale_stage_times_every_searcher(tmp_path):
    pytest.importorskip("faiss")
    task = _task()
    cfg = _config(scale_sae=SAE, scale_n=[700], scale_pq_m=[4, 8], latency_queries=2, batch_queries=5)
    doc = sae_study.run_stage("scale", cfg, tmp_path / "store", tmp_path, command="test", tasks={"imdb": task})
    (r,) = doc["records"]
    assert r["n"] == 700 and r["memory_bytes"]["sae_codes"] > 0
    assert set(r["latency_ms"]) == set(r["throughput_qps"]) == {
        "faiss_flat_f32", "faiss_pq4_adc", "faiss_pq8_adc", "sae_sparse_postings", "sae_reconstructed_chunked"}
    assert r["bytes_per_vector"]["faiss_pq8_adc"] == 8 and r["bytes_per_vector"]["faiss_flat_f32"] == 64
    page = (tmp_path / "sae_scale.md").read_text()
    assert "**n = 700**" in page and page.count("## Environment") == 1


def test_transfer_stage_scores_scifact_and_the_title_control(tmp_path):
    from emblab.evaluation.tasks import recsys as rs
    from emblab.evaluation.tasks.beir import BeirTask

    rng = np.random.default_rng(1)
    corpus = rng.normal(size=(300, 16)).astype(np.float32)
    queries = corpus[:20] + 0.1 * rng.normal(size=(20, 16)).astype(np.float32)
    sci = BeirTask.from_arrays("beir_scifact", corpus, queries, [f"d{i}" for i in range(300)],
                               [f"q{i}" for i in range(20)], {f"q{i}": {f"d{i}": 1} for i in range(20)}).load()
    E = rng.normal(size=(300, 16)).astype(np.float32)
    hist = [rng.choice(300, size=8, replace=False) for _ in range(30)]
    control = {"movielens_100k": ((rs.leave_last_out(hist, 300, 1), rs.leave_last_out(hist, 300, 5)), E)}
    cfg = _config(transfer_methods=["pca:dim=4,store=int8", SAE])
    doc = sae_study.run_stage("transfer", cfg, tmp_path / "store", tmp_path, command="test",
                              tasks={"scifact": sci, "control": control})
    ref, pca, sae = doc["records"]
    assert ref["scifact"]["ndcg@10"] > 0.9  # queries are their own documents, slightly moved
    assert set(ref["title_control"]["movielens_100k"]) == {"asymmetric", "popularity", "random"}
    assert "hr@10" in ref["title_control"]["movielens_100k"]["popularity"]
    assert "decoded_users" in sae["title_control"]["movielens_100k"] and sae["fit_set"] == "own catalogue"
    assert set(sae["fit_time_s"]) == {"scifact", "movielens_100k"}
    page = (tmp_path / "sae_transfer.md").read_text()
    assert "no-signal control" in page and f"| `{SAE}` |" in page


def test_tile_codes_repeats_rows():
    from emblab.bench.sae_scale import pq_m_within, tile_codes
    from emblab.codes import Codes

    c = Codes({"indices": np.arange(6).reshape(3, 2), "values": np.ones((3, 2))}, "sparse", "m")
    t = tile_codes(c, 7)
    assert len(t) == 7 and t.arrays["indices"][:, 0].tolist() == [0, 2, 4, 0, 2, 4, 0]
    assert pq_m_within(384, 63) == 48 and pq_m_within(384, 128) == 128


def _doc(tmp_path, name, kind, records, **kw):
    write_results(tmp_path / f"{name}.json", kind, records, command=f"python benchmarks/{name}.py", **kw)


def test_render_writes_every_page_from_the_json_only(tmp_path):
    knn = lambda key, b, r10: {"key": key, "method": key, "task": "knn_fidelity/imdb-minilm",  # noqa: E731
                               "bytes_per_vector": b, "scores": {"recall@10_asym": r10}, "fit_time_s": 3.0, "extra": {}}
    _doc(tmp_path, "sae_imdb", "compression", [knn("float32", 1536.0, 1.0), knn("pca:dim=64", 64.0, 0.5),
                                               knn("sae:h=4096,k=32", 128.0, 0.7123)],
         dataset={"task": "knn_fidelity/imdb-minilm", "split": "tiny"})
    _doc(tmp_path, "sae_scale", "scale", [{"key": "n=10", "n": 10, "note": "tiny", "latency_ms": {
        "faiss_flat_f32": 4.0, "faiss_pq32_adc": 1.0, "sae_sparse_inverted": 2.0}, "throughput_qps": {},
        "build_s": {"sae_index": 0.5}, "bytes_per_vector": {"faiss_flat_f32": 1536, "faiss_pq32_adc": 32, "sae": 128}}],
         dataset={"task": "scale", "split": "tiny"})
    pages = sae_study_report.render(tmp_path)
    assert {p.name for p in pages} == {"sae_imdb.md", "sae_scale.md", "sae_acceptance.md"}
    imdb = (tmp_path / "sae_imdb.md").read_text()
    assert "| `sae:h=4096,k=32` | 128 | 0.712 |" in imdb and imdb.count("## Environment") == 1
    assert "python benchmarks/sae_imdb.py" in imdb  # the command of the run, from the JSON
    acc = (tmp_path / "sae_acceptance.md").read_text()
    assert "| 128 | 0.712 `sae:h=4096,k=32` (recall@10_asym, 128 B) | 0.500 `pca:dim=64`" in acc
    assert "SAE sparse inverted 2.0 ms vs FAISS flat float32 4.0 ms (2.0x); faiss_pq32_adc 1.0 ms" in acc
    assert "goal < 300 s: met" in acc


def test_codes_study_cells_and_render(tmp_path):
    task = _task()
    root = tmp_path / "store"
    st = sae_codes_study.store(root, "peers")
    from emblab.experiment import run_cells

    run_cells(st, sae_codes_study.peer_cells(task, st, 200, specs=["float32", "pca:dim=4,store=int8"]))
    sst = sae_codes_study.store(root, "sae")
    codings = [dict(sae_codes_study.LAYOUTS["q4ef"], encoder="omp", value_fit="refit", budget=b) for b in (32, 64)]
    run_cells(sst, sae_codes_study.sae_cells(task, sst, "sae:h=32,k=8,epochs=1,batch_size=64", codings))
    page = sae_codes_report.write_results_and_markdown(root, tmp_path, command="test").read_text()
    doc = json.loads((tmp_path / "sae_codes.json").read_text())
    sae = [r for r in doc["records"] if r["method"].startswith("sae")]
    assert len(sae) == 2 and all(r["bytes_per_vector"] <= r["cell"]["coding"]["budget"] for r in sae)
    assert "Generated by `benchmarks/sae_codes.py` from 4 stored records" in page
    best = max(sae, key=lambda r: r["scores"]["recall@10_asym"])
    assert f"{best['scores']['recall@10_asym']:.4f} (asym, {best['bytes_per_vector']:g} B)" in page
    # --render: the same page from the JSON alone (the stores may be gone)
    (tmp_path / "sae_codes.md").unlink()
    assert sae_codes_report.render(tmp_path).read_text() == page
