"""The bench runner as cells (issue 17): an interrupted run resumes and fits only what is missing,
a half-written store line is tolerated, a store of another configuration is refused in one line,
``--fresh`` recomputes, and ``emblab eval`` runs over the same runner."""

from __future__ import annotations

import json

import pytest

from emblab._errors import DataError
from emblab.bench.runner import run_bench
from emblab.cli.main import main
from emblab.compressors.pca import PCA

SPECS = ["pca:dim=2", "pca:dim=4", "pca:dim=8"]


@pytest.fixture
def fits(monkeypatch):
    """Every PCA fit, by dim; ``fits.stop_at = n`` raises KeyboardInterrupt on the n-th fit (Ctrl-C)."""
    seen: list[int] = []
    real = PCA._fit

    def counted(self, X, X_val):
        seen.append(self.dim)
        if len(seen) == getattr(counted, "stop_at", 0):
            raise KeyboardInterrupt
        return real(self, X, X_val)

    monkeypatch.setattr(PCA, "_fit", counted)
    seen_obj = type("Fits", (), {})()
    seen_obj.dims, seen_obj.ctl = seen, counted
    return seen_obj


def rows(res):
    """What the records say, without timings (``*_s``: they differ between one run and another)."""
    def strip(obj):
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if not k.endswith("_s")}
        return obj

    return [strip(r) for r in res.records]


def test_interrupted_run_resumes_and_fits_only_the_missing_cells(tmp_path, fits):
    fits.ctl.stop_at = 2   # Ctrl-C while the second method fits
    with pytest.raises(KeyboardInterrupt):
        run_bench(SPECS, ["mock/knn"], [4, 8], out_dir=tmp_path / "run")
    assert fits.dims == [2, 4]
    assert not (tmp_path / "run" / "bench.json").exists()   # results are written when the run ends
    stored = [json.loads(line) for line in (tmp_path / "run" / "cells" / "cells.jsonl").read_text().splitlines()]
    assert [r["cell"].get("method") for r in stored] == [None, "pca:dim=2,store=f16,whiten=false"]  # reference, 1st
    fits.ctl.stop_at = 0
    fits.dims.clear()
    res = run_bench(SPECS, ["mock/knn"], [4, 8], out_dir=tmp_path / "run")
    assert fits.dims == [4, 8]                               # only the cells the store lacked
    full = run_bench(SPECS, ["mock/knn"], [4, 8], out_dir=tmp_path / "fresh")
    assert rows(res) == rows(full) and [r["method"] for r in res.records][0] == "float32"
    assert json.loads((tmp_path / "run" / "bench.json").read_text())["records"] == json.loads(json.dumps(res.records))

    # a run killed while appending a cell leaves a half-written last line: ignored, nothing refitted
    with open(tmp_path / "run" / "cells" / "cells.jsonl", "a") as fh:
        fh.write('{"id": "0123456789abcdef", "rows": [{"task": "mock/kn')
    fits.dims.clear()
    again = run_bench(SPECS, ["mock/knn"], [4, 8], out_dir=tmp_path / "run")
    assert fits.dims == [] and again.records == res.records


def test_time_budget_and_errors_are_not_stored(tmp_path, fits):
    store = tmp_path / "cells"
    first = run_bench(SPECS + ["pca:dim=64"], ["mock/knn"], [8], store=store, time_budget_s=1e-9)
    assert [r.get("skipped", "")[:30] for r in first.records[1:]] == ["not run: the time budget of 1e"] * 4
    assert fits.dims == []
    res = run_bench(SPECS + ["pca:dim=64"], ["mock/knn"], [8], store=store)
    assert fits.dims == [2, 4, 8, 64]                               # run now, and stored
    assert "error" in res.records[-1] and "\n" not in res.records[-1]["error"]   # 16-d data: dim=64 fails
    fits.dims.clear()
    run_bench(SPECS + ["pca:dim=64"], ["mock/knn"], [8], store=store)
    assert fits.dims == [64]                                        # the failed cell is tried again:
    assert len((store / "cells.jsonl").read_text().splitlines()) == 4   # errors are never stored


