"""Recommendation task over interaction folders (issue 18): splits, CF factors, codings, baselines,
malformed folders, the CLI, Pareto summaries and the report section."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emblab._errors import DataError, InvalidParameterError
from emblab.data.interactions import read_interactions
from emblab.evaluation.tasks import get_task
from emblab.evaluation.tasks import recsys as rs
from emblab.evaluation.tasks.mocks import planted_interactions

FIXED_ALS = "als:factors=8,regularization=0.1,alpha=1.0,weighting=none"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EMBLAB_CACHE", str(tmp_path_factory.mktemp("cache")))


def write_folder(folder, inter, *, sep="\t", header=None, weights=False):
    """Write an Interactions table as the folder layout users give."""
    folder.mkdir(parents=True, exist_ok=True)
    cols = header or ["user", "item"] + (["timestamp"] if inter.timestamps is not None else []) + (
        ["weight"] if weights else [])
    lines = [sep.join(cols)]
    for k in range(len(inter.users)):
        row = [inter.user_ids[inter.users[k]], inter.item_ids[inter.items[k]]]
        if inter.timestamps is not None:
            row.append(f"{inter.timestamps[k]:g}")
        if weights:
            row.append("1.5")
        lines.append(sep.join(row))
    (folder / ("interactions.tsv" if sep == "\t" else "interactions.csv")).write_text("\n".join(lines) + "\n")
    return folder


# --- splits and ranking ----------------------------------------------------------------------------

def test_holdout_split_by_time_and_random():
    users = np.array([0, 0, 0, 1, 1, 2])
    items = np.array([5, 3, 4, 1, 2, 0])
    ts = np.array([3.0, 1.0, 3.0, 2.0, 1.0, 9.0])
    s = rs.holdout_split(users, items, 3, 6, 1, timestamps=ts)
    # user 0: (t, item) order 3@1, 4@3, 5@3 -> 5 held out; user 1: 2@1, 1@2 -> 1; user 2 has one item
    assert s.users.tolist() == [0, 1]
    assert [h.tolist() for h in s.heldout] == [[5], [1]]
    assert [h.tolist() for h in s.histories] == [[3, 4], [2]]
    assert s.train_mask.tolist() == [False, True, True, False, True, True]
    r1 = rs.holdout_split(users, items, 3, 6, 1, seed=1)
    r1b = rs.holdout_split(users, items, 3, 6, 1, seed=1)
    assert [h.tolist() for h in r1.heldout] == [h.tolist() for h in r1b.heldout]
    draws = {tuple(rs.holdout_split(users, items, 3, 6, 1, seed=k).heldout[0]) for k in range(12)}
    assert draws == {(3,), (4,), (5,)}  # every item of user 0 can be the random held-out one
    with pytest.raises(DataError, match="at least 6"):
        rs.holdout_split(users, items, 3, 6, 5, timestamps=ts)


def test_rank_topn_excludes_history_and_pads():
    split = rs.RecsysSplit([np.array([0, 2]), np.array([1])], [np.array([1]), np.array([0])], 4, 1)
    scores = np.array([[9, 8, 7, 7], [1, 5, 1, 1]], np.float32)
    top = rs.rank_topn(lambda s, e: scores[s:e], split.histories, 4, n=3)
    assert top.tolist() == [[1, 3, -1], [0, 2, 3]]  # ties by item index; row 0 has only two left


# --- the task on planted interactions -------------------------------------------------------------

def test_planted_known_best_item_per_user():
    pytest.importorskip("implicit")
    task = get_task("mock/recsys").load()
    exact = task.evaluate(None)
    assert exact.method == "float32" and exact.bytes_per_vector == 4 * 8
    assert exact.scores["hr@10"] == 1.0           # the one unseen block item is in every top 10
    assert exact.scores["ndcg@10"] > 0.9          # ... and almost always first
    assert exact.scores["recall@10_last5"] > 0.8
    ref = {r.method: r for r in task.reference_results()}
    assert set(ref) == {"popularity", "random"} and ref["popularity"].bytes_per_vector == 0
    assert ref["popularity"].scores["hr@10"] < 0.2 and ref["random"].scores["hr@10"] < 0.5
    rows = task.evaluate_all("int8")              # near-lossless at 8-d: keeps the known answer
    assert [r.extra["variant"] for r in rows] == ["dir+norm16", "raw"]
    assert [r.bytes_per_vector for r in rows] == [8 + 2, 8]
    assert all(r.scores["hr@10"] == 1.0 for r in rows)
    assert rows[0].extra["norm_bytes"] == 2 and rows[1].extra["norm_bytes"] == 0


def test_norm_coding_keeps_inner_product_ranking():
    """Direction + norm scores u.v exactly when the direction is coded losslessly."""
    pytest.importorskip("implicit")
    task = get_task("mock/recsys", codings=("norm",)).load()
    s = task.splits[1]
    V = s.V * np.linspace(0.5, 2.0, len(s.V), dtype=np.float32)[:, None]  # norms that matter
    s.V[:] = V
    exact = task.evaluate(None).scores
    assert task.evaluate("float16").scores["hr@10"] == pytest.approx(exact["hr@10"], abs=0.03)


def test_factors_deterministic_cached_and_blind_to_test_items(monkeypatch, tmp_path):
    pytest.importorskip("implicit")
    from emblab.evaluation.tasks.mocks import mock_recsys

    a = mock_recsys(cf="als:factors=8").load()
    b = mock_recsys(cf="als:factors=8").load()
    la, lb = a.dataset_info["splits"]["last1"], b.dataset_info["splits"]["last1"]
    assert not la["cf_cached"] and lb["cf_cached"]
    assert len(la["cf_validation"]) == 16 and la["cf"] == lb["cf"]
    np.testing.assert_array_equal(a.splits[1].V, b.splits[1].V)
    monkeypatch.setenv("EMBLAB_CACHE", str(tmp_path / "fresh"))
    c = mock_recsys(cf="als:factors=8").load()    # refitted from scratch: bit-identical
    np.testing.assert_array_equal(a.splits[1].V, c.splits[1].V)
    # change every user's held-out (last) item: training and validation data are unchanged, so the
    # chosen hyper-parameters and the factors must be too
    inter = planted_interactions()
    last = np.array([np.flatnonzero(inter.users == u)[np.argmax(inter.timestamps[inter.users == u])]
                     for u in range(inter.n_users)])
    inter.items[last] = (inter.items[last] + 30) % inter.n_items
    from emblab.evaluation.tasks.recsys_task import RecsysTask, recsys_metadata

    d = RecsysTask(recsys_metadata("x", "", ""), lambda: (inter, None, {}), cf="als:factors=8", cache=False).load()
    assert d.dataset_info["splits"]["last1"]["cf"] == la["cf"]
    np.testing.assert_array_equal(a.splits[1].V, d.splits[1].V)


def test_cf_spec_errors():
    from emblab.recsys.factors import parse_cf_spec

    assert parse_cf_spec("als:weighting=none")[1]["weighting"] == "none"
    for bad, msg in (("svd", "unknown collaborative"), ("als:rank=3", "not a parameter"),
                     ("als:factors=0", "positive int"), ("bpr:learning_rate=-1", "non-negative")):
        with pytest.raises(InvalidParameterError, match=msg):
            parse_cf_spec(bad)
    with pytest.raises(InvalidParameterError, match="users must be"):
        get_task("mock/recsys", users="median")


def test_random_leave_one_out_without_timestamps():
    pytest.importorskip("implicit")
    from emblab.evaluation.tasks.recsys_task import RecsysTask, recsys_metadata

    inter = planted_interactions(timestamps=False)
    t = RecsysTask(recsys_metadata("r", "", ""), lambda: (inter, None, {}), cf=FIXED_ALS, seed=3).load()
    assert "random leave-one-out" in t.dataset_info["split"]
    # any held-out item is either the stray one or a block item the user has not seen
    assert t.evaluate(None).scores["hr@10"] > 0.8


def test_bpr_factors_include_bias_column():
    pytest.importorskip("implicit")
    t = get_task("mock/recsys", cf="bpr:factors=9,learning_rate=0.05,regularization=0.01,iterations=30").load()
    assert t.fit_data().shape[1] == 9


# --- folders -----------------------------------------------------------------------------------------

def test_read_folder_csv_iso_dates_duplicates_and_order(tmp_path):
    f = tmp_path / "d"
    f.mkdir()
    (f / "interactions.csv").write_text(
        "User,item,timestamp,weight\n10,b,2024-01-02T00:00:00,1\n9,b,2024-01-01,2\n10,a,2024-01-01,1\n"
        "10,b,2024-01-03T00:00:00Z,0.5\n")
    inter = read_interactions(f)
    assert inter.user_ids == ["9", "10"] and inter.item_ids == ["a", "b"]  # numeric ids sort as numbers
    assert len(inter.users) == 3                                           # (10, b) twice -> one pair
    k = [i for i in range(3) if inter.users[i] == 1 and inter.items[i] == 1][0]
    assert inter.weights[k] == pytest.approx(1.5)
    assert inter.timestamps[k] > inter.timestamps[[i for i in range(3) if i != k][0]]
    assert [h.tolist() for h in inter.histories()] == [[1], [0, 1]]


@pytest.mark.parametrize("text,msg", [
    ("user\titem\trating\n1\ta\t5\n", "unknown column 'rating'"),
    ("user\ttimestamp\n1\t5\n", "no 'item' column"),
    ("user\titem\tweight\n1\ta\tabc\n1\tb\t1\n", "weight 'abc' is not a number"),
    ("user\titem\tweight\n1\ta\t-2\n", "positive finite"),
    ("user\titem\ttimestamp\n1\ta\tyesterday\n", "neither a number nor an ISO 8601"),
    ("user\titem\n1\ta\textra\n", "3 fields"),
    ("user\titem\n", "no interactions below the header"),
    ("", "file is empty"),
])
def test_malformed_folders(tmp_path, text, msg):
    f = tmp_path / "d"
    f.mkdir()
    (f / "interactions.tsv").write_text(text)
    with pytest.raises(DataError, match=msg):
        read_interactions(f)


def test_single_interaction_users_and_missing_files(tmp_path):
    f = tmp_path / "single"
    f.mkdir()
    (f / "interactions.tsv").write_text("user\titem\n1\ta\n2\tb\n3\ta\n")
    with pytest.raises(DataError, match="no user has more than 1 interaction"):
        get_task(f"recsys:{f}").load()
    with pytest.raises(DataError, match="no interactions.tsv or interactions.csv"):
        read_interactions(tmp_path)
    (f / "interactions.csv").write_text("user,item\n1,a\n")
    with pytest.raises(DataError, match="both"):
        read_interactions(f)


def test_supplied_item_and_user_vectors(tmp_path):
    inter = planted_interactions()
    f = write_folder(tmp_path / "v", inter)
    block = np.repeat(np.eye(6, dtype=np.float32), 10, axis=0)        # item i -> its block's axis
    np.save(f / "item_vectors.npy", block)
    (f / "items.txt").write_text("\n".join(inter.item_ids) + "\n")
    t = get_task(f"recsys:{f}").load()
    assert t.dataset_info["splits"]["last1"]["users"] == "mean"
    assert t.evaluate(None).scores["hr@10"] == 1.0                     # mean of history = own block
    np.save(f / "user_vectors.npy", np.zeros((3, 5), np.float32))
    (f / "users.txt").write_text("u0\nu1\nu2\n")
    with pytest.raises(DataError, match="same width"):
        get_task(f"recsys:{f}").load()
    np.save(f / "user_vectors.npy", np.zeros((3, 6), np.float32))
    with pytest.raises(DataError, match="no row in users.txt"):
        get_task(f"recsys:{f}").load()
    (f / "items.txt").write_text("\n".join(inter.item_ids[:-1]) + "\n")
    with pytest.raises(DataError, match="59 ids for 60 vectors"):
        get_task(f"recsys:{f}").load()


# --- CLI -----------------------------------------------------------------------------------------------

def test_cli_bench_on_interactions_folder(tmp_path, capsys):
    pytest.importorskip("implicit")
    pytest.importorskip("faiss")
    from emblab.cli.main import main

    f = write_folder(tmp_path / "inter", planted_interactions(), weights=True)
    out = tmp_path / "out"
    assert main(["bench", "--task", f"recsys:{f}", "--budgets", "16,32", "--out", str(out), "-q"]) == 0
    doc = json.loads((out / "bench.json").read_text())
    assert doc["kind"] == "recsys"
    recs = doc["records"]
    pop = [r for r in recs if r["method"] == "popularity"]
    assert len(pop) == 1 and pop[0]["baseline"] == "popularity"
    scored = [r for r in recs if "error" not in r and "skipped" not in r]
    # without --methods the seed compressors are candidates too: each is run or listed with its reason
    assert {r["spec"].split(":")[0] for r in recs if r.get("spec")} >= {"sae", "mcr2", "ae", "pca"}
    assert all(r["skipped"].startswith("cannot fit: ") for r in recs if "skipped" in r)
    assert all("hr@10" in r and "ndcg@10" in r and "recall@10_last5" in r for r in scored)
    assert {r.get("variant") for r in scored if r.get("spec") == "pca:dim=8"} == {"dir+norm16", "raw"}
    assert {r["method"] for r in scored if r.get("spec") == "pca:dim=8"} == {"pca:dim=8,store=f16,whiten=false"}
    # a 60-item catalogue cannot train 256 PQ centroids: listed with the reason, the rest still runs
    assert any(r.get("spec", "").startswith("faiss:PQ") and "256 centroids" in r.get("skipped", "") for r in recs)
    assert "Pareto front" in (out / "bench.md").read_text()


@pytest.mark.parametrize("text", ["user\titem\tgenre\n1\ta\tx\n", "user\titem\n1\ta\n2\tb\n",
                                  "user\titem\tweight\n1\ta\tlots\n1\tb\t2\n"])
def test_cli_malformed_folder_is_one_line_exit_2(tmp_path, capsys, text):
    from emblab.cli.main import main

    f = tmp_path / "inter"
    f.mkdir()
    (f / "interactions.tsv").write_text(text)
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    code = main(["bench", "--task", f"recsys:{f}", "--budgets", "16,32", "--out", str(tmp_path / "out")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and err[0].startswith("error:"), err
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before


# --- runner, summaries, report -----------------------------------------------------------------------

def test_run_bench_resumes_finished_specs(tmp_path, monkeypatch):
    pytest.importorskip("implicit")
    from emblab.bench.runner import run_bench
    from emblab.evaluation.tasks.recsys_task import RecsysTask

    first = run_bench(["pca:dim=2", "int8"], ["mock/recsys"], [8], out_dir=tmp_path, name="r")
    calls = []
    real = RecsysTask.evaluate_all
    monkeypatch.setattr(RecsysTask, "evaluate_all", lambda self, m=None: calls.append(m) or real(self, m))
    second = run_bench(["pca:dim=2", "int8", "pca:dim=3"], ["mock/recsys"], [8], out_dir=tmp_path, name="r")
    # the new spec only (built from its spec before it is evaluated); the uncompressed and
    # reference rows, and both codings of each finished spec, come from the store
    assert len(calls) == 1 and calls[0].to_spec() == "pca:dim=3"
    keep = [(r["method"], r.get("variant"), r.get("hr@10")) for r in first.records]
    assert [(r["method"], r.get("variant"), r.get("hr@10")) for r in second.records][:len(keep)] == keep
    assert second.records[:len(keep)] == first.records   # resumed rows are the stored rows, byte for byte


def test_pareto_equal_bytes_and_claim():
    from emblab.bench.pareto import equal_bytes, pareto_front, sparse_vs_truncation

    recs = [{"method": "popularity", "baseline": "popularity", "bytes_per_vector": 0, "hr@10": 0.05},
            {"method": "sae:h=64,k=2", "variant": "raw", "bytes_per_vector": 8, "hr@10": 0.07},
            {"method": "pca:dim=4", "variant": "raw", "bytes_per_vector": 8, "hr@10": 0.06},
            {"method": "pca:dim=8,store=int8", "variant": "raw", "bytes_per_vector": 8, "hr@10": 0.09},
            {"method": "trunc:dim=8", "variant": "raw", "bytes_per_vector": 16, "hr@10": 0.08},
            {"method": "faiss:PQ16np", "bytes_per_vector": 16, "error": "x"}]
    assert [r["method"] for r in pareto_front(recs, "hr@10")] == ["pca:dim=8,store=int8"]
    pairs = equal_bytes(recs, "hr@10")
    assert [(p["peer"], round(p["delta"], 3)) for p in pairs] == [("pca:dim=8,store=int8 [raw]", -0.02),
                                                                   ("pca:dim=4 [raw]", 0.01)]
    claim = sparse_vs_truncation(recs, "hr@10")  # PCA-int8 is not truncation; trunc is at 16 B
    assert (claim["n"], claim["wins"], claim["losses"]) == (1, 1, 0)


def test_recsys_report_section(tmp_path):
    pytest.importorskip("matplotlib")
    from emblab.experiment.results import read_results, write_results
    from emblab.report.build import build_report
    from emblab.report.sections import recsys_section

    recs = [{"task": "t", "method": "float32", "bytes_per_vector": 32, "hr@10": 1.0},
            {"task": "t", "method": "popularity", "baseline": "popularity", "bytes_per_vector": 0, "hr@10": 0.06},
            {"task": "t", "method": "pca:dim=2", "variant": "raw", "bytes_per_vector": 4, "hr@10": 0.7},
            {"task": "t", "method": "pca:dim=4", "variant": "raw", "bytes_per_vector": 8, "hr@10": 0.9},
            {"task": "t", "method": "sae:h=32,k=2", "variant": "raw", "bytes_per_vector": 8, "hr@10": 0.8}]
    write_results(tmp_path / "recsys.json", "recsys", recs, command="test")
    sec = recsys_section(read_results(tmp_path / "recsys.json"), "recsys")
    fig = sec.figures[0][1]
    assert fig.hlines == {"uncompressed (float32)": 1.0, "popularity": 0.06}
    front = [s for s in fig.series if s.name.startswith("Pareto front")][0]
    assert front.x == [4.0, 8.0, 32.0]
    assert any("SAE against every peer at equal bytes" in t for t in sec.tables)
    html = build_report([tmp_path / "recsys.json"], tmp_path / "rep").read_text()
    assert "Recommendation" in html and "could not be shown" not in html


def test_users_factors_without_user_vectors_is_an_error(tmp_path):
    inter = planted_interactions()
    f = write_folder(tmp_path / "v", inter)
    np.save(f / "item_vectors.npy", np.repeat(np.eye(6, dtype=np.float32), 10, axis=0))
    (f / "items.txt").write_text("\n".join(inter.item_ids) + "\n")
    with pytest.raises(DataError, match="users='factors' needs user vectors"):
        get_task(f"recsys:{f}", users="factors").load()


def test_recsys_uri_is_a_registered_scheme_with_typed_options(tmp_path):
    from emblab import InvalidParameterError
    from emblab.evaluation.tasks import get_task, list_schemes

    assert "recsys" in [s.name for s in list_schemes()]
    f = write_folder(tmp_path / "inter", planted_interactions())
    t = get_task(f"recsys:{f}", codings="raw", seed="3")   # --set values arrive as strings
    assert t.codings == ("raw",) and t.seed == 3
    assert t.name == f"recsys:{f}[codings=raw,seed=3]"
    assert get_task(f"recsys:{f}").name == f"recsys:{f}"
    with pytest.raises(InvalidParameterError, match="not an option of recsys"):
        get_task(f"recsys:{f}", factors=8)
    with pytest.raises(InvalidParameterError, match="codings"):
        get_task(f"recsys:{f}", codings="zip")
