"""Dataset downloads against a local HTTP server on 127.0.0.1 serving archives the test writes."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import tarfile
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from emblab import DataError
from emblab.cli.main import main
from emblab.data import download as dl
from emblab.data.beir import load_beir
from emblab.data.sts import load_stsb


class _Handler(SimpleHTTPRequestHandler):
    hits: list[str] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        type(self).hits.append(self.path)
        super().do_GET()


@pytest.fixture()
def server(tmp_path, monkeypatch):
    """(base_url, folder): files written into ``folder`` are served at ``base_url``."""
    monkeypatch.setenv("EMBLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EMBLAB_DATA", raising=False)
    folder = tmp_path / "www"
    folder.mkdir()
    _Handler.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    httpd.shutdown()
    httpd.server_close()


def _zip(path, files: dict[str, str]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tar(path, files: dict[str, str]) -> str:
    with tarfile.open(path, "w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return hashlib.md5(path.read_bytes()).hexdigest()


SCIFACT_FILES = {
    "scifact/corpus.jsonl": json.dumps({"_id": "d1", "title": "T", "text": "body"}) + "\n",
    "scifact/queries.jsonl": json.dumps({"_id": "q1", "text": "query"}) + "\n",
    "scifact/qrels/test.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\n",
}


def test_fetch_beir_zip_and_load(server, monkeypatch, tmp_path):
    base, www = server
    sha = _zip(www / "scifact.zip", SCIFACT_FILES)
    src = dl.DatasetSource(f"{base}/scifact.zip", sha, dl.layout_flatten("scifact"),
                           files=("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"))
    monkeypatch.setitem(dl.DATASETS, "scifact_beir", src)
    with pytest.raises(DataError, match="emblab data fetch scifact_beir"):
        load_beir("scifact_beir")
    with pytest.warns(UserWarning, match="counts differ"):
        ds = load_beir("scifact_beir", download=True)
    assert ds.corpus_texts == ["T body"] and ds.qrels("test") == {"q1": {"d1": 1}}
    assert ds.root == tmp_path / "cache" / "data" / "scifact_beir"
    assert (ds.root / "SOURCE.txt").read_text().count(base) == 1
    assert not list((tmp_path / "cache" / "data").glob(".*tmp*"))  # no staging leftovers
    assert _Handler.hits == ["/scifact.zip"]
    load_beir("scifact_beir", check_counts=False)  # found in the cache: no second request
    assert _Handler.hits == ["/scifact.zip"]


def test_fetch_tarball_md5_via_cli(server, monkeypatch):
    base, www = server
    md5 = _tar(www / "Stsbenchmark.tar.gz", {
        "stsbenchmark/sts-train.csv": "g\tf\ty\t1\t3.0\ta\tb\n",
        "stsbenchmark/sts-dev.csv": "g\tf\ty\t1\t1.0\tc\td\n",
        "stsbenchmark/sts-test.csv": "g\tf\ty\t1\t5.0\te\tf\n",
    })
    monkeypatch.setitem(dl.DATASETS, "stsb", dl.DatasetSource(
        f"{base}/Stsbenchmark.tar.gz", None, dl.layout_flatten("stsbenchmark"), md5=md5,
        files=("sts-train.csv", "sts-dev.csv", "sts-test.csv")))
    assert main(["data", "fetch", "stsb"]) == 0
    s1, s2, gold = load_stsb("test", check_counts=False)
    assert (s1, s2, gold.tolist()) == (["e"], ["f"], [5.0])
    assert main(["data", "fetch", "nope"]) == 2


def test_checksum_mismatch_and_http_errors(server, monkeypatch, tmp_path):
    base, www = server
    _zip(www / "scifact.zip", SCIFACT_FILES)
    bad = dl.DatasetSource(f"{base}/scifact.zip", "0" * 64, dl.layout_flatten("scifact"))
    with pytest.raises(DataError, match="does not match the expected"):
        dl.fetch("scifact_beir", source=bad)
    assert not (tmp_path / "cache" / "data" / "scifact_beir").exists()
    assert not (tmp_path / "cache" / "downloads" / "scifact.zip").exists()
    missing = dl.DatasetSource(f"{base}/absent.zip", None, dl.layout_flatten())
    with pytest.raises(DataError, match="HTTP 404"):
        dl.fetch("x", source=missing)
    assert not list((tmp_path / "cache" / "downloads").glob("*.part"))
    # archive without the files the loaders need: nothing is left in the data folder
    _zip(www / "wrong.zip", {"other/readme.txt": "hi"})
    wrong = dl.DatasetSource(f"{base}/wrong.zip", None, dl.layout_flatten(), files=("corpus.jsonl",))
    with pytest.raises(DataError, match="lacks"):
        dl.fetch("wrongset", source=wrong)
    assert not (tmp_path / "cache" / "data" / "wrongset").exists()
    (www / "junk.zip").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="cannot unpack"):
        dl.fetch("junk", source=dl.DatasetSource(f"{base}/junk.zip", None, dl.layout_flatten()))


def test_aclimdb_layout_matches_shared_order(server, monkeypatch):
    base, www = server
    files = {f"aclImdb/{split}/{label}/{i}_{r}.txt": f"{split} {label} {i}"
             for split, label, i, r in [("train", "neg", 10, 2), ("train", "neg", 2, 3), ("train", "pos", 0, 9),
                                        ("test", "neg", 0, 1), ("test", "pos", 0, 10), ("train", "unsup", 0, 0)]}
    files["aclImdb/README"] = "readme"
    md5 = _tar(www / "aclImdb_v1.tar.gz", files)
    src = dl.DatasetSource(f"{base}/aclImdb_v1.tar.gz", None, dl.layout_aclimdb, md5=md5,
                           files=("imdb_labeled.jsonl.gz", "imdb_unsup.jsonl.gz"))
    folder = dl.fetch("imdb_aclimdb", source=src)
    with gzip.open(folder / "imdb_labeled.jsonl.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    assert [(r["split"], r["label"], r["id"], r["rating"]) for r in rows] == [
        ("train", "neg", 2, 3), ("train", "neg", 10, 2), ("train", "pos", 0, 9), ("test", "neg", 0, 1),
        ("test", "pos", 0, 10)]
    with gzip.open(folder / "imdb_unsup.jsonl.gz", "rt") as fh:
        assert json.loads(fh.readline())["label"] == "unsup"
    assert (folder / "README").read_text() == "readme"


def test_registry_entries_are_complete():
    for name, src in dl.DATASETS.items():
        assert src.url.startswith("https://"), name
        assert src.files, name
        assert src.sha256 is None or len(src.sha256) == 64
        assert src.md5 is None or len(src.md5) == 32


def test_data_check_cli(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBLAB_DATA", raising=False)
    (tmp_path / "stsb").mkdir()
    for split in ("train", "dev", "test"):
        (tmp_path / "stsb" / f"sts-{split}.csv").write_text("g\tf\ty\t1\t3.0\ta\tb\n")
    assert main(["--data-dir", str(tmp_path), "data", "check", "stsb"]) == 2  # wrong counts
    (tmp_path / "embeddings_minilm").mkdir()
    np.save(tmp_path / "embeddings_minilm" / "imdb_unsup.f16.npy", np.zeros((3, 384), np.float16))
    assert main(["--data-dir", str(tmp_path), "data", "check", "embeddings_minilm"]) == 2
    assert main(["--data-dir", str(tmp_path), "data", "check", "sick"]) == 0  # missing is not an error
    assert main(["--data-dir", str(tmp_path), "data", "check", "--strict", "sick"]) == 2
    assert main(["--data-dir", str(tmp_path), "data", "check", "nonsense"]) == 2
    assert main(["--data-dir", str(tmp_path), "data", "list"]) == 0
