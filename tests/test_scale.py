"""Out-of-core chunked encoding (resume, bounded chunks), the Ray Data engine (local 2-worker
instance) and the Qdrant sparse round trip, each checked against the single-process path."""

from __future__ import annotations

import json

import numpy as np
import pytest

import emblab
from emblab import ArtifactError, DataError
from emblab.scale.chunked import encode_to_dir, read_encoded_dir


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(2000, 8)) @ rng.normal(size=(8, 32))).astype(np.float32)
    return X


@pytest.fixture(scope="module")
def model(data, tmp_path_factory):
    m = emblab.build("pca:dim=8,store=int8").fit(data)
    d = tmp_path_factory.mktemp("model") / "pca"
    m.save(d)
    return m, d


def _write_parquet(path, X, row_group_size=300, first_id=1000):
    import pyarrow as pa
    import pyarrow.parquet as pq

    vec = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), X.shape[1])
    table = pa.table({"id": np.arange(len(X), dtype=np.int64) + first_id, "vector": vec})
    pq.write_table(table, path, row_group_size=row_group_size)


def test_chunked_npy_equals_in_memory(tmp_path, data, model):
    m, _ = model
    np.save(tmp_path / "x.npy", data)
    man = encode_to_dir(m, tmp_path / "x.npy", tmp_path / "out", chunk_rows=256, progress=False)
    assert man["complete"] and man["n_rows"] == len(data) and len(man["chunks"]) == 8
    codes, ids = read_encoded_dir(tmp_path / "out")
    assert ids is None
    np.testing.assert_array_equal(codes.data, m.encode(data).data)


def test_chunked_parquet_resumes_without_redoing_chunks(tmp_path, data, model):
    m, _ = model
    _write_parquet(tmp_path / "x.parquet", data)
    calls = {"n": 0}
    real_encode = m.encode

    class Boom(Exception):
        pass

    def flaky(X):
        calls["n"] += 1
        if calls["n"] == 4:
            raise Boom()
        return real_encode(X)

    m.encode = flaky
    try:
        with pytest.raises(Boom):
            encode_to_dir(m, tmp_path / "x.parquet", tmp_path / "out", chunk_rows=128, progress=False)
    finally:
        del m.encode
    man = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(man["chunks"]) == 3 and not man["complete"]
    assert not list((tmp_path / "out").glob("*.tmp-*"))
    with pytest.raises(ArtifactError, match="incomplete"):
        read_encoded_dir(tmp_path / "out")
    man = encode_to_dir(m, tmp_path / "x.parquet", tmp_path / "out", chunk_rows=128, progress=False)
    assert man["last_run"]["new_chunks"] == len(man["chunks"]) - 3
    codes, ids = read_encoded_dir(tmp_path / "out")
    np.testing.assert_array_equal(ids, np.arange(len(data)) + 1000)
    np.testing.assert_array_equal(codes.data, m.encode(data).data)


def test_resume_refuses_other_model(tmp_path, data, model):
    m, _ = model
    np.save(tmp_path / "x.npy", data)
    encode_to_dir(m, tmp_path / "x.npy", tmp_path / "out", chunk_rows=500, progress=False)
    other = emblab.build("pca:dim=4").fit(data)
    with pytest.raises(ArtifactError, match="different model fingerprint"):
        encode_to_dir(other, tmp_path / "x.npy", tmp_path / "out", chunk_rows=500, progress=False)


def test_bad_inputs(tmp_path, model):
    m, _ = model
    bad = np.ones((10, 32), np.float32)
    bad[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataError, match="row 3"):
        encode_to_dir(m, tmp_path / "nan.npy", tmp_path / "o1", progress=False)
    (tmp_path / "empty.parquet").write_bytes(b"")
    with pytest.raises(DataError):
        encode_to_dir(m, tmp_path / "empty.parquet", tmp_path / "o2", progress=False)
    with pytest.raises(DataError, match="not found"):
        encode_to_dir(m, tmp_path / "missing.npy", tmp_path / "o3", progress=False)


def test_ray_engine_matches_single_process(tmp_path, data, model):
    pytest.importorskip("ray")
    from emblab.scale.ray_engine import encode_with_ray

    m, d = model
    # a folder of several files: Ray lists them itself (this once failed without aiohttp installed)
    (tmp_path / "ds").mkdir()
    for i, s in enumerate(range(0, len(data), 500)):
        _write_parquet(tmp_path / "ds" / f"part-{i:03d}.parquet", data[s:s + 500], row_group_size=500, first_id=1000 + s)
    import ray

    try:
        ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        codes, ids = encode_with_ray(d, tmp_path / "ds", num_workers=2, batch_size=256)
    finally:
        ray.shutdown()
    np.testing.assert_array_equal(ids, np.arange(len(data)) + 1000)
    np.testing.assert_array_equal(codes.data, m.encode(data).data)
    assert codes.model_fingerprint == m.fingerprint


