"""BEIR loader on a tiny folder in the real layout."""

from __future__ import annotations

import gzip
import json

import pytest

from emblab import DataError
from emblab.data.beir import load_beir


def write_beir(root, *, gz=False):
    root.mkdir(parents=True, exist_ok=True)
    docs = [{"_id": "d1", "title": "Alpha", "text": "first doc."},
            {"_id": "d2", "title": "", "text": "no title here"},
            {"_id": "d3", "title": "Gamma", "text": "third \"quoted\" doc"}]
    queries = [{"_id": "q1", "text": "what is alpha"}, {"_id": "q2", "text": "unlabelled"},
               {"_id": "q3", "text": "gamma?"}]
    body = "".join(json.dumps(d) + "\n" for d in docs)
    if gz:
        with gzip.open(root / "corpus.jsonl.gz", "wt") as fh:
            fh.write(body)
    else:
        (root / "corpus.jsonl").write_text(body)
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq3\td3\t1\nq1\td1\t1\nq1\td2\t2\n")
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq2\td2\t1\n")
    return root


def test_load_beir_by_name_and_path(tmp_path):
    write_beir(tmp_path / "scifact_beir")
    with pytest.warns(UserWarning, match="counts differ"):
        ds = load_beir("scifact_beir", data_dir=tmp_path)
    assert ds.corpus_ids == ["d1", "d2", "d3"]
    assert ds.corpus_texts == ["Alpha first doc.", "no title here", 'Gamma third "quoted" doc']
    assert ds.query_ids == ["q1", "q2", "q3"] and ds.query_texts[2] == "gamma?"
    assert ds.qrels("test") == {"q3": {"d3": 1}, "q1": {"d1": 1, "d2": 2}}
    assert ds.test_query_ids() == ["q1", "q3"]  # queries.jsonl order, not qrels order
    assert ds.test_query_ids("train") == ["q2"]
    assert ds.splits() == ["test", "train"]
    assert ds.corpus_index()["d3"] == 2
    with pytest.raises(DataError, match="counts differ"):
        load_beir("scifact_beir", data_dir=tmp_path, check_counts=True)
    other = write_beir(tmp_path / "elsewhere" / "mini", gz=True)
    ds2 = load_beir(other)
    assert ds2.name == "mini" and ds2.corpus_texts == ds.corpus_texts
    with pytest.raises(DataError, match="available qrels splits"):
        ds2.qrels("dev")


def test_load_beir_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBLAB_CACHE", str(tmp_path / "cache"))
    root = write_beir(tmp_path / "b")
    (root / "corpus.jsonl").write_text('{"_id": "d1", "text": "ok"}\n{"_id": "d2", "text": \n')
    with pytest.raises(DataError, match=r"corpus.jsonl:2: invalid JSON"):
        load_beir(root)
    (root / "corpus.jsonl").write_text('{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n')
    with pytest.raises(DataError, match="duplicate document ids"):
        load_beir(root)
    (root / "corpus.jsonl").write_text('{"text": "no id"}\n')
    with pytest.raises(DataError, match="no '_id' field"):
        load_beir(root)
    (root / "corpus.jsonl").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_beir(root)
    (root / "corpus.jsonl").unlink()
    with pytest.raises(DataError, match="not found|missing"):
        load_beir(root)
    with pytest.raises(DataError, match="emblab data fetch scifact_beir"):
        load_beir("scifact_beir", data_dir=tmp_path)


@pytest.mark.skipif("not __import__('os').environ.get('EMBLAB_DATA')", reason="needs EMBLAB_DATA")
def test_shared_scifact_counts():
    ds = load_beir("scifact_beir", check_counts=True)
    assert len(ds.corpus_ids) == 5183 and len(ds.query_ids) == 1109
    assert len(ds.test_query_ids()) == 300
