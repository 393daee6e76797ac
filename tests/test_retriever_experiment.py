"""Corrector runs as cells: resumed from the store, one results document, the page rendered from it."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from emblab.experiment import read_results, write_results  # noqa: E402
from emblab.retrieval.experiment import benchmark, method_grid, render_corrector, write_corrector  # noqa: E402
from emblab.retrieval.report import run_note  # noqa: E402


def test_benchmark_cells_resume_and_render(tmp_path, monkeypatch):
    store = tmp_path / "cells"
    runs = benchmark(["synthetic"], "tiny", [0], [5], store_root=store, log=lambda line: None)
    task, first = runs["synthetic"]
    assert [r["label"] for r in first] == ["inbatch", "stale", "refresh-R5", "corrector", "oracle"]
    assert not any(r["reused_from_cache"] for r in first)
    assert all(r["task_info"] == task.info and "final" in r for r in first)

    import emblab.retrieval.train as train

    def no_training(*a, **k):
        raise AssertionError("a stored cell was trained again")

    monkeypatch.setattr(train, "train_retriever", no_training)
    _, again = benchmark(["synthetic"], "tiny", [0], [5], store_root=store, log=lambda line: None)["synthetic"]
    assert all(r["reused_from_cache"] for r in again)
    assert [r["final"] for r in again] == [r["final"] for r in first]

    path = tmp_path / "corrector_synthetic.json"
    res = write_corrector(path, task, again, command="test", note="made by the test")
    assert res.kind == "corrector" and res.extra["curve_metric"] == "val/recall@10"
    assert set(res.extra["headline"]) == {"recall@10", "ndcg@10"} and res.extra["headline"]["recall@10"]["corrector"] > 0
    md, quality, drift = render_corrector(path)
    text = md.read_text()
    assert text.startswith("# Corrector networks: synthetic\n") and "Provenance: made by the test" in text
    assert "Runs: 5 (seeds [0]); 5 were reused" in text and "**Headline (recall@10, test)**" in text
    assert text.count("## Environment") == 1 and "- command: `test`" in text
    assert quality.stat().st_size > 10_000 and drift.stat().st_size > 10_000
    render_corrector(path)   # rendering again from the same JSON gives the same page
    assert md.read_text() == text


def test_method_grid_and_note_of_older_files(tmp_path):
    assert method_grid([10, 50]) == [("inbatch", None), ("stale", None), ("refresh", 10), ("refresh", 50),
                                     ("corrector", None), ("oracle", None)]
    # files written before notes were stored: the --note of the recorded command
    write_results(tmp_path / "old.json", "corrector", [{"label": "x"}],
                  command="python benchmarks/corrector.py --report-only --note 'two words, and `code`'")
    assert run_note(read_results(tmp_path / "old.json")) == "two words, and `code`"
    write_results(tmp_path / "none.json", "corrector", [{"label": "x"}], command="python benchmarks/corrector.py")
    assert run_note(read_results(tmp_path / "none.json")) == ""


def test_cli_rerun_reuses_the_finished_cell(tmp_path):
    from emblab.cli.main import main

    out = tmp_path / "run"
    args = ["retriever", "train", "--task", "synthetic", "--setting", "tiny", "--method", "stale", "--out", str(out),
            "--no-progress", "--device", "cpu"]
    assert main(args) == 0
    first = json.loads((out / "results.json").read_text())["records"][0]
    assert first["reused_from_cache"] is False
    assert main(args) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["records"][0]["reused_from_cache"] is True
    assert doc["records"][0]["final"] == first["final"]
    assert doc["curve_metric"] == "val/recall@10" and "recall@10" in doc["headline"]
