"""``hj.minimize``: every solver crossed with every known-answer problem.

The oracle is SciPy (``trust-exact`` with the exact JAX gradient and Hessian,
or ``BFGS`` for the saddle that BFGS is expected to find), plus the closed-form
optimum where one exists. Iteration counts of hessjax and SciPy are recorded
in the report's user_properties (see ``--junitxml``) and printed (``-s``).
"""

from __future__ import annotations

import functools
import warnings
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax.flatten_util import ravel_pytree

import hessjax as hj
from problems import BY_NAME, LOG_BARRIER, MIXTURE, PROBLEMS, ROSENBROCK2, Problem

METHODS = ("bfgs", "newton")
EPS = float(np.finfo(np.float64).eps)
# hessjax's default relative-gradient tolerance (eps^(2/3), Dennis & Schnabel sec. 7.2).
GTOL = EPS ** (2.0 / 3.0)
# Required agreement of optimum locations, relative to max(|x_i|, 1). It sits
# just below sqrt(eps) ~ 1.5e-8, the accuracy to which comparing f values can
# locate a minimum, so a solver must have used the gradient to pass; every
# problem here is conditioned well enough (after scaling) for a
# gradient-converged solver to reach it, which the Newton-step error estimate
# checks separately.
XTOL = 1e-8
# Per-term operations in a Hessian entry of a summed objective (a few
# multiplies, an exp/log): the rounding-error factor multiplying n_obs * eps,
# Higham's gamma_n bound for a sum of n_obs terms.
HESSIAN_OPS = 16.0

CONVERGING = [p for p in PROBLEMS if not p.saddle_start]
WITH_OPTIMUM = [p for p in PROBLEMS if p.optimum is not None]
WITH_HESSIAN = [p for p in PROBLEMS if p.hessian is not None]


def _ids(problem: Problem) -> str:
    return problem.name


# ------------------------------------------------------------------------------------
# Helpers, all in NumPy float64 (never jnp outside the x64 scope: that rounds to float32)
# ------------------------------------------------------------------------------------
def flatten(tree) -> np.ndarray:
    """ravel_pytree order, in NumPy float64."""
    return np.concatenate(
        [np.ravel(np.asarray(leaf, dtype=np.float64)) for leaf in jax.tree_util.tree_leaves(tree)]
    )


def unflatten_like(template, flat: np.ndarray):
    """Inverse of :func:`flatten` for ``template``'s structure, NumPy leaves."""
    leaves, treedef = jax.tree_util.tree_flatten(template)
    out, start = [], 0
    for leaf in leaves:
        shape = np.shape(leaf)
        size = int(np.prod(shape, dtype=int))
        out.append(np.reshape(np.asarray(flat[start : start + size], dtype=np.float64), shape))
        start += size
    return jax.tree_util.tree_unflatten(treedef, out)


def relative_gradient(x, f, g) -> float:
    """The documented convergence measure max_i |g_i| max(|x_i|, 1) / max(|f|, 1)."""
    x, g = flatten(x), flatten(g)
    return float(np.max(np.abs(g) * np.maximum(np.abs(x), 1.0)) / max(abs(float(f)), 1.0))


def assert_same_point(actual: np.ndarray, expected: np.ndarray, tol: float = XTOL) -> None:
    bound = tol * np.maximum(np.abs(expected), 1.0)
    err = np.abs(actual - expected)
    assert np.all(err <= bound), (
        f"max error / bound = {np.max(err / bound):.3g}\nactual   {actual!r}\nexpected {expected!r}"
    )


