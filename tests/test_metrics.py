"""Known-answer tests of emblab.evaluation.metrics (hand-computed cases)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emblab import DataError
from emblab.evaluation import metrics as M


def test_knn_recall_set_intersection():
    I = np.array([[0, 1, 9], [5, 6, 7]])
    I_true = np.array([[0, 1, 2], [7, 6, 5]])
    assert M.knn_recall(I, I_true, k=3) == pytest.approx((2 / 3 + 1) / 2)


def test_knn_recall_tie_tolerant_counts_tied_items():
    # true top-2 of the query are items 0 and 1 (scores 1.0, 0.5); item 2 ties item 1 exactly
    xb = np.array([[1.0, 0.0], [0.5, 0.8660254], [0.5, -0.8660254], [0.0, 1.0]], np.float32)
    xq = np.array([[1.0, 0.0]], np.float32)
    I_true = np.array([[0, 1]])
    D_true = np.array([[1.0, 0.5]])
    I = np.array([[0, 2]])  # swapped a tied item in
    rs = M.exact_scores(xq, xb, I)
    assert M.knn_recall(I, I_true, 2) == 0.5                       # strict
    assert M.knn_recall(I, I_true, 2, retrieved_scores=rs, true_scores=D_true) == 1.0
    I_bad = np.array([[0, 3]])                                      # score 0 < 0.5 - 1e-6
    rs_bad = M.exact_scores(xq, xb, I_bad)
    assert M.knn_recall(I_bad, I_true, 2, retrieved_scores=rs_bad, true_scores=D_true) == 0.5


def test_knn_recall_tolerance_boundary():
    I_true = np.array([[0, 1]])
    D_true = np.array([[1.0, 0.5]])
    I = np.array([[0, 7]])
    just_in = np.array([[1.0, 0.5 - 0.9e-6]])
    just_out = np.array([[1.0, 0.5 - 1.1e-6]])
    assert M.knn_recall(I, I_true, 2, retrieved_scores=just_in, true_scores=D_true) == 1.0
    assert M.knn_recall(I, I_true, 2, retrieved_scores=just_out, true_scores=D_true) == 0.5


def test_r_at_k_of_true():
    I_true = np.array([[0, 1, 2, 3]])
    I100 = np.array([[9, 8, 3, 0, 7, 2]])
    assert M.r_at_k_of_true(I100, I_true, k_true=4) == 0.75
    # tie-tolerant variant is capped at k_true
    rs = np.ones((1, 6))
    assert M.r_at_k_of_true(I100, I_true, 4, retrieved_scores=rs, true_scores=np.ones((1, 4))) == 1.0


def test_knn_recall_shape_errors():
    with pytest.raises(DataError):
        M.knn_recall(np.zeros((2, 3), int), np.zeros((3, 3), int), 3)
    with pytest.raises(DataError):
        M.knn_recall(np.zeros((2, 3), int), np.zeros((2, 2), int), 3)
    with pytest.raises(DataError):
        M.knn_recall(np.zeros(3, int), np.zeros((1, 3), int), 3)


def test_ndcg_hand_computed():
    # relevant at ranks 1 and 3, two relevant docs: DCG = 1 + 1/2, IDCG = 1 + 1/log2(3)
    got = M.ndcg_at_k(["a", "x", "b"], {"a": 1, "b": 1}, k=10)
    assert got == pytest.approx((1 + 0.5) / (1 + 1 / math.log2(3)))
    assert M.ndcg_at_k(["x", "a"], {"a": 1}, k=1) == 0.0
    assert M.ndcg_at_k(["a"], {}, k=10) == 0.0
    # graded relevance uses linear gains like pytrec_eval's ndcg_cut
    got = M.ndcg_at_k(["b", "a"], {"a": 2, "b": 1}, k=10)
    assert got == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_ndcg_ignores_zero_and_negative_judgements():
    assert M.ndcg_at_k(["z", "a"], {"z": 0, "a": 1}, 10) == pytest.approx(1 / math.log2(3))


def test_recall_and_mean_scores():
    assert M.recall_at_k(["a", "b", "c"], {"c": 1, "z": 1}, k=3) == 0.5
    assert M.recall_at_k(["a", "b", "c"], {"c": 1, "z": 1}, k=2) == 0.0
    run = {"q1": ["d0", "d2", "d1"], "q2": ["d1", "d2", "d0"]}
    qrels = {"q1": {"d2": 1}, "q2": {"d1": 1}, "q3": {"d9": 0}}   # q3 has no relevant doc: skipped
    s = M.mean_retrieval_scores(run, qrels, ndcg_ks=(10,), recall_ks=(1, 10))
    assert s["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    assert s["recall@1"] == 0.5 and s["recall@10"] == 1.0
    with pytest.raises(DataError):
        M.mean_retrieval_scores(run, {"q": {"d": 0}})


def test_ndcg_exp_gain_and_mrr_hand_computed():
    # graded: a (rel 1) at rank 1, b (rel 2) at rank 2; linear gains 1 + 2/log2(3), exp gains 1 + 3/log2(3)
    qrels = {"a": 1, "b": 2}
    lin = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    exp = (1 + 3 / math.log2(3)) / (3 + 1 / math.log2(3))
    assert M.ndcg_at_k(["a", "b"], qrels, 10) == pytest.approx(lin)
    assert M.ndcg_at_k(["a", "b"], qrels, 10, gain="exp") == pytest.approx(exp)
    assert M.ndcg_at_k(["b", "a"], {"a": 1, "b": 1}, 10, gain="exp") == M.ndcg_at_k(["b", "a"], {"a": 1, "b": 1}, 10)
    with pytest.raises(DataError, match="gain"):
        M.ndcg_at_k(["a"], qrels, 10, gain="log")
    assert M.mrr_at_k(["x", "y", "b"], qrels, 10) == pytest.approx(1 / 3)
    assert M.mrr_at_k(["x", "y", "b"], qrels, 2) == 0.0
    assert M.mrr_at_k(["x", "a"], {"a": 0, "x": -1}, 10) == 0.0            # no relevant document
    s = M.mean_retrieval_scores({"q1": ["a", "b"], "q2": ["z"]}, {"q1": qrels, "q2": {"z": 1}},
                                recall_ks=(10,), mrr_ks=(10,), gain="exp")
    assert s == pytest.approx({"ndcg@10": (exp + 1) / 2, "recall@10": 1.0, "mrr@10": 1.0})


def test_spearman_known_values():
    assert M.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert M.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # one swapped pair in 4: rho = 1 - 6*2/(4*15) = 0.8
    assert M.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    with pytest.raises(DataError):
        M.spearman([1, 2], [1, 2, 3])
    with pytest.raises(DataError):
        M.spearman([1, np.nan], [1, 2])


def test_single_item_recsys_metrics():
    ranks = np.array([1, 3, 11, 10])
    assert M.hit_rate_at_k(ranks, 10) == 0.75
    assert M.ndcg_single_at_k(ranks, 10) == pytest.approx((1 + 0.5 + 0 + 1 / math.log2(11)) / 4)
    with pytest.raises(DataError):
        M.hit_rate_at_k(np.array([0, 1]), 10)
