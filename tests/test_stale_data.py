"""Data read from closures and globals: correct results, a warning, no stale answers.

JAX compiles values a function reads besides its arguments into its programs
as constants, and hessjax caches those programs per function. When such data
change between calls, hessjax must rebuild the programs (the answer is for
the new data) and say once, with a StaleDataWarning, to pass data as
arguments instead. Every fit below is a normal mean with unit variance: the
maximizer is the sample mean, the independent truth.

The last tests pin a JAX cache that hands a float32 copy of a NumPy array to
float64 programs, once a jax.jit closure over that array was traced with x64
off (the SciPy cross-check workflow).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import hessjax as hj

EPS = np.finfo(np.float64).eps
TRACES: dict[str, int] = {}


def mean_tolerance(y: np.ndarray) -> float:
    """Rounding bound on the computed maximizer of -sum((y - mu)^2)/2.

    The score sum(y_i - mu) has rounding error about eps sum(|y_i| + |mu|),
    which moves the root by that over the curvature n; the n cancels against
    the sum's n terms only in the worst case, so keep the sum. A factor 4
    covers NumPy's mean, computed differently.
    """
    return 4.0 * EPS * float(np.sum(np.abs(y) + abs(np.mean(y))))


def fitted_mean(loglik, *data) -> float:
    return float(hj.fit(loglik, np.array(0.0), *data).params)


def loglik_with_data(mu, y):
    return -0.5 * jnp.sum((y - mu) ** 2)


def assert_fits_mean(loglik, y, *data):
    """The closure fit equals the sample mean and the fit with y as an argument."""
    mu = fitted_mean(loglik, *data)
    assert abs(mu - np.mean(y)) <= mean_tolerance(y)
    assert abs(mu - fitted_mean(loglik_with_data, y)) <= mean_tolerance(y)


# -- globals ---------------------------------------------------------------------------
y_global = np.random.default_rng(1).normal(3.0, 1.0, size=40)


def loglik_reading_global(mu):
    return -0.5 * jnp.sum((y_global - mu) ** 2)


def test_changed_global_gives_the_new_datasets_fit_and_warns():
    global y_global
    assert_fits_mean(loglik_reading_global, y_global)
    y_global = np.random.default_rng(2).normal(-5.0, 1.0, size=40)
    with pytest.warns(hj.StaleDataWarning, match=r"global 'y_global'.*loglik\(params, \*data\)"):
        mu = fitted_mean(loglik_reading_global)
    assert abs(mu - np.mean(y_global)) <= mean_tolerance(y_global)
    assert abs(mu - fitted_mean(loglik_with_data, y_global)) <= mean_tolerance(y_global)
    # Once per function: a third dataset is still right, and silent.
    y_global = np.random.default_rng(3).normal(7.0, 1.0, size=40)
    assert_fits_mean(loglik_reading_global, y_global)


y_mutated = np.random.default_rng(4).normal(1.0, 1.0, size=30)


def loglik_reading_mutated_global(mu):
    return -0.5 * jnp.sum((y_mutated - mu) ** 2)


def test_global_mutated_in_place():
    assert_fits_mean(loglik_reading_mutated_global, y_mutated)
    y_mutated[:] = np.random.default_rng(5).normal(-2.0, 1.0, size=30)
    with pytest.warns(hj.StaleDataWarning, match="global 'y_mutated'"):
        mu = fitted_mean(loglik_reading_mutated_global)
    assert abs(mu - np.mean(y_mutated)) <= mean_tolerance(y_mutated)


y_for_helper = np.random.default_rng(6).normal(2.0, 1.0, size=25)


def residuals_from_global(mu):
    return y_for_helper - mu


def loglik_through_helper(mu):
    return -0.5 * jnp.sum(residuals_from_global(mu) ** 2)


def test_nested_helper_reading_a_global():
    global y_for_helper
    assert_fits_mean(loglik_through_helper, y_for_helper)
    y_for_helper = y_for_helper + 10.0
    with pytest.warns(hj.StaleDataWarning, match="global 'y_for_helper' of helper 'residuals_from_global'"):
        mu = fitted_mean(loglik_through_helper)
    assert abs(mu - np.mean(y_for_helper)) <= mean_tolerance(y_for_helper)


y_for_jit = np.random.default_rng(7).normal(0.5, 1.0, size=20)


@jax.jit
def jitted_loglik_reading_global(mu):
    return -0.5 * jnp.sum((y_for_jit - mu) ** 2)


def test_jitted_loglik_reading_a_global():
    # jax.jit keeps its own trace of the old constant: rebuilding hessjax's
    # programs alone would still answer for the first dataset.
    global y_for_jit
    assert_fits_mean(jitted_loglik_reading_global, y_for_jit)
    y_for_jit = y_for_jit - 4.0
    with pytest.warns(hj.StaleDataWarning):
        mu = fitted_mean(jitted_loglik_reading_global)
    assert abs(mu - np.mean(y_for_jit)) <= mean_tolerance(y_for_jit)


# -- closures, partials, methods ---------------------------------------------------------
def test_rebound_closure_variable():
    y = np.random.default_rng(8).normal(1.5, 1.0, size=35)

    def loglik(mu):
        return -0.5 * jnp.sum((y - mu) ** 2)

    assert_fits_mean(loglik, y)
    y = np.random.default_rng(9).normal(-1.5, 1.0, size=35)  # noqa: F841 - read by loglik
    with pytest.warns(hj.StaleDataWarning, match="closure variable 'y'"):
        mu = fitted_mean(loglik)
    assert abs(mu - np.mean(y)) <= mean_tolerance(y)


def test_partial_argument_mutated_in_place():
    y = np.random.default_rng(10).normal(2.5, 1.0, size=15)
    loglik = functools.partial(loglik_with_data, y=y)
    assert abs(fitted_mean(loglik) - np.mean(y)) <= mean_tolerance(y)
    y += 3.0
    with pytest.warns(hj.StaleDataWarning, match="partial argument 'y'"):
        mu = fitted_mean(loglik)
    assert abs(mu - np.mean(y)) <= mean_tolerance(y)


def test_method_reading_an_attribute():
    class Model:
        def __init__(self, y):
            self.y = y

        def loglik(self, mu):
            return -0.5 * jnp.sum((self.y - mu) ** 2)

    model = Model(np.random.default_rng(11).normal(size=12))
    assert abs(fitted_mean(model.loglik) - np.mean(model.y)) <= mean_tolerance(model.y)
    model.y = model.y * 2.0 + 1.0
    with pytest.warns(hj.StaleDataWarning, match=r"attribute 'self\.y'"):
        mu = fitted_mean(model.loglik)
    assert abs(mu - np.mean(model.y)) <= mean_tolerance(model.y)


# -- what must not warn or retrace -------------------------------------------------------
def counted_loglik(mu, y):
    TRACES["args"] = TRACES.get("args", 0) + 1
    return -0.5 * jnp.sum((y - mu) ** 2)


def test_data_as_arguments_never_retraces_or_warns(rng):
    datasets = [rng.normal(loc, 1.0, size=33) for loc in (0.0, 5.0, -5.0)]
    assert abs(fitted_mean(counted_loglik, datasets[0]) - np.mean(datasets[0])) <= mean_tolerance(datasets[0])
    first = TRACES["args"]
    for y in datasets[1:]:
        assert abs(fitted_mean(counted_loglik, y) - np.mean(y)) <= mean_tolerance(y)
    assert TRACES["args"] == first


WEIGHTS = np.linspace(0.5, 1.5, 33)
LOG_2PI = float(np.log(2 * np.pi))


def weighted_loglik(mu, y):
    TRACES["constants"] = TRACES.get("constants", 0) + 1
    return -0.5 * jnp.sum(WEIGHTS * ((y - mu) ** 2 + LOG_2PI))


def test_captured_constants_that_never_change_neither_warn_nor_retrace(rng):
    datasets = [rng.normal(loc, 1.0, size=33) for loc in (1.0, 2.0, 3.0)]
    fits = [fitted_mean(weighted_loglik, y) for y in datasets[:1]]
    first = TRACES["constants"]
    fits += [fitted_mean(weighted_loglik, y) for y in datasets[1:]]
    assert TRACES["constants"] == first
    for mu, y in zip(fits, datasets):  # the weighted mean
        assert abs(mu - np.sum(WEIGHTS * y) / np.sum(WEIGHTS)) <= mean_tolerance(y)


def test_equal_jax_array_rebuilt_is_not_a_change(rng):
    weights = jnp.ones(8)

    def loglik(mu, y):
        TRACES["jax"] = TRACES.get("jax", 0) + 1
        return -0.5 * jnp.sum(weights * (y - mu) ** 2)

    y = rng.normal(size=8)
    fitted_mean(loglik, y)
    first = TRACES["jax"]
    weights = jnp.ones(8)  # noqa: F841 - a new object, the same values
    fitted_mean(loglik, y)
    assert TRACES["jax"] == first


def test_state_the_function_writes_is_not_data(rng):
    calls = 0

    def loglik(mu, y):
        nonlocal calls
        calls += 1
        return -0.5 * jnp.sum((y - mu) ** 2)

    for loc in (0.0, 1.0, 2.0):
        y = rng.normal(loc, 1.0, size=9)
        assert abs(fitted_mean(loglik, y) - np.mean(y)) <= mean_tolerance(y)
    assert calls >= 1


def test_other_callables_still_work(rng):
    x = np.array([0.5, -1.0])
    expected = np.diag([2.0, 2.0])

    class Squares:
        def __call__(self, p):
            return jnp.sum(p**2)

    for f in (
        Squares(),
        jax.tree_util.Partial(lambda p, c: jnp.sum((p - c) ** 2), jnp.ones(2)),
        functools.partial(lambda p, c: jnp.sum((p - c) ** 2), c=np.ones(2)),
        jax.jit(lambda p: jnp.sum(p**2)),
    ):
        np.testing.assert_array_equal(hj.hessian(f, x), expected)
    np.testing.assert_array_equal(hj.hessian(jnp.sum, x), np.zeros((2, 2)))


def test_captured_values_names_what_it_found():
    from hessjax.objective import captured_values

    found = captured_values(loglik_through_helper)
    assert "global 'y_for_helper' of helper 'residuals_from_global'" in found
    assert "function global 'residuals_from_global'" in found
    assert captured_values(counted_loglik) == {}


# -- JAX's float32 copy of a NumPy array (issue 10, item 13) -------------------------------
def _array_jax_holds_as_float32(seed: int) -> tuple[np.ndarray, object]:
    """A float64 array and a live jax.jit closure over it traced with x64 off."""
    y = np.random.default_rng(seed).normal(size=100) + 1.0 / 3.0
    nll = jax.jit(lambda m: jnp.sum((y - m) ** 2))
    nll(0.0)
    return y, nll


def test_jit_closure_traced_in_float32_does_not_break_later_calls_on_same_array():
    y, nll = _array_jax_holds_as_float32(12)
    # Independent truth in float64: f(p) = sum(y p^2) has Hessian 2 sum(y).
    hess = hj.hessian(lambda p, y: jnp.sum(y * p**2), np.array(1.0), y)
    assert abs(hess.item() - 2.0 * np.sum(y)) <= 4.0 * EPS * 2.0 * np.sum(np.abs(y))
    assert abs(fitted_mean(loglik_with_data, y) - np.mean(y)) <= mean_tolerance(y)
    res = scipy.optimize.minimize(lambda m: float(nll(m[0])), np.zeros(1), method="BFGS")
    cmp = hj.check_scipy_result(lambda p, y: jnp.sum((y - p[0]) ** 2), res, y)
    np.testing.assert_allclose(cmp.exact, [[2.0 * y.size]], rtol=4 * EPS)
    # Integer data meet the same cache: an int32 copy of int64 indices.
    idx = np.arange(y.size) % 7
    jax.jit(lambda: jnp.sum(idx))()
    hess = hj.hessian(lambda p, y, idx: jnp.sum(y * idx * p**2), np.array(1.0), y, idx)
    assert abs(hess.item() - 2.0 * np.sum(y * idx)) <= 4.0 * EPS * 2.0 * np.sum(np.abs(y * idx))


def test_closure_over_an_array_jax_holds_as_float32_warns():
    y, _ = _array_jax_holds_as_float32(13)
    with jax.enable_x64(True):
        if jnp.asarray(y).dtype != jnp.float32:
            pytest.skip("this JAX no longer hands out a float32 copy inside enable_x64")
    with pytest.warns(hj.PrecisionWarning, match="float32 copy"):
        try:
            hj.hessian(lambda p: jnp.sum(y * p**2), np.array(1.0))
        except TypeError:  # JAX's own failure on its float32 copy, after the warning
            pass