@functools.lru_cache(maxsize=None)
def flat_problem(name: str) -> types.SimpleNamespace:
    """Independent float64 value/gradient/Hessian of a problem over flat x (plain JAX)."""
    problem = BY_NAME[name]
    data = problem.data()
    template = problem.x0()
    with jax.enable_x64(True):
        _, unravel = ravel_pytree(jax.tree_util.tree_map(jnp.asarray, template))

        def flat(x, *args):
            return problem.objective(unravel(x), *args)

        value_jit = jax.jit(flat)
        grad_jit = jax.jit(jax.grad(flat))
        hess_jit = jax.jit(jax.hessian(flat))

    def scoped(fn):
        def call(x):
            with jax.enable_x64(True):
                return np.asarray(fn(np.asarray(x, dtype=np.float64), *data))

        return call

    return types.SimpleNamespace(
        problem=problem,
        data=data,
        template=template,
        x0=flatten(template),
        value=lambda x: float(scoped(value_jit)(x)),
        grad=scoped(grad_jit),
        hess=scoped(hess_jit),
    )


def newton_step_size(fp, x: np.ndarray) -> np.ndarray:
    """|H^-1 g| at x: the distance to the nearest stationary point, to second order."""
    return np.abs(np.linalg.solve(fp.hess(x), fp.grad(x)))


# SciPy's trust-exact has no safeguard for a non-finite f (it takes the full
# step out of the log's domain and never recovers), so its start for the
# barrier problem is one from which full Newton steps stay feasible
# (x + p = x (2 - c x) > 0 for c x < 2).
_SCIPY_START = {LOG_BARRIER.name: lambda: 1.5 / LOG_BARRIER.data()[0]}


@functools.lru_cache(maxsize=None)
def scipy_oracle(name: str, method: str = "trust-exact") -> scipy.optimize.OptimizeResult:
    """SciPy with exact JAX derivatives and a gradient tolerance at the rounding floor.

    ``gtol = 1e-12`` is below what float64 can reach for most problems, so SciPy
    stops where no further progress is possible (trust-exact says "A bad
    approximation caused failure to predict improvement", BFGS "precision
    loss"); its accuracy is then checked by the Newton-step error estimate.
    """
    fp = flat_problem(name)
    start = flatten(_SCIPY_START[name]()) if name in _SCIPY_START else fp.x0
    return scipy.optimize.minimize(
        fp.value,
        start,
        jac=fp.grad,
        hess=fp.hess if method == "trust-exact" else None,
        method=method,
        options={"gtol": 1e-12, "maxiter": 5000},
    )


def record_counts(request, res, oracle=None) -> None:
    """Attach iteration counts to the test's report (user_properties, shown in
    --junitxml) and print them (-s). user_properties directly, since the
    record_property fixture warns under junit_family=xunit2."""
    counts = {f"hessjax_{k}": int(getattr(res, k)) for k in ("nit", "nfev", "ngev", "nhev")}
    if oracle is not None:
        counts.update(scipy_nit=int(oracle.nit), scipy_nfev=int(oracle.nfev))
    request.node.user_properties.extend(counts.items())
    print(" ".join(f"{k}={v}" for k, v in counts.items()))


def assert_counts_consistent(res, method: str, init_hessian: str = "identity") -> None:
    nit, nfev, ngev, nhev = (int(res.nit), int(res.nfev), int(res.ngev), int(res.nhev))
    assert nit >= 0 and nfev >= 1 and ngev >= 1
    if method == "bfgs":
        # Every BFGS evaluation is value-and-gradient; each iteration makes at least
        # one line-search trial. The Hessian is evaluated only for init_hessian="exact".
        assert ngev == nfev
        assert nfev >= nit + 1
        assert nhev == (1 if init_hessian == "exact" else 0)
    else:
        # Newton evaluates f at every trial point (one per iteration, plus x0) and the
        # gradient and Hessian together only at accepted points.
        assert nhev == ngev
        assert nfev >= nit + 1
        assert 1 <= ngev <= nit + 1


def assert_float64(res) -> None:
    for leaf in jax.tree_util.tree_leaves((res.x, res.fun, res.grad, res.inv_hessian)):
        assert leaf.dtype == np.float64, leaf.dtype


