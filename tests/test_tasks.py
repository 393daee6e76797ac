"""Tasks: registry, mock tasks with known numbers, TaskResult contents (no shared data needed)."""

from __future__ import annotations

import numpy as np
import pytest

import emblab
from emblab import DataError, InvalidParameterError
from emblab.evaluation.tasks import (BeirTask, KnnFidelityTask, StsTask, evaluate, get_task, list_tasks,
                                    register_task, unregister_task)
from emblab.evaluation.tasks import UnknownTaskError
from emblab.evaluation.tasks.mocks import MOCK_RETRIEVAL_NDCG10


def test_registry_lists_and_suggests():
    names = list_tasks()
    for n in ("knn_fidelity/imdb-minilm", "knn_fidelity/scifact-minilm", "beir_scifact", "sts/stsb", "sts/sickr",
              "mock/knn"):
        assert n in names
    with pytest.raises(InvalidParameterError, match="Did you mean 'beir_scifact'"):
        get_task("beir_scifcat")
    assert get_task("stsb").name == "sts/stsb"                    # unique suffix resolves
    meta = get_task("knn_fidelity/imdb-minilm").metadata
    assert meta.expected_rows == {"fit": 50000, "catalogue": 49000, "queries": 1000}
    assert get_task("beir_scifact").metadata.reference["ndcg@10"] == pytest.approx(0.6451)


def test_a_task_registered_for_a_while_is_unregistered():
    name = "test/tiny-knn"
    X = np.random.default_rng(0).normal(size=(80, 8)).astype(np.float32)
    factory = lambda: KnnFidelityTask.from_arrays(name, X, X[:60], X[60:])  # noqa: E731
    register_task(name, factory)
    try:
        assert name in list_tasks()
        assert get_task(name).name == name
    finally:
        assert unregister_task(name) is factory
    assert name not in list_tasks()
    with pytest.raises(UnknownTaskError, match="not a registered task"):
        get_task(name)
    assert unregister_task(name) is None       # removing it twice is a no-op
    register_task(name, factory)               # and the name is free again
    assert unregister_task(name) is factory


def test_mock_knn_known_answers():
    r0 = evaluate(None, "mock/knn")
    assert r0.method == "float32" and r0.bytes_per_vector == 64
    assert r0.scores == {"recall@10_asym": 1.0, "recall@10_sym": 1.0, "r10@100_asym": 1.0}
    r = evaluate("pca:dim=4,store=f32", "mock/knn")          # exact on rank-4 data
    assert r.scores["recall@10_asym"] == 1.0 and r.scores["recall@10_sym"] == 1.0
    assert r.scores["r10@100_asym"] == 1.0
    assert r.bytes_per_vector == 16 and r.model_bytes > 0 and len(r.artifact_fingerprint) == 64
    assert r.fit_time_s is not None and r.encode_time_s is not None and r.search_time_s is not None
    assert r.dataset["n_catalogue"] == 300 and r.main_score == "recall@10_asym"
    lossy = evaluate("pca:dim=1", "mock/knn")
    assert lossy.scores["recall@10_asym"] < 1.0


def test_native_modes_reported_under_their_names():
    r = evaluate("binary", "mock/knn")
    assert "recall@10_hamming" in r.scores and "r10@100_hamming" in r.scores
    assert r.bytes_per_vector == 2


def test_mock_retrieval_and_sts_known_answers():
    r = evaluate(None, "mock/retrieval")
    assert r.scores["ndcg@10"] == pytest.approx(MOCK_RETRIEVAL_NDCG10)
    assert r.scores["recall@1"] == 0.5 and r.scores["recall@100"] == 1.0
    r = evaluate("pca:dim=2,store=f32", "mock/retrieval")
    assert r.scores["ndcg@10"] == pytest.approx(MOCK_RETRIEVAL_NDCG10)
    assert "ndcg@10_sym" in r.scores
    assert evaluate(None, "mock/sts").scores["spearman"] == pytest.approx(100.0)
    assert evaluate("pca:dim=2,store=f32", "mock/sts").scores["spearman"] == pytest.approx(100.0)


