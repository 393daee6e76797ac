"""The MCR² study (emblab.bench.mcr2_study) on tiny synthetic data: cells, resume, scores, tables."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from emblab.bench import mcr2_study as study
from emblab.evaluation.tasks import BeirTask
from emblab.experiment import CellStore, results_document

pytest.importorskip("torch")
pytest.importorskip("faiss")

HEAD = "objective=mcr2,head=linear,init=pca,lr=0.0001,epochs=2,n_clusters=2,batch_size=64"


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(6, 16))
    X = (rng.normal(size=(400, 6)) @ basis + 0.1 * rng.normal(size=(400, 16))).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)

    def split(a, b):  # second sentences: noisy copies, gold = how little noise was added
        u = X[a:b]
        noise = rng.uniform(0, 1, size=b - a)
        v = (u + noise[:, None] * rng.normal(size=u.shape)).astype(np.float32)
        return u, v, 5.0 - 5.0 * noise

    pairs = {"stsb_dev": split(200, 240), "sick_dev": split(240, 280), "stsb_test": split(280, 320),
             "sick_test": split(320, 360)}
    # retrieval: each query is a document itself, so the uncompressed nDCG@10 is 1
    docs = X[360:400]
    sci = BeirTask.from_arrays("beir_tiny", docs, docs[:5], [f"d{i}" for i in range(40)],
                               [f"q{i}" for i in range(5)], {f"q{i}": {f"d{i}": 1} for i in range(5)}).load()
    para = np.array([[i, i + 1] for i in range(0, 40, 2)], np.int64)
    return study.StudyData(pairs, X[:200], para, sci, {"fit_set": {"total": 200}})


def test_study_runs_as_cells_and_resumes(tmp_path, data):
    variants = {"head": HEAD, "pairs head": (HEAD.replace("objective=mcr2,", "objective=mcr2,memberships=pairs,"),
                                             (4,), False)}
    store = CellStore(tmp_path, "mcr2-test")
    seen = []
    rows = study.run_study(store, data, "final", (4,), variants, on_record=lambda r, res: seen.append(res))
    # float32, float16, pca f16/int8, trunc f16/int8, then two heads with an f16 and an int8 row each
    assert [r["store"] for r in rows] == ["f32", "f16", "f16", "int8", "f16", "int8"] + ["f16", "int8"] * 2
    assert seen == [False] * 8
    f32 = rows[0]
    u, v, gold = data.pairs["stsb_test"]
    cos = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    assert f32["stsb_spearman"] == pytest.approx(spearmanr(cos, gold)[0], abs=1e-9)
    assert f32["scifact_ndcg10"] == pytest.approx(1.0)
    heads = rows[6:]
    assert heads[0]["variant"] == "head" and heads[0]["dev_selection"] is True and heads[0]["stsb_dev"] is not None
    assert heads[2]["variant"] == "pairs head" and heads[2]["dev_selection"] is False
    assert "store=int8" in heads[1]["method"] and heads[1]["bytes_per_vector"] == 4.0
    # a second run reads every cell back without fitting anything
    seen.clear()
    again = study.run_study(CellStore(tmp_path, "mcr2-test"), data, "final", (4,), variants,
                            on_record=lambda r, res: seen.append(res))
    assert seen == [True] * 8 and again == rows


def test_select_phase_scores_dev_only(tmp_path, data):
    rows = study.run_study(CellStore(tmp_path, "sel"), data, "select", (4,), {})
    u, v, gold = data.pairs["sick_dev"]
    cos = (u * v).sum(1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    assert rows[0]["sickr_spearman"] == pytest.approx(spearmanr(cos, gold)[0], abs=1e-9)
    assert all(r["scifact_ndcg10"] is None for r in rows)


def test_code_space_of_pca_is_the_centred_projection(data):
    import emblab

    m = emblab.build("pca:dim=4,store=f32").fit(data.fit)
    Z = study.code_space(m, data.fit[:10])
    want = (data.fit[:10].astype(np.float64) - m.mean_) @ m.components_.T.astype(np.float64)
    np.testing.assert_allclose(Z, want, atol=1e-5)
    t = emblab.build("trunc:dim=4,store=f32").fit(data.fit)
    T = study.code_space(t, data.fit[:3])[:, :4]  # the kept coordinates, up to scale (cosines are equal)
    unit = lambda A: A / np.linalg.norm(A, axis=1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(unit(T), unit(data.fit[:3, :4]), atol=1e-6)


def test_render_tables_and_failed_cells():
    rec = study.record("float32", 384, "f32", 1536, {"stsb_test": 0.8, "sick_test": 0.7, "scifact_ndcg10": 0.6},
                       ("stsb_test", "sick_test"), 0.0)
    pca = study.record("pca:dim=64,store=f16", 64, "f16", 128, {"stsb_test": 0.78, "sick_test": 0.7,
                       "scifact_ndcg10": 0.5}, ("stsb_test", "sick_test"), 1.5)
    head = {**pca, "method": "mcr2:dim=64,store=f16", "variant": "mcr2", "stsb_spearman": 0.79,
            "best_epoch": 2, "epochs_run": 5}
    bad = {"method": "mcr2:dim=64", "variant": "x", "error": "too few rows"}
    doc = results_document("compression", [rec, pca, head, bad], command="cmd",
                           dataset={"phase": "final", "fit_set": {"total": 3}}, total_seconds=12.0)
    md = study.render(doc, "**Notes.** here")
    assert "| `float32` | 384 | f32 | 1536 | 0.8000 | 0.7000 | 0.6000 | 1.000 | 1.000 | 0.0 | –/– |" in md
    assert "| `mcr2:dim=64,store=f16` | 64 | f16 | 128 | 0.7900 | 0.7000 | 0.5000 | 0.988 | 1.000 | 1.5 | 3/5 |" in md
    assert "| mcr2 | 64 | +0.0100 | +0.0000 | +0.0000 |" in md
    assert "- `mcr2:dim=64` (x): too few rows" in md and "**Notes.** here" in md
    assert md.rstrip().endswith("- total time: 12 s")