# ------------------------------------------------------------------------------------
# The oracle (and the problem collection itself)
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("problem", CONVERGING, ids=_ids)
def test_scipy_oracle_is_accurate(problem):
    """The oracle must itself be within XTOL of a stationary point, by its Newton step."""
    fp = flat_problem(problem.name)
    oracle = scipy_oracle(problem.name)
    assert np.all(np.isfinite(oracle.x))
    assert np.all(newton_step_size(fp, oracle.x) <= XTOL * np.maximum(np.abs(oracle.x), 1.0))
    if problem.optimum is not None:
        assert_same_point(oracle.x, flatten(problem.optimum(*fp.data)))


@pytest.mark.parametrize("problem", WITH_HESSIAN, ids=_ids)
def test_problem_hessian_matches_autodiff(problem):
    """problems.py's analytic Hessians against hj.hessian, on the correlation scale."""
    fp = flat_problem(problem.name)
    x = fp.x0 if problem.saddle_start else scipy_oracle(problem.name).x
    params = unflatten_like(fp.template, x)
    expected = problem.hessian(params, *fp.data)
    actual = np.asarray(hj.hessian(problem.objective, params, *fp.data))
    assert actual.dtype == np.float64 and actual.shape == expected.shape
    scale = np.sqrt(np.abs(np.diag(expected)))
    err = np.abs(actual - expected) / np.outer(scale, scale)
    assert np.max(err) <= HESSIAN_OPS * problem.n_obs * EPS


# ------------------------------------------------------------------------------------
# Every solver x every problem
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("problem", CONVERGING, ids=_ids)
def test_minimize_matches_scipy(problem, method, request):
    fp = flat_problem(problem.name)
    x0 = problem.x0()
    res = hj.minimize(problem.objective, x0, *fp.data, method=method)
    oracle = scipy_oracle(problem.name)
    record_counts(request, res, oracle)

    assert bool(res.success), res.message
    assert int(res.status) == hj.Status.SUCCESS
    assert_float64(res)
    # Same pytree structure and leaf shapes as x0, for x and grad.
    for tree in (res.x, res.grad):
        assert jax.tree_util.tree_structure(tree) == jax.tree_util.tree_structure(x0)
        assert [np.shape(a) for a in jax.tree_util.tree_leaves(tree)] == [
            np.shape(a) for a in jax.tree_util.tree_leaves(x0)
        ]

    x = flatten(res.x)
    assert_same_point(x, oracle.x)
    # The reported values belong to the returned point and pass the documented test.
    assert float(res.fun) == pytest.approx(fp.value(x), rel=problem.n_obs * EPS, abs=EPS)
    assert relative_gradient(res.x, res.fun, res.grad) <= GTOL
    assert relative_gradient(res.x, res.fun, fp.grad(x)) <= 2.0 * GTOL
    # Error estimate independent of any oracle: the remaining Newton step.
    assert np.all(newton_step_size(fp, x) <= XTOL * np.maximum(np.abs(x), 1.0))
    assert_counts_consistent(res, method)

    if method == "bfgs":
        inv = np.asarray(res.inv_hessian)
        n = x.size
        assert inv.shape == (n, n)
        # BFGS's update is symmetric in exact arithmetic; each rank-two update
        # (fused differently for (i, j) and (j, i)) rounds at eps times the size
        # of its terms, which start at the identity's 1, and later updates do not
        # shrink errors already made: at most n eps max(|H|, 1) per iteration.
        asymmetry_bound = max(int(res.nit), 1) * n * EPS * max(np.max(np.abs(inv)), 1.0)
        np.testing.assert_allclose(inv, inv.T, rtol=0, atol=asymmetry_bound)
        assert np.linalg.eigvalsh(0.5 * (inv + inv.T))[0] > 0
    else:
        assert res.inv_hessian is None


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("problem", WITH_OPTIMUM, ids=_ids)
def test_minimize_matches_closed_form(problem, method):
    fp = flat_problem(problem.name)
    res = hj.minimize(problem.objective, problem.x0(), *fp.data, method=method)
    assert bool(res.success), res.message
    assert_same_point(flatten(res.x), flatten(problem.optimum(*fp.data)))