def test_qdrant_round_trip_matches_emblab_sparse_search():
    pytest.importorskip("qdrant_client")
    if "sae" not in emblab.list_methods():
        pytest.skip("sae method not available")
    from emblab.scale.qdrant_export import connect, export_codes, search_codes, topk_agreement

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(600, 6)) @ rng.normal(size=(6, 24))).astype(np.float32)
    sae = emblab.build("sae:h=64,k=4,epochs=2,batch_size=64,progress=false").fit(X[:500])
    cat, q = sae.encode(X[:500]), X[500:]
    D_ref, I_ref = emblab.search(sae, q, cat, k=10, mode="sparse")
    client = connect(":memory:")
    export_codes(client, "items", cat, model=sae)
    D, I = search_codes(client, "items", sae.encode_query(q), k=10)
    assert topk_agreement(I, I_ref, D_ref) >= 0.99


def test_cli_encode_chunked_resumable(tmp_path, data, model):
    from emblab.cli.main import main

    _, d = model
    np.save(tmp_path / "x.npy", data)
    assert main(["encode", str(d), "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "codes"),
                 "--chunk-rows", "700"]) == 0
    assert main(["encode", str(d), "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "codes"),
                 "--chunk-rows", "700"]) == 0  # second run: every chunk already done
    codes, _ = read_encoded_dir(tmp_path / "codes")
    np.testing.assert_array_equal(codes.data, model[0].encode(data).data)
    assert main(["encode", str(d), "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "c2"),
                 "--engine", "spark"]) == 2


