"""The QWEM experiment as cells (emblab.words.experiment): every stage runs on a tiny synthetic corpus,
a second run computes nothing, and the markdown/figures are rendered from the JSON alone."""

import json

import numpy as np
import pytest

from emblab.cli.main import main
from emblab.experiment import CellStore, read_results
from emblab.words.dynamics import gd_vs_theory
from emblab.words.experiment import FINGERPRINT, NOTES, QwemConfig, run_qwem
from emblab.words.experiment_report import render_qwem, upgrade_document, write_qwem

PAIRS = [("man", "woman"), ("king", "queen"), ("boy", "girl"), ("father", "mother"), ("son", "daughter"),
         ("he", "she"), ("brother", "sister"), ("uncle", "aunt")]
FILLERS = ["the", "a", "of", "and", "to", "in", "red", "blue", "tree", "house", "car", "dog", "cat", "sun"]


def corpus(path, seed):
    """Documents of gendered sentences: 'male' words share contexts with each other, 'female' words too,
    so M* has a gender direction and the family analogies are partly solvable."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(150):
        g = int(rng.integers(2))
        words = [p[g] for p in PAIRS]
        docs.append(" ".join(rng.choice(words + FILLERS, 30, p=None)))
    path.write_text("\n".join(docs) + "\n")
    return path


def tiny_config(tmp_path, **kw):
    a, b = corpus(tmp_path / "a.txt", 0), corpus(tmp_path / "b.txt", 1)
    base = dict(V=28, V_small=24, window=4, d=4, d_max=8, dyn_d=4, aligned_d=2, init_scale=1e-3, random_init_scale=1e-3,
                n_snapshots=4, sgns_epochs=1, second_sgns_epochs=1, sgd_max_steps=4, sgd_batch=200, sgd_d=3, min_count=1)
    return QwemConfig(corpus="a", second_corpus="b", paths={"a": str(a), "b": str(b)}, **{**base, **kw})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qwem")
    mp = pytest.MonkeyPatch()
    mp.setenv("EMBLAB_CACHE", str(tmp / "cache"))  # token-stream cache
    cfg = tiny_config(tmp)
    seen = []
    records, extra = run_qwem(cfg, CellStore(tmp / "store", FINGERPRINT),
                              on_record=lambda rec, resumed: seen.append((rec, resumed)))
    yield tmp, cfg, records, extra, seen
    mp.undo()


def test_every_stage_runs_as_cells(run):
    tmp, cfg, records, extra, seen = run
    assert seen and not any(resumed for _, resumed in seen)
    assert not any("error" in rec for rec, _ in seen)
    stages = {rec["cell"]["stage"] for rec, _ in seen}
    assert stages == {"accuracy_vs_dim", "snr", "dynamics", "peer", "sgd"}
    # trained GD row, 4 peers at V_small (closed form reuses the crit eigenpairs), 5 on b, 5 at V
    assert [(r["corpus"], r["V"]) for r in records] == [("a", 24)] * 5 + [("b", 24)] * 5 + [("a", 28)] * 5
    assert records[1]["method"] == "qwem_closed_form" and records[1]["eig"] == "reused dense evr top-8"
    assert any(r["method"].startswith("qwem_full_batch_GD") and r["corpus"] == "b" for r in records)
    for r in records:
        assert 0.0 <= r["analogy_all_pairs"] <= 1.0 and r["analogy_all_pairs_n"] > 0
    crit = extra["critical_size"]
    assert crit["accuracy_vs_dim"]["dims"][0] == 2 and len(crit["lam_top"]) == cfg.d_max
    assert crit["critical"]["family"]["status"] == "ok"
    dyn = extra["dynamics"]
    assert dyn["aligned"]["d"] == 2 and dyn["random"]["d"] == 4
    # aligned start follows the discrete-map logistic curve closely
    assert dyn["aligned"]["n_modes_rose"] == 2 and dyn["aligned"]["median_rel_err_discrete"] < 0.05
    assert len(dyn["random"]["accuracy_vs_step"]["steps"]) >= 4 and "theta=0.05" in dyn["random"]["onset_agreement"]
    assert set(extra["sgd"]) == {"qwem", "sgns"} and extra["sgd"]["qwem"]["n_steps"] >= 1
    # the eigen cells keep their arrays beside the records
    assert len(list((tmp / "store" / "models").glob("*/U.npy"))) == 3


def test_second_run_computes_nothing(run):
    tmp, cfg, records, extra, _ = run
    lines = (tmp / "store" / "cells.jsonl").read_text().count("\n")
    seen = []
    records2, extra2 = run_qwem(cfg, CellStore(tmp / "store", FINGERPRINT),
                                on_record=lambda rec, resumed: seen.append(resumed))
    assert seen and all(seen)
    assert (tmp / "store" / "cells.jsonl").read_text().count("\n") == lines
    assert json.dumps(records2, sort_keys=True) == json.dumps(records, sort_keys=True)
    assert extra2["dynamics"]["random"]["onset_agreement"] == extra["dynamics"]["random"]["onset_agreement"]
    # a stage run alone finds its inputs' cells (SGD reads the random-start GD cell) and resumes too
    seen.clear()
    _, alone = run_qwem(tiny_config(tmp, stages=("sgd",)), CellStore(tmp / "store", FINGERPRINT),
                        on_record=lambda rec, resumed: seen.append(resumed))
    assert seen and all(seen) and alone["sgd"] == extra["sgd"]
    # a changed setting is a new cell: only the cells that depend on it run
    seen.clear()
    run_qwem(tiny_config(tmp, stages=("crit",), n_snapshots=2), CellStore(tmp / "store", FINGERPRINT),
             on_record=lambda rec, resumed: seen.append((rec["cell"]["stage"], resumed)))
    assert [s for s, resumed in seen if not resumed] == ["dynamics"]


def test_results_render_from_json_alone(run, tmp_path):
    _, _, records, extra, _ = run
    doc = write_qwem(tmp_path, records, extra, command="python benchmarks/qwem.py")
    md = (tmp_path / "qwem.md").read_text()
    assert read_results(tmp_path / "qwem.json").kind == "qwem"
    assert set(doc["plots"]) == {f"qwem_{n}.png" for n in ("dynamics", "onsets", "acc_vs_d", "acc_vs_step", "snr", "sgd")}
    assert all((tmp_path / f).stat().st_size > 1000 for f in doc["plots"])
    r = records[0]
    assert f"| a | 24 | {r['method']} | {100 * r['analogy_all_pairs']:.1f} ({r['analogy_all_pairs_n']}) |" in md
    assert "## Environment" in md and "--render" in md
    (tmp_path / "qwem.md").write_text("stale")
    for f in doc["plots"]:
        (tmp_path / f).unlink()
    render_qwem(tmp_path)
    assert (tmp_path / "qwem.md").read_text() == md
    assert all((tmp_path / f).exists() for f in doc["plots"])


def test_old_documents_are_upgraded_for_rendering():
    old = {"notes": ["keep me", "The run is resumable: stages are cached under $EMBLAB_CACHE/qwem_bench and the final "
                                "files can be rebuilt with --report-only; timings ..."]}
    assert upgrade_document(old)["notes"] == ["keep me", NOTES[-1]]


def test_gd_vs_theory_on_planted_target():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    lam = np.array([4.0, 2.0, 1.0])
    M = (Q * np.concatenate([lam, -0.3 * np.ones(27)])) @ Q.T
    snaps = []
    rec, W = gd_vs_theory(M, lam, Q[:, :3], 3, init="aligned", init_scale=1e-4, lr=0.02, n_snapshots=5,
                          on_snapshot=lambda n, W_: snaps.append(n))
    assert rec["n_modes_rose"] == 3 and rec["frac_in_order"] == 1.0
    np.testing.assert_allclose(rec["measured_half_rise"], rec["predicted_half_rise_discrete"], rtol=0.02)
    assert rec["final_rel_err_vs_Md"] < 1e-3 and W.shape == (30, 3) and len(snaps) == 5
    # discrete horizon: 1.5x the discrete-map onset of mode d
    rec2, _ = gd_vs_theory(M, lam, Q[:, :3], 3, init="aligned", init_scale=1e-4, lr=0.02, onset="discrete")
    assert rec2["n_steps"] == int(np.ceil(1.5 * np.log((1.0 - 1e-8) / 1e-8) / (2 * np.log1p(0.02))))
    from emblab._errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="cannot rise"):
        gd_vs_theory(M, np.array([4.0, 2.0, -0.3]), Q[:, :3], 3, init="aligned", lr=0.02)


def test_cli_experiment_runs_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBLAB_CACHE", str(tmp_path / "cache"))
    a = corpus(tmp_path / "a.txt", 0)
    args = ["words", "experiment", "--out", str(tmp_path / "res"), "--stages", "crit,peers5k", "--corpus", str(a),
            "--vocab-small", "24", "--dim", "4", "--d-max", "8", "--dyn-d", "4", "--aligned-d", "2",
            "--sgns-epochs", "0", "--min-count", "1", "--store", str(tmp_path / "store")]
    assert main(args) == 0
    doc = read_results(tmp_path / "res" / "qwem.json")
    assert [r["method"] for r in doc][1:] == ["qwem_closed_form", "svd_ppmi", "svd_pmi"]
    lines = (tmp_path / "store" / "cells.jsonl").read_text()
    assert main(args) == 0
    assert (tmp_path / "store" / "cells.jsonl").read_text() == lines
    assert main(["words", "experiment", "--out", str(tmp_path / "res"), "--render"]) == 0
    assert main(["words", "experiment", "--out", str(tmp_path / "res"), "--stages", "nope"]) == 2
