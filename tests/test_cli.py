"""CLI: fit / encode / search / eval / bench / list on tiny .npy files, and every bad input.

Every user error must exit with code 2, print exactly one line on stderr and leave no output file
(nor a temporary one) behind.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from emblab.cli.main import main


def _data(tmp_path, n=300, d=16, seed=0, name="X.npy"):
    from emblab.evaluation.tasks.mocks import planted

    X = planted(n, d=d, seed=seed)
    path = tmp_path / name
    np.save(path, X)
    return path, X


def _snapshot(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def _user_error(capsys, args, folder):
    before = _snapshot(folder)
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert _snapshot(folder) == before, "a failed command left files behind"
    return lines[0]


def test_fit_encode_search_roundtrip(tmp_path, capsys):
    xp, X = _data(tmp_path)
    model = tmp_path / "model"
    assert main(["fit", "pca:dim=4,store=f32", "--data", str(xp), "--out", str(model)]) == 0
    assert (model / "config.json").exists() and (model / "model.safetensors").exists()
    codes = tmp_path / "codes.npz"
    assert main(["encode", str(model), "--data", str(xp), "--out", str(codes)]) == 0
    qp, Q = _data(tmp_path, n=5, seed=1, name="Q.npy")
    res = tmp_path / "res.json"
    assert main(["search", str(model), "--codes", str(codes), "--queries", str(qp), "-k", "3",
                 "--out", str(res)]) == 0
    doc = json.loads(res.read_text())
    assert np.array(doc["indices"]).shape == (5, 3)
    import emblab

    m = emblab.load_model(model)
    D, I = emblab.search(m, Q, m.encode(X), k=3)
    assert doc["indices"] == I.tolist()
    npz = tmp_path / "res.npz"
    assert main(["search", str(model), "--codes", str(codes), "--queries", str(qp), "--out", str(npz),
                 "--mode", "symmetric"]) == 0
    with np.load(npz) as z:
        assert z["I"].shape == (5, 10)
    capsys.readouterr()


def test_eval_and_list(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["eval", "pca:dim=4,store=f32", "--task", "mock/knn", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    rec = doc["records"][0]
    assert doc["kind"] == "compression" and rec["method"] == "pca:dim=4,store=f32,whiten=false"
    assert rec["recall@10_asym"] == 1.0 and rec["bytes_per_vector"] == 16
    assert "environment" in doc and "mock/knn" in doc["dataset"]
    assert main(["eval", "float32", "--task", "mock/retrieval"]) == 0
    assert main(["list", "methods"]) == 0
    assert main(["list", "tasks"]) == 0
    text = capsys.readouterr().out
    assert "pca" in text and "mock/knn" in text


def test_bench_config_sets_and_outputs(tmp_path, capsys):
    cfg = tmp_path / "bench.toml"
    cfg.write_text('tasks = ["mock/knn"]\nbudgets = [4, 8]\nfaiss = false\nname = "b"\n')
    out = tmp_path / "out"
    assert main(["bench", str(cfg), "--out", str(out), "--set", "budgets=4,16", "-q"]) == 0
    doc = json.loads((out / "b.json").read_text())
    resolved = json.loads((out / "config.json").read_text())
    assert resolved["budgets"] == [4, 16] and resolved["faiss"] is False
    methods = {r["method"] for r in doc["records"]}
    assert {"float32", "pca:dim=2,store=f16,whiten=false", "pca:dim=4,store=int8,whiten=false",
            "pca:dim=8,store=f16,whiten=false"} <= methods   # full resolved specs
    base = next(r for r in doc["records"] if r["method"] == "float32")
    assert base["ratio_to_uncompressed"]["recall@10_asym"] == 1.0
    assert "| method |" in (out / "b.md").read_text()
    out2 = tmp_path / "out2"
    assert main(["bench", "--task", "mock/knn", "--methods", "pca:dim=4,store=f32;trunc:dim=4", "--out", str(out2),
                 "-q"]) == 0
    recs = json.loads((out2 / "bench.json").read_text())["records"]
    assert [r["method"] for r in recs] == ["float32", "pca:dim=4,store=f32,whiten=false", "trunc:dim=4,store=f16"]
    capsys.readouterr()


@pytest.mark.parametrize("case", ["nan", "inf", "width", "empty", "spec", "missing", "unwritable", "not_npy",
                                  "bad_param"])
def test_fit_user_errors(tmp_path, capsys, case):
    xp, X = _data(tmp_path)
    out = tmp_path / "model"
    spec = "pca:dim=4"
    if case in ("nan", "inf"):
        X = X.copy()
        X[7, 3] = np.nan if case == "nan" else np.inf
        np.save(xp, X)
    elif case == "empty":
        xp.write_bytes(b"")
    elif case == "width":   # a 1-D array is not a matrix
        np.save(xp, X[0])
    elif case == "spec":
        spec = "pcaa:dim=4"
    elif case == "bad_param":
        spec = "pca:dims=4"
    elif case == "missing":
        xp = tmp_path / "nope.npy"
    elif case == "unwritable":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "model"
    elif case == "not_npy":
        xp.write_bytes(b"\x93NUMPY garbage")
    line = _user_error(capsys, ["fit", spec, "--data", str(xp), "--out", str(out)], tmp_path)
    if case == "spec":
        assert "Did you mean 'pca'" in line


def _fitted(tmp_path):
    xp, X = _data(tmp_path)
    model = tmp_path / "model"
    assert main(["fit", "pca:dim=4,store=f32", "--data", str(xp), "--out", str(model)]) == 0
    return xp, model


@pytest.mark.parametrize("case", ["wrong_width", "corrupt_config", "truncated_tensors", "no_model", "nan_rows"])
def test_encode_user_errors(tmp_path, capsys, case):
    xp, model = _fitted(tmp_path)
    capsys.readouterr()
    data = xp
    if case == "wrong_width":
        data, _ = _data(tmp_path, d=12, name="W.npy")
    elif case == "corrupt_config":
        (model / "config.json").write_text("{not json")
    elif case == "truncated_tensors":
        st = model / "model.safetensors"
        st.write_bytes(st.read_bytes()[:40])
    elif case == "no_model":
        model = tmp_path / "nomodel"
    elif case == "nan_rows":
        X = np.load(xp)
        X[0, 0] = np.nan
        data = tmp_path / "N.npy"
        np.save(data, X)
    line = _user_error(capsys, ["encode", str(model), "--data", str(data), "--out", str(tmp_path / "c.npz")], tmp_path)
    if case == "wrong_width":
        assert "12" in line and "16" in line


@pytest.mark.parametrize("case", ["truncated_codes", "other_model", "bad_mode", "bad_out", "width"])
def test_search_user_errors(tmp_path, capsys, case):
    xp, model = _fitted(tmp_path)
    codes = tmp_path / "codes.npz"
    assert main(["encode", str(model), "--data", str(xp), "--out", str(codes)]) == 0
    capsys.readouterr()
    args = ["search", str(model), "--codes", str(codes), "--queries", str(xp), "--out", str(tmp_path / "r.json")]
    if case == "truncated_codes":
        codes.write_bytes(codes.read_bytes()[:100])
    elif case == "other_model":
        assert main(["fit", "pca:dim=3,store=f32", "--data", str(xp), "--out", str(tmp_path / "m2")]) == 0
        capsys.readouterr()
        args[1] = str(tmp_path / "m2")
    elif case == "bad_mode":
        args += ["--mode", "hamming"]
    elif case == "bad_out":
        args[-1] = str(tmp_path / "r.txt")
    elif case == "width":
        q, _ = _data(tmp_path, d=8, name="Q8.npy")
        args[5] = str(q)
    _user_error(capsys, args, tmp_path)


@pytest.mark.parametrize("args", [
    ["eval", "pca:dim=2", "--task", "mock/knnn"],
    ["eval", "nosuch:x=1", "--task", "mock/knn"],
    ["eval", "pca:dim=2", "--task", "beir_scifact", "--set", "embeddings=magic"],
    ["bench", "--task", "mock/knn", "--methods", "pq:mm=3"],
    ["bench", "--task", "mock/knn", "--budgets", "32,abc"],
    ["bench", "--task", "mock/knn", "--set", "nokey=1"],
    ["bench", "missing.toml"],
    ["list", "things"],
])
def test_eval_bench_list_user_errors(tmp_path, capsys, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    args = list(args)
    if args[0] in ("bench", "eval"):
        args += ["--out", str(tmp_path / ("o" if args[0] == "bench" else "o.json"))]
    _user_error(capsys, args, tmp_path)


def test_bench_missing_data_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EMBLAB_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    _user_error(capsys, ["bench", "--task", "mock/knn,beir_scifact", "--methods", "pca:dim=2", "--out",
                         str(tmp_path / "o")], tmp_path)