@pytest.mark.slow
def test_embed_on_ray_equals_local(tmp_path):
    pytest.importorskip("ray")
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    from emblab.cli.main import main
    from emblab.embed import TextEncoder

    texts = ["a cat sat on the mat", "stocks fell sharply", "the movie was great", "lists are mutable"]
    pq.write_table(pa.table({"id": np.arange(4), "text": texts}), tmp_path / "t.parquet")
    try:
        ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        assert main(["embed", str(tmp_path / "t.parquet"), "--out", str(tmp_path / "emb"), "--engine", "ray"]) == 0
    finally:
        ray.shutdown()
    t = pq.read_table(tmp_path / "emb")
    V = np.stack(t.column("vector").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(V, TextEncoder().encode(texts, show_progress=False), atol=1e-5)
    assert t.column("id").to_pylist() == [0, 1, 2, 3]


def test_ray_output_put_back_in_input_order(tmp_path):
    """Ray may return blocks of a many-file dataset in another order: ids restore the local order."""
    from emblab.codes import Codes
    from emblab.scale.ray_engine import _in_input_order

    X = np.arange(60, dtype=np.float32).reshape(30, 2)
    for i in range(3):
        _write_parquet(tmp_path / f"part-{i}.parquet", X[10 * i:10 * i + 10], first_id=100 + 10 * i)
    perm = np.random.default_rng(0).permutation(30)
    shuffled = Codes({"codes": X[perm]}, "float")
    codes, ids = _in_input_order(shuffled, 100 + perm, tmp_path, "id")
    np.testing.assert_array_equal(ids, np.arange(100, 130))
    np.testing.assert_array_equal(codes.data, X)
    dup = np.full(30, 7)  # duplicate ids: left in Ray's order
    _, ids2 = _in_input_order(shuffled, dup, tmp_path, "id")
    assert (ids2 == 7).all()


def test_scale_experiment_cells_resume_and_render(tmp_path):
    """A tiny scale run: every measurement a stored cell; a rerun computes nothing; the page renders."""
    from emblab.experiment import write_results
    from emblab.scale.experiment import ScaleConfig, run
    from emblab.scale.report import render_scale

    rng = np.random.default_rng(1)
    base = (rng.normal(size=(300, 8)) @ rng.normal(size=(8, 32))).astype(np.float16)
    np.save(tmp_path / "base.npy", base)
    np.save(tmp_path / "q.npy", rng.normal(size=(12, 32)).astype(np.float32))
    cfg = ScaleConfig(work=str(tmp_path / "work"), base=str(tmp_path / "base.npy"), queries=str(tmp_path / "q.npy"),
                      nq=12, file_rows=20, max_files=10, fit_rows=300, engines=("local",), qdrant_spec=None,
                      specs={"pca": "pca:dim=8,store=int8", "pq": "faiss:PQ4np"}, isolate=False)
    seen = []
    records, skipped = run(cfg, tmp_path / "store", on_record=lambda r, resumed: seen.append(resumed))
    assert not any(seen) and all("error" not in r for r in records)
    stages = [r["stage"] for r in records]
    assert stages.count("fit") == 2 and stages.count("generate") == 1
    # inputs of 33 and 100 files are out of reach with 10 files: acceptance and the 10^7 encodes are left out
    assert any(s.startswith("acceptance") for s in skipped) and stages.count("acceptance") == 0
    enc = {(r["method"].split(":")[0], r["n"]): r for r in records if r["stage"] == "encode"}
    assert set(enc) == {("pca", 20), ("pca", 200), ("faiss", 20), ("faiss", 200)}
    assert all(r["rows"] == n and r["vectors_per_s"] > 0 for (_, n), r in enc.items())
    search = {r["n"]: r for r in records if r["stage"] == "search"}
    assert set(search) == {20, 200, 2000}  # 10^7 analogue: PQ codes of the first file tiled x100
    assert 0 <= search[20]["int8_recall@10"] <= 1 and search[20]["pq_catalogue"] == "encoded"
    assert search[2000]["pq_catalogue"] == "20 encoded codes tiled x100" and "pq_recall@10" not in search[2000]
    assert len(list((tmp_path / "work" / "data_all").glob("*.parquet"))) == 10

    again, _ = run(cfg, tmp_path / "store", on_record=lambda r, resumed: seen.append(resumed))
    assert all(seen[len(records):]) and len(again) == len(records)
    assert [r["id"] for r in again] == [r["id"] for r in records]

    write_results(tmp_path / "scale.json", "scale", records, command="python benchmarks/scale.py",
                  dataset={"name": "tiny", "queries": "q.npy"}, skipped=skipped)
    text = render_scale(tmp_path / "scale.json").read_text()
    r5 = enc[("pca", 20)]
    assert f"| {r5['vectors_per_s']:,.0f} |" in text and "## Projection to 10^9 vectors (d = 32)" in text
    assert "not run: acceptance n5gb" in text and "- command: `python benchmarks/scale.py`" in text


def test_scale_render_reads_legacy_top_level_stages():
    """Documents written before the cells kept models/generation/acceptance/qdrant at the top level."""
    from emblab.scale.report import render, scale_records

    doc = {"records": [{"stage": "encode", "method": "pca", "n": 100, "engine": "local", "vectors_per_s": 50.0,
                        "seconds": 2.0, "peak_mb": 10.0, "sha": "a"}],
           "models": {"pca": {"spec": "pca", "bytes_per_vector": 128.0, "fit_s": 1.0, "fit_rows": 10}},
           "qdrant": {"spec": "sae", "fit_rows": 5, "fit_s": 1.0, "n": 10, "bytes_per_vector": 128.0,
                      "export_s": 0.5, "nq": 3, "top10_agreement": 1.0, "top10_exact_set_agreement": 0.5,
                      "qdrant_ms_per_query": 3.0, "emblab_sparse_ms_per_query": 0.2}}
    assert [r["stage"] for r in scale_records(doc)] == ["encode", "fit", "qdrant"]
    text = render(doc)
    assert "| `pca` | 128 | 1.0 | 10 |" in text and "exact top-10 set equality 50.0%" in text
    assert "| pca (n=100) | 50 | 5,555.6 h | 5,556 |" in text


def test_scale_job_in_own_process_equals_in_process(tmp_path, data, model):
    """A measurement run as ``python -m emblab.scale.jobs`` returns the in-process record; a failure
    comes back as an error record (not an exception)."""
    from emblab.scale.jobs import run_job

    _, d = model
    np.save(tmp_path / "x.npy", data)
    args = {"model_dir": str(d), "input": str(tmp_path / "x.npy"), "chunk_rows": 500}
    sub = run_job("encode_local", {**args, "out_dir": str(tmp_path / "a")})
    here = run_job("encode_local", {**args, "out_dir": str(tmp_path / "b")}, isolate=False)
    assert sub["rows"] == here["rows"] == len(data) and sub["chunks"] == 4 and sub["sha"] == here["sha"]
    assert sub["peak_mb"] > 0
    bad = run_job("encode_local", {**args, "input": str(tmp_path / "missing.npy"), "out_dir": str(tmp_path / "c")})
    assert "not found" in bad["error"] and bad["rc"] != 0


def test_scale_qdrant_job_agrees_with_emblab(tmp_path):
    """The Qdrant measurement exports packed SAE codes with their model (it once failed on them)."""
    pytest.importorskip("qdrant_client")
    if "sae" not in emblab.list_methods():
        pytest.skip("sae method not available")
    from emblab.scale.jobs import run_job

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(600, 6)) @ rng.normal(size=(6, 24))).astype(np.float32)
    np.save(tmp_path / "base.npy", X[:400])
    np.save(tmp_path / "q.npy", X[:20])
    _write_parquet(tmp_path / "cat.parquet", X[400:], row_group_size=120)  # two chunks for n=200
    rec = run_job("qdrant", {"base": str(tmp_path / "base.npy"), "input": str(tmp_path / "cat.parquet"), "n": 200,
                             "fit_rows": 400, "spec": "sae:h=64,k=4,epochs=2,batch_size=64,progress=false",
                             "queries": str(tmp_path / "q.npy"), "nq": 20}, isolate=False)
    assert rec["n"] == 200 and rec["nq"] == 20 and rec["top10_agreement"] >= 0.95
