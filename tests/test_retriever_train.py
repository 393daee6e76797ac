"""Training loop: every method runs, pass counts are exact, resume continues identically."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emblab.retrieval.experiments import build_experiment  # noqa: E402
from emblab.retrieval.negatives import exclusion_mask, select_negatives  # noqa: E402
from emblab.retrieval.train import METHODS, RetrieverConfig, train_retriever  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _tiny(method, **kw):
    task, cfg = build_experiment("synthetic", "tiny", method=method, device="cpu", **kw)
    return task, cfg


def _expected_refresh(method, N, T, R):
    return {"inbatch": 0, "stale": N, "corrector": N, "refresh": N * (1 + (T - 1) // R), "oracle": N * T}[method]


@pytest.mark.parametrize("method", METHODS)
def test_tiny_run_every_method_and_exact_pass_counts(method):
    task, cfg = _tiny(method)
    rec = train_retriever(task, cfg, progress=False)
    N, T, R = task.n_targets, cfg.steps, cfg.refresh_every
    assert rec["counts"]["refresh"] == _expected_refresh(method, N, T, R)
    # Loss encodes: every step re-encodes the unique positives (+ negatives once selected).
    assert rec["counts"]["loss"] >= (cfg.pre_steps + T) * 1
    if method == "inbatch":
        # Positives only; the tiny task has one query per target, so a batch has B unique targets.
        assert rec["counts"]["loss"] == (cfg.pre_steps + T) * cfg.batch_size
    fin = rec["final"]["test"]
    assert 0.0 <= fin["recall@10"] <= 1.0 and 0.0 <= fin["ndcg@10"] <= 1.0
    assert rec["curve"][0]["step"] == 0 and rec["curve"][-1]["step"] == T
    if method != "inbatch":
        assert abs(rec["curve"][0]["cos_cache_fresh"] - 1.0) < 1e-5   # the cache is g0 at step 0
    if method == "corrector":
        assert "cos_h_fresh" in rec["curve"][-1] and rec["counts"]["h_flops"] > 0


def test_oracle_cache_is_always_fresh():
    task, cfg = _tiny("oracle")
    rec = train_retriever(task, cfg, progress=False)
    # Logged after the step's update: the cache is one step old at most.
    assert all(p["cache_staleness_steps"] <= 1 for p in rec["curve"])


@pytest.mark.parametrize("method", ["corrector", "refresh"])
def test_resume_continues_identically(tmp_path, method):
    task, cfg = _tiny(method)
    full = train_retriever(task, cfg, progress=False)
    part_dir = tmp_path / "run"
    train_retriever(task, cfg, out_dir=part_dir, progress=False, stop_at=cfg.pre_steps + 8)
    meta = json.loads((part_dir / "checkpoint" / "state.json").read_text())
    assert meta["step"] == cfg.pre_steps + 8
    resumed = train_retriever(task, cfg, out_dir=part_dir, progress=False)
    assert resumed["counts"] == full["counts"]
    assert resumed["final"] == full["final"]
    assert [p["val/recall@10"] for p in resumed["curve"]] == [p["val/recall@10"] for p in full["curve"]]


def test_same_seed_same_result_and_config_mismatch(tmp_path):
    task, cfg = _tiny("stale")
    a = train_retriever(task, cfg, progress=False)
    b = train_retriever(task, cfg, progress=False)
    assert a["final"] == b["final"] and a["curve"][-1]["cos_cache_fresh"] == b["curve"][-1]["cos_cache_fresh"]
    train_retriever(task, cfg, out_dir=tmp_path, progress=False, stop_at=3)
    from emblab import EmblabError

    task2, cfg2 = _tiny("stale", k=2)
    with pytest.raises(EmblabError, match="different config"):
        train_retriever(task2, cfg2, out_dir=tmp_path, progress=False)


def test_negatives_exclude_positives_and_gumbel():
    logits = torch.arange(10, dtype=torch.float32).repeat(2, 1)
    excl = exclusion_mask([np.array([9, 8]), np.array([0])], 10)
    idx = select_negatives(logits, excl, 3)
    assert idx[0].tolist() == [7, 6, 5] and idx[1].tolist() == [9, 8, 7]
    gen = torch.Generator().manual_seed(0)
    g = select_negatives(logits, excl, 3, gumbel=True, generator=gen)
    assert not set(g[0].tolist()) & {8, 9} and len(set(g[0].tolist())) == 3


def test_bad_method_is_one_line_error():
    from emblab import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="method"):
        RetrieverConfig(method="fresh").validate()


def test_options_kl_gumbel_corrected_normalizer_shortlist():
    task, cfg = _tiny("corrector", lambda_kl=0.5, gumbel=True, corrected_normalizer=True, k_norm=8, shortlist=20,
                      h="linear")
    rec = train_retriever(task, cfg, progress=False)
    assert rec["counts"]["refresh"] == task.n_targets and rec["counts"]["h_scored_rows"] > 0
    assert np.isfinite(rec["curve"][-1]["train_loss"])
