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
