"""Embedding loaders on small files written into the real ``embeddings_minilm/`` layout."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emblab import DataError
from emblab.data.embeddings import load_embeddings, load_vectors


def _write_root(tmp_path, name="scifact_corpus", X=None):
    folder = tmp_path / "embeddings_minilm"
    folder.mkdir(exist_ok=True)
    if X is None:
        X = np.random.default_rng(0).standard_normal((7, 384)).astype(np.float16)
    np.save(folder / f"{name}.f16.npy", X)
    return folder / f"{name}.f16.npy", X


def test_load_embeddings_float32_and_count_policy(tmp_path):
    _, X = _write_root(tmp_path)
    with pytest.warns(UserWarning, match="should be"):
        Y = load_embeddings("scifact_corpus", data_dir=tmp_path)
    assert Y.dtype == np.float32 and Y.shape == (7, 384)
    np.testing.assert_array_equal(Y, X.astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_embeddings("scifact_corpus", data_dir=tmp_path, check_counts=False)
    with pytest.raises(DataError, match=r"\(5183, 384\)"):
        load_embeddings("scifact_corpus", data_dir=tmp_path, check_counts=True)
    mm = load_embeddings("scifact_corpus", data_dir=tmp_path, check_counts=False, mmap=True)
    assert mm.dtype == np.float16 and isinstance(mm, np.memmap)


def test_load_embeddings_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBLAB_DATA", raising=False)
    with pytest.raises(DataError, match="EMBLAB_DATA is not set"):
        load_embeddings("scifact_corpus")
    with pytest.raises(DataError, match="Did you mean 'scifact_corpus'"):
        load_embeddings("scifact_corpu", data_dir=tmp_path)
    with pytest.raises(DataError, match="embeddings_minilm is missing"):
        load_embeddings("scifact_corpus", data_dir=tmp_path)
    path, X = _write_root(tmp_path)
    X = X.copy()
    X[3, 5] = np.nan
    np.save(path, X)
    with pytest.raises(DataError, match=r"1 row\(s\) hold NaN or inf \(first: row 3\)"):
        load_embeddings("scifact_corpus", data_dir=tmp_path, check_counts=False)
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_embeddings("scifact_corpus", data_dir=tmp_path, check_counts=False)
    path.write_bytes(b"\x93NUMPY garbage that is not an array")
    with pytest.raises(DataError, match="not a valid|corrupt"):
        load_embeddings("scifact_corpus", data_dir=tmp_path, check_counts=False)
    with pytest.raises(DataError, match="file not found"):
        load_embeddings("imdb_unsup", data_dir=tmp_path, check_counts=False)


def test_load_vectors_npy(tmp_path):
    X = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    ids, Y = load_vectors(tmp_path / "x.npy")
    np.testing.assert_array_equal(ids, np.arange(4))
    np.testing.assert_array_equal(Y, X)
    with pytest.raises(DataError, match="8 dimensions, expected 384"):
        load_vectors(tmp_path / "x.npy", dim=384)
    np.save(tmp_path / "one.npy", np.ones(5, np.float32))
    with pytest.raises(DataError, match="2-D"):
        load_vectors(tmp_path / "one.npy")
    np.save(tmp_path / "empty.npy", np.zeros((0, 8), np.float32))
    with pytest.raises(DataError, match="no vectors"):
        load_vectors(tmp_path / "empty.npy")
    X[1, 1] = np.inf
    np.save(tmp_path / "inf.npy", X)
    with pytest.raises(DataError, match="first: row 1"):
        load_vectors(tmp_path / "inf.npy", mmap=True)
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(DataError, match="unsupported"):
        load_vectors(tmp_path / "x.csv")
    with pytest.raises(DataError, match="not found"):
        load_vectors(tmp_path / "nope.npy")


def test_load_vectors_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    pq.write_table(pa.table({"id": ["a", "b", "c"], "embedding": [list(r) for r in X]}), tmp_path / "l.parquet")
    ids, Y = load_vectors(tmp_path / "l.parquet")
    assert list(ids) == ["a", "b", "c"]
    np.testing.assert_array_equal(Y, X)
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 4)
    pq.write_table(pa.table({"doc": [7, 8, 9], "vec": fixed}), tmp_path / "f.parquet")
    ids, Y = load_vectors(tmp_path / "f.parquet", id_column="doc")
    assert ids.tolist() == [7, 8, 9] and Y.shape == (3, 4)
    pq.write_table(pa.table({"id": [1, 2, 3], **{f"d{j}": X[:, j] for j in range(4)}}), tmp_path / "c.parquet")
    ids, Y = load_vectors(tmp_path / "c.parquet")
    np.testing.assert_array_equal(Y, X)
    pq.write_table(pa.table({"id": [1, 2], "embedding": [[1.0, 2.0], [3.0]]}), tmp_path / "r.parquet")
    with pytest.raises(DataError, match="different lengths"):
        load_vectors(tmp_path / "r.parquet")
    pq.write_table(pa.table({"id": [1, 2], "embedding": [[1.0, None], [3.0, 4.0]]}), tmp_path / "n.parquet")
    with pytest.raises(DataError, match="NaN or inf"):
        load_vectors(tmp_path / "n.parquet")
    with pytest.raises(DataError, match="no id column 'key'"):
        load_vectors(tmp_path / "l.parquet", id_column="key")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="not a readable parquet"):
        load_vectors(tmp_path / "bad.parquet")


@pytest.mark.skipif("not __import__('os').environ.get('EMBLAB_DATA')", reason="needs EMBLAB_DATA")
def test_shared_embeddings_counts():
    from emblab.data.embeddings import EMBEDDINGS

    for name, shape in EMBEDDINGS.items():
        X = load_embeddings(name, check_counts=True, mmap=True)
        assert X.shape == shape
