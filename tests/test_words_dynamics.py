"""Theory curves vs ODE; full-batch GD follows the logistic curves on a planted M* (qwem.md section 4)."""

import numpy as np
import pytest

from emblab.words.dynamics import gd_train, half_rise_steps, ode_integrate, onset_times, theory_curves


def planted(V=40, lam=(4.0, 2.0, 1.0, 0.5), seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(V, V)))
    ev = np.concatenate([lam, -0.3 * np.ones(V - len(lam))])
    return (Q * ev) @ Q.T, np.array(lam), Q[:, :len(lam)]


def test_theory_curve_matches_ode():
    lam, s0 = np.array([3.0, 1.0, 0.2]), np.array([1e-6, 1e-4, 1e-3])
    t = np.linspace(0, 20, 11)
    np.testing.assert_allclose(theory_curves(lam, s0, t), ode_integrate(lam, s0, t, n_sub=400), rtol=1e-6)
    tau = onset_times(lam, s0)
    np.testing.assert_allclose(theory_curves(lam, s0, tau).diagonal(), lam / 2, rtol=1e-9)


def test_aligned_gd_follows_logistic():
    M, lam, U = planted()
    res = gd_train(M, 4, 4000, lr=0.02 / lam[0], init="aligned", init_scale=1e-4, lam=lam, U=U)
    pred = onset_times(res["lam"], res["s0"]) / (2 * res["lr"])
    meas = half_rise_steps(res["steps"], res["sigma_modes"], res["lam"])
    np.testing.assert_allclose(meas, pred, rtol=0.02)
    theo = theory_curves(res["lam"], res["s0"], res["t"])
    assert np.max(np.abs(res["sigma_modes"] - theo)) < 0.06 * lam[0]  # curves, incl. the steep rise


def test_random_small_init_learns_modes_in_order():
    M, lam, U = planted()
    res = gd_train(M, 4, 4000, init="random", init_scale=1e-5, lam=lam, U=U, seed=3)
    pred = onset_times(res["lam"], res["s0"]) / (2 * res["lr"])
    meas = half_rise_steps(res["steps"], res["sigma_modes"], res["lam"])
    assert np.all(np.diff(meas) > 0)  # learned in order of eigenvalue
    np.testing.assert_allclose(meas, pred, rtol=0.25)
    W = res["W"]
    M_d = (U * lam) @ U.T
    assert np.linalg.norm(W @ W.T - M_d) / np.linalg.norm(M_d) < 1e-3


def test_pair_sampler_matches_cooccurrence_distribution():
    from emblab.words.cooccurrence import build_cooccurrence, tokenize_corpus
    from emblab.words.sgd import PairSampler

    rng = np.random.default_rng(0)
    docs = [" ".join(rng.choice(list("abcdef"), 30)) for _ in range(40)]
    ts = tokenize_corpus(docs)
    st = build_cooccurrence(ts, 6, 3)
    ids, offs = ts.restrict(6)
    i, j = PairSampler(ids, offs, 6, 3, seed=1).positives(200_000)
    emp = np.bincount(i * 6 + j, minlength=36).reshape(6, 6) / 200_000
    np.testing.assert_allclose(emp, st.C / st.C.sum(), atol=4e-3)


@pytest.mark.slow
def test_sgd_qwem_and_sgns_run_and_record():
    from emblab.words.cooccurrence import build_cooccurrence, tokenize_corpus
    from emblab.words.sgd import PairSampler, train_sgd

    rng = np.random.default_rng(0)
    docs = [" ".join(rng.choice(list("abcdefgh"), 50)) for _ in range(50)]
    ts = tokenize_corpus(docs)
    st = build_cooccurrence(ts, 8, 4)
    ids, offs = ts.restrict(8)
    P = st.C / st.C.sum()
    p = st.unigram / st.unigram.sum()
    for loss in ("qwem", "sgns"):
        res = train_sgd(PairSampler(ids, offs, 8, 4), 3, 20, loss=loss, psi=1 / (P + np.outer(p, p)), batch=500,
                        lr=1e-3, init_scale=0.1, record_every=5, device="cpu")
        assert res["singular_values"].shape == (5, 3) and np.isfinite(res["W"]).all()
