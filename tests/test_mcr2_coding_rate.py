"""Coding rate / rate reduction (emblab.nn.coding_rate) against NumPy and known answers (mcr2.md §2)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emblab import FitError, InvalidParameterError  # noqa: E402
from emblab.nn.coding_rate import (  # noqa: E402
    _logdet_I_plus, coding_rate, coding_rate_np, compression_rate, compression_rate_np, logdet_spd,
    rate_reduction, rate_reduction_np,
)

EPS_SQ = 0.5


def _unit_rows(rng, m, p):
    Z = rng.normal(size=(m, p))
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


@pytest.mark.parametrize("m,p", [(50, 8), (6, 20), (20, 20)])
def test_matches_numpy_hard_labels(m, p):
    rng = np.random.default_rng(m + p)
    Z = _unit_rows(rng, m, p)
    lab = rng.integers(0, 5, m)
    lab[0] = 7  # a singleton class and a gap in the ids
    Pi = np.eye(lab.max() + 1)[lab]
    rr = rate_reduction(torch.from_numpy(Z), torch.from_numpy(lab), eps_sq=EPS_SQ)
    R, Rc, dR = rate_reduction_np(Z, Pi, EPS_SQ)
    assert float(rr.R) == pytest.approx(R, abs=1e-10)
    assert float(rr.Rc) == pytest.approx(Rc, abs=1e-10)
    assert float(rr.delta_R) == pytest.approx(dR, abs=1e-10)
    assert float(rr.loss) == pytest.approx(-dR, abs=1e-10)


def test_matches_numpy_soft_memberships():
    rng = np.random.default_rng(1)
    Z = _unit_rows(rng, 40, 12)
    W = rng.dirichlet(np.ones(5), 40)
    W[:, 3] = 0.0  # an empty class is skipped
    W /= W.sum(1, keepdims=True)
    got = float(compression_rate(torch.from_numpy(Z), weights=torch.from_numpy(W), eps_sq=EPS_SQ))
    assert got == pytest.approx(compression_rate_np(Z, W, EPS_SQ), abs=1e-10)


def test_gamma_scaling():
    rng = np.random.default_rng(2)
    Z = torch.from_numpy(_unit_rows(rng, 30, 6))
    lab = torch.from_numpy(rng.integers(0, 3, 30))
    rr = rate_reduction(Z, lab, gam1=2.0, gam2=0.5)
    R2 = float(coding_rate(Z, gam1=2.0))
    assert float(rr.loss) == pytest.approx(-0.5 * R2 + float(rr.Rc), abs=1e-12)
    assert float(rr.delta_R) == pytest.approx(float(rr.R) - float(rr.Rc), abs=1e-12)


@pytest.mark.parametrize("p", [4, 16])
def test_known_identity(p):
    # case 1: m = p, Z = I_p  ->  R = (p/2) ln 3 with eps_sq = 0.5 (ε², not ε)
    R = coding_rate(torch.eye(p, dtype=torch.float64), eps_sq=0.5)
    assert float(R) == pytest.approx(p / 2 * np.log(3.0), abs=1e-10)
    # passing ε = 0.5 instead of ε² would give a different value: the convention matters
    assert float(coding_rate(torch.eye(p, dtype=torch.float64), eps_sq=0.25)) != pytest.approx(p / 2 * np.log(3.0))


def test_known_single_direction():
    # case 2: all columns the same unit vector -> R = ½ ln(1 + p/ε²)
    p, m = 10, 37
    u = np.zeros(p); u[3] = 1.0
    Z = torch.from_numpy(np.tile(u, (m, 1)))
    assert float(coding_rate(Z, EPS_SQ)) == pytest.approx(0.5 * np.log(1 + p / EPS_SQ), abs=1e-10)
    # case 4: one cluster holding everything -> ΔR = 0
    rr = rate_reduction(Z, torch.zeros(m, dtype=torch.long), eps_sq=EPS_SQ)
    assert float(rr.delta_R) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("K", [2, 4, 8])
def test_known_orthogonal_subspaces(K):
    # case 3: K orthonormal directions, each repeated m/K times, labelled by direction
    p, reps = 8, 5
    Z = np.repeat(np.eye(p)[:K], reps, axis=0)
    lab = np.repeat(np.arange(K), reps)
    rr = rate_reduction(torch.from_numpy(Z), torch.from_numpy(lab), eps_sq=EPS_SQ)
    R = K / 2 * np.log(1 + p / (K * EPS_SQ))
    Rc = 0.5 * np.log(1 + p / EPS_SQ)
    assert float(rr.R) == pytest.approx(R, abs=1e-10)
    assert float(rr.Rc) == pytest.approx(Rc, abs=1e-10)
    assert float(rr.delta_R) == pytest.approx(R - Rc, abs=1e-10)


def test_orthogonal_classes_beat_random_and_collapsed():
    # orthogonal class subspaces maximise ΔR: random or shared directions give less
    rng = np.random.default_rng(3)
    p, K, reps = 8, 4, 6
    lab = torch.from_numpy(np.repeat(np.arange(K), reps))
    ortho = np.repeat(np.eye(p)[:K], reps, axis=0)
    best = float(rate_reduction(torch.from_numpy(ortho), lab).delta_R)
    for _ in range(20):
        dirs = _unit_rows(rng, K, p)
        Z = np.repeat(dirs, reps, axis=0)
        assert float(rate_reduction(torch.from_numpy(Z), lab).delta_R) < best + 1e-12
    assert float(rate_reduction(torch.from_numpy(np.repeat(ortho[:1], K * reps, 0)), lab).delta_R) < best


@pytest.mark.parametrize("n,p", [(3, 12), (12, 3), (7, 7)])
def test_sylvester_both_sides_equal(n, p):
    rng = np.random.default_rng(n * p)
    A = torch.from_numpy(rng.normal(size=(n, p)))
    alpha = 0.7
    small = float(_logdet_I_plus(A, alpha))  # evaluates the smaller Gram
    big_p = float(logdet_spd(torch.eye(p, dtype=A.dtype) + alpha * A.T @ A))
    big_n = float(logdet_spd(torch.eye(n, dtype=A.dtype) + alpha * A @ A.T))
    assert small == pytest.approx(big_p, abs=1e-10)
    assert big_n == pytest.approx(big_p, abs=1e-10)


def test_mixed_precision_returns_fp32_or_fp64():
    rng = np.random.default_rng(4)
    Z64 = torch.from_numpy(_unit_rows(rng, 32, 8))
    lab = torch.from_numpy(rng.integers(0, 3, 32))
    for z in (Z64.to(torch.bfloat16), Z64.half()):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            rr = rate_reduction(z, lab)
        assert rr.R.dtype == torch.float32 and rr.Rc.dtype == torch.float32
        assert float(rr.delta_R) == pytest.approx(float(rate_reduction(Z64, lab).delta_R), abs=0.05)
    assert rate_reduction(Z64, lab).R.dtype == torch.float64
    # gradient flows through the fp32 computation back to a bf16 leaf
    z = Z64.to(torch.bfloat16).requires_grad_(True)
    rate_reduction(z, lab).loss.backward()
    assert z.grad is not None and torch.isfinite(z.grad.float()).all()


def test_gradient_matches_finite_difference():
    rng = np.random.default_rng(5)
    Z = torch.from_numpy(_unit_rows(rng, 10, 4)).requires_grad_(True)
    lab = torch.from_numpy(rng.integers(0, 2, 10))
    assert torch.autograd.gradcheck(lambda z: rate_reduction(z, lab).loss, (Z,))


def test_errors():
    Z = torch.eye(3)
    with pytest.raises(InvalidParameterError, match="ε²"):
        coding_rate(Z, eps_sq=0.0)
    with pytest.raises(InvalidParameterError, match="exactly one"):
        compression_rate(Z)
    with pytest.raises(FitError, match="not positive definite"):
        logdet_spd(torch.full((3, 3), float("nan")))
