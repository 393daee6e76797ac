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


def test_h_cost_counts_every_row_through_h(monkeypatch):
    """An independent hook on h sees exactly the rows the record reports (replay and KL rows
    included); costs are in one unit, g-forward equivalents."""
    import emblab.retrieval.corrector as corrector_mod

    seen = {"grad": 0, "no_grad": 0}
    build = corrector_mod.build_corrector

    def spy(*a, **kw):
        h = build(*a, **kw)
        h.register_forward_hook(lambda _m, inp, _o: seen.__setitem__(
            "grad" if torch.is_grad_enabled() else "no_grad",
            seen["grad" if torch.is_grad_enabled() else "no_grad"] + inp[0].reshape(-1, inp[0].shape[-1]).shape[0]))
        return h

    monkeypatch.setattr(corrector_mod, "build_corrector", spy)
    task, cfg = _tiny("corrector", lambda_kl=0.5)
    rec = train_retriever(task, cfg, progress=False)
    c = rec["counts"]
    N = task.n_targets
    # every monitoring point applies h once to all N (not a cost); everything else is
    assert seen["no_grad"] - len(rec["curve"]) * N == c["h_scored_rows"] > 0
    assert seen["grad"] == c["h_trained_rows"]
    # replay rows make training rows exceed the rows re-encoded for the loss
    assert c["h_trained_rows"] > c["loss"] - cfg.pre_steps * cfg.batch_size
    fpi = c["h_flops_per_item"]
    g_flops = task.info["g_flops_per_item"]
    assert c["h_g_equiv"] == pytest.approx(fpi * (c["h_scored_rows"] + 3 * c["h_trained_rows"]) / g_flops)
    assert c["maintenance_g_equiv"] == pytest.approx(c["refresh"] + c["h_g_equiv"])
    assert c["total_g_equiv"] == pytest.approx(3 * c["loss"] + c["maintenance_g_equiv"])
    stale = train_retriever(*_tiny("stale"), progress=False)["counts"]
    assert stale["maintenance_g_equiv"] == stale["refresh"] == N and stale["h_g_equiv"] == 0


def test_retrieval_metrics_use_the_shared_implementation_with_negative_judgements():
    """Known answer: a judgement of -1 is 'not relevant' (pytrec_eval), not a negative gain, and a
    query without a relevant target is left out of the mean."""
    import math

    from emblab.retrieval.task import retrieval_metrics

    ranked = np.array([[7, 3, 5], [1, 2, 4], [9, 8, 6]])
    qrels = {0: {7: -1, 3: 1}, 1: {4: 2, 2: 1}, 2: {9: 0}}
    m = retrieval_metrics(ranked, np.array([0, 1, 2]), qrels, ks=(1, 3))
    ndcg_q0 = (1 / math.log2(3)) / 1.0
    ndcg_q1 = (1 / math.log2(3) + 2 / math.log2(4)) / (2 + 1 / math.log2(3))
    assert m["ndcg@10"] == pytest.approx((ndcg_q0 + ndcg_q1) / 2, rel=1e-12)
    assert m["recall@1"] == 0.0
    assert m["recall@3"] == pytest.approx(1.0)


def test_headline_ratio_counts_h_in_the_same_unit():
    """Known answer: the matched-quality ratio divides maintenance compute (refresh encodes + h),
    so a corrector whose h costs more than a refresh schedule of equal quality gets a ratio < 1."""
    from emblab.retrieval.report import headline

    def row(label, q, refresh, h=0.0):
        return {"label": label, "recall@10": q, "recall@10_std": 0.01, "refresh_encodes": refresh,
                "h_g_equiv": h, "maintenance_g_equiv": refresh + h, "total_g_equiv": 3e5 + refresh + h}

    rows = [row("stale", 0.50, 1e4), row("refresh-R50", 0.54, 1e5), row("refresh-R10", 0.55, 5e5),
            row("corrector", 0.545, 1e4, 9e6), row("oracle", 0.56, 5e6)]
    h = headline(rows, "recall@10")
    assert h["corrector_maintenance_g_equiv"] == pytest.approx(9.01e6)
    assert h["cheapest_refresh_matching"] == "refresh-R10"
    assert h["ratio_discrete"] == pytest.approx(5e5 / 9.01e6)          # < 1: refreshing is cheaper
    # interpolated in log cost between refresh-R50 (0.54) and refresh-R10 (0.55): halfway
    assert h["ratio_interpolated"] == pytest.approx(np.sqrt(1e5 * 5e5) / 9.01e6)
    # with h free, the same qualities give the refresh-encode ratio of the spec
    rows[3] = row("corrector", 0.545, 1e4)
    assert headline(rows, "recall@10")["ratio_discrete"] == pytest.approx(50.0)
