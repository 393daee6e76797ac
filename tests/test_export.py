"""`emblab export`: FAISS index files that plain FAISS loads (same top-10 as emblab's own search of
the same codes), Qdrant collections, codes that carry document ids, `emblab search` printing ids."""

from __future__ import annotations

import json

import numpy as np
import pytest

import emblab
from emblab.cli.main import main
from emblab.search import search
from helpers.user_data import make_beir

faiss = pytest.importorskip("faiss")

FORMS = ["float32", "float16", "int8", "pca:dim=8", "pca:dim=8,store=int8", "pca:dim=8,store=f32,whiten=true",
         "trunc:dim=8", "faiss:PQ8np", "pq:m=4", "faiss:OPQ4,PQ4np", "faiss:SQ8", "faiss:PQ16x4fs"]


@pytest.mark.parametrize("spec", FORMS)
def test_faiss_file_returns_emblab_top10_of_the_same_codes(tmp_path, spec, planted):
    from emblab.scale.faiss_export import faiss_form, faiss_index, write_index

    X, Q = planted[:500], planted[500:560] * 3.0   # queries of any length: both sides normalise them
    model = emblab.build(spec).fit(X)
    codes = model.encode(X)
    mode, _ = faiss_form(model)
    write_index(faiss_index(model, codes), str(tmp_path / "index.faiss"))
    index = faiss.read_index(str(tmp_path / "index.faiss"))          # plain FAISS, nothing of emblab
    q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    _, I_faiss = index.search(q.astype(np.float32), 10)
    _, I_emblab = search(model, Q, codes, 10, mode)
    np.testing.assert_array_equal(I_faiss, I_emblab)
    assert index.ntotal == len(codes)


def test_methods_without_faiss_form_say_why(planted):
    from emblab.scale.faiss_export import faiss_form, faiss_index

    for spec, why in (("sae:h=32,k=4,epochs=1,progress=false", "Qdrant"), ("binary", "ties"),
                      ("pca:dim=4,store=f32|int8", "pipelines")):
        model = emblab.build(spec).fit(planted)
        mode, reason = faiss_form(model)
        assert mode is None and why in reason
        with pytest.raises(emblab.InvalidParameterError, match="has no FAISS form"):
            faiss_index(model, model.encode(planted[:10]))


def test_export_cli_ships_faiss_qdrant_and_ids(tmp_path, capsys):
    pytest.importorskip("qdrant_client")
    col = tmp_path / "col"
    data = make_beir(col, n_docs=300)
    out = tmp_path / "served"
    assert main(["export", "pca:dim=8,store=int8", "--task", f"beir:{col}", "--out", str(out),
                 "--qdrant-path", str(tmp_path / "qdrant"), "--collection", "docs"]) == 0
    printed = capsys.readouterr().out
    man = json.loads((out / "export.json").read_text())
    assert {p.name for p in out.iterdir()} == {"model", "codes.npz", "index.faiss", "ids.json", "export.json",
                                               "emblab-output.json"}
    # the manifest keeps the spec as asked and its full resolution (every parameter)
    assert man["requested"] == "pca:dim=8,store=int8" and man["spec"] == emblab.build("pca:dim=8,store=int8").to_spec(full=True)
    assert man["n_items"] == 300 and man["bytes_per_vector"] == 8
    codes = emblab.Codes.load(out / "codes.npz")
    assert codes.ids.tolist() == data["doc_ids"] and codes.bytes_per_vector == 8     # ids are not payload
    # plain FAISS + ids.json gives the ids emblab's own search of the same codes gives (mode ip)
    model = emblab.load_model(out / "model")
    ids = json.loads((out / "ids.json").read_text())
    q = data["xq"] / np.linalg.norm(data["xq"], axis=1, keepdims=True)
    _, I = faiss.read_index(str(out / "index.faiss")).search(q.astype(np.float32), 10)
    _, I_e = search(model, data["xq"], codes, 10, man["faiss"]["mode"])
    assert [[ids[i] for i in row] for row in I] == codes.item_ids(I_e).tolist()
    # Qdrant's cosine over decoded vectors ranks as emblab's asymmetric mode: same task scores
    scores = man["scores"]
    assert scores["qdrant docs (= emblab asymmetric)"] == pytest.approx(scores["emblab asymmetric"], abs=1e-9)
    assert set(scores["faiss index.faiss (= emblab ip)"]) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
    assert "FAISS: index.faiss" in printed and "Qdrant: collection 'docs'" in printed
    # emblab search prints and saves document ids
    assert main(["search", str(out / "model"), "--codes", str(out / "codes.npz"), "--queries", str(col / "queries.npy"),
                 "-k", "5", "--out", str(tmp_path / "res.json")]) == 0
    res = json.loads((tmp_path / "res.json").read_text())
    assert res["ids"][0] == [data["doc_ids"][i] for i in res["indices"][0]]
    assert "doc-" in capsys.readouterr().out


