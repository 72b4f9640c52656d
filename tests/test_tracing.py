"""One compilation serves every dataset of the same shape.

Each objective appends to a Python list in its body. The body runs only when
JAX traces the function (eval_shape, jit), never when a compiled program
runs, so the list's length counts traces. Each test uses its own objective
and data shapes not used elsewhere, and compares counts after the first
call (which may trace: validation plus compilation) with counts after later
calls on NEW data of the same shape (which must not).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hessjax as hj
from hessjax.warnings import ConvergenceWarning

TRACES: dict[str, int] = {}


def _counted(name):
    def decorate(fn):
        def wrapped(p, *args):
            TRACES[name] = TRACES.get(name, 0) + 1
            return fn(p, *args)

        wrapped.__name__ = name
        return wrapped

    return decorate


def _nll_body(p, y):
    z = (y - p["mu"]) * jnp.exp(-p["log_sigma"])
    return jnp.sum(0.5 * z**2 + p["log_sigma"])


# One objective object per test, so caches of other tests do not interfere.
nll_for_hessian = _counted("hessian")(_nll_body)
nll_for_hvp = _counted("hvp")(_nll_body)
nll_for_bfgs = _counted("bfgs")(_nll_body)
nll_for_newton = _counted("newton")(_nll_body)
nll_for_gtol = _counted("gtol")(_nll_body)
nll_for_shared = _counted("shared")(_nll_body)
nll_for_shape = _counted("shape")(_nll_body)
nll_for_budget = _counted("budget")(_nll_body)
nll_for_float32 = _counted("float32")(_nll_body)
nll_for_radius = _counted("radius")(_nll_body)
loglik_for_max_steps = _counted("max_steps")(lambda p, y: -_nll_body(p, y))


@_counted("regression")
def least_squares_for_tuple_data(beta, X, y):
    return 0.5 * jnp.sum((y - X @ beta) ** 2)


START = {"mu": 0.1, "log_sigma": 0.2}
GTOL = np.finfo(np.float64).eps ** (2 / 3)  # documented default of minimize


def _count(name):
    return TRACES.get(name, 0)


def _datasets(rng, size, k=3, loc=1.0):
    return [rng.normal(loc, 2.0, size=size) for _ in range(k)]


def _assert_no_retrace(name, call, datasets):
    call(datasets[0])
    first = _count(name)
    assert first >= 1, "the first call must trace the function"
    for y in datasets[1:]:
        call(y)
        assert _count(name) == first, f"{name}: retraced on new data of the same shape"
    return first


def test_hessian_does_not_retrace_on_new_data(rng):
    results = []

    def call(y):
        results.append(np.asarray(hj.hessian(nll_for_hessian, START, y)))

    _assert_no_retrace("hessian", call, _datasets(rng, 37))
    # And the answers really depend on the data (not a stale cached result).
    assert not np.allclose(results[0], results[1])


def test_hvp_does_not_retrace_on_new_data(rng):
    v = {"mu": 1.0, "log_sigma": -0.5}
    results = []

    def call(y):
        results.append(np.asarray(hj.hvp(nll_for_hvp, START, v, y)["log_sigma"]))

    _assert_no_retrace("hvp", call, _datasets(rng, 38))
    assert results[0] != results[1]


@pytest.mark.parametrize("method, name, fun", [("bfgs", "bfgs", nll_for_bfgs), ("newton", "newton", nll_for_newton)])
def test_minimize_does_not_retrace_on_new_data(rng, method, name, fun):
    def call(y):
        res = hj.minimize(fun, START, y, method=method)
        assert bool(res.success)
        # mu_hat is the sample mean: each call solved its own data. The default
        # stopping test |g| max(|mu|,1) / max(|f|,1) <= gtol = eps^(2/3), with
        # g = n (mu - ybar) / sigma^2, bounds |mu - ybar| (factor 2: rounding).
        mu, sigma2 = float(res.x["mu"]), np.exp(2 * float(res.x["log_sigma"]))
        bound = GTOL * max(abs(float(res.fun)), 1.0) * sigma2 / (len(y) * max(abs(mu), 1.0))
        assert abs(mu - y.mean()) <= 2 * bound

    _assert_no_retrace(name, call, _datasets(rng, 39))


def test_each_method_traces_only_on_its_first_call(rng):
    datasets = _datasets(rng, 41, k=4)
    hj.hessian(nll_for_shared, START, datasets[0])
    after_hessian = _count("shared")
    hj.minimize(nll_for_shared, START, datasets[1], method="bfgs")
    after_bfgs = _count("shared")
    hj.minimize(nll_for_shared, START, datasets[2], method="newton")
    after_newton = _count("shared")
    # Now every entry point has compiled for this shape: nothing retraces.
    hj.hessian(nll_for_shared, START, datasets[3])
    hj.hvp(nll_for_shared, START, START, datasets[3])
    hj.minimize(nll_for_shared, START, datasets[3], method="bfgs")
    hj.minimize(nll_for_shared, START, datasets[3], method="newton")
    hvp_traces = _count("shared") - after_newton
    # hvp compiles once on its first use; everything else is reused.
    assert hvp_traces <= 1
    hj.hvp(nll_for_shared, START, START, datasets[0])
    hj.hessian(nll_for_shared, START, datasets[1])
    hj.minimize(nll_for_shared, START, datasets[2], method="bfgs")
    hj.minimize(nll_for_shared, START, datasets[0], method="newton")
    assert _count("shared") == after_newton + hvp_traces
    assert after_hessian >= 1 and after_bfgs >= after_hessian and after_newton >= after_bfgs


def test_new_data_shape_retraces(rng):
    hj.hessian(nll_for_shape, START, rng.normal(size=43))
    hj.hessian(nll_for_shape, START, rng.normal(size=43))
    before = _count("shape")
    hj.hessian(nll_for_shape, START, rng.normal(size=44))
    assert _count("shape") > before  # a new shape is a new program
    after_new_shape = _count("shape")
    hj.hessian(nll_for_shape, START, rng.normal(size=43))  # the old shape is still cached
    hj.hessian(nll_for_shape, START, rng.normal(size=44))
    assert _count("shape") == after_new_shape


def test_new_parameter_structure_retraces_once(rng):
    y = rng.normal(size=45)
    hj.hessian(nll_for_shape, START, y)
    before = _count("shape")
    wider = {"mu": np.array([0.1]), "log_sigma": 0.2}  # mu now shape (1,)
    hj.hessian(nll_for_shape, wider, y)
    assert _count("shape") > before
    after = _count("shape")
    hj.hessian(nll_for_shape, {"mu": np.array([0.3]), "log_sigma": -0.1}, rng.normal(size=45))
    assert _count("shape") == after


def test_changing_gtol_does_not_retrace_minimize(rng):
    y = rng.normal(size=46)
    for method in ("bfgs", "newton"):
        hj.minimize(nll_for_gtol, START, y, method=method, gtol=1e-6)
        first = _count("gtol")
        for gtol in (1e-8, 1e-10, 3e-12):
            res = hj.minimize(nll_for_gtol, START, y, method=method, gtol=gtol)
            assert bool(res.success)
        assert _count("gtol") == first, f"{method}: gtol is data and must not retrace"


def test_changing_initial_radius_does_not_retrace_newton(rng):
    y = rng.normal(size=47)
    hj.minimize(nll_for_radius, START, y, method="newton", initial_radius=1.0)
    first = _count("radius")
    for radius in (0.1, 5.0):
        hj.minimize(nll_for_radius, START, rng.normal(size=47), method="newton", initial_radius=radius)
    assert _count("radius") == first


def test_max_steps_is_data_so_check_at_a_point_shares_the_fit_program(rng):
    # `hessjax check` and the demo certify a given point with fit(..., max_steps=0);
    # the step limit is data, so that fit and the default one compile once (issue 12).
    y = rng.normal(size=48)
    for method in ("newton", "bfgs"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # START is not the maximum
            at_point = hj.fit(loglik_for_max_steps, START, y, method=method, max_steps=0)
            assert int(at_point.optimizer.nit) == 0
            first = _count("max_steps")
            full = hj.fit(loglik_for_max_steps, START, y, method=method)
            more = hj.fit(loglik_for_max_steps, START, y, method=method, max_steps=3)
        assert bool(full.converged) and int(more.optimizer.nit) <= 3
        assert _count("max_steps") == first, f"{method}: max_steps is data and must not retrace"


def test_changing_max_bytes_does_not_retrace_hessian(rng):
    hj.hessian(nll_for_budget, START, rng.normal(size=48))
    first = _count("budget")
    hj.hessian(nll_for_budget, START, rng.normal(size=48), max_bytes=10 * 2**20)
    hj.hessian(nll_for_budget, START, rng.normal(size=48), max_bytes=2**40)
    assert _count("budget") == first


def test_float32_data_promoted_to_the_same_program(rng):
    hj.hessian(nll_for_float32, START, rng.normal(size=49))
    first = _count("float32")
    with pytest.warns(hj.PrecisionWarning):
        hj.hessian(nll_for_float32, START, rng.normal(size=49).astype(np.float32))
    assert _count("float32") == first


def test_several_data_arguments_do_not_retrace(rng):
    beta = np.array([0.5, -0.25])

    def call(seed_data):
        X, y = seed_data
        H = hj.hessian(least_squares_for_tuple_data, beta, X, y)
        assert np.allclose(np.asarray(H), X.T @ X, rtol=16 * np.finfo(float).eps, atol=0)
        hj.hvp(least_squares_for_tuple_data, beta, beta, X, y)
        hj.minimize(least_squares_for_tuple_data, beta, X, y, method="newton")

    datasets = [(rng.normal(size=(50, 2)), rng.normal(size=50)) for _ in range(3)]
    _assert_no_retrace("regression", call, datasets)


def test_hessian_inside_user_jit_traces_once_per_shape(rng):
    @_counted("user_jit")
    def nll(p, y):
        return _nll_body(p, y)

    with jax.enable_x64(True):
        batched = jax.jit(jax.vmap(lambda y: hj.hessian(nll, START, y)))
        batched(jnp.asarray(rng.normal(size=(3, 51))))
        first = _count("user_jit")
        batched(jnp.asarray(rng.normal(size=(3, 51))))
    assert _count("user_jit") == first
