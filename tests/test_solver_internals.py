"""The building blocks of the solvers against their defining conditions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hessjax.optimize.bfgs import bfgs_update
from hessjax.optimize.newton import solve_trust_region_subproblem

EPS = np.finfo(np.float64).eps
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)


def _subproblem(h, g, radius):
    with jax.enable_x64(True):
        lam, vecs = jnp.linalg.eigh(jnp.asarray(h))
        p, predicted = solve_trust_region_subproblem(lam, vecs, jnp.asarray(g), jnp.asarray(radius))
        return np.asarray(p), float(predicted)


def _check_more_sorensen(h, g, radius, p, predicted):
    """N&W Theorem 4.1: p solves the subproblem iff, for some sigma >= 0,
    (H + sigma I) p = -g, sigma (radius - ||p||) = 0, and H + sigma I is PSD."""
    n = len(g)
    lam = np.linalg.eigvalsh(h)
    scale = max(np.abs(lam).max(), np.linalg.norm(g) / radius, 1.0)
    norm = np.linalg.norm(p)
    assert norm <= radius * (1 + 1e-8)
    # Recover sigma by least squares from (H + sigma I) p = -g.
    residual = -g - h @ p
    sigma = float(p @ residual / (p @ p)) if norm > 0 else 0.0
    tol = 1e4 * EPS * scale * max(norm, 1.0)
    assert np.linalg.norm(h @ p + sigma * p + g) <= tol * np.sqrt(n)
    assert sigma >= -1e4 * EPS * scale
    assert lam[0] + sigma >= -1e4 * EPS * scale
    if sigma > 1e6 * EPS * scale:
        assert abs(norm - radius) <= 1e-6 * radius
    model = g @ p + 0.5 * p @ h @ p
    assert predicted == pytest.approx(-model, rel=1e-8, abs=1e3 * EPS * scale * radius**2)


@st.composite
def subproblems(draw):
    n = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = rng.uniform(-3, 3, size=n) * 10 ** rng.uniform(-2, 2, size=n)
    h = (q * lam) @ q.T
    g = rng.normal(size=n) * 10 ** rng.uniform(-3, 3)
    radius = 10 ** rng.uniform(-3, 3)
    return 0.5 * (h + h.T), g, radius


@SETTINGS
@given(subproblems())
def test_subproblem_solution_satisfies_more_sorensen_conditions(problem):
    h, g, radius = problem
    p, predicted = _subproblem(h, g, radius)
    _check_more_sorensen(h, g, radius, p, predicted)


def test_hard_case_moves_along_the_negative_eigenvector_to_the_boundary():
    # g has no component along the eigenvector of the negative eigenvalue:
    # the secular equation has no root and the step must use that eigenvector.
    h = np.diag([-2.0, 1.0, 3.0])
    g = np.array([0.0, 0.5, -0.3])
    radius = 2.0
    p, predicted = _subproblem(h, g, radius)
    _check_more_sorensen(h, g, radius, p, predicted)
    assert np.linalg.norm(p) == pytest.approx(radius, rel=1e-12)
    # sigma = -lambda_min = 2: the off-eigenvector part is -g_i / (lambda_i + 2).
    np.testing.assert_allclose(p[1:], [-0.5 / 3.0, 0.3 / 5.0], rtol=1e-12)
    assert abs(p[0]) == pytest.approx(np.sqrt(radius**2 - p[1] ** 2 - p[2] ** 2), rel=1e-12)


def test_saddle_with_zero_gradient_still_steps():
    h = np.diag([-1.0, 4.0])
    p, predicted = _subproblem(h, np.zeros(2), 0.5)
    assert np.linalg.norm(p) == pytest.approx(0.5, rel=1e-12)
    assert abs(p[0]) == pytest.approx(0.5, rel=1e-12)
    # Model decrease along the negative curvature: -0.5 * (-1) * 0.5^2.
    assert predicted == pytest.approx(0.125, rel=1e-12)


def test_interior_newton_step_when_positive_definite_and_short():
    h = np.array([[4.0, 1.0], [1.0, 3.0]])
    g = np.array([0.1, -0.2])
    p, _ = _subproblem(h, g, 10.0)
    np.testing.assert_allclose(p, -np.linalg.solve(h, g), rtol=1e-13)


@SETTINGS
@given(st.integers(0, 2**31 - 1), st.integers(1, 6))
def test_bfgs_update_satisfies_secant_condition_and_stays_spd(seed, n):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    h0 = a @ a.T + n * np.eye(n)
    s = rng.normal(size=n)
    b = rng.normal(size=(n, n))
    y = (b @ b.T + np.eye(n)) @ s  # y's > 0, as the Wolfe conditions guarantee
    with jax.enable_x64(True):
        h1 = np.asarray(bfgs_update(jnp.asarray(h0), jnp.asarray(s), jnp.asarray(y)))
    scale = np.linalg.norm(h1) * np.linalg.norm(y) + np.linalg.norm(s)
    np.testing.assert_allclose(h1 @ y, s, atol=1e3 * EPS * scale)  # secant: H+ y = s
    np.testing.assert_allclose(h1, h1.T, atol=1e2 * EPS * np.abs(h1).max())
    assert np.linalg.eigvalsh(0.5 * (h1 + h1.T)).min() > 0