def test_export_refuses_foreign_folders_and_needs_overwrite(tmp_path, capsys):
    col = tmp_path / "col"
    make_beir(col, n_docs=120)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["export", "float16", "--task", f"beir:{col}", "--out", str(mine)]) == 2
    assert "not an emblab export" in capsys.readouterr().err and (mine / "notes.txt").read_text() == "keep me"
    out = tmp_path / "served"
    assert main(["export", "float16", "--task", f"beir:{col}", "--out", str(out), "--no-faiss"]) == 0
    assert not (out / "index.faiss").exists()
    assert main(["export", "float32", "--task", f"beir:{col}", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", "float32", "--task", f"beir:{col}", "--out", str(col / "served")]) == 2   # inside an input
    assert "inside the input" in capsys.readouterr().err and not (col / "served").exists()
    assert main(["export", "float32", "--task", f"beir:{col}", "--out", str(tmp_path / "new"), "--qdrant-path",
                 str(mine)]) == 2
    assert "not a Qdrant store" in capsys.readouterr().err and (mine / "notes.txt").read_text() == "keep me"
    assert main(["export", "float32", "--task", f"beir:{col}", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "export.json").read_text())["spec"] == "float32" and (out / "index.faiss").exists()
    assert main(["export", "float32", "--task", "sts:" + str(col / "corpus.jsonl"), "--out", str(tmp_path / "x")]) == 2


def test_export_from_bench_verdict_and_sparse_qdrant(tmp_path, capsys):
    pytest.importorskip("qdrant_client")
    col = tmp_path / "col"
    make_beir(col, n_docs=300)
    run = tmp_path / "run"
    assert main(["bench", "--task", f"beir:{col}", "--set", "gain=exp", "--methods", "pca:dim=2;pca:dim=4,store=int8",
                 "--budgets", "4,8", "--out", str(run), "-q"]) == 0
    doc = json.loads((run / "bench.json").read_text())
    best = {e["budget"]: e["spec"] for e in doc["verdict"]}
    out = tmp_path / "served"
    assert main(["export", "--from", str(run), "--budget", "8", "--out", str(out)]) == 0
    man = json.loads((out / "export.json").read_text())
    assert man["requested"] == best[8] and man["uri_options"] == {"gain": "exp"}
    assert main(["export", "--from", str(run), "--out", str(tmp_path / "x")]) == 2     # two budgets: pick one
    assert "--budget" in capsys.readouterr().err
    sae_out = tmp_path / "sae"
    assert main(["export", "sae:h=64,k=4,epochs=2,batch_size=64,progress=false", "--task", f"beir:{col}", "--out",
                 str(sae_out), "--qdrant-path", str(tmp_path / "q"), "--qdrant-vectors", "sparse"]) == 0
    man = json.loads((sae_out / "export.json").read_text())
    assert "Qdrant" in man["faiss"]["none"] and man["qdrant"]["mode"] == "sparse"
    assert "qdrant emblab (= emblab sparse)" in man["scores"]
