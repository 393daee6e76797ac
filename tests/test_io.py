"""Artifacts and atomic writes (design.md section 5): nothing half-written, clear load errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import emblab
from emblab import ArtifactError, DataError
from emblab.io import (atomic_path, atomic_save_npy, atomic_write_json, fingerprint_array, load_npy,
                       read_config, sha256_file)

from conftest import planted_low_rank


@pytest.fixture
def saved_pca(tmp_path):
    X = planted_low_rank(n=200, d=16, seed=4)
    m = emblab.build("pca:dim=4,store=f32").fit(X)
    path = tmp_path / "pca"
    m.save(path)
    return m, path, X


def _siblings(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert _siblings(tmp_path) == []
    atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}  # the old file is untouched
    assert _siblings(tmp_path) == ["out.json"]
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "dir", is_dir=True) as tmp:
            (tmp / "x").write_text("x")
            raise KeyboardInterrupt
    assert _siblings(tmp_path) == ["out.json"]


def test_atomic_replaces_existing_directory(saved_pca, tmp_path):
    m, path, X = saved_pca
    m2 = emblab.build("pca:dim=2,store=f32").fit(X)
    m2.save(path)
    assert emblab.load_model(path).dim == 2
    assert _siblings(tmp_path) == ["pca"]


def test_unwritable_output_is_a_data_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    try:
        if os.access(ro, os.W_OK):  # running as root: permissions are not enforced
            pytest.skip("permissions are not enforced for this user")
        with pytest.raises(DataError, match="not writable"):
            atomic_save_npy(ro / "x.npy", np.zeros(3))
        assert _siblings(ro) == []
    finally:
        os.chmod(ro, 0o700)


def test_artifact_layout_and_no_pickle(saved_pca):
    m, path, X = saved_pca
    assert _siblings(path) == ["config.json", "model.safetensors"]
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["format_version"] == 1 and cfg["method"] == "pca"
    assert cfg["params"] == m.get_params() and cfg["fitted"]["n_features_in_"] == 16
    assert cfg["train_data"]["sha256"] == fingerprint_array(X)["sha256"]
    assert cfg["tensors"]["components"]["shape"] == [4, 16]
    assert b"pickle" not in (path / "model.safetensors").read_bytes()[:200]


def test_corrupt_safetensors(saved_pca):
    _, path, _ = saved_pca
    st = path / "model.safetensors"
    data = st.read_bytes()
    st.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="corrupt or truncated safetensors"):
        emblab.load_model(path)
    st.write_bytes(b"not safetensors at all")
    with pytest.raises(ArtifactError, match="model.safetensors"):
        emblab.load_model(path)
    st.unlink()
    with pytest.raises(ArtifactError, match="missing"):
        emblab.load_model(path)


def test_wrong_tensor_shape(saved_pca):
    from safetensors.numpy import load_file, save_file

    _, path, _ = saved_pca
    st = path / "model.safetensors"
    tensors = load_file(str(st))
    tensors["components"] = np.zeros((4, 15), np.float32)
    save_file(tensors, str(st))
    with pytest.raises(ArtifactError, match=r"tensor 'components' has shape \(4, 15\), config says \(4, 16\)"):
        emblab.load_model(path)
    tensors.pop("components")
    save_file(tensors, str(st))
    with pytest.raises(ArtifactError, match="'components' is missing"):
        emblab.load_model(path)


def _edit_config(path, **changes):
    cfg = json.loads((path / "config.json").read_text())
    cfg.update(changes)
    (path / "config.json").write_text(json.dumps(cfg))


def test_unknown_format_version(saved_pca):
    _, path, _ = saved_pca
    _edit_config(path, format_version=99)
    with pytest.raises(ArtifactError, match="format_version 99 is not supported"):
        emblab.load_model(path)
    _edit_config(path, format_version=None)
    with pytest.raises(ArtifactError, match="format_version"):
        emblab.load_model(path)


def test_wrong_or_unknown_method(saved_pca):
    from emblab.compressors.binary import Binary

    _, path, _ = saved_pca
    with pytest.raises(ArtifactError, match="holds method 'pca', not 'binary'"):
        Binary.load(path)
    _edit_config(path, method="sea")
    with pytest.raises(ArtifactError, match="'sea' is not a registered method"):
        emblab.load_model(path)


def test_bad_config_files(saved_pca, tmp_path):
    _, path, _ = saved_pca
    (path / "config.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupt JSON"):
        emblab.load_model(path)
    (path / "config.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="JSON object"):
        read_config(path)
    (path / "config.json").unlink()
    with pytest.raises(ArtifactError, match="not an emblab model directory"):
        emblab.load_model(path)
    with pytest.raises(ArtifactError, match="no such model directory"):
        emblab.load_model(tmp_path / "nowhere")
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ArtifactError, match="is a directory"):
        read_config(f)


def test_params_that_do_not_fit_the_class(saved_pca):
    _, path, _ = saved_pca
    _edit_config(path, params={"dim": 4, "colour": "red"})
    with pytest.raises(ArtifactError, match="parameters do not match"):
        emblab.load_model(path)


def test_pipeline_artifact_round_trip_and_corruption(tmp_path):
    X = planted_low_rank(n=300, d=16, seed=6)
    p = emblab.build("pca:dim=8,store=f32|int8").fit(X)
    p.save(tmp_path / "pipe")
    q = emblab.load_model(tmp_path / "pipe")
    np.testing.assert_array_equal(q.encode(X).data, p.encode(X).data)
    assert q.to_spec() == p.to_spec() and q.fingerprint == p.fingerprint
    (tmp_path / "pipe" / "pipeline.json").write_text("{")
    with pytest.raises(ArtifactError, match="corrupt pipeline description"):
        emblab.load_model(tmp_path / "pipe")


def test_load_npy_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_npy(tmp_path / "x.npy")
    (tmp_path / "e.npy").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_npy(tmp_path / "e.npy")
    atomic_save_npy(tmp_path / "ok.npy", np.arange(10.0))
    data = (tmp_path / "ok.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[:-20])
    with pytest.raises(DataError, match="t.npy"):
        load_npy(tmp_path / "t.npy")
    np.testing.assert_array_equal(load_npy(tmp_path / "ok.npy"), np.arange(10.0))
    assert len(sha256_file(tmp_path / "ok.npy")) == 64


def test_guard_output_states_and_refusals(saved_pca, tmp_path):
    from emblab.io import guard_output, output_kind

    _, path, _ = saved_pca
    assert output_kind(path) == "model"
    assert guard_output(tmp_path / "new", "model") == "new"
    assert guard_output(path, "model", overwrite=True) == "replace"
    assert guard_output(path, "model", resume=True) == "resume"
    with pytest.raises(DataError, match="--overwrite"):
        guard_output(path, "model")
    with pytest.raises(DataError, match="holds an emblab model directory, not a report folder"):
        guard_output(path, "report", overwrite=True)
    (tmp_path / "mine.txt").write_text("x")
    with pytest.raises(DataError, match="not an emblab"):
        guard_output(tmp_path / "mine.txt", "codes", overwrite=True)
    with pytest.raises(DataError, match="is the input"):
        guard_output(tmp_path / "mine.txt", "codes", inputs=[tmp_path / "mine.txt"])
    with pytest.raises(DataError, match="lies inside the input"):
        guard_output(path / "sub", "model", inputs=[path])
    with pytest.raises(DataError, match="holds the input"):
        guard_output(tmp_path, "model", inputs=[path / "config.json"], overwrite=True)
    with pytest.raises(DataError, match="is a file, not a folder"):
        guard_output(tmp_path / "mine.txt" / "out", "model")
    with pytest.raises(DataError, match="not a new output"):
        guard_output(".", "model")
    assert _siblings(tmp_path) == ["mine.txt", "pca"]


def test_replacing_a_folder_is_one_exchange_and_marks_it(tmp_path):
    from emblab.io import OUTPUT_MARKER, atomic_path, output_kind

    for text in ("old", "new"):
        with atomic_path(tmp_path / "rep", is_dir=True, kind="report") as tmp:
            (tmp / "index.html").write_text(text)
    assert (tmp_path / "rep" / "index.html").read_text() == "new"
    assert output_kind(tmp_path / "rep") == "report" and (tmp_path / "rep" / OUTPUT_MARKER).exists()
    assert _siblings(tmp_path) == ["rep"]
    with pytest.raises(DataError, match="holds|not an emblab"):
        with atomic_path(tmp_path / "rep", is_dir=True, kind="bench"):
            pass
    assert _siblings(tmp_path) == ["rep"] and (tmp_path / "rep" / "index.html").read_text() == "new"


def test_older_outputs_are_recognised_by_content(tmp_path):
    from emblab.io import output_kind

    report = tmp_path / "report"
    report.mkdir()
    (report / "index.html").write_text("<html><p>Generated ... no model was re-run.</p></html>")
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "bench.json").write_text(json.dumps({"schema": "emblab.results/1", "kind": "compression"}))
    (bench / "bench.md").write_text("| table |")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "bench.json").write_text("{}")
    assert [output_kind(p) for p in (report, bench, plain, tmp_path / "missing")] == ["report", "bench", None, None]


def test_one_json_encoder_for_numpy_and_paths():
    from pathlib import Path

    from emblab.io import json_default

    obj = {"f": np.float32(0.5), "i": np.int64(3), "b": np.bool_(True), "a": np.arange(3, dtype=np.int16),
           "p": Path("/tmp/x"), "nan": float("nan")}
    back = json.loads(json.dumps(obj, default=json_default))
    assert back["f"] == 0.5 and back["i"] == 3 and back["b"] is True and back["a"] == [0, 1, 2]
    assert back["p"] == "/tmp/x" and back["nan"] != back["nan"]
    with pytest.raises(TypeError, match="not JSON serialisable: object"):
        json.dumps({"x": object()}, default=json_default)
