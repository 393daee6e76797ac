"""The one results writer/reader and the markdown renderer."""

import json

import pytest

from emblab._errors import DataError
from emblab.experiment import Results, read_results, write_results
from emblab.experiment.markdown import cell, document, table


def test_write_then_read_gives_typed_results(tmp_path):
    path = tmp_path / "r.json"
    write_results(path, "compression", [{"task": "t", "method": "pca:dim=8", "score": 0.5},
                                        {"task": "u", "method": "int8", "score": 0.25}],
                  command="emblab bench", budgets=[32, 64])
    res = read_results(path)
    assert isinstance(res, Results)
    assert res.kind == "compression"
    assert [r["method"] for r in res] == ["pca:dim=8", "int8"]
    assert res.where(task="u") == [{"task": "u", "method": "int8", "score": 0.25}]
    assert res.extra == {"budgets": [32, 64]}
    assert res.environment["command"] == "emblab bench"
    # the document round-trips through the typed object unchanged
    assert res.to_dict() == json.loads(path.read_text())


@pytest.mark.parametrize("text, reason", [("{", "not valid JSON"), ('{"kind": "x"}', "not an emblab results file"),
                                          ('{"schema": "emblab.results/1", "kind": "x"}', "records list")])
def test_read_results_refuses_bad_files_in_one_line(tmp_path, text, reason):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DataError, match=reason) as info:
        read_results(path)
    assert "\n" not in str(info.value)


def test_read_results_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_results(tmp_path / "none.json")


def test_markdown_table_escapes_pipes_and_formats_numbers():
    lines = table(["spec", "score", "bytes"], [["pca:dim=8|int8", 0.12345, 8], ["int8", None, 384]])
    assert lines[0] == "| spec | score | bytes |"
    assert lines[2] == "| pca:dim=8\\|int8 | 0.123 | 8 |"
    assert lines[3] == "| int8 | – | 384 |"
    assert cell(1.0, digits=1) == "1.0"


def test_document_ends_with_the_environment_of_the_results(tmp_path):
    doc = write_results(tmp_path / "r.json", "scale", [], command="python benchmarks/scale.py")
    text = document("Scale", ["body"], doc, notes=["fit on 10k rows"])
    assert text.startswith("# Scale\n\nbody\n")
    assert "- command: `python benchmarks/scale.py`" in text
    assert text.rstrip().endswith("- fit on 10k rows")
