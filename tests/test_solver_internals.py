"""The building blocks of the solvers against their defining conditions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hessjax.optimize.bfgs import bfgs_update
from hessjax.optimize.trust_region import solve_trust_region_subproblem

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


# ---------------------------------------------------------------------------------------
# The one trust-region acceptance rule (optimize/trust_region.py)
# ---------------------------------------------------------------------------------------

import ast  # noqa: E402
import importlib  # noqa: E402
from pathlib import Path  # noqa: E402

import hessjax as hj  # noqa: E402
from hessjax import _validate  # noqa: E402
from hessjax.optimize import trust_region as tr  # noqa: E402

RULES = {
    "newton": tr.NEWTON_RULE,
    "newton_cg": tr.NEWTON_CG_RULE,
    "levenberg_marquardt": tr.LEVENBERG_MARQUARDT_RULE,
}


def _assess(rule, f, f_trial, predicted, step_norm, radius):
    with jax.enable_x64(True):
        out = tr.assess_step(
            rule, *(jnp.asarray(v, jnp.float64) for v in (f, f_trial, predicted, step_norm, radius))
        )
        return float(out.rho), bool(out.at_noise), bool(out.accept), float(out.radius)


# (actual reduction, predicted reduction, step length, radius) -> (accept, next radius)
# with f = 10, far from the rounding level; N&W Alg. 4.1 with eta = 1e-4.
RATIO_CASES = [
    # rho = 1e-5 < eta: rejected, radius a quarter of the step.
    (1e-5, 1.0, 1.0, 1.0, False, 0.25),
    # rho = 0.1: taken, but the model was poor: radius a quarter of the step.
    (0.1, 1.0, 0.8, 1.0, True, 0.2),
    # rho = 0.5: taken, radius unchanged.
    (0.5, 1.0, 1.0, 1.0, True, 1.0),
    # rho = 0.9 on the boundary: taken, radius doubled.
    (0.9, 1.0, 1.0, 1.0, True, 2.0),
    # rho = 0.9 inside the region (N&W): radius unchanged.
    (0.9, 1.0, 0.5, 1.0, True, 1.0),
    # an increase of f: rejected.
    (-3.0, 1.0, 1.0, 1.0, False, 0.25),
    # no predicted decrease: rejected whatever f does.
    (1.0, 0.0, 1.0, 1.0, False, 0.25),
    (1.0, -1.0, 1.0, 1.0, False, 0.25),
]


@pytest.mark.parametrize("actual, predicted, step, radius, accept, new_radius", RATIO_CASES)
@pytest.mark.parametrize("rule", [tr.NEWTON_RULE, tr.NEWTON_CG_RULE], ids=["newton", "newton_cg"])
def test_acceptance_rule_decisions_on_constructed_ratios(rule, actual, predicted, step, radius,
                                                         accept, new_radius):
    rho, at_noise, accepted, r = _assess(rule, 10.0, 10.0 - actual, predicted, step, radius)
    assert at_noise is (predicted <= 0 and rule.noise_test == "predicted")
    assert accepted is accept
    assert r == new_radius
    if predicted > 0:
        assert rho == pytest.approx(actual / predicted, rel=1e-12)
    else:
        assert rho == -np.inf


def test_levenberg_marquardt_radius_follows_the_step_length():
    rule = tr.LEVENBERG_MARQUARDT_RULE
    # Moré (1978) / MINPACK: a good step sets the radius to twice the step,
    # also when the step is interior (so the bound can shrink).
    assert _assess(rule, 10.0, 9.1, 1.0, 0.5, 1.0)[2:] == (True, 1.0)
    assert _assess(rule, 10.0, 9.1, 1.0, 1.0, 1.0)[2:] == (True, 2.0)
    # Poor and failed steps as in N&W.
    assert _assess(rule, 10.0, 9.9, 1.0, 0.8, 1.0)[2:] == (True, 0.2)
    assert _assess(rule, 10.0, 11.0, 1.0, 0.8, 1.0)[2:] == (False, 0.2)
    assert _assess(rule, 10.0, 9.5, 1.0, 0.8, 1.0)[2:] == (True, 1.0)


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_nonfinite_trial_is_rejected(rule):
    for f_trial in (np.inf, np.nan):
        rho, _, accept, radius = _assess(rule, 10.0, f_trial, 1.0, 2.0, 4.0)
        assert rho == -np.inf and not accept and radius == 0.5


def test_noise_rules_at_the_rounding_level_of_f():
    f = 1e3
    noise = tr.NOISE_ULPS * EPS * f  # 2.2e-12
    # Predicted and actual reductions both below the rounding level, the actual
    # one an increase: every rule treats the ratio as noise and takes the step
    # with rho = 1 (Newton then asks the gradient, see below).
    for rule in RULES.values():
        rho, at_noise, accept, _ = _assess(rule, f, f + 0.5 * noise, 0.1 * noise, 1.0, 1.0)
        assert at_noise and rho == 1.0 and accept
    # A predicted reduction at rounding level with an actual change above it:
    # Newton's rule still calls it noise (the actual reduction of a sum of
    # large cancelling terms can exceed eps |f|); Newton-CG and LM judge the
    # ratio, here an increase: rejected.
    rho, at_noise, accept, _ = _assess(tr.NEWTON_RULE, f, f + 10 * noise, 0.1 * noise, 1.0, 1.0)
    assert at_noise and rho == 1.0 and accept
    for rule in (tr.NEWTON_CG_RULE, tr.LEVENBERG_MARQUARDT_RULE):
        rho, at_noise, accept, _ = _assess(rule, f, f + 10 * noise, 0.1 * noise, 1.0, 1.0)
        assert not at_noise and rho == pytest.approx(-100.0, rel=1e-2) and not accept
    # Near f = 0 the floors differ: max(|f|, 1) for Newton and Newton-CG, eps for
    # a residual sum of squares, so a zero-residual fit is not all noise.
    f = 1e-20
    rho, at_noise, _, _ = _assess(tr.NEWTON_CG_RULE, f, 0.5 * f, f, 1.0, 1.0)
    assert at_noise and rho == 1.0
    rho, at_noise, _, _ = _assess(tr.LEVENBERG_MARQUARDT_RULE, f, 0.5 * f, f, 1.0, 1.0)
    assert not at_noise and rho == 0.5


def _update(rule, f, f_trial, predicted, progress_now, progress_trial, finite=True):
    """trust_region_update on scalar states (x, f, progress)."""
    with jax.enable_x64(True):
        as_f64 = lambda v: jnp.asarray(v, jnp.float64)  # noqa: E731
        current = (as_f64(0.0), as_f64(f), as_f64(progress_now))
        trial = (as_f64(1.0), as_f64(f_trial), as_f64(progress_trial))
        chosen, update = tr.trust_region_update(
            rule, f=as_f64(f), f_trial=as_f64(f_trial), predicted=as_f64(predicted),
            step_norm=as_f64(1.0), radius=as_f64(1.0), evaluate=lambda: trial, current=current,
            finite=lambda new: jnp.asarray(finite) & jnp.isfinite(new[2]),
            progress=lambda s: s[2],
        )
        return float(chosen[0]), update._replace(**{k: float(v) for k, v in update._asdict().items()})


def test_noise_level_step_needs_progress_under_the_newton_rule():
    f = 1e3
    noise = tr.NOISE_ULPS * EPS * f
    # Gradient does not shrink: Newton rejects (radius a quarter of the step)
    # and reports stalled; Newton-CG takes the step (rho = 1 on the boundary:
    # the radius doubles) and also reports stalled.
    x, up = _update(tr.NEWTON_RULE, f, f, 0.1 * noise, 1.0, 1.0)
    assert x == 0.0 and up.accept and not up.success and up.radius == 0.25 and up.stalled
    x, up = _update(tr.NEWTON_CG_RULE, f, f, 0.1 * noise, 1.0, 1.0)
    assert x == 1.0 and up.success and up.radius == 2.0 and up.stalled
    # Gradient shrinks but not by half: both take it, both stalled.
    x, up = _update(tr.NEWTON_RULE, f, f, 0.1 * noise, 1.0, 0.7)
    assert x == 1.0 and up.success and up.stalled
    # Quadratic progress: taken, not stalled.
    for rule in RULES.values():
        x, up = _update(rule, f, f, 0.1 * noise, 1e-4, 1e-8)
        assert x == 1.0 and up.success and not up.stalled
    # Away from the rounding level progress is never asked for nor stalls.
    x, up = _update(tr.NEWTON_RULE, f, f - 1.0, 1.0, 1.0, 2.0)
    assert x == 1.0 and up.success and not up.stalled and up.radius == 2.0


def test_accepted_trial_with_nonfinite_derivatives_is_rejected_and_shrinks():
    for rule in RULES.values():
        x, up = _update(rule, 10.0, 9.0, 1.0, 1.0, np.nan)
        assert x == 0.0 and up.accept and not up.success and up.radius == 0.25


@pytest.mark.parametrize("solver", list(RULES))
def test_each_trust_region_solver_calls_the_shared_rule(solver, monkeypatch):
    module = importlib.import_module(f"hessjax.optimize.{solver}")
    rules = []

    def spy(rule, **kwargs):
        rules.append(rule)
        return tr.trust_region_update(rule, **kwargs)

    monkeypatch.setattr(module, "trust_region_update", spy)

    def quadratic(x):  # a fresh function: traced (so the spy runs) on this call
        return jnp.sum((x - jnp.arange(1.0, 4.0)) ** 2)

    def residuals(b, t, y):
        return y - b[0] * jnp.exp(-b[1] * t)

    if solver == "newton":
        res = hj.minimize(quadratic, np.zeros(3), method="newton")
    elif solver == "newton_cg":
        res = hj.minimize_newton_cg(quadratic, np.zeros(3))
    else:
        t = np.linspace(0.0, 3.0, 12)
        res = hj.least_squares(residuals, np.array([1.0, 1.0]), t, 2.0 * np.exp(-0.7 * t)).optimizer
    assert bool(res.success)
    assert rules and all(rule is RULES[solver] for rule in rules)


SOLVER_MODULES = ("base", "bfgs", "line_search", "newton", "newton_cg", "levenberg_marquardt",
                  "trust_region")
OPTIMIZE = Path(tr.__file__).resolve().parent


@pytest.mark.parametrize("name", SOLVER_MODULES)
def test_no_solver_module_imports_the_shell(name):
    tree = ast.parse((OPTIMIZE / f"{name}.py").read_text())
    imported = set()
    for node in tree.body:  # module level: what importing the solver loads
        if isinstance(node, ast.ImportFrom):
            imported.add((node.level, node.module))
        elif isinstance(node, ast.Import):
            imported.update((0, alias.name) for alias in node.names)
    assert (1, "minimize") not in imported
    assert (0, "hessjax.optimize.minimize") not in imported
    assert all(not (level == 2 and module in ("fit", "least_squares", "large")) for level, module in imported)


def test_the_ratio_is_computed_only_in_trust_region():
    for name in SOLVER_MODULES:
        source = (OPTIMIZE / f"{name}.py").read_text()
        assert ("/ predicted" in source) == (name == "trust_region"), name


def test_newton_cg_entry_points_are_the_shell():
    shell = importlib.import_module("hessjax.optimize.minimize")  # the package attribute is the function
    solver = importlib.import_module("hessjax.optimize.newton_cg")

    assert hj.minimize_newton_cg is shell.minimize_newton_cg
    assert not hasattr(solver, "minimize_newton_cg")  # the solver module holds only the algorithm


# ---------------------------------------------------------------------------------------
# Eager option checks (hessjax/_validate.py)
# ---------------------------------------------------------------------------------------


def test_max_steps_range():
    assert _validate.check_max_steps(None, 1000) == 1000
    assert _validate.check_max_steps(0, 1000) == 0
    assert _validate.check_max_steps(2**31 - 1, 1000) == 2**31 - 1
    assert _validate.check_max_steps(np.int64(7), 1000) == 7
    assert _validate.check_max_steps(7.0, 1000) == 7  # integer-valued float, as SciPy
    for bad in (2**31, 2**40, -1, 2.5, float("inf"), float("nan"), "10", True, np.bool_(False)):
        with pytest.raises(ValueError, match=r"`max_steps`.*\[0, 2147483647\]"):
            _validate.check_max_steps(bad, 1000)


@pytest.mark.parametrize("name", ["gtol", "rtol", "xtol", "ftol", "initial_radius"])
@pytest.mark.parametrize("bad", [-1, -1e-8, 0.0, float("nan"), float("inf"), "1e-8", True, None])
def test_tolerances_must_be_finite_and_positive(name, bad):
    if bad is None:  # None means the default
        assert _validate.check_tolerance(bad, name, 1e-8) == 1e-8
        return
    with pytest.raises(ValueError, match=rf"`{name}` must be a finite number > 0.*omit `{name}`"):
        _validate.check_tolerance(bad, name, 1e-8)


def test_tolerance_zero_allowed_where_meaningful_and_upper_bound():
    assert _validate.check_tolerance(0, "xtol", 1e-8, positive=False) == 0.0
    with pytest.raises(ValueError, match=r"`xtol`.*>= 0"):
        _validate.check_tolerance(-1.0, "xtol", 1e-8, positive=False)
    with pytest.raises(ValueError, match=r"`rtol`.*< 1"):
        _validate.check_tolerance(1.0, "rtol", 1e-8, upper=1.0)
    assert _validate.check_tolerance(1, "gtol", 1e-8) == 1.0  # an int is a number
    assert isinstance(_validate.check_tolerance(1, "gtol", 1e-8), np.float64)


def test_is_integer_and_is_real():
    assert _validate.is_integer(3) and _validate.is_integer(np.int32(3))
    assert not _validate.is_integer(3.0) and not _validate.is_integer(True)
    assert not _validate.is_integer(np.bool_(True)) and not _validate.is_integer("3")
    assert _validate.is_real(3) and _validate.is_real(np.float32(0.5)) and _validate.is_real(-2.0)
    assert not _validate.is_real(np.nan) and not _validate.is_real(np.inf)
    assert not _validate.is_real(False) and not _validate.is_real("1.0")