# ------------------------------------------------------------------------------------
# The mixture saddle: BFGS converges to it, Newton escapes it
# ------------------------------------------------------------------------------------
def _mixture_component_se(y: np.ndarray) -> float:
    # Each component mean is estimated from about half the data with unit sigma.
    return 1.0 / np.sqrt(y.size / 2)


def test_mixture_bfgs_converges_to_saddle(request):
    fp = flat_problem(MIXTURE.name)
    (y,) = fp.data
    res = hj.minimize(MIXTURE.objective, MIXTURE.x0(), y, method="bfgs")
    oracle = scipy_oracle(MIXTURE.name, "BFGS")
    record_counts(request, res, oracle)

    # BFGS's test is first order only: it reports success at the saddle.
    assert bool(res.success), res.message
    mu = np.asarray(res.x["mu"])
    # The stationary point with equal means is the single-Gaussian MLE: both at mean(y).
    assert_same_point(mu, np.full(2, np.mean(y)))
    assert abs(mu[0] - mu[1]) <= XTOL * max(abs(mu[0]), 1.0)
    # SciPy's BFGS ends at the same saddle.
    assert_same_point(mu, oracle.x)
    hessian = np.asarray(hj.hessian(MIXTURE.objective, res.x, y))
    eigenvalues, eigenvectors = np.linalg.eigh(hessian)
    assert eigenvalues[0] < 0 < eigenvalues[1]
    # The negative direction is the antisymmetric one, (1, -1) / sqrt(2).
    assert abs(eigenvectors[0, 0] + eigenvectors[1, 0]) <= np.sqrt(EPS)


@pytest.mark.parametrize(
    "start", ["equal_means", "at_saddle"], ids=["equal_means", "at_saddle"]
)
def test_mixture_newton_escapes_saddle(start, request):
    fp = flat_problem(MIXTURE.name)
    (y,) = fp.data
    x0 = MIXTURE.x0() if start == "equal_means" else {"mu": np.full(2, np.mean(y))}
    res = hj.minimize(MIXTURE.objective, x0, y, method="newton")
    saddle = hj.minimize(MIXTURE.objective, x0, y, method="bfgs")
    oracle = scipy_oracle(MIXTURE.name, "trust-exact")
    record_counts(request, res, oracle)

    assert bool(res.success), res.message
    mu = np.sort(np.asarray(res.x["mu"]))
    # Means separated, each within 5 standard errors of its generating value.
    assert np.all(np.abs(mu - np.array([-2.0, 2.0])) <= 5.0 * _mixture_component_se(y))
    # Same local minimum as SciPy's trust-exact (up to label switching).
    assert_same_point(mu, np.sort(oracle.x))
    eigenvalues = np.linalg.eigvalsh(np.asarray(hj.hessian(MIXTURE.objective, res.x, y)))
    assert eigenvalues[0] > 0
    assert float(res.fun) < float(saddle.fun)
    assert relative_gradient(res.x, res.fun, res.grad) <= GTOL


# ------------------------------------------------------------------------------------
# Domains, failures and statuses
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_log_barrier_backtracks_into_domain(method):
    (c,) = LOG_BARRIER.data()
    x0 = LOG_BARRIER.x0()
    # Precondition: the full Newton step, and BFGS's unit-length first step, leave the domain.
    newton_x = x0 - x0**2 * (c - 1.0 / x0)
    gradient = c - 1.0 / x0
    assert np.any(newton_x <= 0)
    assert np.any(x0 - gradient / np.linalg.norm(gradient) <= 0)
    with jax.enable_x64(True):
        assert not np.isfinite(float(LOG_BARRIER.objective(jnp.asarray(newton_x), jnp.asarray(c))))

    res = hj.minimize(LOG_BARRIER.objective, x0, c, method=method)
    assert bool(res.success), res.message
    assert np.isfinite(float(res.fun))
    assert np.all(np.isfinite(np.asarray(res.x))) and np.all(np.isfinite(np.asarray(res.grad)))
    assert np.all(np.asarray(res.x) > 0)
    assert_same_point(np.asarray(res.x), 1.0 / c)