def test_evaluate_accepts_fitted_object_and_artifact(tmp_path):
    task = get_task("mock/knn")
    m = emblab.build("pca:dim=4,store=f32").fit(task.fit_data())
    r1 = task.evaluate(m)
    assert r1.extra["prefitted"] is True
    m.save(tmp_path / "m")
    r2 = task.evaluate(str(tmp_path / "m"))
    assert r2.scores == r1.scores and r2.artifact_fingerprint == r1.artifact_fingerprint


def test_width_mismatch_of_prefitted_model():
    m = emblab.build("pca:dim=2").fit(np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32))
    with pytest.raises(DataError, match="features"):
        get_task("mock/knn").evaluate(m)


def test_in_memory_tasks_validate_inputs():
    X = np.random.default_rng(0).normal(size=(30, 5)).astype(np.float32)
    with pytest.raises(DataError):
        KnnFidelityTask.from_arrays("t", X, X, X[:, :4]).load()
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        KnnFidelityTask.from_arrays("t", X, bad, X).load()
    with pytest.raises(DataError, match="labelled queries"):
        BeirTask.from_arrays("t", X, X[:2], [str(i) for i in range(30)], ["a", "b"], {"zz": {"0": 1}}).load()
    with pytest.raises(DataError, match="must match"):
        StsTask.from_arrays("t", X, X[:29], np.arange(30)).load()


def test_tie_tolerance_with_duplicate_catalogue_rows():
    # duplicated items: any of the copies is a correct neighbour
    rng = np.random.default_rng(1)
    base = rng.normal(size=(20, 6)).astype(np.float32)
    xb = np.concatenate([base, base])
    task = KnnFidelityTask.from_arrays("dup", xb, xb, rng.normal(size=(5, 6)).astype(np.float32))
    assert task.evaluate("float16").scores["recall@10_asym"] == 1.0


def test_missing_shared_data_is_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBLAB_DATA", str(tmp_path))
    with pytest.raises(DataError, match="embeddings_minilm"):
        evaluate(None, "knn_fidelity/imdb-minilm")
    monkeypatch.delenv("EMBLAB_DATA")
    with pytest.raises(DataError, match="EMBLAB_DATA"):
        evaluate(None, "knn_fidelity/scifact-minilm")


def test_knn_task_on_fake_data_folder(monkeypatch, tmp_path):
    """The real imdb-minilm loader on a small folder laid out like shared/data (wrong counts -> error)."""
    folder = tmp_path / "embeddings_minilm"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("imdb_unsup", "imdb_labeled"):
        np.save(folder / f"{name}.f16.npy", rng.normal(size=(120, 384)).astype(np.float16))
    monkeypatch.setenv("EMBLAB_DATA", str(tmp_path))
    with pytest.warns(UserWarning), pytest.raises(DataError, match="expected"):
        get_task("knn_fidelity/imdb-minilm").load()


def test_bench_records_full_specs_and_never_duplicates(tmp_path):
    """``pca:dim=4`` and ``pca:dim=4,store=f16`` are one compressor: one record, one table row,
    under its full spec; a results file that repeats a record still shows it once."""
    from emblab.bench.runner import markdown_table, run_bench, table_rows

    res = run_bench(["pca:dim=4", "pca:dim=4,store=f16", "pca:dim=4,store=int8"], ["mock/knn"], budgets=[4, 8],
                    out_dir=tmp_path, name="b")
    methods = [r["method"] for r in res.records]
    assert methods == ["float32", "pca:dim=4,store=f16,whiten=false", "pca:dim=4,store=int8,whiten=false"]
    res.records.append(dict(res.records[-1]))
    _, rows = table_rows(res, "mock/knn")
    assert [r[0] for r in rows].count("pca:dim=4,store=int8,whiten=false") == 1
    md = markdown_table(res)
    assert md.count("| pca:dim=4,store=int8,whiten=false |") == 1
    assert "| pca:store=int8 |" not in (tmp_path / "b.md").read_text()


def test_one_list_of_uncompressed_names():
    from emblab.evaluation.tasks.base import UNCOMPRESSED_NAMES, is_uncompressed

    assert "float32" in UNCOMPRESSED_NAMES
    for name in ("float32", " Float32 ", "raw", "identity", "none", None):
        assert is_uncompressed(name), name
    for name in ("float16", "pca:dim=8", "int8", 0):
        assert not is_uncompressed(name), name