def test_store_of_another_configuration_is_refused_and_fresh_recomputes(tmp_path, fits):
    run_bench(SPECS[:1], ["mock/knn"], [4, 8], out_dir=tmp_path)
    for other in ({"budgets": [4, 16]}, {"fit_rows": 100}, {"tasks": ["mock/knn", "mock/retrieval"]}):
        kw = {"budgets": [4, 8], "tasks": ["mock/knn"], **other}
        with pytest.raises(DataError) as exc:
            run_bench(SPECS[:1], kw.pop("tasks"), kw.pop("budgets"), out_dir=tmp_path, **kw)
        msg = str(exc.value)
        assert "\n" not in msg and "another benchmark configuration" in msg and "--fresh" in msg
    assert fits.dims == [2]
    run_bench(SPECS[:1], ["mock/knn"], [4, 16], out_dir=tmp_path, fresh=True)
    run_bench(SPECS[:1], ["mock/knn"], [4, 16], out_dir=tmp_path)
    assert fits.dims == [2, 2]                         # fresh: computed again, then resumed


def test_cli_bench_resumes_after_ctrl_c_and_fresh_starts_over(tmp_path, capsys, fits):
    out = tmp_path / "out"
    argv = ["bench", "--task", "mock/knn", "--methods", ";".join(SPECS), "--budgets", "4,8", "--out", str(out)]
    fits.ctl.stop_at = 3
    assert main(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: interrupted; finished methods are kept in") and "rerun the same command" in err[-1]
    assert sorted(p.name for p in out.iterdir()) == ["cells", "emblab-output.json"]
    fits.ctl.stop_at = 0
    fits.dims.clear()
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert fits.dims == [8] and "resuming from" in captured.err and "fitting pca:dim=8" in captured.err
    assert "fitting pca:dim=2" not in captured.err and "pca:dim=2" in captured.out   # resumed, still shown
    doc = json.loads((out / "bench.json").read_text())
    assert [r["method"] for r in doc["records"]] == ["float32"] + [f"pca:dim={d},store=f16,whiten=false"
                                                                   for d in (2, 4, 8)]
    fits.dims.clear()
    assert main(argv + ["--fresh", "-q"]) == 0
    assert fits.dims == [2, 4, 8]
    fits.dims.clear()
    assert main(argv + ["--overwrite", "-q"]) == 0   # a new folder swapped in: everything computed again
    assert fits.dims == [2, 4, 8]
    assert sorted(p.name for p in out.iterdir()) == ["bench.json", "bench.md", "cells", "config.json",
                                                     "emblab-output.json"]
    # another configuration in the same folder: one error line, exit 2, nothing changed
    before = (out / "cells" / "cells.jsonl").read_bytes()
    capsys.readouterr()
    assert main(argv[:-4] + ["--budgets", "4,16", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--fresh" in err[0]
    assert (out / "cells" / "cells.jsonl").read_bytes() == before


def test_eval_is_a_config_over_the_runner(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["eval", "pca:dim=4,store=f32", "int8", "--task", "mock/knn", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [r["method"] for r in doc["records"]] == ["pca:dim=4,store=f32,whiten=false", "int8:calib=minmax"]
    assert all("ratio_to_uncompressed" not in r for r in doc["records"])   # no reference rows
    text = capsys.readouterr().out
    assert text.count("recall@10_asym *") == 2 and text.count("(16 bytes/vector)") == 2   # one table each
    assert main(["eval", "pca:dim=64", "--task", "mock/knn"]) == 2          # a fit error: one line, exit 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


def test_demo_rerun_resumes(tmp_path, capsys, fits):
    from emblab.cli.commands.demo import run_demo
    from emblab.evaluation.tasks.mocks import planted

    X = planted(300, d=16, seed=3)
    first = run_demo(str(tmp_path / "demo"), vectors=X, budgets=[8], methods=["pca:dim=2", "pca:dim=4"], quiet=True)
    assert fits.dims == [2, 4]
    again = run_demo(str(tmp_path / "demo"), vectors=X, budgets=[8], methods=["pca:dim=2", "pca:dim=4"], quiet=True)
    assert fits.dims == [2, 4] and again.records == first.records
    run_demo(str(tmp_path / "demo"), vectors=X, budgets=[8], methods=["pca:dim=2", "pca:dim=4"], quiet=True,
             fresh=True)
    assert fits.dims == [2, 4, 2, 4]
    with pytest.raises(DataError, match="another benchmark configuration"):   # other vectors: other data
        run_demo(str(tmp_path / "demo"), vectors=X[:250], budgets=[8], methods=["pca:dim=2"], quiet=True)