@pytest.mark.parametrize("method", METHODS)
def test_nonfinite_start_reports_nonfinite(method):
    (c,) = LOG_BARRIER.data()
    with pytest.warns(hj.ConvergenceWarning, match="NONFINITE"):
        res = hj.minimize(LOG_BARRIER.objective, -np.ones_like(c), c, method=method)
    assert int(res.status) == hj.Status.NONFINITE
    assert not bool(res.success)
    assert int(res.nit) == 0
    assert res.message == hj.Status.NONFINITE.message


@pytest.mark.parametrize("method", METHODS)
def test_max_steps_reached(method):
    with pytest.warns(hj.ConvergenceWarning, match="MAX_STEPS"):
        res = hj.minimize(ROSENBROCK2.objective, ROSENBROCK2.x0(), method=method, max_steps=3)
    assert int(res.status) == hj.Status.MAX_STEPS
    assert not bool(res.success)
    assert int(res.nit) == 3
    assert res.message == hj.Status.MAX_STEPS.message
    # The partial result is still a valid point, with consistent values.
    fp = flat_problem(ROSENBROCK2.name)
    assert float(res.fun) == pytest.approx(fp.value(flatten(res.x)), rel=EPS, abs=EPS)
    assert float(res.fun) < fp.value(fp.x0)


def test_status_messages_exist_for_every_value():
    assert {s.name for s in hj.Status} >= {"SUCCESS", "MAX_STEPS", "NONFINITE"}
    messages = [s.message for s in hj.Status]
    assert all(isinstance(m, str) and m.strip() for m in messages)
    assert len(set(messages)) == len(messages)


def test_result_message_matches_status():
    res = hj.minimize(ROSENBROCK2.objective, ROSENBROCK2.x0())
    assert res.message == hj.Status.SUCCESS.message == hj.Status(int(res.status)).message
    assert res.status.dtype == np.int32


def test_max_steps_zero_takes_no_step():
    # Regression: max_steps=0 was once read as "use the default" (0 is falsy).
    with pytest.warns(hj.ConvergenceWarning, match="MAX_STEPS"):
        res = hj.minimize(ROSENBROCK2.objective, ROSENBROCK2.x0(), max_steps=0)
    assert int(res.nit) == 0 and int(res.nfev) == 1
    np.testing.assert_array_equal(np.asarray(res.x), ROSENBROCK2.x0())


@pytest.mark.parametrize("method", METHODS)
def test_looser_gtol_is_respected(method):
    gtol = 1e-6
    strict = hj.minimize(ROSENBROCK2.objective, ROSENBROCK2.x0(), method=method)
    loose = hj.minimize(ROSENBROCK2.objective, ROSENBROCK2.x0(), method=method, gtol=gtol)
    assert bool(loose.success)
    assert relative_gradient(loose.x, loose.fun, loose.grad) <= gtol
    assert int(loose.nit) <= int(strict.nit)


@pytest.mark.parametrize("initial_radius", [1e-3, 1e3])
def test_newton_initial_radius(initial_radius):
    res = hj.minimize(
        ROSENBROCK2.objective, ROSENBROCK2.x0(), method="newton", initial_radius=initial_radius
    )
    assert bool(res.success), res.message
    assert_same_point(np.asarray(res.x), np.ones(2))


def nested_least_squares(params, y):
    (a, inner), c = params["a"], params["c"]
    return (a[0] - y[0]) ** 2 + jnp.sum((inner["b"] - y[1:3]) ** 2) + (c - y[3]) ** 2


@pytest.mark.parametrize("method", METHODS)
def test_nested_pytree_params_keep_structure(method):
    x0 = {"a": (np.zeros(1), {"b": np.zeros(2)}), "c": 0.0}
    y = np.array([1.0, 2.0, 3.0, 4.0])
    res = hj.minimize(nested_least_squares, x0, y, method=method)
    assert bool(res.success), res.message
    for tree in (res.x, res.grad):
        assert jax.tree_util.tree_structure(tree) == jax.tree_util.tree_structure(x0)
    assert_same_point(flatten(res.x), y)
    assert np.shape(res.x["a"][1]["b"]) == (2,) and np.shape(res.x["c"]) == ()


