"""Corrector h: identity at init, and the known-answer planted-rotation test (spec section 6.1)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emblab.retrieval.corrector import CorrectorTrainer, build_corrector, fit_corrector  # noqa: E402


def _unit(x):
    return x / x.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_corrector_starts_as_identity(kind):
    torch.manual_seed(0)
    C = _unit(torch.randn(50, 16))
    h = build_corrector(kind, 16)
    assert torch.allclose(h(C), C, atol=1e-6)


def _planted(n, d, seed=0, angle=0.25):
    """Stale cache C and fresh E = normalize(Q C) with Q a random rotation near the identity."""
    g = torch.Generator().manual_seed(seed)
    C = _unit(torch.randn(n, d, generator=g))
    S = torch.randn(d, d, generator=g)
    Q = torch.linalg.matrix_exp(angle * (S - S.T) / np.sqrt(d))   # orthogonal, close to I
    return C, _unit(C @ Q.T)


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_corrector_undoes_planted_rotation(kind):
    torch.set_num_threads(1)
    C, E = _planted(1500, 32)
    tr_c, tr_e, te_c, te_e = C[:500], E[:500], C[500:], E[500:]
    before = float((te_c * te_e).sum(1).mean())
    h = fit_corrector(tr_c, tr_e, kind=kind, steps=300, batch_size=128, lr=1e-2, seed=0)
    with torch.no_grad():
        after = float((h(te_c) * te_e).sum(1).mean())
    assert before < 0.95          # the planted drift is real
    assert after > 0.99           # spec: above 0.99 on held-out targets after 500 training pairs


def test_replay_buffer_is_a_ring():
    tr = CorrectorTrainer(4, "linear", replay_size=5)
    for i in range(3):
        c = torch.full((2, 4), float(i))
        tr.push(c, c)
    assert tr.buf_n == 5 and tr.buf_pos == 1
    assert float(tr.buf_c[0, 0]) == 2.0     # oldest row overwritten by the newest pair


def test_counter_counts_every_row_through_h_including_replay():
    """Known answer: replay rows are trained too; scoring rows count once; monitoring not at all."""
    torch.manual_seed(0)
    tr = CorrectorTrainer(4, "linear", replay_size=5)
    c = _unit(torch.randn(3, 4))
    tr.step(c, c)                # 3 current rows, empty buffer
    assert (tr.rows_trained, tr.rows_scored) == (3, 0)
    tr.step(c, c)                # 3 current + 3 replayed
    assert tr.rows_trained == 9
    tr.step(c, c)                # 3 current + 5 replayed (buffer full)
    assert tr.rows_trained == 17
    tr.apply(_unit(torch.randn(10, 4)))
    assert tr.rows_scored == 10
    with tr.uncounted():
        tr.apply(_unit(torch.randn(7, 4)))
    assert (tr.rows_trained, tr.rows_scored) == (17, 10)
    fpi = tr.h.flops_per_item()
    assert fpi == 2 * 4 * 4 + 3 * 4
    assert tr.flops() == fpi * (10 + 3 * 17)


def test_logit_matching_kl_known_answer():
    """KL(p_fresh || p_h) by hand: two candidates, beta = 1, logits (1, 0) vs (0, 0)."""
    from emblab.retrieval.corrector import logit_matching_kl

    q = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    e_fresh = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)   # logits 1, 0
    h_cached = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]], dtype=torch.float64)  # logits 0, 0
    p = np.exp([1.0, 0.0]) / np.exp([1.0, 0.0]).sum()
    want = float(np.sum(p * np.log(p / 0.5)))
    assert float(logit_matching_kl(q, e_fresh, h_cached, beta=1.0)) == pytest.approx(want, rel=1e-12)
    # equal distributions: zero; beta scales the logits
    assert float(logit_matching_kl(q, e_fresh, e_fresh, beta=3.0)) == pytest.approx(0.0, abs=1e-12)
    p3 = np.exp([3.0, 0.0]) / np.exp([3.0, 0.0]).sum()
    assert float(logit_matching_kl(q, e_fresh, h_cached, beta=3.0)) == pytest.approx(
        float(np.sum(p3 * np.log(p3 / 0.5))), rel=1e-12)
    # a masked candidate drops out of both softmaxes: one valid candidate each, KL = 0
    mask = torch.tensor([[True, False]])
    assert float(logit_matching_kl(q, e_fresh, h_cached, beta=1.0, mask=mask)) == pytest.approx(0.0, abs=1e-9)
    # the gradient reaches h_cached only
    hc = h_cached.clone().requires_grad_(True)
    qq = q.clone().requires_grad_(True)
    logit_matching_kl(qq, e_fresh, hc, beta=1.0).backward()
    assert qq.grad is None and hc.grad is not None and float(hc.grad.abs().sum()) > 0
