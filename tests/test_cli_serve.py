"""CLI ``emblab serve qdrant`` / ``emblab serve query``: embedded Qdrant round trip of sae codes and
one-line errors (exit 2) for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

import emblab
from emblab.cli.main import main

pytest.importorskip("qdrant_client")
if "sae" not in emblab.list_methods():
    pytest.skip("sae method not available", allow_module_level=True)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(460, 6)) @ rng.normal(size=(6, 24))).astype(np.float32)
    sae = emblab.build("sae:h=64,k=4,epochs=2,batch_size=64,progress=false,device=cpu").fit(X[:400])
    sae.save(root / "sae")
    sae.encode(X[:400]).save(root / "codes.npz")
    np.save(root / "q.npy", X[400:])
    pca = emblab.build("pca:dim=4").fit(X[:400])
    pca.save(root / "pca")
    pca.encode(X[:400]).save(root / "pca_codes.npz")
    return root, sae, X


def _err(capsys, args):
    code = main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    return lines[0]


def test_export_then_query_matches_emblab(setup, tmp_path, capsys):
    root, sae, X = setup
    store = tmp_path / "qdrant"
    assert main(["serve", "qdrant", str(root / "sae"), "--codes", str(root / "codes.npz"),
                 "--location", str(store), "--collection", "items"]) == 0
    assert "exported 400 sparse codes" in capsys.readouterr().out
    res = tmp_path / "res.json"
    assert main(["serve", "query", str(root / "sae"), "--queries", str(root / "q.npy"), "--location", str(store),
                 "--collection", "items", "-k", "10", "--compare", str(root / "codes.npz"), "--out", str(res)]) == 0
    assert "agreement with emblab sparse search" in capsys.readouterr().out
    doc = json.loads(res.read_text())
    assert np.array(doc["indices"]).shape == (60, 10)
    assert doc["topk_agreement_with_emblab"] >= 0.99
    _, I_ref = emblab.search(sae, X[400:], emblab.Codes.load(root / "codes.npz"), k=10, mode="sparse")
    same = np.mean([set(a) == set(b) for a, b in zip(doc["indices"], I_ref.tolist())])
    assert same >= 0.95  # exact set equality; the rest differ only by ties at the 10th score


def test_in_memory_export_and_ids(setup, tmp_path, capsys):
    root, _, _ = setup
    np.save(tmp_path / "ids.npy", np.arange(400, dtype=np.int64) + 7)
    assert main(["serve", "qdrant", str(root / "sae"), "--codes", str(root / "codes.npz"),
                 "--ids", str(tmp_path / "ids.npy"), "--collection", "items"]) == 0
    assert "in-memory" in capsys.readouterr().out


def test_errors_are_one_line(setup, tmp_path, capsys):
    root, _, _ = setup
    base = ["serve", "qdrant", str(root / "sae"), "--codes", str(root / "codes.npz"), "--collection", "c"]
    assert "not both" in _err(capsys, base + ["--location", str(tmp_path / "s"), "--url", "http://x:6333"])
    assert "sparse model" in _err(capsys, ["serve", "qdrant", str(root / "pca"), "--codes",
                                           str(root / "pca_codes.npz"), "--collection", "c"])
    assert "sparse codes" in _err(capsys, ["serve", "qdrant", str(root / "sae"), "--codes",
                                           str(root / "pca_codes.npz"), "--collection", "c"])
    np.save(tmp_path / "bad_ids.npy", np.zeros(3, np.int64))
    assert "--ids" in _err(capsys, base + ["--ids", str(tmp_path / "bad_ids.npy")])
    q = ["serve", "query", str(root / "sae"), "--queries", str(root / "q.npy"), "--collection", "c"]
    assert "in-memory" in _err(capsys, q)
    assert "no Qdrant store" in _err(capsys, q + ["--location", str(tmp_path / "none")])
    store = tmp_path / "empty"
    assert main(base[:-2] + ["--collection", "other", "--location", str(store)]) == 0
    capsys.readouterr()
    assert "no Qdrant collection" in _err(capsys, q + ["--location", str(store)])
    assert "--out" in _err(capsys, q + ["--location", str(store), "--out", str(tmp_path / "r.txt")])
