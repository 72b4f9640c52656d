"""Property tests: random SPD quadratics are minimized at A^-1 b by every method.

f(x) = x'Ax/2 - b'x with A = Q diag(lam) Q', Q Haar-random orthogonal and
eigenvalues log-uniform in [1e-2, 1e2] (condition numbers up to 1e4), n in 1..8,
and b of any scale in [1e-3, 1e3] (the relative-gradient test is meant to be
unit-free). Tolerances come from the stopping rule and float64 rounding, not
decimals.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hessjax as hj

EPS = float(np.finfo(np.float64).eps)
GTOL = EPS ** (2.0 / 3.0)  # hessjax's default relative-gradient tolerance
# Slack over first-order error bounds for the few operations per entry
# (a dot product, a subtraction) that they do not count one by one.
ROUNDING_FACTOR = 10.0

# Derandomized: the CI budget has no room for flaky reruns, and a failure must
# reproduce on the lead's machine.
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


def quadratic_form(x, A, b):
    return 0.5 * x @ (A @ x) - b @ x


@st.composite
def spd_quadratics(draw):
    n = draw(st.integers(min_value=1, max_value=8))
    log10_lam = draw(
        st.lists(st.floats(min_value=-2.0, max_value=2.0), min_size=n, max_size=n)
    )
    log10_b_scale = draw(st.floats(min_value=-3.0, max_value=3.0))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    q = q * np.sign(np.diag(r))  # Haar-distributed orthogonal matrix
    A = (q * 10.0 ** np.asarray(log10_lam)) @ q.T
    A = 0.5 * (A + A.T)
    b = 10.0**log10_b_scale * rng.standard_normal(n)
    x0 = rng.standard_normal(n)
    return A, b, x0


def gradient_rounding(A: np.ndarray, b: np.ndarray, x: np.ndarray) -> float:
    """Rounding error of a computed gradient Ax - b: n eps (||A|| ||x|| + ||b||), with slack."""
    return ROUNDING_FACTOR * b.size * EPS * (np.linalg.norm(A, 2) * np.linalg.norm(x) + np.linalg.norm(b))


def solution_error_bound(A: np.ndarray, b: np.ndarray) -> float:
    """Bound on ||x - A^-1 b||_2 for any x that passes hessjax's gradient test.

    x - x* = A^-1 g, so ||x - x*|| <= ||g|| / lam_min, and the stopping test
    |g_i| max(|x_i|, 1) <= gtol max(|f|, 1) gives ||g|| <= sqrt(n) gtol max(|f|, 1).
    Rounding: the computed gradient carries errors of n eps (||A|| ||x|| + ||b||),
    which move the attainable point by cond(A) times that relative error.
    """
    n = b.size
    lam = np.linalg.eigvalsh(A)
    x_star = np.linalg.solve(A, b)
    f_star = -0.5 * b @ x_star
    stopping = np.sqrt(n) * GTOL * max(abs(f_star), 1.0) / lam[0]
    rounding = (lam[-1] / lam[0]) * n * EPS * (np.linalg.norm(x_star) + np.linalg.norm(b) / lam[-1])
    return ROUNDING_FACTOR * (stopping + rounding)


@pytest.mark.parametrize("method", ["bfgs", "newton"])
@SETTINGS
@given(problem=spd_quadratics())
def test_minimize_reaches_solution_of_linear_system(method, problem):
    A, b, x0 = problem
    res = hj.minimize(quadratic_form, x0, A, b, method=method)
    # Regression (BFGS): line-search decisions once used a rounding-noise model of
    # 100 eps |f|, far below the noise of x'Ax/2 - b'x when its terms cancel;
    # BFGS then stalled, or spun to MAX_STEPS, on about 2% of these quadratics.
    assert bool(res.success), f"{res.message} nit={int(res.nit)} nfev={int(res.nfev)}"
    x = np.asarray(res.x)
    assert x.dtype == np.float64 and x.shape == b.shape
    np.testing.assert_allclose(np.asarray(res.grad), A @ x - b, rtol=0, atol=gradient_rounding(A, b, x))
    assert np.linalg.norm(x - np.linalg.solve(A, b)) <= solution_error_bound(A, b)


@SETTINGS
@given(problem=spd_quadratics())
def test_exact_hessian_of_quadratic_is_A(problem):
    A, b, x0 = problem
    H = np.asarray(hj.hessian(quadratic_form, x0, A, b))
    assert H.dtype == np.float64
    # d2/dx2 of x'Ax/2 is (A + A')/2: exact for a symmetric A up to the rounding
    # of that average and of products with unit tangents, eps * |A| per entry.
    np.testing.assert_allclose(H, A, rtol=0, atol=2.0 * EPS * np.max(np.abs(A)))