def quadratic_form(x, A, b):
    return 0.5 * x @ (A @ x) - b @ x


def test_bfgs_converges_on_quadratic_with_cancelling_terms():
    """Regression: BFGS spun to MAX_STEPS (1000 iterations, ~29600 evaluations).

    A has eigenvalues 100 and 0.01 along (1, 1) and (1, -1); near x* = (100, -100)
    f = -100 is a difference of terms of about 1e4, so its rounding noise
    (~1e-10) dwarfs a noise model of 100 eps |f| (~2e-12). The line search then
    "succeeded" with steps that did not move x, forever. Newton reaches a
    relative gradient of 4e-13 here, so the default gtol is attainable.
    """
    A = np.array([[50.005, 49.995], [49.995, 50.005]])
    b = np.array([1.0, -1.0])
    res = hj.minimize(quadratic_form, np.ones(2), A, b, method="bfgs")
    assert bool(res.success), f"{res.message} nit={int(res.nit)} nfev={int(res.nfev)}"
    assert_same_point(np.asarray(res.x), np.linalg.solve(A, b))


@pytest.mark.parametrize("method", METHODS)
def test_unattainable_gtol_stops_without_progress(method):
    """A gtol below float64's reach must end in SUCCESS through the resolution
    test (every coordinate's step within a few ulps) or a "no further progress"
    status (LINE_SEARCH_FAILED / STALLED), never spin to MAX_STEPS, whose
    message says to raise max_steps (and costs max_steps Hessians for Newton).
    """
    problem = BY_NAME["normal_mle"]
    (y,) = flat_problem(problem.name).data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hj.ConvergenceWarning)
        res = hj.minimize(problem.objective, problem.x0(), y, method=method, gtol=1e-300)
    status = hj.Status(int(res.status))
    assert status in (hj.Status.SUCCESS, hj.Status.LINE_SEARCH_FAILED, hj.Status.STALLED), (
        f"{status.name} after nit={int(res.nit)}, nfev={int(res.nfev)}, nhev={int(res.nhev)}"
    )
    # The point is still the optimum, to the usual accuracy.
    assert_same_point(flatten(res.x), flatten(problem.optimum(y)))


# ------------------------------------------------------------------------------------
# BFGS's inverse-Hessian approximation is a record of the path
# ------------------------------------------------------------------------------------
def squared_distance_to_one(x):
    return jnp.sum((x - 1.0) ** 2)


def test_bfgs_inv_hessian_is_path_record_not_inverse_hessian():
    res = hj.minimize(squared_distance_to_one, np.zeros(2), method="bfgs", init_hessian="identity")
    assert bool(res.success)
    assert_same_point(np.asarray(res.x), np.ones(2))
    # All steps lie along (1, 1): the update learns the curvature 2 there
    # (inverse 1/2) and keeps the identity along (1, -1). Exact in binary.
    expected = np.array([[0.75, -0.25], [-0.25, 0.75]])
    np.testing.assert_allclose(np.asarray(res.inv_hessian), expected, rtol=0, atol=4 * EPS)
    true_inverse = np.linalg.inv(np.asarray(hj.hessian(squared_distance_to_one, res.x)))
    np.testing.assert_allclose(true_inverse, 0.5 * np.eye(2), rtol=0, atol=4 * EPS)
    assert np.max(np.abs(np.asarray(res.inv_hessian) - true_inverse)) >= 0.25


@pytest.mark.parametrize(
    "problem", [BY_NAME[n] for n in ("rosenbrock2", "normal_mle", "negbin2", "badly_scaled")], ids=_ids
)
def test_bfgs_exact_initial_hessian(problem, request):
    fp = flat_problem(problem.name)
    res = hj.minimize(problem.objective, problem.x0(), *fp.data, method="bfgs", init_hessian="exact")
    record_counts(request, res, scipy_oracle(problem.name))
    assert bool(res.success), res.message
    assert_same_point(flatten(res.x), scipy_oracle(problem.name).x)
    assert_counts_consistent(res, "bfgs", init_hessian="exact")
    inv = np.asarray(res.inv_hessian)
    assert np.linalg.eigvalsh(0.5 * (inv + inv.T))[0] > 0


