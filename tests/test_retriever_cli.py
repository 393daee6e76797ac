"""``emblab retriever train`` end to end on the tiny synthetic setting."""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from emblab.cli.main import main  # noqa: E402


def test_cli_train_writes_results_and_plots(tmp_path):
    out = tmp_path / "run"
    code = main(["retriever", "train", "--task", "synthetic", "--setting", "tiny", "--method", "refresh",
                 "--refresh-every", "5", "--out", str(out), "--no-progress", "--device", "cpu"])
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["kind"] == "corrector" and doc["records"][0]["label"] == "refresh-R5"
    assert (out / "quality_vs_passes.png").stat().st_size > 0 and (out / "drift.png").exists()


def test_cli_bad_method_exit_2(tmp_path):
    assert main(["retriever", "train", "--setting", "tiny", "--method", "nope", "--out", str(tmp_path)]) == 2
