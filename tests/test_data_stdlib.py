"""The offline demo corpus: passages of the standard library's documentation."""

from __future__ import annotations

import numpy as np
import pytest

from emblab import DataError
from emblab.data.stdlib_docs import load_stdlib_passages, split_passages, stdlib_query_catalogue_split


def test_split_passages_sentences_and_length():
    text = ("First sentence here. Second one follows! Third? Fourth sentence.\n\n"
            "New paragraph. " + "word " * 200)
    parts = split_passages(text, max_chars=100, max_sentences=3)
    assert parts[0] == "First sentence here. Second one follows! Third?"
    assert parts[1] == "Fourth sentence."  # paragraphs never share a passage
    assert all(len(p) <= 100 for p in parts)
    assert " ".join(parts[2:]).split() == ("New paragraph. " + "word " * 200).split()


def test_stdlib_passages_deterministic_and_quiet(capsys):
    ids, texts = load_stdlib_passages(max_passages=None)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # importing modules printed nothing
    assert 5_000 <= len(texts) <= 20_000
    assert len(set(ids)) == len(ids) and len(set(texts)) == len(texts)
    assert all(40 <= len(t) <= 400 for t in texts)
    assert ids[0].startswith("topic:") and any(i.startswith("doc:json.") for i in ids)
    assert not any(i.startswith(("doc:antigravity", "doc:this.", "doc:tkinter", "doc:idlelib")) for i in ids)
    ids2, texts2 = load_stdlib_passages(max_passages=1000)
    assert len(texts2) == 1000 and set(ids2) <= set(ids)
    assert ids2[0] == ids[0] and ids2[-1] == ids[-1]  # evenly spaced subset keeps both ends
    assert load_stdlib_passages(max_passages=1000) == (ids2, texts2)
    with pytest.raises(DataError, match="max_passages"):
        load_stdlib_passages(max_passages=0)


def test_query_catalogue_split():
    cat, q = stdlib_query_catalogue_split(100, n_queries=10, seed=3)
    assert len(q) == 10 and len(cat) == 90
    assert np.intersect1d(cat, q).size == 0 and np.union1d(cat, q).tolist() == list(range(100))
    cat2, q2 = stdlib_query_catalogue_split(100, n_queries=10, seed=3)
    np.testing.assert_array_equal(q, q2)
    assert len(stdlib_query_catalogue_split(10, n_queries=50)[1]) == 5
    with pytest.raises(DataError):
        stdlib_query_catalogue_split(1)