# ------------------------------------------------------------------------------------
# jit and vmap
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_jit_matches_eager(method):
    problem = BY_NAME["normal_mle"]
    (y,) = flat_problem(problem.name).data
    eager = hj.minimize(problem.objective, problem.x0(), y, method=method)
    with jax.enable_x64(True):
        solve = jax.jit(lambda x0, data: hj.minimize(problem.objective, x0, data, method=method))
        jitted = solve(problem.x0(), y)
    assert bool(jitted.success)
    assert jax.tree_util.tree_structure(jitted.x) == jax.tree_util.tree_structure(eager.x)
    assert_same_point(flatten(jitted.x), flatten(eager.x))
    assert int(jitted.nit) == int(eager.nit)
    assert_float64(jitted)


@pytest.mark.parametrize("method", METHODS)
def test_vmap_over_rosenbrock_starts(method):
    starts = np.random.default_rng(20).uniform(-2.0, 2.0, size=(1000, 2))
    with jax.enable_x64(True):
        batch = jax.vmap(lambda x0: hj.minimize(ROSENBROCK2.objective, x0, method=method))(starts)
    assert np.asarray(batch.x).shape == (1000, 2)
    assert_float64(batch)
    assert np.all(np.asarray(batch.success))
    assert isinstance(batch.message, list) and len(batch.message) == 1000
    single = hj.minimize(ROSENBROCK2.objective, ROSENBROCK2.x0(), method=method)
    assert_same_point(np.asarray(batch.x), np.broadcast_to(flatten(single.x), starts.shape))
    # A batch member and the same start solved alone take the same path.
    for i in (0, 499, 999):
        alone = hj.minimize(ROSENBROCK2.objective, starts[i], method=method)
        assert_same_point(np.asarray(batch.x[i]), np.asarray(alone.x))
        assert int(batch.nit[i]) == int(alone.nit)


@pytest.mark.parametrize("method", METHODS)
def test_vmap_reports_per_member_status_without_warning(method):
    (c,) = LOG_BARRIER.data()
    starts = np.stack([LOG_BARRIER.x0(), -np.ones_like(c), 0.5 / c, np.full_like(c, np.nan)])
    with jax.enable_x64(True):
        batch = jax.vmap(lambda x0: hj.minimize(LOG_BARRIER.objective, x0, c, method=method))(starts)
    # (conftest turns any HessjaxWarning into an error: none was issued inside vmap.)
    S = hj.Status
    np.testing.assert_array_equal(
        np.asarray(batch.status), [S.SUCCESS, S.NONFINITE, S.SUCCESS, S.NONFINITE]
    )
    np.testing.assert_array_equal(np.asarray(batch.success), [True, False, True, False])
    assert batch.message[1] == S.NONFINITE.message
    for i in (0, 2):
        assert_same_point(np.asarray(batch.x[i]), 1.0 / c)


@pytest.mark.parametrize("method", METHODS)
def test_vmap_over_datasets_matches_closed_form(method):
    problem = BY_NAME["normal_mle"]
    rng = np.random.default_rng(21)
    datasets = 1.0 + 0.5 * rng.standard_normal((200, 50))
    with jax.enable_x64(True):
        batch = jax.vmap(lambda y: hj.minimize(problem.objective, problem.x0(), y, method=method))(
            datasets
        )
    assert np.all(np.asarray(batch.success))
    np.testing.assert_array_equal(np.shape(batch.x["mu"]), (200,))
    mean = datasets.mean(axis=1)
    log_sd = np.log(datasets.std(axis=1))
    for got, want in ((batch.x["mu"], mean), (batch.x["log_sigma"], log_sd)):
        got = np.asarray(got)
        assert got.dtype == np.float64
        assert np.all(np.abs(got - want) <= XTOL * np.maximum(np.abs(want), 1.0))


# ------------------------------------------------------------------------------------
# Precision scoping
# ------------------------------------------------------------------------------------
def test_global_x64_flag_unchanged():
    before = jax.config.jax_enable_x64
    assert before is False  # conftest deliberately leaves x64 off
    res = hj.minimize(ROSENBROCK2.objective, ROSENBROCK2.x0(), method="newton")
    assert jax.config.jax_enable_x64 is before
    res = hj.minimize(ROSENBROCK2.objective, ROSENBROCK2.x0(), method="bfgs")
    assert jax.config.jax_enable_x64 is before
    assert_float64(res)
    # Outside the scope, default jnp arrays are still float32.
    assert jnp.zeros(1).dtype == jnp.float32


# ------------------------------------------------------------------------------------
# Eager option checks (hessjax/_validate.py), before anything is traced
# ------------------------------------------------------------------------------------
def _newton_cg(f, x0, **options):
    return hj.minimize_newton_cg(f, x0, **options)


ENTRY_POINTS = {
    "bfgs": functools.partial(hj.minimize, method="bfgs"),
    "newton": functools.partial(hj.minimize, method="newton"),
    "newton_cg": _newton_cg,
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("max_steps", [2**31, 2**63])
def test_max_steps_beyond_int32_raises(entry, max_steps):
    # Before: 2**31 wrapped in the int32 loop bound and the solver took no step.
    with pytest.raises(ValueError, match=r"`max_steps` must be an integer in \[0, 2147483647\]"):
        ENTRY_POINTS[entry](ROSENBROCK2.objective, ROSENBROCK2.x0(), max_steps=max_steps)


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize(
    "option, value",
    [("gtol", float("nan")), ("gtol", -1), ("gtol", float("inf")), ("max_steps", -1),
     ("max_steps", 2.5), ("initial_radius", float("nan")), ("initial_radius", -1.0)],
)
def test_bad_option_raises_naming_it(entry, option, value):
    if entry == "bfgs" and option == "initial_radius":
        pytest.skip("not a BFGS option (TypeError, tested in test_validation.py)")
    with pytest.raises(ValueError, match=rf"`{option}` must be .*got {value!r}"):
        ENTRY_POINTS[entry](ROSENBROCK2.objective, ROSENBROCK2.x0(), **{option: value})


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_integer_valued_options_accepted(entry):
    """Integers for tolerances, NumPy integers and integer-valued floats (as SciPy's
    maxiter) for step counts give the same result as the float / int values."""
    options = {"gtol": 1e-6, "max_steps": 200}
    reference = ENTRY_POINTS[entry](ROSENBROCK2.objective, ROSENBROCK2.x0(), **options)
    for max_steps in (np.int64(200), 200.0, np.float64(200.0)):
        res = ENTRY_POINTS[entry](ROSENBROCK2.objective, ROSENBROCK2.x0(), gtol=1e-6, max_steps=max_steps)
        assert int(res.nit) == int(reference.nit)
        np.testing.assert_array_equal(np.asarray(res.x), np.asarray(reference.x))
    if entry != "bfgs":
        res = ENTRY_POINTS[entry](ROSENBROCK2.objective, ROSENBROCK2.x0(), initial_radius=2)
        assert bool(res.success)
        assert_same_point(np.asarray(res.x), np.ones(2))
    # An integer gtol is a number like any other (here loose enough to stop at
    # x0; Newton-CG spends one step on its curvature check there).
    res = ENTRY_POINTS[entry](quadratic_from_one, np.zeros(2), gtol=2)
    assert bool(res.success) and int(res.nit) <= 1
    np.testing.assert_array_equal(np.asarray(res.x), np.zeros(2))


def quadratic_from_one(x):
    return jnp.sum((x - 1.0) ** 2)


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_largest_max_steps_is_accepted(entry):
    res = ENTRY_POINTS[entry](ROSENBROCK2.objective, ROSENBROCK2.x0(), max_steps=2**31 - 1)
    assert bool(res.success)
    assert_same_point(np.asarray(res.x), np.ones(2))
